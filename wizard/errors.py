"""Errors a step can end with. The engine stores code, message and detail; the page shows all three."""

from dataclasses import dataclass, field


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


class StepNotAvailable(StepError):
    def __init__(self, step_title: str) -> None:
        super().__init__(
            code="not_available",
            message=f"Onramp cannot perform “{step_title}” automatically yet.",
            explanation="This step's automation is not part of this version of Onramp.",
            fix="Run the PowerShell shown on this page yourself, then mark the step as done.",
        )


class IllegalTransition(Exception):
    """A step was asked to move between two statuses that the state machine does not connect."""
