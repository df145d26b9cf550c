"""The generic step task on a real worker process and a real Redis: state changes are observed in the database."""

import pytest
from django.contrib.auth import get_user_model

from tests.helpers import wait_for
from wizard import engine
from wizard.actions import create_tenant
from wizard.models import AuditEvent, StepState, StepStatus


@pytest.fixture
def tenant(transactional_db):
    user = get_user_model().objects.create_user("alice", password="pw-alice-123")
    return create_tenant(creator=user, display_name="Contoso", slug="contoso")


def _settled(state_id: int) -> StepState | None:
    state = StepState.objects.get(pk=state_id)
    return state if state.status not in (StepStatus.QUEUED, StepStatus.RUNNING) else None


def test_worker_runs_step_and_records_failure_with_attempts(celery_worker, tenant):
    """Connecting a tenant that has no credentials fails on the worker with a stored, specific error."""
    state = engine.enqueue_step(tenant, "connect", "alice")

    state = wait_for(lambda: _settled(state.pk), 60, what="the worker to run the connect step")

    assert state.status == StepStatus.FAILED
    assert state.attempts == 1
    assert state.error_code and state.error_message
    assert state.started_at and state.finished_at
    outcomes = list(AuditEvent.objects.filter(tenant=tenant, step_id="connect").values_list("outcome", flat=True))
    assert outcomes == ["failed", "queued"]


def test_retry_keeps_inputs_and_counts_attempts(celery_worker, tenant):
    state = engine.enqueue_step(tenant, "connect", "alice", inputs={"note": "first"})
    wait_for(lambda: _settled(state.pk), 60, what="the first attempt")

    engine.enqueue_step(tenant, "connect", "alice", action="retry")
    state = wait_for(lambda: (s := _settled(state.pk)) and s.attempts == 2 and s, 60, what="the second attempt")

    assert state.inputs == {"note": "first"}
    assert AuditEvent.objects.filter(tenant=tenant, action="retry").exists()
