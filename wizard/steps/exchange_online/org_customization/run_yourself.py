"""The org_customization step when the organisation's admin makes the Exchange changes: the admin enables
customisation in Exchange Online PowerShell (only while the organisation is dehydrated), and confirms."""

from tenants.models import Tenant
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.services import exchange_online_scripts as scripts
from wizard.services.places import not_checked
from wizard.steps import manual
from wizard.steps.exchange_online.run_yourself import CHECKS, NEEDS_EXCHANGE, organization, run_yourself

CHECKED_BY = (
    "Onramp cannot read IsDehydrated without InvokeCommand: the script's last line shows it. If it still reads"
    " True, wait a few minutes before “Scoped access”, whose commands Exchange refuses until it reads False."
)


def script(tenant: Tenant) -> list[scripts.OnlineScriptLine]:
    return scripts.org_customization_script(organization(tenant))


def perform(ctx: StepContext) -> Outcome:
    confirmed = manual.confirmation_recorded(ctx, script, manual.EXCHANGE_ONLINE_POWERSHELL)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    return Done(
        {
            **confirmed,
            CHECKS: [
                not_checked("Organisation customisation (IsDehydrated False)", NEEDS_EXCHANGE + "."),
                not_checked("EWS settings of the organisation (EwsEnabled, EwsAllowedAppIDs)", NEEDS_EXCHANGE + "."),
            ],
        }
    )


RUN_YOURSELF = run_yourself(script, perform, CHECKED_BY)
