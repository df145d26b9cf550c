"""The grants an app can hold beyond a room scope, as Microsoft serves them (issue 11): Entra app role assignments
named through the resource service principal's appRoles (Graph and Office 365 Exchange Online), RBAC for
Applications roles including the composite Full Access ones, application access policies, and the EWS app-id allow
list. Called as any client would: msal for tokens, requests for Graph and InvokeCommand."""

from sandbox_client import MsClient

GRAPH = "00000003-0000-0000-c000-000000000000"
EXCHANGE = "00000002-0000-0ff1-ce00-000000000000"


def _integration_sp(ms: MsClient, app_id: str) -> dict:
    [sp] = ms.graph("GET", f"/servicePrincipals?$filter=appId eq '{app_id}'").json()["value"]
    return sp


def test_app_role_assignments_name_their_role_through_the_resource_service_principal(sandbox_tenant, ms):
    app_id = sandbox_tenant.info["integration_app_id"]
    control = sandbox_tenant.control
    control.grant_permission("Calendars.ReadBasic.All", app_id=app_id)
    control.grant_permission("full_access_as_app", app_id=app_id, resource="exchange")
    control.grant_permission("Calendars.Read", app_id=app_id, resource="exchange")
    sp = _integration_sp(ms, app_id)

    assignments = ms.graph_all(f"/servicePrincipals/{sp['id']}/appRoleAssignments")

    named = set()
    for assignment in assignments:
        assert assignment["principalId"] == sp["id"] and assignment["principalType"] == "ServicePrincipal"
        resource = ms.graph("GET", f"/servicePrincipals/{assignment['resourceId']}").json()
        [role] = [r for r in resource["appRoles"] if r["id"] == assignment["appRoleId"]]
        named.add((resource["appId"], role["value"]))
    assert named == {
        (GRAPH, "Calendars.ReadBasic.All"),
        (EXCHANGE, "full_access_as_app"),
        (EXCHANGE, "Calendars.Read"),
    }
    graph_sp = ms.graph("GET", f"/servicePrincipals(appId='{GRAPH}')").json()
    assert {"8ba4a692-bc31-4128-9094-475872af8a53", "ef54d2bf-783f-4e0f-bca1-3210c0444d99"} <= {
        r["id"] for r in graph_sp["appRoles"]
    }
    # Graph's published id (merill/graph-permissions-explorer, WIRE.md [C15]).
    assert {"value": "Tasks.Read.All", "id": "f10e1f91-74ed-437f-a6fd-d6ae88e26c1f"} in [
        {"value": r["value"], "id": r["id"]} for r in graph_sp["appRoles"]
    ]


def test_graph_calendars_read_basic_opens_every_calendar_and_an_exchange_role_does_not(sandbox_tenant):
    info = sandbox_tenant.info
    integration = MsClient(info, info["integration_app_id"], info["integration_client_secret"])
    user = "/users/user-001@contoso.onmicrosoft.com/calendar"
    assert integration.graph("GET", user).status_code == 403
    sandbox_tenant.control.grant_permission("Calendars.Read", app_id=info["integration_app_id"], resource="exchange")
    assert integration.graph("GET", user).status_code == 403  # an Exchange app role is not a Graph permission
    sandbox_tenant.control.grant_permission("Calendars.ReadBasic.All", app_id=info["integration_app_id"])
    assert integration.graph("GET", user).status_code == 200


def test_an_unscoped_exchange_full_access_assignment_opens_calendars(sandbox_tenant, ms):
    info = sandbox_tenant.info
    app_id = info["integration_app_id"]
    control = sandbox_tenant.control
    control.invoke("New-ServicePrincipal", AppId=app_id, ObjectId="5e6f7a8b-0000-4000-8000-000000000001")
    control.invoke("New-ManagementRoleAssignment", App=app_id, Role="Application Exchange Full Access")
    integration = MsClient(info, app_id, info["integration_client_secret"])

    assert integration.graph("GET", "/users/user-001@contoso.onmicrosoft.com/calendar").status_code == 200
    [assignment] = ms.invoke("Get-ManagementRoleAssignment", Role="Application Exchange Full Access")
    assert assignment["App"] == app_id and assignment["CustomResourceScope"] is None
    [row] = ms.invoke("Test-ServicePrincipalAuthorization", Identity=app_id)
    assert "Calendars.ReadWrite" in row["GrantedPermissions"] and row["ScopeType"] == "Organization"


