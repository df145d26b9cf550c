"""What Onramp does for the service_account step of Exchange Server."""

from django.utils.translation import gettext_noop

from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.steps.exchange_server.common import DEFAULT_DISPLAY_NAME, service_account_script
from wizard.steps.manual import confirmation_recorded


def perform(ctx: StepContext) -> Outcome:
    """The admin created (or already had) the mailbox-enabled account; connect proves it by signing in as it."""
    upn = str(ctx.inputs.get("service_account_upn") or "").strip()
    if not upn:
        return NeedsInput(gettext_noop("Enter the service account's user principal name."))
    confirmed = confirmation_recorded(ctx, service_account_script)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    display_name = ctx.inputs.get("display_name") or DEFAULT_DISPLAY_NAME
    return Done({"service_account_upn": upn, "display_name": display_name, **confirmed})
