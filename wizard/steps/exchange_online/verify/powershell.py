"""The PowerShell the verify step's page shows: what the step does, for an admin to read or run."""

from tenants.models import Tenant
from wizard.models import StepState
from wizard.powershell import quote


def commands(tenant: Tenant, state: StepState) -> str:
    app_id = tenant.integration_app_id or "<integration app id>"
    return (
        f"Test-ServicePrincipalAuthorization -Identity {quote(app_id)} "
        f"-Resource {quote('room-001@contoso.onmicrosoft.com')} | Format-Table RoleName,InScope"
    )
