"""What the activate step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import JsonObject, StepResult, json_object, loaded_by


@dataclass(frozen=True)
class ExchangeServerActivateResult(StepResult):
    STEP_ID = "activate"

    summary: JsonObject = field(default_factory=dict, metadata=loaded_by(json_object))
    password_erased: bool = False
