"""The PowerShell the rooms step's page shows: what the step does, for an admin to read or run."""

from tenants.models import Tenant
from wizard.models import StepState
from wizard.powershell import comment
from wizard.services.common import result_of
from wizard.services.exchange_server_scripts import listed_rooms_script, render
from wizard.steps.exchange_online.rooms import service as rooms
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.service_account.result import ServiceAccountResult


def commands(tenant: Tenant, state: StepState) -> str:
    """The preview's plan of lists of at most 75 (wizard.room_plan), as commands safe to run more than once."""
    plan = rooms.planned_lists_of(RoomsResult.from_json(state.result))
    if not plan:
        return comment("Choose the rooms on this page first: the commands for each room list appear here then.")
    account = result_of(tenant, ServiceAccountResult)
    manager = (account.user_principal_name if account is not None else "") or "<service account>"
    return render(listed_rooms_script(plan, manager)).rstrip("\n")
