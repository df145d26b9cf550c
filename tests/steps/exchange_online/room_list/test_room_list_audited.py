"""The room list an attempt stopped before its answer created is in the audit trail (issue 27 point 9): the attempt
recorded its request, Microsoft created the list and the worker was killed before the answer; the attempt that
resumes records the list as created, not adopted."""

from tests.factories import connected_tenant, state_of
from wizard.audit import record_event
from wizard.models import AuditEvent
from wizard.steps.exchange_online.room_list import service as room_list


def test_the_room_list_an_attempt_stopped_before_its_answer_created_is_recorded_not_adopted(sandbox_tenant, run_steps):
    tenant = connected_tenant(sandbox_tenant.info)
    assert run_steps(tenant, until="service_account").finished
    # The attempt recorded its request and Microsoft created the list; the worker was killed before the answer.
    wanted = room_list.wanted_list(tenant, {})
    record_event(tenant, "onramp", "create_room_list", "requested", "room_list", {"address": wanted["address"]})
    sandbox_tenant.control.invoke(
        "New-DistributionGroup",
        Name=wanted["name"],
        Alias=wanted["alias"],
        PrimarySmtpAddress=wanted["address"],
        RoomList=True,
    )

    assert run_steps(tenant, until="room_list").finished

    assert state_of(tenant, "room_list").result["adopted"] is False
    events = AuditEvent.objects.filter(tenant=tenant, step_id="room_list", action="create_room_list")
    assert list(events.order_by("pk").values_list("outcome", flat=True)) == ["requested", "succeeded"]
