"""The verify step of the exchange_online profile."""

from django.utils.translation import gettext_lazy as _

from wizard.admin_roles import EXCHANGE_CHANGES
from wizard.steps.exchange_online.verify import run_yourself, service
from wizard.steps.exchange_online.verify.form import VerifyForm
from wizard.steps.exchange_online.verify.powershell import commands
from wizard.steps.exchange_online.verify.result import VerifyResult
from wizard.steps.registry import RoomsTable, Step

STEP = Step(
    id="verify",
    result_type=VerifyResult,
    requires=("scoped_access",),
    title=_("Verify"),
    summary=_("Checks every room is in scope and a mailbox that is not a room is out of scope."),
    why=_("A scope that silently matches nothing, or everything, is the most common failure of the manual procedure."),
    perform=service.perform,
    form=VerifyForm,
    rooms_table=RoomsTable.VERIFICATION,
    powershell=commands,
    run_yourself=run_yourself.RUN_YOURSELF,
    admin_roles=(EXCHANGE_CHANGES,),
)
