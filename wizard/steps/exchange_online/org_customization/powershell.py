"""The PowerShell the org_customization step's page shows: what the step does, for an admin to read or run."""

from tenants.models import Tenant
from wizard.models import StepState


def commands(tenant: Tenant, state: StepState) -> str:
    return (
        "Get-OrganizationConfig | Format-List IsDehydrated,EwsEnabled,EwsApplicationAccessPolicy,EwsAllowList\n"
        "# Only when IsDehydrated is True:\n"
        "Enable-OrganizationCustomization"
    )
