"""The verify step of the exchange_server profile."""

from django.utils.translation import gettext_lazy as _

from wizard.steps.exchange_server import common
from wizard.steps.exchange_server.manual import shows
from wizard.steps.exchange_server.verify import service
from wizard.steps.exchange_server.verify.form import ExchangeServerVerifyForm
from wizard.steps.exchange_server.verify.result import ExchangeServerVerifyResult
from wizard.steps.registry import RoomsTable, Step

STEP = Step(
    id="verify",
    result_type=ExchangeServerVerifyResult,
    requires=("scoped_access",),
    title=_("Verify"),
    summary=_("Opens every room's calendar as the room over EWS, and checks a mailbox that is not a room is refused."),
    why=_("A scope that silently matches nothing, or everything, is the most common failure of the manual procedure."),
    perform=service.perform,
    powershell=shows(common.role_assignment_script),
    form=ExchangeServerVerifyForm,
    rooms_table=RoomsTable.VERIFICATION,
)
