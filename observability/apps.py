from typing import Any

from django.apps import AppConfig
from django.http import HttpRequest

from observability import tracing


def _path_without_query(request: HttpRequest, log_kwargs: dict[str, Any], **_: Any) -> None:
    """django-structlog logs the full path; a query string can carry an OAuth code or state, so it is left out."""
    log_kwargs["request"] = f"{request.method} {request.path}"


class ObservabilityConfig(AppConfig):
    name = "observability"

    def ready(self) -> None:
        from django_structlog import signals

        signals.bind_extra_request_metadata.connect(_path_without_query)
        signals.bind_extra_request_finished_metadata.connect(_path_without_query)
        tracing.start()
