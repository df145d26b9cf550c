"""The sandbox's public contract for the behaviours real tenants showed Onramp (issue 10), called as any client
would: msal for tokens, requests for InvokeCommand and Graph."""

import pytest
from sandbox_client import MsClient

from sandbox.control import CmdletFailed

NOT_MANAGER = "Microsoft.Exchange.Configuration.Tasks.OperationRequiresGroupManagerException"
BYPASS = {"BypassSecurityGroupManagerCheck": True}
HASHTABLE = "#Exchange.GenericHashTable"


def test_group_changes_need_the_manager_check_bypass_for_an_app(ms):
    ms.invoke("New-DistributionGroup", Name="Rooms", Alias="rooms", RoomList=True, Members=["room-001"])
    refusals = [
        ("Add-DistributionGroupMember", {"Identity": "rooms", "Member": "room-002"}),
        ("Remove-DistributionGroupMember", {"Identity": "rooms", "Member": "room-001"}),
        ("Update-DistributionGroupMember", {"Identity": "rooms", "Members": ["room-003"]}),
        ("Set-DistributionGroup", {"Identity": "rooms", "ManagedBy": ["user-001"]}),
        ("Remove-DistributionGroup", {"Identity": "rooms"}),
    ]
    for cmdlet, params in refusals:
        exc_type, text = ms.invoke_error(cmdlet, **params)
        assert exc_type == NOT_MANAGER, cmdlet
        assert (
            text
            == "You don't have sufficient permissions. This operation can only be performed by a manager of the group."
        )
    for cmdlet, params in refusals:
        assert ms.invoke_raw(cmdlet, **params, **BYPASS).status_code == 200, cmdlet


def test_an_admin_who_is_not_a_manager_needs_the_bypass_too(sandbox_tenant, ms):
    ms.invoke("New-DistributionGroup", Name="Rooms", Alias="rooms", RoomList=True, ManagedBy=["user-001"])
    control = sandbox_tenant.control
    with pytest.raises(CmdletFailed) as refused:
        control.invoke("Add-DistributionGroupMember", Identity="rooms", Member="room-001")
    assert refused.value.exception_type == NOT_MANAGER
    control.invoke("Add-DistributionGroupMember", Identity="rooms", Member="room-001", **BYPASS)
    control.invoke("New-DistributionGroup", Name="Mine", Alias="mine", RoomList=True)  # the admin manages it
    control.invoke("Add-DistributionGroupMember", Identity="mine", Member="room-002")


def test_managed_by_takes_a_typed_hashtable_and_lists_names(ms):
    ms.invoke("New-DistributionGroup", Name="Rooms", Alias="rooms", RoomList=True)
    ms.invoke(
        "Set-DistributionGroup",
        Identity="rooms",
        ManagedBy={"@odata.type": HASHTABLE, "Add": ["user-001@contoso.onmicrosoft.com", "user-002"]},
        **BYPASS,
    )
    ms.invoke(
        "Set-DistributionGroup",
        Identity="rooms",
        ManagedBy={"@odata.type": HASHTABLE, "Remove": ["user-002"]},
        **BYPASS,
    )
    [group] = ms.invoke("Get-DistributionGroup", Identity="rooms")
    assert group["ManagedBy"] == ["user-001"]  # seeded mailboxes predate MC365786: their Name is the alias


def test_role_assignments_of_an_app_are_found_by_its_role_assignee_and_by_role(sandbox_tenant, ms):
    app_id = sandbox_tenant.info["integration_app_id"]
    ms.invoke("New-ServicePrincipal", AppId=app_id, ObjectId="2c3d4e5f-0000-4000-8000-00000000000b")
    ms.invoke("New-ManagementRoleAssignment", App=app_id, Role="Application Calendars.Read")
    # -RoleAssignee resolves the app's Exchange service principal, as public scripts call it (WIRE.md [C20]).
    [by_assignee] = ms.invoke("Get-ManagementRoleAssignment", RoleAssignee="2c3d4e5f-0000-4000-8000-00000000000b")
    assert by_assignee["App"] == app_id
    exc_type, _ = ms.invoke_error("Get-ManagementRoleAssignment", RoleAssignee="nobody-at-all")
    assert exc_type.endswith("ManagementObjectNotFoundException")
    exc_type, _ = ms.invoke_error("Get-ManagementRoleAssignment", App=app_id)
    assert exc_type == "Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException"
    [found] = ms.invoke("Get-ManagementRoleAssignment", Role="Application Calendars.Read")
    assert found["App"] == app_id and found["RecipientWriteScope"] == "Organization"


