"""What the verify step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import JsonObject, StepResult, loaded_by, objects


@dataclass(frozen=True)
class ExchangeServerVerifyResult(StepResult):
    STEP_ID = "verify"

    rooms_passed: int | None = None
    rooms_failed: int = 0
    control_mailbox: str = ""
    control_code: str = ""
    control_reason: str = ""
    failures: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    passed: bool = False
