"""The PowerShell the activate step's page shows: what the step does, for an admin to read or run."""

from tenants.models import Tenant
from wizard.models import StepState
from wizard.powershell import quote


def commands(tenant: Tenant, state: StepState) -> str:
    app_id = tenant.integration_app_id or "<integration app id>"
    # -RoleAssignee is documented for users, groups and policies: list the role's assignments and find the app.
    return (
        "Get-ManagementRoleAssignment -Role 'Application Calendars.ReadWrite' | "
        f"Where-Object {{ $_.App -eq {quote(app_id)} -or $_.RoleAssigneeName -eq {quote(app_id)} }} | "
        "Format-List Name,Role,RoleAssigneeName,App,CustomResourceScope"
    )
