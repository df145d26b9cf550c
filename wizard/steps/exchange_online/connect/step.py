"""The connect step of the exchange_online profile."""

from django.utils.translation import gettext_lazy as _

from wizard.steps.exchange_online.connect import page, service
from wizard.steps.exchange_online.connect.form import ConnectForm, connect_inputs
from wizard.steps.exchange_online.connect.powershell import commands
from wizard.steps.exchange_online.connect.result import ConnectResult
from wizard.steps.registry import Step

STEP = Step(
    id="connect",
    result_type=ConnectResult,
    title=_("Connect the tenant"),
    summary=_("Onramp signs in to your Microsoft 365 organisation with an app you consent to."),
    why=_(
        "Every later step reads and changes Exchange Online on your behalf, with the access this step checks "
        "first: your own sign-in's, or your app registration's."
    ),
    perform=service.perform,
    verify=service.verify,
    form=ConnectForm,
    save_inputs=connect_inputs,
    page_context=page.connect_page,
    powershell=commands,
)
