"""The PowerShell the scoped_access step's page shows: what the step does, for an admin to read or run."""

from tenants.models import Tenant
from wizard.models import StepState
from wizard.powershell import quote, saved_value


def commands(tenant: Tenant, state: StepState) -> str:
    app_id = tenant.integration_app_id or "<integration app id>"
    sp_object_id = saved_value(state, "service_principal_object_id", "<Entra service principal object id>")
    scope = saved_value(state, "scope_name", "Onramp Rooms Scope")
    dn = saved_value(state, "filter", "MemberOfGroup -eq '<RoomList DN>'")
    return (
        f"New-ServicePrincipal -AppId {quote(app_id)} -ObjectId {quote(sp_object_id)} "
        f"-DisplayName {quote('Room booking integration')}\n"
        f"New-ManagementScope -Name {quote(scope)} -RecipientRestrictionFilter {quote(dn)}\n"
        f"New-ManagementRoleAssignment -App {quote(app_id)} -Role 'Application Calendars.ReadWrite' "
        f"-CustomResourceScope {quote(scope)}"
    )
