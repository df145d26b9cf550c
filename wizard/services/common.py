"""Helpers the step services share: reading what an earlier step produced, and polling back-off."""

from typing import Any, TypeVar

from django.utils.translation import gettext_noop

from tenants.models import Tenant
from wizard.errors import StepError
from wizard.models import StepState
from wizard.results import StepResult

R = TypeVar("R", bound=StepResult)


def result_of(tenant: Tenant, result_type: type[R]) -> R | None:
    """The saved result of another step of this tenant, or None when that step has saved nothing yet."""
    # get(), not first(): the row is unique, and first() would order it by the tenant's name, through a join.
    try:
        stored = StepState.objects.values_list("result", flat=True).get(tenant=tenant, step_id=result_type.STEP_ID)
    except StepState.DoesNotExist:
        return None
    return result_type.from_json(stored) if stored else None


def required_result(tenant: Tenant, result_type: type[R], field: str, step_title: str) -> Any:
    """A field an earlier step must have filled; a clear error naming that step when it has not."""
    found = result_of(tenant, result_type)
    value = getattr(found, field) if found is not None else None
    if not value:
        raise StepError(
            code="previous_step_incomplete",
            message=f"“{step_title}” has not finished yet.",
            explanation=f"This step uses what “{step_title}” sets up.",
            fix=f"Run “{step_title}” first, then this step.",
        )
    return value


def saved_result(state: StepState, result_type: type[R], *fields: str) -> R:
    """A step's own saved result, for its check to read: a clear StepError, never a KeyError, when a field the check
    needs was never saved (the step has not finished, so there is nothing to check)."""
    found = result_type.from_json(state.result)
    missing = [name for name in fields if not getattr(found, name)]
    if missing:
        raise StepError(
            code="nothing_to_check",
            message=gettext_noop("This step has not finished, so there is nothing to check yet."),
            explanation=f"Its check reads what the step saved when it succeeded, and {', '.join(missing)} is missing.",
            fix=gettext_noop("Run this step; it is checked as it finishes."),
        )
    return found


def poll_delay(waited_seconds: float, first: int = 2, longest: int = 30) -> int:
    """How long to wait before checking Microsoft again: short at first, then growing up to `longest` seconds."""
    return int(min(longest, max(first, waited_seconds / 2)))
