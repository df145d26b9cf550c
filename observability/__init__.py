"""How Onramp is watched in production: structured logs (structlog), the readiness check, Celery's queue and task
metrics, OpenTelemetry traces and Sentry error reports, each opt-in where it costs anything. Wired from
config/settings.py and config/celery.py; it imports nothing of the wizard, so any layer may log through it."""
