"""The Exchange admin API's InvokeCommand over real HTTPS against the sandbox."""

import pytest

from wizard.microsoft import connector_clients
from wizard.microsoft.errors import (
    AlreadyExists,
    ExchangeCmdletError,
    ExchangeObjectAlreadyExists,
    ExchangeObjectNotFound,
    NotFound,
    ResultsTruncated,
)
from wizard.microsoft.exchange_admin import hashtable


@pytest.mark.django_db
def test_invoke_returns_objects_and_follows_pages(sandbox_tenant, tenant, rate):
    sandbox_tenant.control.set_knobs(exchange_page_size=7)
    sandbox_tenant.control.reset_calls()
    with connector_clients(tenant) as ms:
        rooms = ms.exchange.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox", ResultSize="Unlimited")
        config = ms.exchange.invoke_one("Get-OrganizationConfig")
    assert len(rooms) == 20
    assert {room["RecipientTypeDetails"] for room in rooms} == {"RoomMailbox"}
    assert sandbox_tenant.control.calls()["calls"]["Get-Mailbox"] == 3
    assert config["IsDehydrated"] is False


@pytest.mark.django_db
def test_not_found_is_typed(sandbox_tenant, tenant, rate):
    with connector_clients(tenant) as ms, pytest.raises(ExchangeObjectNotFound) as caught:
        ms.exchange.invoke("Get-DistributionGroup", Identity="no-such-list@contoso.com")
    error = caught.value
    assert isinstance(error, NotFound) and isinstance(error, ExchangeCmdletError)
    assert error.is_not_found and not error.is_already_member
    assert error.exception_type.endswith(".ManagementObjectNotFoundException")
    assert error.code == "ManagementObjectNotFoundException"
    assert "couldn't be found" in error.message and not error.message.startswith("|")
    assert error.cmdlet == "Get-DistributionGroup"
    assert error.status == 404 and error.service == "exchange"


@pytest.mark.django_db
def test_duplicates_and_existing_members_are_typed(sandbox_tenant, tenant, rate):
    room = sandbox_tenant.control.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox")[0]
    with connector_clients(tenant) as ms:
        group = ms.exchange.invoke_one(
            "New-DistributionGroup",
            Name="Rooms HQ",
            Alias="rooms-hq",
            PrimarySmtpAddress="rooms-hq@contoso.com",
            RoomList=True,
        )
        assert group["RecipientTypeDetails"] == "RoomList"

        with pytest.raises(ExchangeObjectAlreadyExists) as duplicate:
            ms.exchange.invoke(
                "New-DistributionGroup",
                Name="Rooms HQ",
                Alias="rooms-hq",
                PrimarySmtpAddress="rooms-hq@contoso.com",
                RoomList=True,
            )
        assert isinstance(duplicate.value, AlreadyExists)
        assert duplicate.value.is_already_exists and not duplicate.value.is_already_member

        ms.exchange.invoke(
            "Add-DistributionGroupMember", Identity="rooms-hq@contoso.com", Member=room["PrimarySmtpAddress"]
        )
        with pytest.raises(ExchangeCmdletError) as member:
            ms.exchange.invoke(
                "Add-DistributionGroupMember", Identity="rooms-hq@contoso.com", Member=room["PrimarySmtpAddress"]
            )
        assert member.value.is_already_member
        assert "already a member" in member.value.message

        members = ms.exchange.invoke("Get-DistributionGroupMember", Identity="rooms-hq@contoso.com")
        assert [m["PrimarySmtpAddress"].lower() for m in members] == [room["PrimarySmtpAddress"].lower()]


@pytest.mark.django_db
def test_none_parameters_are_left_out(sandbox_tenant, tenant, rate):
    with connector_clients(tenant) as ms:
        assert ms.exchange.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox", Identity=None)


@pytest.mark.django_db
def test_a_truncated_result_is_an_error_never_a_short_list(sandbox_tenant, tenant, rate):
    with connector_clients(tenant) as ms, pytest.raises(ResultsTruncated) as caught:
        ms.exchange.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox", ResultSize=5)
    assert caught.value.cmdlet == "Get-Mailbox" and "more results available" in caught.value.message


@pytest.mark.django_db
def test_group_changes_carry_the_manager_check_bypass_and_typed_hashtables(sandbox_tenant, tenant, rate, caplog):
    with connector_clients(tenant) as ms:
        ms.exchange.invoke("New-DistributionGroup", Name="Rooms", Alias="rooms", RoomList=True)
        # The app is not in ManagedBy: the sandbox refuses these without -BypassSecurityGroupManagerCheck.
        ms.exchange.invoke("Add-DistributionGroupMember", Identity="rooms", Member="room-001")
        ms.exchange.invoke("Update-DistributionGroupMember", Identity="rooms", Members=["room-002", "room-003"])
        ms.exchange.invoke("Remove-DistributionGroupMember", Identity="rooms", Member="room-003")
        ms.exchange.invoke("Set-DistributionGroup", Identity="rooms", ManagedBy=hashtable(Add=["user-001"]))
        with caplog.at_level("WARNING"):
            ms.exchange.invoke("Set-DistributionGroup", Identity="rooms", ManagedBy=hashtable(Add=["user-001"]))
        members = ms.exchange.invoke("Get-DistributionGroupMember", Identity="rooms", ResultSize="Unlimited")
        group = ms.exchange.invoke_one("Get-DistributionGroup", Identity="rooms")
    assert [m["PrimarySmtpAddress"] for m in members] == ["room-002@contoso.onmicrosoft.com"]
    assert group["ManagedBy"] == ["user-001"]
    assert "no settings of 'Rooms' have been modified" in caplog.text
    assert hashtable(Add=["x"]) == {"@odata.type": "#Exchange.GenericHashTable", "Add": ["x"]}
