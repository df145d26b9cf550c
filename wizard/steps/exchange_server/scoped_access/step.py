"""The scoped_access step of the exchange_server profile."""

from django.utils.translation import gettext_lazy as _

from wizard.steps.exchange_server import common
from wizard.steps.exchange_server.manual import CHECKED_BY_VERIFY, run_by_the_admin
from wizard.steps.exchange_server.scoped_access import service
from wizard.steps.exchange_server.scoped_access.form import ScopedAccessForm
from wizard.steps.exchange_server.scoped_access.result import ExchangeServerScopedAccessResult
from wizard.steps.registry import Step

STEP = Step(
    id="scoped_access",
    result_type=ExchangeServerScopedAccessResult,
    requires=("rooms",),
    title=_("Scoped impersonation"),
    summary=_("You grant the service account ApplicationImpersonation over the rooms in the lists, and nothing else."),
    why=_("Without a management scope, ApplicationImpersonation reaches every mailbox of the organisation."),
    perform=service.perform,
    form=ScopedAccessForm,
    **run_by_the_admin(common.scoped_access_script, CHECKED_BY_VERIFY),
)