def test_an_application_access_policy_is_listed_and_restricts_only_the_entra_grant(sandbox_tenant, ms):
    info = sandbox_tenant.info
    app_id = info["integration_app_id"]
    control = sandbox_tenant.control
    control.invoke(
        "New-DistributionGroup", Name="Booking Scope", Alias="booking-scope", Members=["room-001", "room-002"]
    )
    control.invoke(
        "New-ApplicationAccessPolicy",
        AppId=app_id,
        PolicyScopeGroupId="booking-scope",
        AccessRight="RestrictAccess",
        Description="Restrict the booking app to the rooms",
    )
    control.set_knobs(tenant_wide_calendar_grant=True)
    integration = MsClient(info, app_id, info["integration_client_secret"])

    [policy] = ms.invoke("Get-ApplicationAccessPolicy")

    assert policy["AppId"] == app_id and policy["AccessRight"] == "RestrictAccess"
    assert policy["ScopeName"] == "Booking Scope" and policy["Description"].startswith("Restrict")
    assert policy["Identity"].startswith(f"{info['tenant_id']}\\{app_id}:S-1-5-21-")
    # As public captures of the cmdlet print them: the scope group's "<SID>;<guid>", shard All, valid.
    [group] = ms.invoke("Get-DistributionGroup", Identity="booking-scope")
    assert policy["ScopeIdentityRaw"] == policy["Identity"].split(":", 1)[1]
    assert policy["ScopeIdentityRaw"].startswith("S-1-5-21-") and policy["ScopeIdentityRaw"].endswith(
        f";{group['Guid']}"
    )
    assert policy["ShardType"] == "All" and policy["IsValid"] is True
    assert integration.graph("GET", "/users/room-001@contoso.onmicrosoft.com/calendar").status_code == 200
    blocked = integration.graph("GET", "/users/user-001@contoso.onmicrosoft.com/calendar")
    assert blocked.status_code == 403
    # The policy's refusal, as Graph documents it (resolve-auth-errors; WIRE.md [D35]).
    assert blocked.json()["error"]["code"] == "ErrorAccessDenied"
    assert blocked.json()["error"]["message"] == "Access to OData is disabled."

    ms.invoke("Remove-ApplicationAccessPolicy", Identity=policy["Identity"])

    assert ms.invoke("Get-ApplicationAccessPolicy") == []
    assert integration.graph("GET", "/users/user-001@contoso.onmicrosoft.com/calendar").status_code == 200


def test_the_ews_app_id_allow_list_is_read_and_written_with_the_organisation_config(ms):
    [config] = ms.invoke("Get-OrganizationConfig")
    assert config["EwsAllowedAppIDs"] == [] and config["EwsEnabled"] is None

    ms.invoke("Set-OrganizationConfig", EwsEnabled=True, EwsAllowedAppIDs=["1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"])

    # Microsoft's "Control access to EWS in Exchange": the list is read with -RetrieveEwsOperationAccessPolicy.
    [plain] = ms.invoke("Get-OrganizationConfig")
    assert plain["EwsEnabled"] is True and plain["EwsAllowedAppIDs"] == []
    [config] = ms.invoke("Get-OrganizationConfig", RetrieveEwsOperationAccessPolicy=True)
    assert config["EwsEnabled"] is True and config["EwsAllowedAppIDs"] == ["1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"]


