"""The PowerShell the room_list step's page shows: what the step does, for an admin to read or run."""

from tenants.models import Tenant
from wizard.models import StepState
from wizard.powershell import quote, saved_value


def commands(tenant: Tenant, state: StepState) -> str:
    name = saved_value(state, "name", "Onramp Rooms")
    alias = saved_value(state, "alias", "onramp-rooms")
    address = saved_value(state, "address", "onramp-rooms@contoso.onmicrosoft.com")
    manager = saved_value(state, "manager", "onramp-svc@contoso.onmicrosoft.com")
    return (
        f"New-DistributionGroup -Name {quote(name)} -Alias {quote(alias)} "
        f"-PrimarySmtpAddress {quote(address)} -RoomList\n"
        f"Set-DistributionGroup -Identity {quote(address)} -ManagedBy {quote(manager)} "
        "-BypassSecurityGroupManagerCheck\n"
        f"Get-DistributionGroup -Identity {quote(address)} | Format-List RecipientTypeDetails,ManagedBy"
    )
