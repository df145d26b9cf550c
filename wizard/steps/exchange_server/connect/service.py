"""What Onramp does for the connect step of Exchange Server."""

from django.utils.translation import gettext_noop

from wizard.errors import StepError
from wizard.microsoft import (
    exchange_server_ews,
)
from wizard.microsoft.errors import EWS
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.steps.exchange_server.common import find_ews_url, service_account_password


def perform(ctx: StepContext) -> Outcome:
    """Find the EWS URL (entered, or by Autodiscover) and prove the service account can open its own calendar."""
    tenant, inputs = ctx.tenant, ctx.inputs
    upn = str(inputs.get("service_account_upn") or "").strip()
    if not upn:
        return NeedsInput(gettext_noop("Enter the service account's user principal name and password."))
    url, source = str(inputs.get("ews_url") or "").strip(), "entered"
    if not url:
        ctx.progress(20, "Looking up the EWS URL with Autodiscover")
        url, source = find_ews_url(tenant, upn), "autodiscover"
    ctx.progress(60, "Signing in to EWS as the service account")
    own = exchange_server_ews(tenant, url, upn, service_account_password(upn, tenant)).calendar_access()
    if not own.opened:
        raise StepError(
            code=own.code,
            message=f"{upn} signed in to EWS but could not open its own calendar: {own.message or own.code}.",
            explanation=own.explanation,
            fix=gettext_noop(
                "Run the Service account step's commands (New-Mailbox), or Enable-Mailbox for an existing user."
            ),
            extra={"service": EWS},
        )
    return Done({"ews_url": url, "ews_url_source": source, "service_account_upn": upn})
