"""The room_list step of the exchange_server profile."""

from django.utils.translation import gettext_lazy as _

from wizard.steps.exchange_server import common
from wizard.steps.exchange_server.manual import CHECKED_BY_VERIFY, run_by_the_admin
from wizard.steps.exchange_server.room_list import service
from wizard.steps.exchange_server.room_list.form import RoomListForm, room_list_inputs
from wizard.steps.exchange_server.room_list.result import ExchangeServerRoomListResult
from wizard.steps.registry import Step

STEP = Step(
    id="room_list",
    result_type=ExchangeServerRoomListResult,
    requires=("connect",),
    title=_("Room list"),
    summary=_("You create the RoomList distribution group that names the rooms, managed by the service account."),
    why=_("The impersonation scope is defined by membership of this list, so adding a room later is one change."),
    perform=service.perform,
    form=RoomListForm,
    save_inputs=room_list_inputs,
    **run_by_the_admin(common.room_list_script, CHECKED_BY_VERIFY),
)
