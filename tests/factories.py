"""Test data and shortcuts, one of each: users, tenants (bare or connected to a sandbox), step states, and a step
run inline in the test's own process (for service tests where the worker is not what is tested)."""

from typing import Any

from django.contrib.auth import get_user_model

from tenants.models import Tenant
from wizard import actions, engine, headless
from wizard.models import StepState
from wizard.outcomes import Submission
from wizard.services import connect, rooms
from wizard.steps.registry import get_step

PASSWORD = "pw-correct-horse-1"


def make_user(username: str, **fields: Any) -> Any:
    users = get_user_model()
    user = users.objects.filter(username=username).first()
    return user or users.objects.create_user(username, password=PASSWORD, **fields)


def make_tenant(slug: str = "contoso", *, admin: str | None = None, name: str = "Contoso", **fields: Any) -> Tenant:
    """A tenant created the way the page creates one, administered by `admin` (default: admin-<slug>)."""
    creator = make_user(admin or f"admin-{slug}")
    return actions.create_tenant(creator=creator, display_name=name, slug=slug, **fields)


def connected_tenant(info: dict[str, Any], slug: str = "contoso", *, admin: str | None = None, **fields: Any) -> Tenant:
    """A tenant pointed at a sandbox by its info file, as `onramp connect --sandbox-info` does."""
    tenant = make_tenant(slug, admin=admin, **fields)
    return connect.save_sandbox_info(tenant, info, actor=admin or "test")


def state_of(tenant: Tenant, step_id: str) -> StepState:
    return StepState.objects.get(tenant=tenant, step_id=step_id)


def set_state(tenant: Tenant, step_id: str, **fields: Any) -> StepState:
    """Put a step in a status directly: for tests of pages and services, not of the engine."""
    StepState.objects.filter(tenant=tenant, step_id=step_id).update(**fields)
    return state_of(tenant, step_id)


def inputs_from_form(tenant: Tenant, step_id: str, cleaned_data: dict[str, Any], actor: str = "test") -> dict:
    """What the step saves from a valid form: its `save_inputs`, as wizard.actions.submit_step calls it."""
    step = get_step(tenant.profile, step_id)
    return step.save_inputs(Submission(tenant, dict(state_of(tenant, step_id).inputs), cleaned_data, actor))


def run_inline(tenant: Tenant, step_id: str, *, inputs: dict[str, Any] | None = None, actor: str = "test") -> StepState:
    """Queue the step without sending its task and run it here, through the engine, against whatever Microsoft the
    tenant points at. For steps that end at once (done, failed, needs input); a step that waits is re-sent to the
    worker by the engine, as always."""
    state = actions.submit_step(tenant, step_id, actor, inputs=inputs, send_task=False)
    engine.execute_step(state.pk, state.task_id)
    return state_of(tenant, step_id)


def activated_tenant(info: dict[str, Any], slug: str = "contoso", *, admin: str | None = None) -> Tenant:
    """A tenant walked through every step on the worker (which the caller has started), every room mailbox
    placed: an organisation as the drift check finds it."""
    tenant = connected_tenant(info, slug, admin=admin)
    outcome = headless.run_steps(
        tenant,
        actor="test",
        start="connect",
        inputs={"rooms": rooms.all_rooms_inputs(confirmed=True)},
        wait_on_microsoft=True,
        on_update=lambda state: None,
        timeout=180,
    )
    assert outcome.finished, (outcome.stopped_at.step_id, outcome.stopped_at.error_message)
    tenant.refresh_from_db()
    return tenant
