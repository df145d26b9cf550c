"""The room_list step of the exchange_online profile."""

from django.utils.translation import gettext_lazy as _

from wizard.admin_roles import EXCHANGE_CHANGES
from wizard.steps.exchange_online.room_list import run_yourself, service
from wizard.steps.exchange_online.room_list.form import RoomListForm, room_list_inputs
from wizard.steps.exchange_online.room_list.powershell import commands
from wizard.steps.exchange_online.room_list.result import RoomListResult
from wizard.steps.registry import Step

STEP = Step(
    id="room_list",
    result_type=RoomListResult,
    requires=("service_account",),
    title=_("Room list"),
    summary=_("Creates the RoomList distribution group that names the rooms the integration may use."),
    why=_("The access scope is defined by membership of this list, so adding a room later is one change."),
    perform=service.perform,
    verify=service.verify,
    form=RoomListForm,
    save_inputs=room_list_inputs,
    powershell=commands,
    run_yourself=run_yourself.RUN_YOURSELF,
    admin_roles=(EXCHANGE_CHANGES,),
)
