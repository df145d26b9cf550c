"""Steps 3 and 4: adopting or refusing an existing group, and rooms from a CSV with a preview before anything is
applied."""

from tests.factories import connected_tenant, state_of
from wizard.models import MembershipStatus, Room, StepStatus
from wizard.rooms_csv import parse_rooms_csv
from wizard.steps.exchange_online.rooms.service import csv_inputs

ROOM_LIST_ADDRESS = "onramp-rooms@contoso.com"


def test_an_existing_room_list_with_the_address_is_adopted(sandbox_tenant, run_steps):
    sandbox_tenant.control.invoke(
        "New-DistributionGroup",
        Name="Onramp Rooms",
        Alias="onramp-rooms",
        PrimarySmtpAddress=ROOM_LIST_ADDRESS,
        RoomList=True,
    )
    tenant = connected_tenant(sandbox_tenant.info)

    assert run_steps(tenant, until="room_list").finished

    result = state_of(tenant, "room_list").result
    assert result["adopted"] is True and result["address"] == ROOM_LIST_ADDRESS
    writes = sandbox_tenant.control.calls()["write_calls"]
    assert "New-DistributionGroup" not in writes and writes["Set-DistributionGroup"] == 1  # the manager only
    [group] = sandbox_tenant.control.state()["groups"]
    assert "onramp-svc@contoso.com" in group["managedBy"]


def test_the_list_is_managed_by_the_service_account_under_its_object_id_and_a_rerun_writes_nothing(
    sandbox_tenant, run_steps
):
    tenant = connected_tenant(sandbox_tenant.info)
    assert run_steps(tenant, until="room_list").finished
    user_id = state_of(tenant, "service_account").result["user_id"]
    result = state_of(tenant, "room_list").result
    [group] = sandbox_tenant.control.invoke("Get-DistributionGroup", Identity=result["address"])
    assert group["ManagedBy"] == [user_id]  # MC365786: a new mailbox's Name is its Entra object id
    assert user_id in result["manager_identities"] and "onramp-svc" not in result["manager_identities"]
    sandbox_tenant.control.reset_calls()

    assert run_steps(tenant, start="room_list", until="room_list").finished

    assert sandbox_tenant.control.calls()["writes"] == 0


def test_a_plain_distribution_group_is_refused_with_the_fix_then_converted_on_request(sandbox_tenant, run_steps):
    sandbox_tenant.control.invoke(
        "New-DistributionGroup", Name="Onramp Rooms", Alias="onramp-rooms", PrimarySmtpAddress=ROOM_LIST_ADDRESS
    )
    tenant = connected_tenant(sandbox_tenant.info)

    failed = run_steps(tenant, until="room_list").stopped_at

    assert failed.step_id == "room_list" and failed.status == StepStatus.FAILED
    assert failed.error_code == "not_a_room_list"
    assert "ordinary distribution group" in failed.error_message
    assert f"Set-DistributionGroup -Identity '{ROOM_LIST_ADDRESS}' -RoomList" in failed.error_detail["fix"]
    assert sandbox_tenant.control.state()["groups"][0]["recipientTypeDetails"] == "MailUniversalDistributionGroup"

    converted = run_steps(tenant, until="room_list", inputs={"room_list": {"convert_existing_group": True}})

    assert converted.finished
    assert sandbox_tenant.control.state()["groups"][0]["recipientTypeDetails"] == "RoomList"


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
