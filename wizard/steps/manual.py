"""A step the admin runs in their own shell, whatever the profile: its page shows the script, the admin confirms
"I ran these commands" (naming the script by its text or its SHA-256), and the confirmation is kept in the audit
trail with the digest of the exact script. The step counts only when a confirmation names the script as it reads
now: change an input and the script, its digest and the needed confirmation change with it.

Used by every Exchange Server step the admin runs in the Exchange Management Shell, and by the Exchange Online
steps of an organisation that runs Exchange writes itself (Exchange Online PowerShell)."""

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from tenants.models import Tenant
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.models import AuditEvent, StepState
from wizard.outcomes import NeedsInput, StepContext
from wizard.services import exchange_server_scripts as scripts
from wizard.steps.registry import Confirmation, PowerShell

CONFIRM_ACTION = "confirm_manual"
EXCHANGE_MANAGEMENT_SHELL = _("the Exchange Management Shell")
EXCHANGE_ONLINE_POWERSHELL = "Exchange Online PowerShell"
# The commands a step shows for a tenant's values as they are now (its page, its confirmation, its check).
ScriptOf = Callable[[Tenant], list[scripts.ScriptLine]]
# What the admin must still give on the step's page before its commands are the ones to run; None when nothing.
MissingInput = Callable[[Tenant], str | None]


def nothing_missing(tenant: Tenant) -> str | None:
    return None


def script_text(script_of: ScriptOf, tenant: Tenant) -> str:
    """The commands `script_of` gives for the tenant's values as they are now, as the step's page shows them."""
    return scripts.render(script_of(tenant))


def script_sha256(script: str) -> str:
    # Line endings are normalised: a browser posts CRLF for what the page showed with LF.
    return hashlib.sha256(script.replace("\r\n", "\n").encode()).hexdigest()


def script_digest(script_of: ScriptOf, tenant: Tenant) -> str:
    """The SHA-256 of the script the step's page shows now: what a confirmation must name to count."""
    return script_sha256(script_text(script_of, tenant))


def confirm_manual_step(
    tenant: Tenant,
    step_id: str,
    actor: str,
    script: str | None = None,
    *,
    digest: str | None = None,
    script_of: ScriptOf,
    missing_input: MissingInput = nothing_missing,
) -> AuditEvent:
    """Record that `actor` ran the step's script (the commands `script_of` gives), named by its text (`script`) or
    its SHA-256 (`digest`, as the page posts it back). Refused with `commands_not_ready` while `missing_input` names
    something the page still asks for, and with `script_changed` when that is not the script Onramp generates now
    (the page was stale, or an input changed since): the admin must confirm what the step will check. The audit
    event's detail holds only the digest, never the script (nor anything typed into it)."""
    if (script is None) == (digest is None):
        raise ValueError("name the script by its text or by its digest, not both")
    if (missing := missing_input(tenant)) is not None:
        raise StepError(
            code="commands_not_ready",
            message=gettext_noop("There are no commands to confirm on this step yet."),
            explanation=gettext_noop("The commands to run depend on a value the step's page asks for."),
            fix=missing,
        )
    confirmed = script_sha256(script) if script is not None else str(digest).strip().lower()
    current = script_digest(script_of, tenant)
    if confirmed != current:
        raise StepError(
            code="script_changed",
            message=gettext_noop("These commands are not the current ones for this step."),
            explanation=gettext_noop(
                "The step's inputs changed after the page was shown, so Onramp now generates other commands."
            ),
            fix=gettext_noop("Reload the page, run the commands it shows, and confirm again."),
            extra={"current_script_sha256": current},
        )
    with transaction.atomic():
        return record_event(tenant, actor, CONFIRM_ACTION, "confirmed", step_id, {"script_sha256": current})


def confirmation(tenant: Tenant, step_id: str, script_of: ScriptOf) -> AuditEvent | None:
    """The latest confirmation of the step's script as it reads now, if any."""
    return (
        AuditEvent.objects.filter(
            tenant=tenant,
            step_id=step_id,
            action=CONFIRM_ACTION,
            detail__script_sha256=script_digest(script_of, tenant),
        )
        .order_by("-created_at")
        .first()
    )


def confirmation_recorded(
    ctx: StepContext, script_of: ScriptOf, shell: str = EXCHANGE_MANAGEMENT_SHELL
) -> dict[str, Any] | NeedsInput:
    """Who confirmed running the commands `script_of` gives now, and when; NeedsInput until someone has (asking
    to run them in `shell`)."""
    event = confirmation(ctx.tenant, ctx.state.step_id, script_of)
    if event is None:
        return NeedsInput(f"Run the commands shown on this page in {shell}, then confirm.")
    return {
        "script_sha256": event.detail["script_sha256"],
        "confirmed_by": event.actor,
        "confirmed_at": event.created_at.isoformat(),
    }


def shows(script_of: ScriptOf) -> PowerShell:
    def powershell(tenant: Tenant, state: StepState) -> str:
        return script_text(script_of, tenant)

    return powershell


def confirmed_by_the_admin(
    script_of: ScriptOf,
    checked_by: str,
    missing_input: MissingInput = nothing_missing,
    shell: str = EXCHANGE_MANAGEMENT_SHELL,
) -> Confirmation:
    """How the admin confirms they ran the commands `script_of` gives: bound to the script the page shows now, with
    no digest (so no "I ran these commands") while `missing_input` names something the page still asks for."""
    return Confirmation(
        digest=lambda tenant, state: "" if missing_input(tenant) else script_digest(script_of, tenant),
        record=functools.partial(confirm_manual_step, script_of=script_of, missing_input=missing_input),
        checked_by=checked_by,
        shell=shell,
    )
