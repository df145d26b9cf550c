"""Steps 0-7 of the exchange_online profile, and the optional hand-back."""

from tenants.models import Tenant
from wizard import forms, presenters, results
from wizard.models import StepState
from wizard.powershell import comment, quote
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.services import (
    activate,
    connect,
    org_customization,
    reduce_access,
    room_list,
    rooms,
    scoped_access,
    service_account,
    step_inputs,
    verify,
)
from wizard.services.common import result_of
from wizard.services.exchange_server_scripts import listed_rooms_script, render
from wizard.steps.registry import RoomsTable, Step, register_profile

PROFILE = "exchange_online"


def _value(state: StepState, key: str, placeholder: str) -> str:
    return str(state.result.get(key) or state.inputs.get(key) or placeholder)


def _connect_ps(tenant: Tenant, state: StepState) -> str:
    return (
        "Install-Module ExchangeOnlineManagement -Scope CurrentUser\n"
        f"Connect-ExchangeOnline -Organization {quote(tenant.microsoft_tenant_id or 'contoso.onmicrosoft.com')}\n"
        "Get-OrganizationConfig | Format-List Name,IsDehydrated,EwsEnabled"
    )


def _org_ps(tenant: Tenant, state: StepState) -> str:
    return (
        "Get-OrganizationConfig | Format-List IsDehydrated,EwsEnabled,EwsApplicationAccessPolicy,EwsAllowList\n"
        "# Only when IsDehydrated is True:\n"
        "Enable-OrganizationCustomization"
    )


def _service_account_ps(tenant: Tenant, state: StepState) -> str:
    upn = _value(state, "user_principal_name", "onramp-svc@contoso.onmicrosoft.com")
    location = _value(state, "usage_location", "US")
    sku = _value(state, "sku_part_number", "EXCHANGESTANDARD")
    return (
        "Connect-MgGraph -Scopes User.ReadWrite.All,Organization.Read.All\n"
        "$password = @{ Password = Read-Host -AsSecureString | ConvertFrom-SecureString -AsPlainText;"
        " ForceChangePasswordNextSignIn = $false }\n"
        f"$user = New-MgUser -DisplayName {quote('Room booking service')} -MailNickname "
        f"{quote(upn.split('@')[0])} -UserPrincipalName {quote(upn)} -UsageLocation {quote(location)} "
        "-AccountEnabled -PasswordProfile $password\n"
        f"$sku = Get-MgSubscribedSku | Where-Object SkuPartNumber -eq {quote(sku)}\n"
        "Set-MgUserLicense -UserId $user.Id -AddLicenses @{SkuId = $sku.SkuId} -RemoveLicenses @()\n"
        f"Get-Mailbox -Identity {quote(upn)}"
    )


def _room_list_ps(tenant: Tenant, state: StepState) -> str:
    name = _value(state, "name", "Onramp Rooms")
    alias = _value(state, "alias", "onramp-rooms")
    address = _value(state, "address", "onramp-rooms@contoso.onmicrosoft.com")
    manager = _value(state, "manager", "onramp-svc@contoso.onmicrosoft.com")
    return (
        f"New-DistributionGroup -Name {quote(name)} -Alias {quote(alias)} "
        f"-PrimarySmtpAddress {quote(address)} -RoomList\n"
        f"Set-DistributionGroup -Identity {quote(address)} -ManagedBy {quote(manager)} "
        "-BypassSecurityGroupManagerCheck\n"
        f"Get-DistributionGroup -Identity {quote(address)} | Format-List RecipientTypeDetails,ManagedBy"
    )


def _rooms_ps(tenant: Tenant, state: StepState) -> str:
    """The preview's plan of lists of at most 75 (wizard.room_plan), as commands safe to run more than once."""
    plan = rooms.planned_lists_of(results.RoomsResult.from_json(state.result))
    if not plan:
        return comment("Choose the rooms on this page first: the commands for each room list appear here then.")
    account = result_of(tenant, results.ServiceAccountResult)
    manager = (account.user_principal_name if account is not None else "") or "<service account>"
    return render(listed_rooms_script(plan, manager)).rstrip("\n")


def _scoped_access_ps(tenant: Tenant, state: StepState) -> str:
    app_id = tenant.integration_app_id or "<integration app id>"
    sp_object_id = _value(state, "service_principal_object_id", "<Entra service principal object id>")
    scope = _value(state, "scope_name", "Onramp Rooms Scope")
    dn = _value(state, "filter", "MemberOfGroup -eq '<RoomList DN>'")
    return (
        f"New-ServicePrincipal -AppId {quote(app_id)} -ObjectId {quote(sp_object_id)} "
        f"-DisplayName {quote('Room booking integration')}\n"
        f"New-ManagementScope -Name {quote(scope)} -RecipientRestrictionFilter {quote(dn)}\n"
        f"New-ManagementRoleAssignment -App {quote(app_id)} -Role 'Application Calendars.ReadWrite' "
        f"-CustomResourceScope {quote(scope)}"
    )


def _verify_ps(tenant: Tenant, state: StepState) -> str:
    app_id = tenant.integration_app_id or "<integration app id>"
    return (
        f"Test-ServicePrincipalAuthorization -Identity {quote(app_id)} "
        f"-Resource {quote('room-001@contoso.onmicrosoft.com')} | Format-Table RoleName,InScope"
    )


