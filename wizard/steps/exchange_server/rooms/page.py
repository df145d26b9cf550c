"""What the rooms step's page shows beyond its result."""

from typing import Any

from tenants.models import Tenant
from wizard.models import StepState
from wizard.steps.exchange_server import common as exchange_server
from wizard.steps.exchange_server.rooms.result import ExchangeServerRoomsResult


def exchange_server_rooms_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    """The rooms outcome and one CSV download per planned room list (the files the script imports)."""
    return {
        "room_lists": ExchangeServerRoomsResult.from_json(state.result).lists,
        "room_list_downloads": exchange_server.room_plan(tenant),
    }
