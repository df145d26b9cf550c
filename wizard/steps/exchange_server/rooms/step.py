"""The rooms step of the exchange_server profile."""

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.steps.exchange_server import common
from wizard.steps.exchange_server.manual import CHECKED_BY_VERIFY, run_by_the_admin
from wizard.steps.exchange_server.rooms import page, service
from wizard.steps.exchange_server.rooms.form import RoomsForm, rooms_inputs
from wizard.steps.exchange_server.rooms.result import ExchangeServerRoomsResult
from wizard.steps.registry import RoomsTable, Step

STEP = Step(
    id="rooms",
    result_type=ExchangeServerRoomsResult,
    requires=("room_list",),
    title=_("Rooms"),
    summary=format_lazy(
        _("You add the rooms from a CSV to room lists of at most {most} members."), most=ROOM_LIST_MAX_MEMBERS
    ),
    why=format_lazy(
        _("Outlook's room finder shows at most {most} rooms per list; larger sets are split into numbered lists."),
        most=ROOM_LIST_MAX_MEMBERS,
    ),
    perform=service.perform,
    form=RoomsForm,
    save_inputs=rooms_inputs,
    page_context=page.exchange_server_rooms_page,
    rooms_table=RoomsTable.MEMBERSHIP,
    **run_by_the_admin(common.rooms_script, CHECKED_BY_VERIFY),
)