# Issue 25 point 9: the sandbox knows every role and permission Microsoft documents, and answers as Exchange does.
def test_every_application_role_of_application_rbac_can_be_assigned_and_listed_by_its_assignee(sandbox_tenant, ms):
    app_id = sandbox_tenant.info["integration_app_id"]
    object_id = "5e6f7a8b-0000-4000-8000-000000000001"
    control = sandbox_tenant.control
    control.invoke("New-ServicePrincipal", AppId=app_id, ObjectId=object_id, DisplayName="Calendar Integration")
    for role in ("Application MailboxItem.ReadWrite", "Application Mail-Advanced.ReadWrite.All"):
        control.invoke("New-ManagementRoleAssignment", App=app_id, Role=role)

    # -RoleAssignee with the service principal's object id, app id or display name, as public scripts call it.
    for assignee in (object_id, app_id, "Calendar Integration"):
        listed = ms.invoke("Get-ManagementRoleAssignment", RoleAssignee=assignee)
        assert sorted(a["Role"] for a in listed) == [
            "Application Mail-Advanced.ReadWrite.All",
            "Application MailboxItem.ReadWrite",
        ]
        assert {(a["RoleAssigneeType"], a["RoleAssigneeName"]) for a in listed} == {("ServicePrincipal", object_id)}

    # Without -Resource, InScope reads "Not Run" (application-rbac; Test-ServicePrincipalAuthorization example 2).
    rows = ms.invoke("Test-ServicePrincipalAuthorization", Identity=app_id)
    assert {row["InScope"] for row in rows} == {"Not Run"}
    assert {row["GrantedPermissions"] for row in rows} == {"MailboxItem.ReadWrite.All", "Mail-Advanced.ReadWrite.All"}


def test_a_recipient_group_scope_with_app_covers_the_groups_direct_members_only(sandbox_tenant, ms):
    info = sandbox_tenant.info
    app_id = info["integration_app_id"]
    control = sandbox_tenant.control
    control.invoke("New-ServicePrincipal", AppId=app_id, ObjectId="5e6f7a8b-0000-4000-8000-000000000001")
    control.invoke("New-DistributionGroup", Name="Executives", Alias="executives", Members=["user-001"])

    [assignment] = control.invoke(
        "New-ManagementRoleAssignment", App=app_id, Role="Application Calendars.Read", RecipientGroupScope="executives"
    )

    # As Exchange reads it back (WIRE.md [GROUPSCOPE]): RecipientWriteScope Group, the group's Name in
    # CustomResourceScope, no RecipientGroupScope property.
    assert assignment["RecipientWriteScope"] == "Group" and assignment["CustomResourceScope"] == "Executives"
    assert "RecipientGroupScope" not in assignment and not assignment["CustomRecipientWriteScope"]
    integration = MsClient(info, app_id, info["integration_client_secret"])
    assert integration.graph("GET", "/users/user-001@contoso.onmicrosoft.com/calendar").status_code == 200
    assert integration.graph("GET", "/users/user-002@contoso.onmicrosoft.com/calendar").status_code == 403
    [row] = ms.invoke(
        "Test-ServicePrincipalAuthorization", Identity=app_id, Resource="user-002@contoso.onmicrosoft.com"
    )
    assert row["InScope"] is False and row["AllowedResourceScope"] == "Executives"


def test_the_resource_service_principals_publish_every_mailbox_permission_with_microsofts_ids(ms):
    graph = {r["value"]: r["id"] for r in ms.graph("GET", f"/servicePrincipals(appId='{GRAPH}')").json()["appRoles"]}
    assert graph["MailboxItem.Read.All"] == "7d9f353d-a7bd-4fbb-822a-26d5dd39a3ce"
    assert graph["MailboxFolder.ReadWrite.All"] == "fef87b92-8391-4589-9da7-eb93dab7dc8a"
    assert graph["Mail-Advanced.ReadWrite.All"] == "e118f1da-5c1c-46cf-bff6-8858d786f46f"
    assert graph["Contacts.ReadWrite"] == "6918b873-d17a-4dc1-b314-35f528134491"
    assert graph["Tasks.ReadWrite.All"] == "44e666d1-d276-445b-a5fc-8815eeb81d55"
    assert {"MailboxItem.Export.All", "MailboxItem.ImportExport.All", "MailboxConfigItem.ReadWrite"} <= set(graph)
