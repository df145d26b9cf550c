"""What the greeting step saves."""

from dataclasses import dataclass

from wizard.results import StepResult


@dataclass(frozen=True)
class GreetingResult(StepResult):
    STEP_ID = "greeting"

    greeting: str = ""
