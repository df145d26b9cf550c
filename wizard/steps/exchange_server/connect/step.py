"""The connect step of the exchange_server profile."""

from django.utils.translation import gettext_lazy as _

from wizard.steps.exchange_server import common
from wizard.steps.exchange_server.connect import service
from wizard.steps.exchange_server.connect.form import ConnectForm, connect_inputs
from wizard.steps.exchange_server.connect.result import ExchangeServerConnectResult
from wizard.steps.exchange_server.manual import shows
from wizard.steps.registry import Step

STEP = Step(
    id="connect",
    result_type=ExchangeServerConnectResult,
    title=_("Connect to Exchange Server"),
    summary=_("Finds your EWS URL (or takes the one you enter) and signs in as the service account."),
    why=_(
        "Onramp cannot run commands in your Exchange Management Shell; it checks your setup from outside, over"
        " EWS, as the account the integration will use."
    ),
    perform=service.perform,
    powershell=shows(common.connect_script),
    requires=("service_account",),
    form=ConnectForm,
    save_inputs=connect_inputs,
)
