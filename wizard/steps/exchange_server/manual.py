"""How an Exchange Server step the admin runs in their own shell shows its commands and is confirmed (the
profile-independent part is wizard.steps.manual)."""

import functools
from typing import Any

from django.utils.translation import gettext_lazy as _

from wizard.steps import manual
from wizard.steps.exchange_server import common

shows = manual.shows

# Onramp cannot see into the admin's shell: a confirmation records that the commands ran, and a later step proves
# their result from outside, over EWS. The page says which.
CHECKED_BY_CONNECT = _("“Connect” proves the account signs in and has a mailbox, with the password you typed.")

CHECKED_BY_VERIFY = _("“Verify” proves the result over EWS: it opens each room's calendar as the room.")


def run_by_the_admin(script_of: manual.ScriptOf, checked_by: str) -> dict[str, Any]:
    """A manual step: its page shows the commands `script_of` gives, and it counts once someone confirms they ran
    those very commands (the confirmation binds to the script the page shows now); `checked_by` says which later
    step proves their result."""
    return {
        "powershell": manual.shows(script_of),
        "manual": True,
        "confirmation": manual.confirmed_by_the_admin(
            script_of, checked_by, functools.partial(common.missing_input, script_of)
        ),
    }
