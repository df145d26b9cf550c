"""The service_account step of the exchange_server profile."""

from django.utils.translation import gettext_lazy as _

from wizard.steps.exchange_server import common
from wizard.steps.exchange_server.manual import CHECKED_BY_CONNECT, run_by_the_admin
from wizard.steps.exchange_server.service_account import service
from wizard.steps.exchange_server.service_account.form import ServiceAccountForm, service_account_inputs
from wizard.steps.exchange_server.service_account.result import ExchangeServerServiceAccountResult
from wizard.steps.registry import Step

STEP = Step(
    id="service_account",
    result_type=ExchangeServerServiceAccountResult,
    title=_("Service account"),
    summary=_("You create the mailbox-enabled account the integration signs in as; PowerShell asks for its password."),
    why=_(
        "The integration reads and writes the rooms' calendars as this account, through EWS impersonation. Its"
        " password is typed into PowerShell and, later, into Connect: it is never on this page or in the audit trail."
    ),
    perform=service.perform,
    form=ServiceAccountForm,
    save_inputs=service_account_inputs,
    **run_by_the_admin(common.service_account_script, CHECKED_BY_CONNECT),
)
