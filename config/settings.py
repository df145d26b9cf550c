"""Onramp settings. Every value comes from the environment; README.md lists each variable."""

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from observability import logs, sentry

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
VAR_DIR = Path(env.str("ONRAMP_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)


def _generated_key(name: str, make: Callable[[], str]) -> str:
    """A key kept under var/, so an embedded install works with no configuration and keeps its sessions and
    secrets across restarts. Deployments set the variable instead (docker-compose.yml does)."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _generated_key("secret_key", lambda: secrets.token_urlsafe(50))
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_htmx",
    "django_structlog",
    "observability",
    "tenants",
    "wizard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common (Django's order): the language of the chooser's cookie, else the browser's.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Binds a request id, the user and (from the URL) the organisation and step to every log line of the request.
    "django_structlog.middlewares.RequestMiddleware",
    "observability.middleware.BindOrganisationAndStep",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Last, as django-axes asks: it turns a refused sign-in into the locked-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            # A step's page template lives in the step's folder (wizard.steps.templates).
            "loaders": [
                (
                    "django.template.loaders.cached.Loader",
                    [
                        "django.template.loaders.filesystem.Loader",
                        "django.template.loaders.app_directories.Loader",
                        "wizard.steps.templates.StepPageLoader",
                    ],
                )
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.access",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'onramp.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
# A kept connection may have died since the last request (a database restart, a failover, pg_terminate_backend):
# checked at the start of each request before use, else that request answers 500.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share the file; wait for each other's write locks. A transaction takes the
    # write lock when it begins: one that began reading and then wrote would fail at once with "database is locked"
    # (SQLite cannot wait there), where PostgreSQL's row locks make it wait.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "orgs:home"
LOGOUT_REDIRECT_URL = "login"

# Password sign-in throttling (django-axes): after ONRAMP_SIGNIN_FAILURE_LIMIT wrong passwords in a row for one
# username from one address, that pair is refused, the right password included, until ONRAMP_SIGNIN_COOLOFF_MINUTES
# have passed without another try. Keyed on the pair so that someone guessing one account cannot lock its owner out
# from everywhere. Axes' backend goes first: it refuses before the password is checked. Microsoft sign-in does not
# call authenticate() and is not counted.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
ONRAMP_SIGNIN_FAILURE_LIMIT = env.int("ONRAMP_SIGNIN_FAILURE_LIMIT", default=10)
ONRAMP_SIGNIN_COOLOFF_MINUTES = env.int("ONRAMP_SIGNIN_COOLOFF_MINUTES", default=15)
if ONRAMP_SIGNIN_FAILURE_LIMIT < 1 or ONRAMP_SIGNIN_COOLOFF_MINUTES < 1:
    # Axes reads 0 as "never" for either: no throttling, or a lock that only an operator's axes_reset lifts.
    raise ImproperlyConfigured("ONRAMP_SIGNIN_FAILURE_LIMIT and ONRAMP_SIGNIN_COOLOFF_MINUTES must be at least 1")
AXES_FAILURE_LIMIT = ONRAMP_SIGNIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=ONRAMP_SIGNIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Axes' log of successful sign-ins is not kept: a table that only grows and that nothing in Onramp reads.
AXES_DISABLE_ACCESS_LOG = True

# The languages a person may read Onramp in (README, "Languages"): the browser's Accept-Language picks one, the
# chooser in the footer overrides it (a cookie). Anything else falls back to LANGUAGE_CODE, which is also the
# language of the emails, sent from the worker where no browser is asking.
LANGUAGE_CODE = env.str("ONRAMP_LANGUAGE", default="en-gb")
LANGUAGES = [("en-gb", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Production flags: on by default unless DEBUG, each overridable.
SECURE = env.bool("ONRAMP_SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
LANGUAGE_COOKIE_SECURE = SECURE
LANGUAGE_COOKIE_HTTPONLY = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and styles only from Onramp's own static files; htmx is told not to
# inject its indicator <style> (base.html's htmx-config). No form-action: admin consent posts here and is then
# redirected to Microsoft's sign-in host, which differs per cloud, and Chromium applies form-action to that redirect.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    }
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Secrets at rest: Fernet keys, the first encrypts, any decrypts (rotation).
ONRAMP_ENCRYPTION_KEYS = env.list("ONRAMP_ENCRYPTION_KEYS", default=[]) or [
    _generated_key("encryption_key", lambda: Fernet.generate_key().decode())
]

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    # No server needed: kombu's filesystem transport keeps the queue under var/.
    _queue_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "out"),
        "data_folder_out": str(_queue_dir / "out"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("ONRAMP_TASK_SOFT_TIME_LIMIT", default=1800)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes a worker thread's database connection before and after every task unless this is set:
# a new PostgreSQL session for each task, nine an onboarding. Set, it closes them every this many tasks, and
# CONN_MAX_AGE with its health checks decides the rest, at each task's start and end as at each request's
# (observability.worker).
CELERY_DB_REUSE_MAX = 1000
# Queues (README, "Workers"): onboarding steps and drift checks wait apart, so that a night's backlog of checks never
# holds up an administrator's step, nor the onboardings the nightly round; the watchdog's, the schedule's and the
# emails' short tasks wait in the default queue, behind neither. A worker started without -Q consumes every queue
# here, taking from each in turn; -Q steps (or drift) dedicates a worker host to one.
CELERY_TASK_DEFAULT_QUEUE = "celery"
STEPS_QUEUE, DRIFT_QUEUE = "steps", "drift"
CELERY_TASK_QUEUES = [Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(STEPS_QUEUE), Queue(DRIFT_QUEUE)]
CELERY_TASK_ROUTES = {
    "wizard.tasks.run_step": {"queue": STEPS_QUEUE},
    "wizard.tasks.run_drift_check": {"queue": DRIFT_QUEUE},
}

ONRAMP_HEARTBEAT_SECONDS = env.int("ONRAMP_HEARTBEAT_SECONDS", default=5)
ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = env.int("ONRAMP_HEARTBEAT_TIMEOUT_SECONDS", default=30)
# A running step whose work has not moved (no progress report, no wait on a busy Microsoft) for this long stops
# beating, so the watchdog resumes it: longer than any one Microsoft call with its retries can take.
ONRAMP_STALL_SECONDS = env.int("ONRAMP_STALL_SECONDS", default=900)
# The profiles this installation offers: each module registers its list of step folders (wizard.steps.registry).
ONRAMP_PROFILE_MODULES = env.list(
    "ONRAMP_PROFILE_MODULES",
    default=["wizard.steps.exchange_online.profile", "wizard.steps.exchange_server.profile"],
)
# A step whose worker died is re-queued by the watchdog this many times (its work is idempotent), after
# ONRAMP_HEARTBEAT_SECONDS × 2, × 4, …; then it waits for a person's Resume.
ONRAMP_AUTO_RESUMES = env.int("ONRAMP_AUTO_RESUMES", default=3)
# How many tasks of one Microsoft tenant (its steps, its organisations' drift checks) run at once across every worker
# (wizard.work_slots): a tenant whose calls wait on its budget, or on Microsoft's throttling, holds no more worker
# slots than this, whatever its backlog. 0 for no cap.
ONRAMP_TENANT_WORK_SLOTS = env.int("ONRAMP_TENANT_WORK_SLOTS", default=2)
# The drift check: when the fleet is re-checked (cron: minute hour day-of-month month day-of-week, UTC), the
# window its organisations are spread over, and how often the worker's beat starts the checks that fell due.
ONRAMP_DRIFT_SCHEDULE = env.str("ONRAMP_DRIFT_SCHEDULE", default="0 1 * * *")
ONRAMP_DRIFT_WINDOW_SECONDS = env.int("ONRAMP_DRIFT_WINDOW_SECONDS", default=4 * 3600)
ONRAMP_DRIFT_POLL_SECONDS = env.int("ONRAMP_DRIFT_POLL_SECONDS", default=60)


def _crontab(expression: str) -> crontab:
    fields = expression.split()
    if len(fields) != 5:
        raise ImproperlyConfigured(f"ONRAMP_DRIFT_SCHEDULE must have 5 cron fields, not {expression!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(minute, hour, day_of_week, day_of_month, month_of_year)


_WATCH_EVERY_SECONDS = max(5, ONRAMP_HEARTBEAT_TIMEOUT_SECONDS // 2)
CELERY_BEAT_SCHEDULE = {
    "watch-steps": {
        "task": "wizard.tasks.watch_steps",
        "schedule": timedelta(seconds=_WATCH_EVERY_SECONDS),
        # Runs coalesce: a watchdog message older than one interval is dropped, so a worker that was away does not
        # run a backlog of them at once when it comes back.
        "options": {"expires": _WATCH_EVERY_SECONDS},
    },
    # Each activated organisation re-checked against Microsoft, spread over a window (wizard.drift).
    "drift-checks": {
        "task": "wizard.tasks.schedule_drift_checks",
        "schedule": _crontab(ONRAMP_DRIFT_SCHEDULE),
    },
    "drift-checks-due": {
        "task": "wizard.tasks.start_due_drift_checks",
        "schedule": timedelta(seconds=ONRAMP_DRIFT_POLL_SECONDS),
        "options": {"expires": ONRAMP_DRIFT_POLL_SECONDS},
    },
}

# Structured logs (observability.logs): readable text by default, JSON lines with ONRAMP_LOG_FORMAT=json; the web
# process and the worker alike (config/celery.py hands the worker's logging to this).
LOGGING = logs.logging_config(env.str("ONRAMP_LOG_FORMAT", default="console"), env.str("LOG_LEVEL", default="INFO"))
# The task a request queues carries its request id; the request's first line is the same as its last, less the status.
DJANGO_STRUCTLOG_CELERY_ENABLED = True
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG
# Error reports (Sentry), only with a DSN; secrets are scrubbed before anything is sent (observability.sentry).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    sentry.start(SENTRY_DSN)

# Microsoft client
# Onramp's own multi-tenant Entra app, for the admin-consent path of step 0. Empty: admins paste an app of theirs.
ONRAMP_CONNECTOR_CLIENT_ID = env.str("ONRAMP_CONNECTOR_CLIENT_ID", default="")
ONRAMP_CONNECTOR_CLIENT_SECRET = env.str("ONRAMP_CONNECTOR_CLIENT_SECRET", default="")
# Hosts (host or host:port) this installation vouches for as Microsoft, besides the clouds wizard.microsoft.clouds
# knows: the sandbox, or a private test deployment. The installation's own credentials (the connector app's) go only
# to endpoints on Microsoft's clouds or these hosts, and a Microsoft tenant id counts as proven only there.
ONRAMP_TRUSTED_ENDPOINT_HOSTS = env.list("ONRAMP_TRUSTED_ENDPOINT_HOSTS", default=[])
# Every outgoing HTTP request (msal's included): seconds to connect (TLS handshake included) and to read an answer.
ONRAMP_CONNECT_TIMEOUT_SECONDS = env.float("ONRAMP_CONNECT_TIMEOUT_SECONDS", default=10.0)
ONRAMP_READ_TIMEOUT_SECONDS = env.float("ONRAMP_READ_TIMEOUT_SECONDS", default=120.0)
# Bearer token that GET /metrics (Prometheus) requires; empty: no metrics page at all.
ONRAMP_METRICS_TOKEN = env.str("ONRAMP_METRICS_TOKEN", default="")
# Webhooks to loopback or private addresses: refused unless allowed (development, tests, an internal integration).
ONRAMP_WEBHOOK_ALLOW_PRIVATE = env.bool("ONRAMP_WEBHOOK_ALLOW_PRIVATE", default=DEBUG)
# Calls per second to one Microsoft tenant, shared by every worker (through Redis when REDIS_URL is set).
ONRAMP_CALLS_PER_SECOND = env.float("ONRAMP_CALLS_PER_SECOND", default=10.0)
ONRAMP_CALLS_BURST = env.int("ONRAMP_CALLS_BURST", default=1)
# Per call: total seconds of Retry-After waits (429/503), and retries of other transient failures.
ONRAMP_THROTTLE_WAIT_SECONDS = env.float("ONRAMP_THROTTLE_WAIT_SECONDS", default=300.0)
ONRAMP_TRANSIENT_RETRIES = env.int("ONRAMP_TRANSIENT_RETRIES", default=4)
ONRAMP_BACKOFF_BASE_SECONDS = env.float("ONRAMP_BACKOFF_BASE_SECONDS", default=0.5)

# People: how they sign in, and who is support staff.
# Username and password sign-in (local accounts). On by default so `make run` needs no Entra app.
ONRAMP_PASSWORD_SIGNIN = env.bool("ONRAMP_PASSWORD_SIGNIN", default=True)
# Onramp's multi-tenant Entra app for "Sign in with Microsoft". Empty: no Microsoft sign-in.
ONRAMP_SIGNIN_CLIENT_ID = env.str("ONRAMP_SIGNIN_CLIENT_ID", default="")
ONRAMP_SIGNIN_CLIENT_SECRET = env.str("ONRAMP_SIGNIN_CLIENT_SECRET", default="")
# The Microsoft cloud people sign in to (worldwide, usgov_high, china), or an explicit authority (the sandbox's
# https://127.0.0.1:8443/organizations) and the CA bundle to trust for it.
ONRAMP_SIGNIN_CLOUD = env.str("ONRAMP_SIGNIN_CLOUD", default="worldwide")
ONRAMP_SIGNIN_AUTHORITY = env.str("ONRAMP_SIGNIN_AUTHORITY", default="")
ONRAMP_SIGNIN_CA_BUNDLE = env.str("ONRAMP_SIGNIN_CA_BUNDLE", default="")
# People of this Microsoft tenant (the installation's own) are support staff: viewers, or operators when the
# ID token's `groups` claim holds the operator group. With a support group set, only its members are support.
ONRAMP_SUPPORT_TENANT_ID = env.str("ONRAMP_SUPPORT_TENANT_ID", default="")
ONRAMP_SUPPORT_GROUP_ID = env.str("ONRAMP_SUPPORT_GROUP_ID", default="")
ONRAMP_SUPPORT_OPERATOR_GROUP_ID = env.str("ONRAMP_SUPPORT_OPERATOR_GROUP_ID", default="")
ONRAMP_INVITATION_DAYS = env.int("ONRAMP_INVITATION_DAYS", default=7)
# Outgoing email (invitations, notifications): SMTP with e.g. EMAIL_URL=smtp+tls://user:pass@host:587. Without it,
# each email is a file under VAR_DIR/mail; not the console backend, which printed every invitation link to the log.
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="onramp@localhost")
# Where people reach Onramp: the links in emails the worker sends (it has no request to take the host from).
ONRAMP_BASE_URL = env.str("ONRAMP_BASE_URL", default="http://127.0.0.1:8000")
