"""The PowerShell the connect step's page shows: what the step does, for an admin to read or run."""

from tenants.models import Tenant
from wizard.models import StepState
from wizard.powershell import quote


def commands(tenant: Tenant, state: StepState) -> str:
    return (
        "Install-Module ExchangeOnlineManagement -Scope CurrentUser\n"
        f"Connect-ExchangeOnline -Organization {quote(tenant.microsoft_tenant_id or 'contoso.onmicrosoft.com')}\n"
        "Get-OrganizationConfig | Format-List Name,IsDehydrated,EwsEnabled"
    )
