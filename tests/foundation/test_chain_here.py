"""A Run's chain goes on in the worker slot that ran its first step (wizard.engine.execute_chain): the next step is
queued and run here, without a message through the broker, until the task has used half its time limit; past it
the next step's task is sent, for any worker to take."""

import pytest
import structlog
from celery.signals import before_task_publish

from tests.factories import connected_tenant, state_of
from wizard import actions, task_names
from wizard.models import StepStatus

# Whatever these runs send goes to the suite's Redis broker: a process's first message fixes its broker connection.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_server")]

CHAIN = ["connect", "org_customization", "service_account"]


@pytest.fixture
def sent_steps():
    """The run-step tasks published, as Celery announces them (its signal, not our code)."""
    sent: list[tuple] = []

    def published(sender=None, body=None, **_):
        if sender == task_names.RUN_STEP:
            sent.append(tuple(body[0]))

    before_task_publish.connect(published, weak=False)
    yield sent
    before_task_publish.disconnect(published)


def _run(tenant, django_capture_on_commit_callbacks) -> None:
    first, *rest = CHAIN
    with django_capture_on_commit_callbacks(execute=True):
        state = actions.submit_step(tenant, first, "test", then=rest, send_task=False)
    with django_capture_on_commit_callbacks(execute=True):
        actions.run_queued_step(state.pk, state.task_id, False, should_stop=lambda: False)


def test_the_worker_runs_the_whole_chain_in_one_task(sandbox_tenant, sent_steps, django_capture_on_commit_callbacks):
    tenant = connected_tenant(sandbox_tenant.info, "contoso")

    _run(tenant, django_capture_on_commit_callbacks)

    assert [state_of(tenant, step_id).status for step_id in CHAIN] == [StepStatus.SUCCEEDED] * len(CHAIN)
    assert sent_steps == [], "a step of the chain went through the broker"
    assert state_of(tenant, "room_list").status == StepStatus.NOT_STARTED  # the chain ends where the Run said


def test_past_half_its_time_limit_the_chain_hands_its_next_step_to_any_worker(
    sandbox_tenant, sent_steps, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0
    tenant = connected_tenant(sandbox_tenant.info, "contoso")

    _run(tenant, django_capture_on_commit_callbacks)

    assert state_of(tenant, "connect").status == StepStatus.SUCCEEDED
    queued = state_of(tenant, "org_customization")
    assert queued.status == StepStatus.QUEUED and queued.then_steps == ["service_account"]
    assert sent_steps == [(queued.pk, queued.task_id, False)]


def test_a_chained_steps_log_lines_name_its_own_run(sandbox_tenant, sent_steps, django_capture_on_commit_callbacks):
    tenant = connected_tenant(sandbox_tenant.info, "contoso")
    structlog.contextvars.bind_contextvars(task_id="the chain's first task")  # as django-structlog binds it
    try:
        _run(tenant, django_capture_on_commit_callbacks)
        context = structlog.contextvars.get_contextvars()
    finally:
        structlog.contextvars.clear_contextvars()

    last = state_of(tenant, CHAIN[-1])
    assert last.status == StepStatus.SUCCEEDED
    assert (context["step"], context["task_id"]) == (last.step_id, last.task_id)
