"""OpenTelemetry traces, opt-in by OpenTelemetry's own variables: nothing is imported or patched unless
OTEL_TRACES_EXPORTER (otlp, console) or OTEL_EXPORTER_OTLP_ENDPOINT is set, so off costs nothing.

On, one trace follows a step run: the Django request that queued it, the Celery task that ran it (the Celery
instrumentation carries the context in the message's headers) and each request to Microsoft (the requests
instrumentation). Query strings are left out of the spans: an OAuth callback's carries a code."""

import os
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

_started = threading.Lock()
_done = False
# Probes and the metrics scrape would make most of the spans and tell nothing.
EXCLUDED_URLS = "healthz,readyz,metrics,static/"


def enabled() -> bool:
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
    return exporter not in ("", "none") or bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def _url_without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path


def _django_request(span: Any, request: Any) -> None:
    if span.is_recording():
        span.set_attribute("http.target", request.path)
        span.set_attribute("http.url", request.build_absolute_uri(request.path))


def _outgoing_request(span: Any, request: Any) -> None:
    if span.is_recording():
        span.set_attribute("http.url", _url_without_query(request.url))
        span.set_attribute("url.full", _url_without_query(request.url))


def instrument(tracer_provider: Any = None) -> None:
    """Instrument Django, Celery and requests with `tracer_provider` (default: the global one)."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    DjangoInstrumentor().instrument(
        tracer_provider=tracer_provider, request_hook=_django_request, excluded_urls=EXCLUDED_URLS
    )
    CeleryInstrumentor().instrument(tracer_provider=tracer_provider)
    RequestsInstrumentor().instrument(tracer_provider=tracer_provider, request_hook=_outgoing_request)


def uninstrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    for instrumentor in (DjangoInstrumentor(), CeleryInstrumentor(), RequestsInstrumentor()):
        instrumentor.uninstrument()


def start() -> None:
    """Set up the global tracer provider from OpenTelemetry's variables and instrument, once per process: at Django's
    setup, so before the web server loads its middleware, and in a Celery worker before its pool forks (the batch
    exporter restarts its thread in each child)."""
    global _done
    if not enabled():
        return
    with _started:
        if _done:
            return
        _done = True
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    exporters = {name.strip() for name in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    if "console" in exporters:
        # One line per span, on the process's real stdout (a Celery worker redirects sys.stdout into its log).
        console = ConsoleSpanExporter(out=sys.__stdout__, formatter=lambda span: span.to_json(indent=None) + "\n")
        provider.add_span_processor(SimpleSpanProcessor(console))
    if "otlp" in exporters:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument()
