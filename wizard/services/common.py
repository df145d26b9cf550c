"""Helpers the step services share: reading what an earlier step produced, and polling back-off."""

from typing import Any

from tenants.models import Tenant
from wizard.errors import StepError
from wizard.models import StepState


def step_result(tenant: Tenant, step_id: str) -> dict[str, Any]:
    """The saved result of another step of this tenant ({} when it has none)."""
    state = StepState.objects.filter(tenant=tenant, step_id=step_id).only("result").first()
    return dict(state.result) if state is not None else {}


def required_result(tenant: Tenant, step_id: str, key: str, step_title: str) -> Any:
    """A value an earlier step must have produced; a clear error naming that step when it has not."""
    value = step_result(tenant, step_id).get(key)
    if not value:
        raise StepError(
            code="previous_step_incomplete",
            message=f"“{step_title}” has not finished yet.",
            explanation=f"This step uses what “{step_title}” sets up.",
            fix=f"Run “{step_title}” first, then this step.",
        )
    return value


def poll_delay(waited_seconds: float, first: int = 2, longest: int = 30) -> int:
    """How long to wait before checking Microsoft again: short at first, then growing up to `longest` seconds."""
    return int(min(longest, max(first, waited_seconds / 2)))
