"""What Onramp does for the scoped_access step of Exchange Server."""

from django.utils.translation import gettext_noop

from wizard.errors import StepError
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.services.common import required_result
from wizard.steps.exchange_server.common import (
    room_list_addresses,
    room_list_values,
    scoped_access_script,
)
from wizard.steps.exchange_server.rooms.result import ExchangeServerRoomsResult
from wizard.steps.manual import confirmation_recorded


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    required_result(tenant, ExchangeServerRoomsResult, "lists", "Rooms")
    dns = ctx.inputs.get("room_list_dns") or []
    if not dns:
        return NeedsInput(
            gettext_noop("Run the Get-DistributionGroup commands shown and paste each DistinguishedName.")
        )
    expected = len(room_list_addresses(tenant))
    if len(dns) != expected:
        raise StepError(
            code="wrong_number_of_dns",
            message=f"{len(dns)} distinguished names were entered for {expected} room lists.",
            explanation=gettext_noop(
                "The scope must name every room list, or the rooms of a list left out stay unreachable."
            ),
            fix=gettext_noop("Paste the DistinguishedName of each list the Get-DistributionGroup commands print."),
        )
    confirmed = confirmation_recorded(ctx, scoped_access_script)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    name = room_list_values(tenant)["name"]
    return Done({"scope_name": f"{name} scope", "room_list_dns": list(dns), **confirmed})
