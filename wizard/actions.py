"""What a person (through a page) or the `onramp` command asks Onramp to do. Views and the command call these and
nothing below them; each is one transaction, so nothing is half-applied when the engine refuses.

Layers, each importing only those below it: views and the command → actions (this module) → engine → steps (the
declarations) → services → microsoft client → models."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from tenants.models import Membership, Profile, Role, Tenant
from wizard import engine
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.models import StepState
from wizard.outcomes import Submission
from wizard.steps.registry import get_step


@transaction.atomic
def create_tenant(
    *, creator: AbstractBaseUser, display_name: str, slug: str, profile: str = Profile.EXCHANGE_ONLINE
) -> Tenant:
    """A new tenant, with its creator as admin, its step rows and an audit entry. ValidationError for a slug no
    page could link to (callers validate with tenants.forms.TenantForm first and show its words)."""
    tenant = Tenant(display_name=display_name, slug=slug, profile=profile)
    tenant.full_clean()
    tenant.save()
    Membership.objects.create(user=creator, tenant=tenant, role=Role.ADMIN)
    engine.ensure_states(tenant)
    record_event(tenant, creator.get_username(), "create_tenant", "succeeded", detail={"profile": profile})
    return tenant


def submit_step(
    tenant: Tenant,
    step_id: str,
    actor: str,
    *,
    cleaned_data: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    action: str = "run",
    send_task: bool = True,
) -> StepState:
    """Queue a step: with a form's `cleaned_data` (the step's `save_inputs` turns it into the inputs and stores
    its secrets), with ready `inputs` (the command line), or with neither to keep the saved inputs (retry, resume,
    re-verify). Locking the step, checking the transition, storing secrets, saving the inputs, the audit event and
    queueing the task happen in one transaction: IllegalTransition leaves everything as it was. Without
    `send_task` the caller runs the step in its own process (engine.execute_step)."""
    step = get_step(tenant.profile, step_id)
    inputs_from = None
    if cleaned_data is not None:

        def inputs_from(state: StepState) -> dict[str, Any]:
            return step.save_inputs(Submission(tenant, dict(state.inputs), cleaned_data, actor))

    return engine.enqueue_step(
        tenant,
        step.id,
        actor,
        inputs=inputs,
        action=action,
        verify_only=action == "reverify",
        inputs_from=inputs_from,
        send_task=send_task,
    )


def skip_step(tenant: Tenant, step_id: str, actor: str) -> StepState:
    return engine.skip_step(tenant, step_id, actor)


def confirm_step(tenant: Tenant, step_id: str, actor: str, *, digest: str) -> StepState:
    """The admin ran a manual step's script (named by its SHA-256, as the page showed it): the confirmation is
    recorded and the step's check queued in one transaction. StepError `script_changed` when the page was stale,
    `not_a_manual_step` for a step Onramp runs itself; IllegalTransition while the step runs."""
    step = get_step(tenant.profile, step_id)
    if step.confirmation is None:
        raise StepError(
            code="not_a_manual_step",
            message=f"“{step.title}” is not a step you run yourself: Onramp runs it.",
            fix="Use “Run this step” instead.",
        )
    with transaction.atomic():
        step.confirmation.record(tenant, step.id, actor, digest=digest)
        return engine.enqueue_step(tenant, step.id, actor, action="confirm")
