"""The rooms step of the exchange_online profile."""

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from wizard.admin_roles import EXCHANGE_CHANGES
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.steps.exchange_online.rooms import page, run_yourself, service
from wizard.steps.exchange_online.rooms.form import RoomsForm, rooms_inputs
from wizard.steps.exchange_online.rooms.powershell import commands
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.registry import RoomsTable, Step

STEP = Step(
    id="rooms",
    result_type=RoomsResult,
    requires=("room_list",),
    title=_("Rooms"),
    summary=format_lazy(
        _("Adds the chosen room and equipment mailboxes to room lists of at most {most} members."),
        most=ROOM_LIST_MAX_MEMBERS,
    ),
    why=format_lazy(
        _("Outlook's room finder shows at most {most} rooms per list; larger sets are split into numbered lists."),
        most=ROOM_LIST_MAX_MEMBERS,
    ),
    perform=service.perform,
    form=RoomsForm,
    save_inputs=rooms_inputs,
    page_context=page.rooms_page,
    rooms_table=RoomsTable.MEMBERSHIP,
    confirms_preview=True,
    powershell=commands,
    run_yourself=run_yourself.RUN_YOURSELF,
    admin_roles=(EXCHANGE_CHANGES,),
)
