from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from tenants.access import can_operate, get_tenant_for
from tenants.models import Tenant
from wizard import engine
from wizard.errors import IllegalTransition
from wizard.models import StepState
from wizard.steps.registry import Step, get_step, steps_for


def _step_or_404(tenant: Tenant, step_id: str) -> Step:
    try:
        return get_step(tenant.profile, step_id)
    except LookupError:
        raise Http404("No such step") from None


def resume(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    states = engine.ensure_states(tenant)
    current = engine.resume_state(states) or states[-1]
    return redirect("wizard:step", slug=tenant.slug, step_id=current.step_id)


def _step_context(request: HttpRequest, tenant: Tenant, step: Step, form=None) -> dict:
    states = engine.ensure_states(tenant)
    by_id = {state.step_id: state for state in states}
    state = by_id[step.id]
    return {
        "tenant": tenant,
        "step": step,
        "state": state,
        "nav": [(s, by_id[s.id]) for s in steps_for(tenant.profile)],
        "resume_state": engine.resume_state(states),
        "form": form if form is not None else (step.form(tenant=tenant, state=state) if step.form else None),
        "powershell": step.powershell(tenant, state),
        "can_operate": can_operate(request.user, tenant),
    }


@require_GET
def step_page(request: HttpRequest, slug: str, step_id: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    step = _step_or_404(tenant, step_id)
    return render(request, "wizard/step.html", _step_context(request, tenant, step))


@require_POST
def run_step(request: HttpRequest, slug: str, step_id: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    step = _step_or_404(tenant, step_id)
    if not can_operate(request.user, tenant):
        raise Http404("No such tenant")
    inputs = None
    if step.form is not None:
        form = step.form(request.POST, request.FILES, tenant=tenant, state=tenant.step_states.get(step_id=step.id))
        if not form.is_valid():
            return render(request, "wizard/step.html", _step_context(request, tenant, step, form), status=400)
        inputs = form.to_inputs()
    try:
        engine.enqueue_step(tenant, step.id, request.user.get_username(), inputs=inputs)
    except IllegalTransition:
        messages.error(request, "This step is already queued or running; wait for it to finish.")
    return redirect("wizard:step", slug=tenant.slug, step_id=step.id)


@require_GET
def step_progress(request: HttpRequest, slug: str, step_id: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    _step_or_404(tenant, step_id)
    state = get_object_or_404(StepState, tenant=tenant, step_id=step_id)
    return render(request, "wizard/_progress.html", {"tenant": tenant, "state": state})
