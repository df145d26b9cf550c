"""The PowerShell the reduce_access step's page shows: what the step does, for an admin to read or run."""

from tenants.models import Tenant
from wizard.models import StepState


def commands(tenant: Tenant, state: StepState) -> str:
    instructions = state.result.get("manual") or []
    if instructions:
        return "\n".join(f"# {entry['what']}\n{entry['powershell']}" for entry in instructions)
    return (
        "# Run the step: Onramp removes what it can itself and writes here the commands for the rest.\n"
        "Connect-MgGraph -Scopes RoleManagement.ReadWrite.Directory,AppRoleAssignment.ReadWrite.All"
    )
