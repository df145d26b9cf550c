"""The org_customization step of the exchange_online profile."""

from django.utils.translation import gettext_lazy as _

from wizard.admin_roles import EXCHANGE_CHANGES
from wizard.steps.exchange_online.org_customization import run_yourself, service
from wizard.steps.exchange_online.org_customization.powershell import commands
from wizard.steps.exchange_online.org_customization.result import OrgCustomizationResult
from wizard.steps.registry import Step

STEP = Step(
    id="org_customization",
    result_type=OrgCustomizationResult,
    requires=("connect",),
    title=_("Organisation customisation"),
    summary=_("Checks that Exchange Online lets this organisation create room lists and scopes."),
    why=_(
        "New or small tenants are ‘dehydrated’: until Enable-OrganizationCustomization has run, "
        "management scopes and role assignments cannot be created."
    ),
    perform=service.perform,
    verify=service.verify,
    powershell=commands,
    run_yourself=run_yourself.RUN_YOURSELF,
    admin_roles=(EXCHANGE_CHANGES,),
)
