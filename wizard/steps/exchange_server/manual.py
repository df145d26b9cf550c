"""How an Exchange Server step the admin runs in their own shell shows its commands and is confirmed."""

import functools
from typing import Any

from tenants.models import Tenant
from wizard.models import StepState
from wizard.steps.exchange_server import common
from wizard.steps.registry import Confirmation, PowerShell


def shows(script_of: common.ScriptOf) -> PowerShell:
    def powershell(tenant: Tenant, state: StepState) -> str:
        return common.script_text(script_of, tenant)

    return powershell


# Onramp cannot see into the admin's shell: a confirmation records that the commands ran, and a later step proves
# their result from outside, over EWS. The page says which.
CHECKED_BY_CONNECT = "“Connect” proves the account signs in and has a mailbox, with the password you typed."

CHECKED_BY_VERIFY = "“Verify” proves the result over EWS: it opens each room's calendar as the room."


def run_by_the_admin(script_of: common.ScriptOf, checked_by: str) -> dict[str, Any]:
    """A manual step: its page shows the commands `script_of` gives, and it counts once someone confirms they ran
    those very commands (the confirmation binds to the script the page shows now); `checked_by` says which later
    step proves their result."""
    return {
        "powershell": shows(script_of),
        "manual": True,
        "confirmation": Confirmation(
            # No digest, so no "I ran these commands", until the commands to run are there (common.missing_input).
            digest=lambda tenant, state: (
                "" if common.missing_input(script_of, tenant) else common.script_digest(script_of, tenant)
            ),
            record=functools.partial(common.confirm_manual_step, script_of=script_of),
            checked_by=checked_by,
        ),
    }
