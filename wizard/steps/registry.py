"""The Step type and the profiles. A step is data: adding one is adding one entry to a profile module."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django import forms

    from tenants.models import Tenant
    from wizard.models import StepState


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
Service = Callable[[StepContext], Outcome]
Check = Callable[[StepContext], dict[str, Any]]
PowerShell = Callable[["Tenant", "StepState"], str]


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    summary: str
    why: str
    perform: Service
    powershell: PowerShell
    verify: Check | None = None
    form: "type[forms.Form] | None" = None
    optional: bool = False
    # Exchange Server: the admin runs the PowerShell and confirms; Onramp cannot perform it.
    manual: bool = False


_PROFILES: dict[str, tuple[Step, ...]] = {}


def register_profile(profile: str, steps: tuple[Step, ...]) -> None:
    ids = [step.id for step in steps]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate step ids in profile {profile}: {ids}")
    _PROFILES[profile] = steps


def _load_profiles() -> None:
    # Imported here, not at module top, because the profile modules import this one.
    from wizard.steps import exchange_online, exchange_server  # noqa: F401


def steps_for(profile: str) -> tuple[Step, ...]:
    if profile not in _PROFILES:
        _load_profiles()
    try:
        return _PROFILES[profile]
    except KeyError:
        raise LookupError(f"no steps registered for profile {profile!r}") from None


def get_step(profile: str, step_id: str) -> Step:
    for step in steps_for(profile):
        if step.id == step_id:
            return step
    raise LookupError(f"no step {step_id!r} in profile {profile!r}")
