"""Errors a step can end with. The engine stores code, message and detail; the page shows all three."""

from dataclasses import dataclass, field

from django.utils.translation import gettext, gettext_noop


@dataclass
class StepError(Exception):
    """A failure the admin can act on: what happened, in plain words, and how to fix it."""

    code: str
    message: str
    explanation: str = ""
    fix: str = ""
    request_id: str = ""
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def detail(self) -> dict:
        return {
            "explanation": self.explanation,
            "fix": self.fix,
            "request_id": self.request_id,
            **self.extra,
        }


# Microsoft will not run cmdlets for Onramp's app through the Exchange admin API's InvokeCommand at all (the endpoint
# gone, or the app refused as a client): no grant, role or consent fixes it, and no retry helps. What it means and
# what happens next, as the step page and the support console say it. Saved with the error in English; the pages
# translate them as they show them (marked with gettext_noop so that makemessages finds them).
INVOKE_COMMAND_REFUSED = "invoke_command_refused"
INVOKE_COMMAND_REFUSED_EXPLANATION = gettext_noop(
    "Exchange Online refused InvokeCommand, the admin API Onramp uses to make Exchange changes, to Onramp's app as a"
    " client: not for a missing role, permission or consent, but for the app itself. Microsoft documents this"
    " endpoint for no app other than its own PowerShell module, and may stop serving others at any time. Onramp"
    " does not retry: nothing on your side makes it answer again."
)
INVOKE_COMMAND_REFUSED_FIX = gettext_noop(
    "Switch this organisation to “the admin runs the Exchange changes”: each Exchange step then shows the Exchange"
    " Online PowerShell to run yourself (safe to run twice), you confirm, and Onramp checks what it can still read"
    " through Microsoft Graph. You can switch back when InvokeCommand answers again."
)

SUPPORT_CASE_IDS = ("request_id", "client_request_id", "date")


def support_case_ids(detail: dict) -> dict[str, str]:
    """What Microsoft's support asks for about a failed call, from a StepError's detail: its request id, the
    client request id Onramp sent, the response's date (those that are known)."""
    return {key: detail[key] for key in SUPPORT_CASE_IDS if detail.get(key)}


def in_a_sentence(label: object) -> str:
    """A status label inside a sentence: its first letter small, the rest as the language writes it ("waiting on
    Microsoft", "wartet auf Microsoft", "in der Warteschlange")."""
    text = str(label)
    return text[:1].lower() + text[1:]


class IllegalTransition(Exception):
    """A step was asked to move between two statuses that the state machine does not connect."""


class ReverifyRefused(IllegalTransition):
    """Re-verify was asked of a step it cannot re-check: one that has not succeeded (there is nothing done to check,
    and its check reads a result it never saved) or one without a check of its own (only its service would run,
    changing the tenant)."""

    def __init__(self, step_title: str, status_label: str = "", *, has_check: bool = True) -> None:
        self.step_title = step_title
        if not has_check:
            message = gettext(
                "“{title}” has no check of its own, so it cannot be re-verified: "
                "only running the step again would look at it."
            ).format(title=step_title)
        else:
            message = gettext(
                "“{title}” cannot be re-verified: it is {status}, and only a step that has "
                "succeeded can be checked again. Run it instead."
            ).format(title=step_title, status=in_a_sentence(status_label))
        super().__init__(message)