def _scoped_app(ms: MsClient, app_id: str, members: list[str]) -> str:
    [group] = ms.invoke("New-DistributionGroup", Name="Rooms", Alias="rooms", RoomList=True, Members=members)
    ms.invoke("New-ServicePrincipal", AppId=app_id, ObjectId="2c3d4e5f-0000-4000-8000-00000000000c")
    ms.invoke(
        "New-ManagementScope",
        Name="Rooms",
        RecipientRestrictionFilter=f"MemberOfGroup -eq '{group['DistinguishedName']}'",
    )
    ms.invoke(
        "New-ManagementRoleAssignment", App=app_id, Role="Application Calendars.ReadWrite", CustomResourceScope="Rooms"
    )
    return group["DistinguishedName"]


def test_rbac_cache_delays_new_members_and_scope_changes_too(make_sandbox):
    sandbox = make_sandbox(rbac_delay_s=3600)
    info = sandbox.info
    ms, app = MsClient(info), MsClient(info, info["integration_app_id"], info["integration_client_secret"])
    _scoped_app(ms, info["integration_app_id"], ["room-001"])
    calendar = "/users/{}@contoso.onmicrosoft.com/calendar"
    sandbox.control.advance(3601)
    assert app.graph("GET", calendar.format("room-001")).status_code == 200

    ms.invoke("Add-DistributionGroupMember", Identity="rooms", Member="room-002", **BYPASS)
    [check] = ms.invoke("Test-ServicePrincipalAuthorization", Identity=info["integration_app_id"], Resource="room-002")
    assert check["InScope"] is True  # the test reads RBAC directly
    assert app.graph("GET", calendar.format("room-002")).status_code == 403  # access waits for the cache
    sandbox.control.advance(3601)
    assert app.graph("GET", calendar.format("room-002")).status_code == 200

    ms.invoke(
        "Set-ManagementScope",
        Identity="Rooms",
        RecipientRestrictionFilter="PrimarySmtpAddress -eq 'room-005@contoso.onmicrosoft.com'",
    )
    assert app.graph("GET", calendar.format("room-005")).status_code == 403
    assert app.graph("GET", calendar.format("room-001")).status_code == 200  # the cached scope still applies
    sandbox.control.advance(3601)
    assert app.graph("GET", calendar.format("room-005")).status_code == 200
    assert app.graph("GET", calendar.format("room-001")).status_code == 403


def test_rbac_cache_keeps_a_removed_member_in_scope_for_its_delay(make_sandbox):
    """application-rbac: changes to app permissions wait for the permission cache, a removal as much as an
    addition (WIRE.md [D13]); Test-ServicePrincipalAuthorization reads RBAC directly."""
    sandbox = make_sandbox(rbac_delay_s=3600)
    info = sandbox.info
    ms, app = MsClient(info), MsClient(info, info["integration_app_id"], info["integration_client_secret"])
    _scoped_app(ms, info["integration_app_id"], ["room-001", "room-002"])
    calendar = "/users/room-001@contoso.onmicrosoft.com/calendar"
    sandbox.control.advance(3601)
    assert app.graph("GET", calendar).status_code == 200

    ms.invoke("Remove-DistributionGroupMember", Identity="rooms", Member="room-001", **BYPASS)

    [check] = ms.invoke("Test-ServicePrincipalAuthorization", Identity=info["integration_app_id"], Resource="room-001")
    assert check["InScope"] is False
    assert app.graph("GET", calendar).status_code == 200  # the cache still holds the old membership
    sandbox.control.advance(3601)
    assert app.graph("GET", calendar).status_code == 403


def test_free_skus_carry_exchange_foundation_and_give_no_mailbox(ms):
    skus = {s["skuPartNumber"]: s for s in ms.graph("GET", "/subscribedSkus").json()["value"]}
    flow_free = skus["FLOW_FREE"]
    assert flow_free["prepaidUnits"]["enabled"] >= 10000
    user = ms.graph(
        "POST",
        "/users",
        json={
            "accountEnabled": True,
            "displayName": "Svc",
            "mailNickname": "svc",
            "userPrincipalName": "svc@contoso.com",
            "usageLocation": "US",
            "passwordProfile": {"password": "Str0ng!Passw0rd#2026"},
        },
    ).json()
    body = {"addLicenses": [{"skuId": flow_free["skuId"], "disabledPlans": []}], "removeLicenses": []}
    assert ms.graph("POST", f"/users/{user['id']}/assignLicense", json=body).status_code == 200
    settings = ms.graph("GET", f"/users/{user['id']}/mailboxSettings")
    assert settings.status_code == 404 and settings.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
