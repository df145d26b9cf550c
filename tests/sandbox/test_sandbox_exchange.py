import pytest
from sandbox_client import MsClient

from sandbox.control import CmdletFailed

DN_TAIL = (
    ",OU=contoso.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations,DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM"
)


def test_invoke_command_envelope(ms):
    body = ms.invoke_raw("Get-OrganizationConfig").json()
    assert body["@adminapi.warnings"] == [] and body["@odata.context"].endswith("Exchange.GenericHashTable)")
    config = body["value"][0]
    assert config["IsDehydrated"] is False and "EwsEnabled" in config and "EwsAllowList" in config


def test_dehydrated_org_and_customization_flip_after_delay(make_sandbox):
    sandbox = make_sandbox(dehydrated=True, customization_delay_s=600)
    ms = MsClient(sandbox.info)
    assert ms.invoke("Get-OrganizationConfig")[0]["IsDehydrated"] is True
    exc_type, _ = ms.invoke_error(
        "New-ManagementScope", Name="s", RecipientRestrictionFilter=f"MemberOfGroup -eq 'CN=x{DN_TAIL}'"
    )
    assert exc_type.endswith("InvalidOperationInDehydratedContextException")
    assert ms.invoke("Enable-OrganizationCustomization") == []
    assert ms.invoke("Get-OrganizationConfig")[0]["IsDehydrated"] is True
    sandbox.control.advance(601)
    assert ms.invoke("Get-OrganizationConfig")[0]["IsDehydrated"] is False
    exc_type, text = ms.invoke_error("Enable-OrganizationCustomization")
    # Microsoft's answer (WIRE.md [I19]): a plain InvalidOperationException, not a type of its own.
    assert exc_type == "System.InvalidOperationException"
    assert text == "This operation is not required. Organization is already enabled for customization."


def test_is_dehydrated_may_read_true_from_a_replica_after_customisation(make_sandbox):
    sandbox = make_sandbox(dehydrated=True, customization_delay_s=60, dehydrated_read_lag_s=600)
    ms = MsClient(sandbox.info)
    assert ms.invoke("Enable-OrganizationCustomization") == []
    sandbox.control.advance(61)
    assert ms.invoke("Get-OrganizationConfig")[0]["IsDehydrated"] is True
    assert ms.invoke_error("Enable-OrganizationCustomization")[0] == "System.InvalidOperationException"
    sandbox.control.advance(600)
    assert ms.invoke("Get-OrganizationConfig")[0]["IsDehydrated"] is False


def test_new_room_list_and_duplicates(ms):
    group = ms.invoke(
        "New-DistributionGroup", Name="Rooms HQ", Alias="roomshq", PrimarySmtpAddress="rooms@contoso.com", RoomList=True
    )[0]
    assert group["RecipientTypeDetails"] == "RoomList"
    assert group["DistinguishedName"] == "CN=Rooms HQ" + DN_TAIL
    same_name = ms.invoke_error("New-DistributionGroup", Name="Rooms HQ", Alias="other", RoomList=True)
    assert same_name[0] == "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException"
    same_alias = ms.invoke_error("New-DistributionGroup", Name="Other", Alias="roomshq", RoomList=True)
    assert same_alias[0] == "Microsoft.Exchange.Data.Directory.ProxyAddressExistsException"
    same_address = ms.invoke_error(
        "New-DistributionGroup", Name="Third", Alias="third", PrimarySmtpAddress="ROOMS@contoso.com", RoomList=True
    )
    assert same_address[0] == "Microsoft.Exchange.Data.Directory.ProxyAddressExistsException"
    assert 'The proxy address "SMTP:ROOMS@contoso.com" is already being used' in same_address[1]
    mailbox_address = ms.invoke_error(
        "New-DistributionGroup", Name="Clash", Alias="clash", PrimarySmtpAddress="room-001@contoso.onmicrosoft.com"
    )
    assert mailbox_address[0].endswith("ProxyAddressExistsException")


