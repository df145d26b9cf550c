"""Structured logs with structlog: every line, Onramp's own and the libraries' (Django, Celery, msal) alike, goes
through one chain of processors that adds the context bound for the request or the task (request id, organisation,
step, Celery task id) and removes secrets, then is rendered as JSON lines (ONRAMP_LOG_FORMAT=json) or as readable
text for a person at a console (the default, what `make run` shows)."""

import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

# Keys whose values are secrets whatever they hold: a processor never prints them.
SECRET_KEYS = re.compile(r"authorization|password|passwd|secret|token|cookie|session|credential|api_?key", re.I)
# Values shaped like a secret wherever they appear in a message: a JWT (Microsoft's access and ID tokens), a bearer
# or basic Authorization value, a query parameter that carries a code, token, secret or password.
_SECRET_SHAPES = (
    (re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}(\.[A-Za-z0-9_-]*)?"), "[token]"),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I), r"\1 [secret]"),
    (
        re.compile(r"((?:^|[?&])(?:code|\w*token|client_secret|password|assertion|state)=)[^&\s\"']+", re.I),
        r"\1[secret]",
    ),
)
REDACTED = "[secret]"


def redact_text(text: str) -> str:
    for shape, replacement in _SECRET_SHAPES:
        text = shape.sub(replacement, text)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: REDACTED if SECRET_KEYS.search(str(key)) else _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Any other object is printed by its repr (Django's log of a 500 passes the request, query string and all).
    return redact_text(repr(value))


def redact_secrets(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the last guard before a line is written. Secrets are kept out of log calls in the
    first place; this catches the ones a library or a message lets through (a token in an exception's text)."""
    for key, value in event_dict.items():
        if key == "event" or not SECRET_KEYS.search(key):
            event_dict[key] = _redact(value)
        else:
            event_dict[key] = REDACTED
    return event_dict


# Shared by structlog's own calls and by every standard logging record (foreign_pre_chain).
_PRE_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_structlog() -> None:
    """structlog's own loggers hand their events to standard logging, whose handler renders them (logging_config)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_PRE_CHAIN,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def formatter(log_format: str) -> dict[str, Any]:
    """A logging formatter (dictConfig form) rendering JSON lines or readable text, secrets removed."""
    renderer = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": _PRE_CHAIN,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # A traceback becomes text first, so that redaction sees what the exception says.
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    }


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """Django's LOGGING: one console handler on the root logger. `log_format` is "json" or "console"."""
    if log_format not in ("json", "console"):
        raise ValueError(f"ONRAMP_LOG_FORMAT must be json or console, not {log_format!r}")
    configure_structlog()
    logging.captureWarnings(True)  # a warning is a log line like any other, not raw text amid the JSON
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": formatter(log_format)},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


def bind(**context: Any) -> None:
    """Add to the context every later line of this request or task carries."""
    structlog.contextvars.bind_contextvars(**context)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
