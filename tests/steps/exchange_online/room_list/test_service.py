"""The room list step: an existing room list with the address adopted, managed by the service account, a plain
distribution group refused with the fix and converted on request."""

from tests.factories import connected_tenant, state_of
from wizard.models import StepStatus

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