def test_get_and_set_distribution_group(ms):
    ms.invoke("New-DistributionGroup", Name="Plain", Alias="plain")
    group = ms.invoke("Get-DistributionGroup", Identity="plain@contoso.onmicrosoft.com")[0]
    assert group["RecipientTypeDetails"] == "MailUniversalDistributionGroup" and group["ManagedBy"] == []
    assert (
        ms.invoke(
            "Set-DistributionGroup",
            Identity="Plain",
            ManagedBy=["user-001@contoso.onmicrosoft.com"],
            RoomList=True,
            BypassSecurityGroupManagerCheck=True,
        )
        == []
    )
    group = ms.invoke("Get-DistributionGroup", Identity=group["DistinguishedName"])[0]
    assert group["RecipientTypeDetails"] == "RoomList" and group["ManagedBy"] == ["user-001"]
    again = ms.invoke_raw(
        "Set-DistributionGroup", Identity="Plain", RoomList=True, BypassSecurityGroupManagerCheck=True
    ).json()
    assert again["@adminapi.warnings"] == [
        "The command completed successfully but no settings of 'Plain' have been modified."
    ]
    lists = ms.invoke("Get-DistributionGroup", RecipientTypeDetails="RoomList")
    assert [g["Name"] for g in lists] == ["Plain"]
    exc_type, text = ms.invoke_error("Get-DistributionGroup", Identity="nope")
    assert exc_type == "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    assert text.startswith("The operation couldn't be performed because object 'nope' couldn't be found on '")


def test_membership_errors_get_and_update(ms):
    bypass = {"BypassSecurityGroupManagerCheck": True}
    ms.invoke("New-DistributionGroup", Name="Rooms", Alias="rooms", RoomList=True)
    ms.invoke("Add-DistributionGroupMember", Identity="rooms", Member="room-001@contoso.onmicrosoft.com", **bypass)
    exc_type, text = ms.invoke_error(
        "Add-DistributionGroupMember", Identity="rooms", Member="room-001@contoso.onmicrosoft.com", **bypass
    )
    assert exc_type == "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException"
    assert text == 'The recipient "room-001@contoso.onmicrosoft.com" is already a member of the group "Rooms".'
    exc_type, text = ms.invoke_error(
        "Add-DistributionGroupMember", Identity="rooms", Member="ghost@contoso.com", **bypass
    )
    assert exc_type.endswith("ManagementObjectNotFoundException")
    assert text.startswith('Couldn\'t find object "ghost@contoso.com".')
    # The error ids of public captures: Ex94914C for a recipient named by a parameter, Ex6F9304 for -Identity.
    unknown_member = ms.invoke_raw(
        "Add-DistributionGroupMember", Identity="rooms", Member="ghost@contoso.com", **bypass
    )
    unknown_group = ms.invoke_raw("Get-DistributionGroup", Identity="ghost-list")
    assert unknown_member.json()["error"]["details"][0]["message"].startswith("Ex94914C|")
    assert unknown_group.json()["error"]["details"][0]["message"].startswith("Ex6F9304|")
    # The detail's code as the raw capture of the envelope has it (WIRE.md [C5]).
    assert unknown_group.json()["error"]["details"][0]["code"] == "Client"
    ms.invoke(
        "Update-DistributionGroupMember",
        Identity="rooms",
        BypassSecurityGroupManagerCheck=True,
        Members=["room-002@contoso.onmicrosoft.com", "room-003@contoso.onmicrosoft.com"],
    )
    members = ms.invoke("Get-DistributionGroupMember", Identity="rooms")
    assert [m["PrimarySmtpAddress"] for m in members] == [
        "room-002@contoso.onmicrosoft.com",
        "room-003@contoso.onmicrosoft.com",
    ]
    assert members[0]["RecipientTypeDetails"] == "RoomMailbox"


