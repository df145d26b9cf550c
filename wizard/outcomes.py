"""What a step's service is given and what it answers. Imports nothing of Onramp's, so every layer may use it."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenants.models import Tenant
    from wizard.models import StepState


# The result key of a step that waits for an administrator to sign in again: what Microsoft answered.
SIGN_IN_AGAIN = "sign_in_again"


@dataclass(frozen=True)
class StepContext:
    """What a service gets: the tenant, the step's saved inputs and earlier result, and a way to report progress."""

    tenant: "Tenant"
    state: "StepState"
    actor: str
    progress: Callable[[int, str], None]

    @property
    def inputs(self) -> dict[str, Any]:
        return self.state.inputs

    @property
    def previous_result(self) -> dict[str, Any]:
        return self.state.result


@dataclass(frozen=True)
class Done:
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Wait:
    """Microsoft is not ready yet: the engine re-schedules the step after `seconds` instead of sleeping."""

    seconds: int
    waiting_for: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NeedsInput:
    reason: str
    result: dict[str, Any] = field(default_factory=dict)


Outcome = Done | Wait | NeedsInput


@dataclass(frozen=True)
class Submission:
    """A step's cleaned form data on its way to becoming the step's saved inputs (see Step.save_inputs)."""

    tenant: "Tenant"
    saved_inputs: dict[str, Any]
    cleaned_data: dict[str, Any]
    actor: str
