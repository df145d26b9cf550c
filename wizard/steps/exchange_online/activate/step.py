"""The activate step of the exchange_online profile."""

from django.utils.translation import gettext_lazy as _

from wizard.steps.exchange_online.activate import service
from wizard.steps.exchange_online.activate.form import ActivateForm, activate_inputs
from wizard.steps.exchange_online.activate.powershell import commands
from wizard.steps.exchange_online.activate.result import ActivateResult
from wizard.steps.registry import Step

STEP = Step(
    id="activate",
    result_type=ActivateResult,
    requires=("verify",),
    title=_("Activate"),
    summary=_("Hands the integration what it needs and erases secrets that are no longer needed."),
    why=_("The integration needs the tenant id, the service account and the room lists to start booking."),
    perform=service.perform,
    verify=service.verify,
    form=ActivateForm,
    save_inputs=activate_inputs,
    powershell=commands,
)