def test_get_mailbox_by_type_result_size_and_paging(make_sandbox):
    sandbox = make_sandbox(rooms=30, equipment=4, users=2)
    ms = MsClient(sandbox.info)
    resources = ms.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox,EquipmentMailbox", ResultSize="Unlimited")
    assert len(resources) == 34
    assert {m["RecipientTypeDetails"] for m in resources} == {"RoomMailbox", "EquipmentMailbox"}
    users = ms.invoke("Get-Mailbox", RecipientTypeDetails=["UserMailbox"])
    assert {m["PrimarySmtpAddress"] for m in users} == {
        "user-001@contoso.onmicrosoft.com",
        "user-002@contoso.onmicrosoft.com",
        "admin@contoso.onmicrosoft.com",
    }
    limited = ms.invoke_raw("Get-Mailbox", ResultSize=10).json()
    assert len(limited["value"]) == 10 and "ResultSize" in limited["@adminapi.warnings"][0]
    sandbox.control.set_knobs(exchange_page_size=15)
    page = ms.invoke_raw("Get-Mailbox", RecipientTypeDetails="RoomMailbox").json()
    seen = list(page["value"])
    while "@odata.nextLink" in page:
        page = ms.invoke_raw("Get-Mailbox", url=page["@odata.nextLink"], RecipientTypeDetails="RoomMailbox").json()
        seen += page["value"]
    assert len(seen) == 30 and len({m["Guid"] for m in seen}) == 30


def test_management_scope_filter_parsing(ms):
    dn1, dn2 = "CN=Rooms" + DN_TAIL, "CN=Rooms 02" + DN_TAIL
    scope = ms.invoke(
        "New-ManagementScope",
        Name="Rooms scope",
        RecipientRestrictionFilter=f"MemberOfGroup -eq '{dn1}' -or MemberOfGroup -eq '{dn2}'",
    )[0]
    assert scope["RecipientFilter"].count("-or") == 1 and "RecipientRestrictionFilter" not in scope
    for bad in (
        f"MemberOfGroup -like '{dn1}'",
        f"MemberOfGroup -eq '{dn1}' -or",
        "Department -eq 'x'",
        f"MemberOfGroup -eq '{dn1}' -and MemberOfGroup -eq '{dn2}'",
        "MemberOfGroup -eq 'Rooms'",
    ):
        exc_type, text = ms.invoke_error("New-ManagementScope", Name="bad", RecipientRestrictionFilter=bad)
        assert exc_type == "System.Management.Automation.ParameterBindingException", bad
        assert text.startswith("Cannot bind parameter 'RecipientRestrictionFilter'"), text
    duplicate = ms.invoke_error(
        "New-ManagementScope", Name="Rooms scope", RecipientRestrictionFilter=f"MemberOfGroup -eq '{dn1}'"
    )
    assert duplicate[0].endswith("AlreadyExistsException")


