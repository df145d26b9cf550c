"""Traces (issue 28 point 4): with OpenTelemetry's variables set, one trace follows a step run from the process that
queued it into the worker's Celery task and on to each request to Microsoft. The worker is the real one, exporting
to its console; this process traces with an in-memory exporter."""

import json

import pytest
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.factories import connected_tenant, state_of
from tests.helpers import wait_for
from wizard import engine
from wizard.models import FINISHED_STATUSES, StepStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def traced_here():
    """This process's side: the task's message carries the trace (Celery's instrumentation, as on the web)."""
    provider = TracerProvider()
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    CeleryInstrumentor().instrument(tracer_provider=provider)
    yield provider.get_tracer("tests")
    CeleryInstrumentor().uninstrument()


def _spans(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith('{"name"')]


def test_a_step_run_is_one_trace_from_the_queueing_process_to_microsoft(worker_with, make_sandbox, traced_here):
    worker = worker_with(OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="onramp-worker")
    tenant = connected_tenant(make_sandbox().info)

    with traced_here.start_as_current_span("a person presses Run") as pressed:
        engine.enqueue_step(tenant, "connect", "alice")
    state = wait_for(
        lambda: (found := state_of(tenant, "connect")).status in FINISHED_STATUSES and found, 60, what="connect"
    )
    assert state.status == StepStatus.SUCCEEDED, state.error_message

    trace_id = f"0x{pressed.get_span_context().trace_id:032x}"

    # The step's row is written before its task's span ends, and the exporter writes each span as it ends: wait for
    # the task's own span, not for the first of the trace (a call to Microsoft, which ends first).
    def trace_with_its_task() -> list[dict]:
        spans = [span for span in _spans(worker.log()) if span["context"]["trace_id"] == trace_id]
        return spans if any(span["name"] == "run/wizard.tasks.run_step" for span in spans) else []

    spans = wait_for(trace_with_its_task, 10, what="the task's span in the worker's log")
    [task] = [span for span in spans if span["name"] == "run/wizard.tasks.run_step"]
    assert task["resource"]["attributes"]["service.name"] == "onramp-worker"
    calls = [
        span for span in spans if span["kind"] == "SpanKind.CLIENT" and span["parent_id"] == task["context"]["span_id"]
    ]
    assert len(calls) >= 3, [span["name"] for span in spans]  # a token, Graph's reads, Exchange's InvokeCommand
    urls = [span["attributes"].get("http.url") or span["attributes"].get("url.full") for span in calls]
    assert all(url.startswith("https://127.0.0.1:") and "?" not in url for url in urls), urls
