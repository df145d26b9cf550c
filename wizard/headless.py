"""Running a tenant's steps without the browser (the `onramp` command): each step is queued for the worker through
the engine, like the Run button does, and the next one is queued when it has finished."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenants.models import Tenant
from wizard import actions, engine, selectors
from wizard.models import FINISHED_STATUSES, StepState, StepStatus
from wizard.steps.registry import steps_of

POLL_SECONDS = 0.5
STOPPING_STATUSES = (StepStatus.FAILED, StepStatus.NEEDS_INPUT, StepStatus.INTERRUPTED)


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: `stopped_at` is the step that failed, needs input or is still waiting; None when every
    step from the start has succeeded (or been skipped)."""

    stopped_at: StepState | None
    ran: list[str]

    @property
    def finished(self) -> bool:
        return self.stopped_at is None


def first_step_to_run(tenant: Tenant, requested: str | None = None, inputs: dict[str, Any] | None = None) -> str | None:
    """`requested`; else the first step neither succeeded nor skipped, or an earlier step given new `inputs` (new
    choices re-run that step and those after it). None when every step is done and nothing new is asked."""
    if requested:
        return requested
    states = engine.ensure_states(tenant)
    ids = [state.step_id for state in states]
    optional = {step.id for step in steps_of(tenant) if step.optional}
    # An optional step is run when asked for (its inputs given), never merely because it is the next one.
    current = selectors.resume_state([state for state in states if state.step_id not in optional])
    candidates = [ids.index(step_id) for step_id in inputs or {} if step_id in ids]
    if current is not None:
        candidates.append(ids.index(current.step_id))
    return ids[min(candidates)] if candidates else None


def run_steps(
    tenant: Tenant,
    *,
    actor: str,
    start: str,
    until: str | None = None,
    inputs: dict[str, dict[str, Any]],
    wait_on_microsoft: bool,
    on_update: Callable[[StepState], None],
    timeout: float,
    submissions: dict[str, dict[str, Any]] | None = None,
) -> RunOutcome:
    """Queue each step from `start` (to `until`, or the last step that is not optional) and follow it until it
    ends. `submissions` holds a step's form's cleaned data (its `save_inputs` turns it into inputs, as the page's
    does); `inputs` replaces a step's saved inputs; a step with neither keeps its own. Without `wait_on_microsoft`,
    the run returns at a step waiting on Microsoft: the worker carries on with it, and running again resumes."""
    ids = [step.id for step in steps_of(tenant)]
    ran: list[str] = []
    deadline = time.monotonic() + timeout
    # Optional steps at the end (handing Onramp's access back) run only when asked for by `until`.
    required = [step.id for step in steps_of(tenant) if not step.optional]
    last = ids.index(until) if until else ids.index(required[-1])
    for step_id in ids[ids.index(start) : last + 1]:
        state = StepState.objects.get(tenant=tenant, step_id=step_id)
        if not state.is_active:
            state = actions.submit_step(
                tenant,
                step_id,
                actor,
                inputs=inputs.get(step_id),
                cleaned_data=(submissions or {}).get(step_id),
            )
        ran.append(step_id)
        state = _follow(state, wait_on_microsoft, on_update, deadline)
        if state.status not in FINISHED_STATUSES:
            return RunOutcome(state, ran)
    return RunOutcome(None, ran)


def _follow(
    state: StepState, wait_on_microsoft: bool, on_update: Callable[[StepState], None], deadline: float
) -> StepState:
    seen: tuple[str, int, str] | None = None
    while True:
        state.refresh_from_db()
        snapshot = (state.status, state.progress_percent, state.progress_message)
        if snapshot != seen:
            on_update(state)
            seen = snapshot
        if state.status in FINISHED_STATUSES or state.status in STOPPING_STATUSES:
            return state
        if state.status == StepStatus.WAITING and not wait_on_microsoft:
            return state
        if time.monotonic() > deadline:
            return state
        time.sleep(POLL_SECONDS)
