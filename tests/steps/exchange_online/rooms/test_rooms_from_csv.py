"""Rooms from a CSV: a preview of every row's outcome before anything is applied, then the rooms applied on
confirmation."""

from tests.factories import connected_tenant, state_of
from wizard.models import MembershipStatus, Room, StepStatus
from wizard.rooms_csv import parse_rooms_csv
from wizard.steps.exchange_online.rooms.service import csv_inputs


def test_rooms_from_a_csv_are_previewed_then_applied_on_confirmation(sandbox_tenant, run_steps):
    csv = (
        "\ufeffresourceaccounts;Note\r\n"
        "room-001@contoso.onmicrosoft.com;a\r\n"
        "ROOM-002@contoso.onmicrosoft.com;b\r\n"
        "room-001@contoso.onmicrosoft.com;again\r\n"
        "user-001@contoso.onmicrosoft.com;a person\r\n"
        "nobody@contoso.onmicrosoft.com;unknown\r\n"
        "not an address;x\r\n"
        "equipment-001@contoso.onmicrosoft.com;a projector\r\n"
    ).encode()
    inputs = csv_inputs(parse_rooms_csv(csv))
    tenant = connected_tenant(sandbox_tenant.info)

    preview = run_steps(tenant, until="rooms", inputs={"rooms": inputs}).stopped_at

    assert preview.step_id == "rooms" and preview.status == StepStatus.NEEDS_INPUT
    statuses = {row["line"]: row["status"] for row in preview.result["preview"]}
    assert statuses == {
        2: "valid",
        3: "valid",
        4: "duplicate",
        5: "not_a_resource_mailbox",
        6: "unknown_mailbox",
        7: "malformed",
        8: "valid",
    }
    assert preview.result["preview_summary"]["valid"] == 3
    assert preview.attempts == 0, "a preview applies nothing: it is not an attempt"
    assert sandbox_tenant.control.calls()["write_calls"].get("Update-DistributionGroupMember") is None
    assert not Room.objects.filter(tenant=tenant).exists()

    applied = run_steps(tenant, until="rooms", inputs={"rooms": {**inputs, "confirmed": True}})

    assert applied.finished
    assert state_of(tenant, "rooms").attempts == 1
    [group] = sandbox_tenant.control.state()["groups"]
    assert sorted(group["members"]) == [
        "equipment-001@contoso.onmicrosoft.com",
        "room-001@contoso.onmicrosoft.com",
        "room-002@contoso.onmicrosoft.com",
    ]
    assert set(Room.objects.filter(tenant=tenant).values_list("membership_status", flat=True)) == {
        MembershipStatus.MEMBER
    }
    result = state_of(tenant, "rooms").result
    assert result["rooms_added"] == 3 and result["write_calls"] == 1