def test_service_principal_role_assignment_and_authorization_test(sandbox_tenant, ms):
    app_id = sandbox_tenant.info["integration_app_id"]
    group = ms.invoke("New-DistributionGroup", Name="Rooms", Alias="rooms", RoomList=True)[0]
    ms.invoke("Add-DistributionGroupMember", Identity="rooms", Member="room-001", BypassSecurityGroupManagerCheck=True)
    sp = ms.invoke(
        "New-ServicePrincipal",
        AppId=app_id,
        ObjectId="6a1e0c2b-0000-4000-8000-000000000001",
        DisplayName="Calendar Integration",
    )[0]
    assert sp["AppId"] == app_id
    assert ms.invoke_error("New-ServicePrincipal", AppId=app_id, ObjectId="other")[0].endswith("AlreadyExistsException")
    ms.invoke(
        "New-ManagementScope",
        Name="Rooms scope",
        RecipientRestrictionFilter=f"MemberOfGroup -eq '{group['DistinguishedName']}'",
    )
    assignment = ms.invoke(
        "New-ManagementRoleAssignment",
        App=app_id,
        Role="Application Calendars.ReadWrite",
        CustomResourceScope="Rooms scope",
    )[0]
    assert assignment["RoleAssigneeType"] == "ServicePrincipal"
    assert assignment["CustomResourceScope"] == "Rooms scope"
    # Unnamed, as captured: "<role>-<service principal object id>", cut at the 64 characters a name may hold.
    assert assignment["Name"] == "Application Calendars.ReadWrite-6a1e0c2b-0000-4000-8000-00000000"
    inside = ms.invoke(
        "Test-ServicePrincipalAuthorization", Identity=app_id, Resource="room-001@contoso.onmicrosoft.com"
    )
    assert inside == [
        {
            "RoleName": "Application Calendars.ReadWrite",
            "GrantedPermissions": "Calendars.ReadWrite",
            "AllowedResourceScope": "Rooms scope",
            "ScopeType": "CustomRecipientScope",
            "InScope": True,
        }
    ]
    outside = ms.invoke("Test-ServicePrincipalAuthorization", Identity=app_id, Resource="user-001")
    assert outside[0]["InScope"] is False
    [by_role] = ms.invoke("Get-ManagementRoleAssignment", Role="Application Calendars.ReadWrite")
    assert by_role["Name"] == assignment["Name"] and by_role["App"] == app_id
    assert by_role["RoleAssignee"] == sp["Identity"] == by_role["RoleAssigneeName"]
    assert ms.invoke_error(
        "New-ManagementRoleAssignment",
        App=app_id,
        Role="Application Calendars.ReadWrite",
        CustomResourceScope="Rooms scope",
    )[0].endswith("AlreadyExistsException")


def test_application_impersonation_only_in_the_exchange_server_shell(sandbox_tenant, ms):
    control = sandbox_tenant.control
    control.invoke(
        "New-ManagementScope", Name="Rooms", RecipientRestrictionFilter="RecipientTypeDetails -eq 'RoomMailbox'"
    )
    exc_type, _ = ms.invoke_error(
        "New-ManagementRoleAssignment",
        User="user-001@contoso.onmicrosoft.com",
        Role="ApplicationImpersonation",
        CustomRecipientWriteScope="Rooms",
    )
    assert exc_type.endswith("ManagementObjectNotFoundException")
    made = control.invoke(
        "New-ManagementRoleAssignment",
        User="user-001@contoso.onmicrosoft.com",
        Role="ApplicationImpersonation",
        CustomRecipientWriteScope="Rooms",
    )[0]
    assert made["RoleAssigneeType"] == "User" and made["CustomRecipientWriteScope"] == "Rooms"
    with pytest.raises(CmdletFailed) as failure:
        control.invoke("Add-DistributionGroupMember", Identity="nope", Member="room-001")
    assert failure.value.exception_type.endswith("ManagementObjectNotFoundException")


def test_unknown_cmdlet_and_parameter(ms):
    assert ms.invoke_error("Get-Nothing")[0] == "System.Management.Automation.CommandNotFoundException"
    # InvokeCommand's answer to a parameter the cmdlet lacks (a live capture, WIRE.md [G2O]).
    exc_type, text = ms.invoke_error("Get-Mailbox", Identitty="x")
    assert exc_type == "Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException"
    assert text.endswith("Invalid cmdlet parameters specified. Identitty"), text


def test_call_counts_and_writes(sandbox_tenant, ms):
    control = sandbox_tenant.control
    control.reset_calls()
    ms.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox")
    ms.invoke("Get-DistributionGroup")
    assert control.calls()["writes"] == 0
    ms.invoke("New-DistributionGroup", Name="Rooms", RoomList=True)
    ms.invoke("Add-DistributionGroupMember", Identity="Rooms", Member="room-001", BypassSecurityGroupManagerCheck=True)
    ms.invoke_error(
        "Add-DistributionGroupMember", Identity="Rooms", Member="room-001", BypassSecurityGroupManagerCheck=True
    )
    calls = control.calls()
    assert calls["writes"] == 3
    assert calls["calls"]["Add-DistributionGroupMember"] == 2 and calls["calls"]["Get-Mailbox"] == 1
    state = control.state()
    assert state["groups"][0]["members"] == ["room-001@contoso.onmicrosoft.com"]
