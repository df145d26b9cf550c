"""What Onramp does for the room_list step of Exchange Server."""

from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.services.common import required_result
from wizard.steps.exchange_server.common import (
    room_list_script,
    room_list_values,
    service_account,
)
from wizard.steps.exchange_server.connect.result import ExchangeServerConnectResult
from wizard.steps.manual import confirmation_recorded


def perform(ctx: StepContext) -> Outcome:
    required_result(ctx.tenant, ExchangeServerConnectResult, "service_account_upn", "Connect")
    confirmed = confirmation_recorded(ctx, room_list_script)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    return Done({**room_list_values(ctx.tenant), "manager": service_account(ctx.tenant), **confirmed})
