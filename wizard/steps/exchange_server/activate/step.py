"""The activate step of the exchange_server profile."""

from django.utils.translation import gettext_lazy as _

from wizard.steps.exchange_server import common
from wizard.steps.exchange_server.activate import service
from wizard.steps.exchange_server.activate.result import ExchangeServerActivateResult
from wizard.steps.exchange_server.manual import shows
from wizard.steps.registry import Step

STEP = Step(
    id="activate",
    result_type=ExchangeServerActivateResult,
    requires=("verify",),
    title=_("Activate"),
    summary=_("Hands the integration what it needs and erases the service account's password from Onramp."),
    why=_("The integration needs the EWS URL, the service account and the room lists to start booking."),
    perform=service.perform,
    powershell=shows(common.role_assignment_script),
)
