"""The PowerShell the greeting step's page shows."""

from tenants.models import Tenant
from wizard.models import StepState
from wizard.powershell import quote, saved_value


def commands(tenant: Tenant, state: StepState) -> str:
    return f"Write-Output {quote('Hello, ' + saved_value(state, 'name', 'you'))}"
