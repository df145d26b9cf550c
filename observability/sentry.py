"""Error reports to Sentry, opt-in by SENTRY_DSN. Nothing secret leaves: Sentry's own scrubber removes the values of
keys it knows (and Onramp's: client secrets, passwords, tokens) in requests, frames' local variables, breadcrumbs and
extras, recursively; `scrub` then removes token-shaped text wherever it is (an exception's message, a log line)."""

from typing import Any

from observability.logs import REDACTED, SECRET_KEYS, redact_text

# Keys Sentry's scrubber does not know by default whose values Onramp holds secret.
EXTRA_DENYLIST = [
    "client_secret",
    "service_account_password",
    "access_token",
    "id_token",
    "refresh_token",
    "assertion",
    "client_assertion",
    "private_key",
    "certificate",
    "code",
    "state",
]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: REDACTED if SECRET_KEYS.search(str(key)) else _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        # Headers come as [name, value] pairs in some events.
        if len(value) == 2 and isinstance(value[0], str) and SECRET_KEYS.search(value[0]):
            return [value[0], REDACTED]
        return [_scrub(item) for item in value]
    return value


def scrub(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """before_send (and before_send_transaction): the whole event, every value that looks like a secret."""
    return _scrub(event)


def start(dsn: str, **options: Any) -> None:
    """Sentry reads its other variables itself (SENTRY_ENVIRONMENT, SENTRY_RELEASE)."""
    import sentry_sdk
    from sentry_sdk.integrations.logging import ignore_logger
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    # A request that fails is reported once, by the Django integration, with its exception; these loggers' lines
    # about it (and about every 503 of a failing readiness probe) would each be another event.
    ignore_logger("django.request")
    ignore_logger("django_structlog.middlewares.request")

    sentry_sdk.init(
        dsn=dsn,
        event_scrubber=EventScrubber(denylist=[*DEFAULT_DENYLIST, *EXTRA_DENYLIST], recursive=True),
        before_send=scrub,
        before_send_transaction=scrub,
        before_breadcrumb=lambda crumb, hint: _scrub(crumb),
        **options,
    )
