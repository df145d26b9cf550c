"""Every room list Onramp creates is in the audit trail, whichever attempt created it (issue 27 point 9): the rooms
step recorded its `create_room_list` events only once every list was written, so an attempt stopped mid-way (the
probe killed its worker) left the lists it had created unrecorded, and the attempt that resumed it found them
existing and recorded nothing either (17 of 26 new lists recorded). Here the worker stops as soon as the first new
list exists, while the other writes are still in flight; the resumed attempt finishes the step. (The room list step's
first list: ../room_list/test_room_list_audited.py.)"""

from typing import Any

from tests.factories import connected_tenant, set_state, state_of
from wizard import actions, engine
from wizard.models import AuditEvent, StepStatus
from wizard.steps.exchange_online.rooms import service as rooms

ROOMS = 400  # the first list and five new ones of at most 75 rooms


def room_lists(sandbox) -> set[str]:
    return {group["name"] for group in sandbox.control.state()["groups"] if group["recipientTypeDetails"] == "RoomList"}


def created_events(tenant) -> list[dict[str, Any]]:
    return list(
        AuditEvent.objects.filter(
            tenant=tenant, step_id="rooms", action="create_room_list", outcome="succeeded"
        ).values_list("detail", flat=True)
    )


def test_lists_created_by_an_attempt_stopped_mid_way_are_all_in_the_audit_trail(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=ROOMS)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="room_list").finished
    before = room_lists(sandbox)

    state = actions.submit_step(
        tenant, "rooms", "alice", inputs=rooms.all_rooms_inputs(confirmed=True), send_task=False
    )
    engine.execute_step(state.pk, state.task_id, should_stop=lambda: len(room_lists(sandbox) - before) > 0)

    stopped = state_of(tenant, "rooms")
    assert stopped.status == StepStatus.RUNNING, (stopped.error_code, stopped.error_message)
    created_by_stopped_attempt = room_lists(sandbox) - before
    assert created_by_stopped_attempt
    # What Microsoft confirmed before the stop is recorded already (which lists that is depends on the order the
    # answers came in); the others were asked for, and their answers never seen.
    confirmed = {event["name"] for event in created_events(tenant)}
    assert confirmed <= created_by_stopped_attempt
    requested = AuditEvent.objects.filter(
        tenant=tenant, step_id="rooms", action="create_room_list", outcome="requested"
    )
    assert {event["name"] for event in requested.values_list("detail", flat=True)} >= created_by_stopped_attempt

    # The watchdog finds the step stopped; it is resumed and finishes.
    set_state(tenant, "rooms", status=StepStatus.INTERRUPTED)
    resumed = actions.submit_step(tenant, "rooms", "alice", action="resume", send_task=False)
    engine.execute_step(resumed.pk, resumed.task_id)
    assert state_of(tenant, "rooms").status == StepStatus.SUCCEEDED

    created = room_lists(sandbox) - before
    assert len(created) == 5
    assert sorted(event["name"] for event in created_events(tenant)) == sorted(created)
