"""The reduce_access step of the exchange_online profile."""

from django.utils.translation import gettext_lazy as _

from wizard.steps.exchange_online.reduce_access import page, service
from wizard.steps.exchange_online.reduce_access.form import ReduceAccessForm
from wizard.steps.exchange_online.reduce_access.powershell import commands
from wizard.steps.exchange_online.reduce_access.result import ReduceAccessResult
from wizard.steps.registry import Step

STEP = Step(
    id=service.STEP_ID,
    result_type=ReduceAccessResult,
    requires=("activate",),
    title=_("Reduce Onramp's access"),
    summary=_(
        "Hands back what Onramp no longer needs: its certificate or secret, and the steps to remove its "
        "Exchange Administrator role and User.ReadWrite.All."
    ),
    why=_(
        "Once the organisation is activated, Onramp needs no standing power in it; optional, because verify and "
        "re-verify then need access granted again."
    ),
    perform=service.perform,
    form=ReduceAccessForm,
    page_context=page.reduce_access_page,
    optional=True,
    # It hands back access whether or not the administrator's kept sign-in still stands.
    under_admin_sign_in=False,
    powershell=commands,
)