def _reduce_access_ps(tenant: Tenant, state: StepState) -> str:
    instructions = state.result.get("manual") or []
    if instructions:
        return "\n".join(f"# {entry['what']}\n{entry['powershell']}" for entry in instructions)
    return (
        "# Run the step: Onramp removes what it can itself and writes here the commands for the rest.\n"
        "Connect-MgGraph -Scopes RoleManagement.ReadWrite.Directory,AppRoleAssignment.ReadWrite.All"
    )


def _activate_ps(tenant: Tenant, state: StepState) -> str:
    app_id = tenant.integration_app_id or "<integration app id>"
    # -RoleAssignee is documented for users, groups and policies: list the role's assignments and find the app.
    return (
        "Get-ManagementRoleAssignment -Role 'Application Calendars.ReadWrite' | "
        f"Where-Object {{ $_.App -eq {quote(app_id)} -or $_.RoleAssigneeName -eq {quote(app_id)} }} | "
        "Format-List Name,Role,RoleAssigneeName,App,CustomResourceScope"
    )


STEPS = (
    Step(
        id="connect",
        result_type=results.ConnectResult,
        title="Connect the tenant",
        summary="Onramp signs in to your Microsoft 365 organisation with an app you consent to.",
        why="Every later step reads and changes Exchange Online on your behalf; it needs app-only access first.",
        perform=connect.perform,
        verify=connect.verify,
        form=forms.ConnectForm,
        save_inputs=step_inputs.connect_inputs,
        page_context=presenters.connect_page,
        powershell=_connect_ps,
    ),
    Step(
        id="org_customization",
        result_type=results.OrgCustomizationResult,
        requires=("connect",),
        title="Organisation customisation",
        summary="Checks that Exchange Online lets this organisation create room lists and scopes.",
        why="New or small tenants are ‘dehydrated’: until Enable-OrganizationCustomization has run, "
        "management scopes and role assignments cannot be created.",
        perform=org_customization.perform,
        verify=org_customization.verify,
        powershell=_org_ps,
    ),
    Step(
        id="service_account",
        result_type=results.ServiceAccountResult,
        requires=("connect",),
        title="Service account",
        summary="Creates a licensed account with a mailbox that the integration uses as its identity.",
        why="The room lists need a manager, and support and audits need one named account to trace.",
        perform=service_account.perform,
        verify=service_account.verify,
        form=forms.ServiceAccountForm,
        save_inputs=step_inputs.service_account_inputs,
        page_context=presenters.service_account_page,
        powershell=_service_account_ps,
    ),
    Step(
        id="room_list",
        result_type=results.RoomListResult,
        requires=("service_account",),
        title="Room list",
        summary="Creates the RoomList distribution group that names the rooms the integration may use.",
        why="The access scope is defined by membership of this list, so adding a room later is one change.",
        perform=room_list.perform,
        verify=room_list.verify,
        form=forms.RoomListForm,
        save_inputs=step_inputs.room_list_inputs,
        powershell=_room_list_ps,
    ),
    Step(
        id="rooms",
        result_type=results.RoomsResult,
        requires=("room_list",),
        title="Rooms",
        summary="Adds the chosen room and equipment mailboxes to room lists of at most "
        f"{ROOM_LIST_MAX_MEMBERS} members.",
        why=f"Outlook's room finder shows at most {ROOM_LIST_MAX_MEMBERS} rooms per list; larger sets are split into "
        "numbered lists.",
        perform=rooms.perform,
        form=forms.RoomsForm,
        save_inputs=step_inputs.rooms_inputs,
        page_context=presenters.rooms_page,
        rooms_table=RoomsTable.MEMBERSHIP,
        confirms_preview=True,
        powershell=_rooms_ps,
    ),
    Step(
        id="scoped_access",
        result_type=results.ScopedAccessResult,
        requires=("org_customization", "rooms"),
        title="Scoped access",
        summary="Grants the integration's app calendar access to the rooms in the lists, and nothing else.",
        why="ApplicationImpersonation is retired in Exchange Online; RBAC for Applications is how access is "
        "scoped to a set of mailboxes in 2026.",
        perform=scoped_access.perform,
        verify=scoped_access.verify,
        powershell=_scoped_access_ps,
    ),
    Step(
        id="verify",
        result_type=results.VerifyResult,
        requires=("scoped_access",),
        title="Verify",
        summary="Checks every room is in scope and a mailbox that is not a room is out of scope.",
        why="A scope that silently matches nothing, or everything, is the most common failure of the manual procedure.",
        perform=verify.perform,
        form=forms.VerifyForm,
        rooms_table=RoomsTable.VERIFICATION,
        powershell=_verify_ps,
    ),
    Step(
        id="activate",
        result_type=results.ActivateResult,
        requires=("verify",),
        title="Activate",
        summary="Hands the integration what it needs and erases secrets that are no longer needed.",
        why="The integration needs the tenant id, the service account and the room lists to start booking.",
        perform=activate.perform,
        verify=activate.verify,
        form=forms.ActivateForm,
        save_inputs=step_inputs.activate_inputs,
        powershell=_activate_ps,
    ),
    Step(
        id=reduce_access.STEP_ID,
        result_type=results.ReduceAccessResult,
        requires=("activate",),
        title="Reduce Onramp's access",
        summary="Hands back what Onramp no longer needs: its certificate or secret, and the steps to remove its "
        "Exchange Administrator role and User.ReadWrite.All.",
        why="Once the organisation is activated, Onramp needs no standing power in it; optional, because verify and "
        "re-verify then need access granted again.",
        perform=reduce_access.perform,
        form=forms.ReduceAccessForm,
        page_context=presenters.reduce_access_page,
        optional=True,
        powershell=_reduce_access_ps,
    ),
)

register_profile(PROFILE, STEPS)
