"""The scoped_access step of the exchange_online profile."""

from django.utils.translation import gettext_lazy as _

from wizard.admin_roles import EXCHANGE_CHANGES
from wizard.steps.exchange_online.scoped_access import run_yourself, service
from wizard.steps.exchange_online.scoped_access.powershell import commands
from wizard.steps.exchange_online.scoped_access.result import ScopedAccessResult
from wizard.steps.registry import Step

STEP = Step(
    id="scoped_access",
    result_type=ScopedAccessResult,
    requires=("org_customization", "rooms"),
    title=_("Scoped access"),
    summary=_("Grants the integration's app calendar access to the rooms in the lists, and nothing else."),
    why=_(
        "ApplicationImpersonation is retired in Exchange Online; RBAC for Applications is how access is "
        "scoped to a set of mailboxes in 2026."
    ),
    perform=service.perform,
    verify=service.verify,
    powershell=commands,
    run_yourself=run_yourself.RUN_YOURSELF,
    admin_roles=(EXCHANGE_CHANGES,),
)
