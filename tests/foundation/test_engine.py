from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from wizard import engine, selectors
from wizard.actions import create_tenant
from wizard.errors import IllegalTransition
from wizard.models import AuditEvent, StepState, StepStatus
from wizard.steps.registry import steps_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    user = get_user_model().objects.create_user("alice", password="pw-alice-123")
    return create_tenant(creator=user, display_name="Contoso", slug="contoso")


def test_exchange_online_registers_steps_zero_to_seven_and_the_optional_hand_back():
    ids = [step.id for step in steps_for("exchange_online")]
    assert ids == [
        "connect",
        "org_customization",
        "service_account",
        "room_list",
        "rooms",
        "scoped_access",
        "verify",
        "activate",
        "reduce_access",
    ]
    assert [step.id for step in steps_for("exchange_online") if step.optional] == ["reduce_access"]
    for step in steps_for("exchange_online"):
        assert step.title and step.summary and step.why


def test_every_step_shows_powershell(tenant):
    for step, state in zip(steps_for(tenant.profile), engine.ensure_states(tenant), strict=True):
        assert step.powershell(tenant, state).strip()


def test_new_tenant_has_one_state_per_step_and_resumes_at_the_first(tenant):
    states = engine.ensure_states(tenant)
    assert [s.step_id for s in states] == [step.id for step in steps_for(tenant.profile)]
    assert engine.ensure_states(tenant) == states
    assert selectors.resume_state(states).step_id == "connect"


def test_resume_is_first_step_neither_succeeded_nor_skipped(tenant):
    states = engine.ensure_states(tenant)
    StepState.objects.filter(pk=states[0].pk).update(status=StepStatus.SUCCEEDED)
    StepState.objects.filter(pk=states[1].pk).update(status=StepStatus.SKIPPED)
    StepState.objects.filter(pk=states[3].pk).update(status=StepStatus.SUCCEEDED)
    assert selectors.resume_state(engine.ensure_states(tenant)).step_id == "service_account"


def test_enqueue_records_inputs_and_an_audit_event(tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        state = engine.enqueue_step(tenant, "room_list", "alice", inputs={"name": "Rooms"})
    assert len(callbacks) == 1
    state.refresh_from_db()
    assert state.status == StepStatus.QUEUED
    assert state.inputs == {"name": "Rooms"}
    assert state.task_id
    event = AuditEvent.objects.get(tenant=tenant, action="run")
    assert (event.actor, event.step_id, event.outcome) == ("alice", "room_list", "queued")


def test_enqueue_twice_is_illegal(tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        engine.enqueue_step(tenant, "connect", "alice")
        with pytest.raises(IllegalTransition):
            engine.enqueue_step(tenant, "connect", "alice")


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (StepStatus.NOT_STARTED, StepStatus.SUCCEEDED, False),
        (StepStatus.SUCCEEDED, StepStatus.RUNNING, False),
        (StepStatus.FAILED, StepStatus.QUEUED, True),
        (StepStatus.INTERRUPTED, StepStatus.QUEUED, True),
        (StepStatus.RUNNING, StepStatus.INTERRUPTED, True),
        (StepStatus.WAITING, StepStatus.SUCCEEDED, False),
    ],
)
def test_transitions(tenant, start, target, allowed):
    state = engine.ensure_states(tenant)[0]
    state.status = start
    if allowed:
        engine._transition(state, target)
        state.refresh_from_db()
        assert state.status == target
    else:
        with pytest.raises(IllegalTransition):
            engine._transition(state, target)


def test_a_status_change_writes_only_what_it_changes(tenant, django_capture_on_commit_callbacks):
    state = engine.ensure_states(tenant)[4]
    StepState.objects.filter(pk=state.pk).update(result={"rooms": [f"room-{n}@contoso.com" for n in range(500)]})
    with django_capture_on_commit_callbacks(execute=False), CaptureQueriesContext(connection) as queries:
        engine.enqueue_step(tenant, state.step_id, "alice")
    (update,) = [query["sql"] for query in queries if query["sql"].startswith("UPDATE")]
    assert '"status"' in update and '"task_id"' in update
    assert '"result"' not in update and '"inputs"' not in update  # neither is written back, however large
    state.refresh_from_db()
    assert len(state.result["rooms"]) == 500


def test_stale_task_is_ignored(tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        state = engine.enqueue_step(tenant, "connect", "alice")
    assert engine.execute_step(state.pk, "some-other-task-id") is None
    state.refresh_from_db()
    assert state.status == StepStatus.QUEUED
    assert state.attempts == 0


def test_running_step_without_heartbeat_becomes_interrupted(tenant, settings):
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = 30
    settings.ONRAMP_AUTO_RESUMES = 0
    states = engine.ensure_states(tenant)
    StepState.objects.filter(pk=states[0].pk).update(
        status=StepStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=31)
    )
    StepState.objects.filter(pk=states[1].pk).update(status=StepStatus.RUNNING, heartbeat_at=timezone.now())

    interrupted = engine.mark_interrupted_steps()

    assert [s.step_id for s in interrupted] == ["connect"]
    assert StepState.objects.get(pk=states[1].pk).status == StepStatus.RUNNING
    assert AuditEvent.objects.filter(tenant=tenant, outcome="interrupted", step_id="connect").exists()


def _kill_heartbeat(state: StepState) -> None:
    StepState.objects.filter(pk=state.pk).update(
        status=StepStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=31)
    )


def test_an_interrupted_step_resumes_by_itself_a_bounded_number_of_times(tenant, settings):
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = 30
    settings.ONRAMP_HEARTBEAT_SECONDS = 5
    settings.ONRAMP_AUTO_RESUMES = 2
    state = engine.ensure_states(tenant)[0]

    for attempt in (1, 2):
        _kill_heartbeat(state)
        engine.mark_interrupted_steps()
        state.refresh_from_db()
        assert state.status == StepStatus.QUEUED and state.auto_resumes == attempt
        assert f"automatic resume {attempt} of 2" in state.progress_message
    _kill_heartbeat(state)
    engine.mark_interrupted_steps()

    state.refresh_from_db()
    assert state.status == StepStatus.INTERRUPTED, "after the last automatic resume it waits for a person"
    resumes = AuditEvent.objects.filter(tenant=tenant, action="auto_resume").order_by("id")
    assert [event.detail["delay_seconds"] for event in resumes] == [10, 20]
    engine.enqueue_step(tenant, "connect", "alice", action="resume")
    state.refresh_from_db()
    assert state.status == StepStatus.QUEUED and state.auto_resumes == 0


def test_audit_events_are_append_only(tenant):
    event = AuditEvent.objects.filter(tenant=tenant).first()
    event.outcome = "tampered"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
