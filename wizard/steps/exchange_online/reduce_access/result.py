"""What the reduce_access step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import JsonObject, StepResult, loaded_by, objects


@dataclass(frozen=True)
class ReduceAccessResult(StepResult):
    STEP_ID = "reduce_access"

    credential: str = ""
    # What Onramp handed back itself, and what is left to the admin ({"what", ...} each).
    done: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    manual: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    reverify: str = ""
    # What Onramp can still do in the tenant after the step, in plain words.
    still_can: str = ""
