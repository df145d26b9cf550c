"""The service_account step of the exchange_online profile."""

from django.utils.translation import gettext_lazy as _

from wizard.admin_roles import EXCHANGE_CHANGES, USER_CHANGES
from wizard.steps.exchange_online.service_account import page, service
from wizard.steps.exchange_online.service_account.form import ServiceAccountForm, service_account_inputs
from wizard.steps.exchange_online.service_account.powershell import commands
from wizard.steps.exchange_online.service_account.result import ServiceAccountResult
from wizard.steps.registry import Step

STEP = Step(
    id="service_account",
    result_type=ServiceAccountResult,
    requires=("connect",),
    title=_("Service account"),
    summary=_("Creates a licensed account with a mailbox that the integration uses as its identity."),
    why=_("The room lists need a manager, and support and audits need one named account to trace."),
    perform=service.perform,
    verify=service.verify,
    form=ServiceAccountForm,
    save_inputs=service_account_inputs,
    page_context=page.service_account_page,
    powershell=commands,
    admin_roles=(USER_CHANGES, EXCHANGE_CHANGES),
)
