"""The wizard's pages. Every view gets its tenant through get_tenant_for, so another tenant's URL is a 404; queries
live in wizard.selectors, formatting in wizard.presenters, and every change goes through wizard.actions. What a
particular step adds to its page is that step's own declaration (Step.page_context, Step.rooms_table): no view
branches on a step id."""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from tenants.access import can_change_inputs, can_change_secrets, can_operate, get_tenant_for, organisations_sharing
from tenants.models import Profile, Tenant, TenantStatus
from wizard import actions, presenters, selectors
from wizard.errors import IllegalTransition, ReverifyRefused, StepError
from wizard.models import StepState, StepStatus
from wizard.steps.exchange_online.activate.result import ActivateResult
from wizard.steps.exchange_online.connect.form import ConsentForm
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.service_account.page import service_account_page
from wizard.steps.registry import Step, page_template, step_of, steps_of


def _step_or_404(tenant: Tenant, step_id: str) -> Step:
    try:
        return step_of(tenant, step_id)
    except LookupError:
        raise Http404("No such step") from None


def _may_run(request: HttpRequest, tenant: Tenant, step: Step) -> bool:
    """Running a step with a form chooses its inputs: the tenant's admins only. Support retries and re-verifies."""
    if step.form is not None:
        return can_change_inputs(request.user, tenant)
    return can_operate(request.user, tenant)


def _step_context(request: HttpRequest, tenant: Tenant, step: Step, form=None) -> dict:
    states = selectors.states_of_every_step(tenant)
    by_id = {state.step_id: state for state in states}
    state = by_id[step.id]
    steps = steps_of(tenant)
    index = [s.id for s in steps].index(step.id)
    may_run = _may_run(request, tenant, step)
    if form is None and step.form is not None and may_run:
        form = step.form(tenant=tenant, state=state)
    context = {
        "tenant": tenant,
        "step": step,
        "state": state,
        "position": index,
        "nav": [(s, by_id[s.id], presenters.StatusView.of(by_id[s.id])) for s in steps],
        "resume_state": selectors.resume_state(states),
        "prev_step": steps[index - 1] if index > 0 else None,
        "next_step": steps[index + 1] if index + 1 < len(steps) else None,
        "form": form,
        "powershell": step.powershell(tenant, state),
        "script_digest": step.confirmation.digest(tenant, state) if step.confirmation else "",
        "can_operate": may_run,
        "can_sign_in_again": can_change_secrets(request.user, tenant),
        "blocked_by": selectors.unmet_prerequisite(tenant, step.id),
        "organisations_sharing": organisations_sharing(request.user, tenant),
        "status": presenters.StatusView.of(state),
        "tenant_active": tenant.status == TenantStatus.ACTIVE,
        "support_case": presenters.support_case_text(tenant, step.title, state),
        "result": presenters.shown_result(step.result_type, state),
        "result_items": presenters.display_items(state.result),
        "step_templates": [page_template(tenant.profile, step.id), "wizard/steps/_default.html"],
    }
    if step.rooms_table:
        context.update(_rooms_context(request, tenant, step))
    if step.page_context is not None:
        context.update(step.page_context(tenant, state, can_change_secrets(request.user, tenant)))
    return context


def _rooms_context(request: HttpRequest, tenant: Tenant, step: Step) -> dict:
    room_filter = request.GET.get("rooms", "")
    if room_filter not in {f.name for f in selectors.ROOM_FILTERS}:
        room_filter = ""
    return {
        "room_filter": room_filter,
        "room_filters": selectors.ROOM_FILTERS,
        "room_counts": selectors.room_counts(tenant, step.rooms_table),
        "rooms": selectors.rooms_page(tenant, step.rooms_table, room_filter, request.GET.get("page")),
    }


@require_GET
def resume(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    states = selectors.states_of_every_step(tenant)
    current = selectors.resume_state(states)
    if current is None:
        return redirect("wizard:activation", slug=tenant.slug)
    return redirect("wizard:step", slug=tenant.slug, step_id=current.step_id)


@require_GET
def step_page(request: HttpRequest, slug: str, step_id: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    step = _step_or_404(tenant, step_id)
    return render(request, "wizard/step.html", _step_context(request, tenant, step))


@require_GET
def rooms_table(request: HttpRequest, slug: str, step_id: str) -> HttpResponse:
    """The per-room table alone, for the filter links (htmx swaps it in place)."""
    tenant = get_tenant_for(request.user, slug)
    step = _step_or_404(tenant, step_id)
    if not step.rooms_table:
        raise Http404("This step has no rooms")
    context = {"tenant": tenant, "step": step, **_rooms_context(request, tenant, step)}
    return render(request, "wizard/_rooms.html", context)


@require_GET
def step_progress(request: HttpRequest, slug: str, step_id: str) -> HttpResponse:
    """Polled every second while the step runs. Once it stops, the whole wizard area is sent instead, so the
    result, the error panel, the statuses down the side and the next-step button appear, and polling ends."""
    tenant = get_tenant_for(request.user, slug)
    step = _step_or_404(tenant, step_id)
    state = selectors.polled_step_state(tenant, step.id)
    if state is None:
        raise Http404("No such step")
    if state.is_active:
        position = [s.id for s in steps_of(tenant)].index(step.id)
        context = {
            "tenant": tenant,
            "state": state,
            "status": presenters.StatusView.of(state),
            "step": step,
            "position": position,
        }
        return render(request, "wizard/_progress_poll.html", context)
    response = render(request, "wizard/_wizard.html", _step_context(request, tenant, step))
    return reswap(retarget(response, "#wizard"), "outerHTML")


def _back_to(request: HttpRequest, tenant: Tenant, step: Step) -> HttpResponse:
    """Back to the page the button was on: the step page, or the support console's tenant page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("wizard:step", slug=tenant.slug, step_id=step.id)


@require_POST
def run_step(request: HttpRequest, slug: str, step_id: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    step = _step_or_404(tenant, step_id)
    if not _may_run(request, tenant, step):
        raise Http404("No such tenant")
    state = StepState.objects.get(tenant=tenant, step_id=step.id)
    if (first := selectors.unmet_prerequisite(tenant, step.id)) is not None:
        # Refused before the form is read: the page offers no form for this step yet, so it could show no error.
        messages.error(request, str(actions.PrerequisiteNotDone(step, first)))
        return redirect("wizard:step", slug=tenant.slug, step_id=step.id)
    form, cleaned_data = None, None
    if step.form is not None:
        form = step.form(request.POST, request.FILES, tenant=tenant, state=state)
        if not form.is_valid():
            if step.confirms_preview and not request.POST.get("confirm"):
                actions.discard_preview(tenant, step.id, request.user.get_username())
            return render(request, "wizard/step.html", _step_context(request, tenant, step, form), status=400)
        cleaned_data = form.cleaned_data
    action = "retry" if state.status == StepStatus.FAILED else "run"
    try:
        _submit(request, tenant, step, cleaned_data=cleaned_data, action=action)
    except StepError as refusal:
        if form is None:
            raise
        # The submission was refused as a whole (e.g. new credentials Microsoft would not issue a token to).
        form.add_error(None, [part for part in (refusal.message, refusal.explanation, refusal.fix) if part])
        return render(request, "wizard/step.html", _step_context(request, tenant, step, form), status=400)
    return redirect("wizard:step", slug=tenant.slug, step_id=step.id)


def _submit(request: HttpRequest, tenant: Tenant, step: Step, cleaned_data: dict | None, action: str) -> bool:
    try:
        actions.submit_step(tenant, step.id, request.user.get_username(), cleaned_data=cleaned_data, action=action)
    except (actions.PrerequisiteNotDone, ReverifyRefused) as refusal:
        messages.error(request, str(refusal))
        return False
    except IllegalTransition:
        messages.error(
            request, _("“{title}” is already queued or running; wait for it to finish.").format(title=step.title)
        )
        return False
    return True


# What the flash after a button says was queued.
_QUEUED_MESSAGES = {
    "retry": _("Retry of “{title}” queued."),
    "resume": _("“{title}” queued to resume."),
    "reverify": _("Re-verification of “{title}” queued."),
}


@require_POST
def step_action(request: HttpRequest, slug: str, step_id: str, action: str) -> HttpResponse:
    """Retry (a failed step, with its saved inputs), re-verify (a finished one), resume (an interrupted one),
    skip (an optional one). Support may do all of these; none of them takes a secret."""
    tenant = get_tenant_for(request.user, slug)
    step = _step_or_404(tenant, step_id)
    if not can_operate(request.user, tenant):
        raise Http404("No such tenant")
    if action == "skip":
        try:
            actions.skip_step(tenant, step.id, request.user.get_username())
        except IllegalTransition:
            messages.error(request, _("“{title}” cannot be skipped now.").format(title=step.title))
    elif action in _QUEUED_MESSAGES:
        if _submit(request, tenant, step, cleaned_data=None, action=action):
            messages.success(request, _QUEUED_MESSAGES[action].format(title=step.title))
    else:
        raise Http404("No such action")
    return _back_to(request, tenant, step)


@require_POST
def confirm_step(request: HttpRequest, slug: str, step_id: str) -> HttpResponse:
    """ "I ran these commands": a manual step's confirmation, naming the script the page showed by its digest. A
    stale page (the script changed since) is told so, and the page shows the current script. Only the tenant's own
    admins confirm what they ran in their shell."""
    tenant = get_tenant_for(request.user, slug)
    step = _step_or_404(tenant, step_id)
    if not can_change_secrets(request.user, tenant):
        raise Http404("No such tenant")
    try:
        actions.confirm_step(tenant, step.id, request.user.get_username(), digest=request.POST.get("script_sha256", ""))
    except StepError as error:
        messages.error(request, f"{gettext(error.message)} {gettext(error.fix)}")
    except actions.PrerequisiteNotDone as refusal:
        messages.error(request, str(refusal))
    except IllegalTransition:
        messages.error(
            request, _("“{title}” is already queued or running; wait for it to finish.").format(title=step.title)
        )
    return redirect("wizard:step", slug=tenant.slug, step_id=step.id)


CONSENT_SESSION_KEY = "onramp_admin_consent"


@require_POST
def start_consent(request: HttpRequest, slug: str) -> HttpResponse:
    """ "Connect with Microsoft", first half: send the admin to sign in with Onramp's connector app. The session
    keeps msal's flow (state, nonce, PKCE verifier) and which organisation asked."""
    tenant = get_tenant_for(request.user, slug)
    if not can_change_secrets(request.user, tenant):
        raise Http404("No such tenant")
    consent_form = ConsentForm(request.POST)
    if not consent_form.is_valid():
        for errors in consent_form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("wizard:step", slug=tenant.slug, step_id="connect")
    redirect_uri = request.build_absolute_uri(reverse("orgs:consent_callback"))
    try:
        flow = actions.begin_connect_with_microsoft(tenant, redirect_uri=redirect_uri)
    except StepError as error:
        messages.error(request, f"{gettext(error.message)} {gettext(error.fix)}")
        return redirect("wizard:step", slug=tenant.slug, step_id="connect")
    actions.set_integration_app_id(tenant, consent_form.cleaned_data["integration_app_id"], request.user.get_username())
    request.session[CONSENT_SESSION_KEY] = {"slug": tenant.slug, "flow": flow}
    return redirect(flow["auth_uri"])


@require_POST
def sign_in_again(request: HttpRequest, slug: str, step_id: str) -> HttpResponse:
    """ "Sign in again to continue": a step stopped because Microsoft no longer accepts the kept sign-in. The same
    sign-in as "Connect with Microsoft" (its redirect URI too); its answer resumes the step."""
    tenant = get_tenant_for(request.user, slug)
    if not can_change_secrets(request.user, tenant):
        raise Http404("No such tenant")
    step = _step_or_404(tenant, step_id)
    redirect_uri = request.build_absolute_uri(reverse("orgs:consent_callback"))
    try:
        pending = actions.begin_sign_in_again(tenant, step.id, redirect_uri=redirect_uri)
    except StepError as error:
        messages.error(request, f"{gettext(error.message)} {gettext(error.fix)}")
        return redirect("wizard:step", slug=tenant.slug, step_id=step.id)
    request.session[CONSENT_SESSION_KEY] = {"slug": tenant.slug, **pending}
    return redirect(pending["flow"]["auth_uri"])


@login_not_required
@require_GET
def consent_from_terminal_done(request: HttpRequest) -> HttpResponse:
    """Microsoft's redirect after admin consent started from a terminal. It trusts nothing it is sent: the binding
    came from the administrator's device sign-in, and the next `onramp run` tries Onramp's app again."""
    refused = bool(request.GET.get("error"))
    return render(request, "wizard/consented_from_terminal.html", {"refused": refused}, status=400 if refused else 200)


@require_GET
def consent_callback(request: HttpRequest) -> HttpResponse:
    """Microsoft's redirects back: after the admin's sign-in (proof of who administers which Microsoft tenant), on
    to admin consent in that tenant; after consent, the organisation is bound and the connect step runs at once."""
    pending = request.session.pop(CONSENT_SESSION_KEY, None)
    if not pending:
        raise Http404("No consent in progress")
    tenant = get_tenant_for(request.user, pending["slug"])
    if not can_change_secrets(request.user, tenant):
        raise Http404("No such tenant")
    actor = request.user.get_username()
    redirect_uri = request.build_absolute_uri(reverse("orgs:consent_callback"))
    try:
        if "flow" in pending:
            url, proof = actions.prove_administrator_for_consent(
                tenant, pending=pending, response=request.GET.dict(), redirect_uri=redirect_uri, actor=actor
            )
            if url is None:  # signed in again: the step that waited for it is queued again
                messages.success(request, _("Signed in again. Onramp continues the step where it stopped."))
                return redirect("wizard:step", slug=tenant.slug, step_id=pending["resume_step"])
            request.session[CONSENT_SESSION_KEY] = {"slug": tenant.slug, **proof}
            return redirect(url)
        actions.complete_admin_consent(tenant, query=request.GET.dict(), pending=pending, actor=actor)
    except StepError as error:
        messages.error(request, f"{gettext(error.message)} {gettext(error.fix)}")
        return redirect("wizard:step", slug=tenant.slug, step_id=pending.get("resume_step") or "connect")
    messages.success(request, _("Admin consent granted. Onramp is checking the connection."))
    _submit(request, tenant, _step_or_404(tenant, "connect"), cleaned_data=None, action="run")
    return redirect("wizard:step", slug=tenant.slug, step_id="connect")


def _integration_tenant(request: HttpRequest, slug: str) -> Tenant:
    tenant = get_tenant_for(request.user, slug)
    if not can_change_inputs(request.user, tenant):
        raise Http404("No such page")
    return tenant


@require_GET
def integration_picker(request: HttpRequest, slug: str) -> HttpResponse:
    """Pick the calendar product's app among the tenant's enterprise apps, by name, instead of pasting its id."""
    tenant = _integration_tenant(request, slug)
    name = request.GET.get("name", "").strip()[:100]
    connected = selectors.step_succeeded(tenant, "connect")
    candidates, error = [], None
    if name and connected:
        try:
            candidates = presenters.integration_candidates(tenant, name)
        except StepError as refusal:
            error = refusal
    try:
        preset_choices = presenters.integration_presets(tenant, connected)
    except StepError:
        # Which product is already in the tenant is a hint: without Microsoft's answer the presets stay unmarked.
        preset_choices = presenters.integration_presets(tenant, connected=False)
    context = {
        "tenant": tenant,
        "name": name,
        "connected": connected,
        "candidates": candidates,
        "error": error,
        "presets": preset_choices,
    }
    return render(request, "wizard/integration_picker.html", context)


@require_POST
def choose_integration(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = _integration_tenant(request, slug)
    app_id = request.POST.get("integration_app_id", "").strip()
    if not re.fullmatch(r"[0-9a-fA-F-]{36}", app_id):
        messages.error(request, _("That is not an application id."))
        return redirect("wizard:integration_picker", slug=tenant.slug)
    actions.set_integration_app_id(tenant, app_id, request.user.get_username())
    messages.success(request, _("Scoped access will be granted to the app {app_id}.").format(app_id=app_id))
    return redirect("wizard:step", slug=tenant.slug, step_id="connect")


@require_POST
def reveal_password(request: HttpRequest, slug: str) -> HttpResponse:
    """The service account's password, once, to the tenant's own admin; the audit trail remembers it was shown."""
    tenant = get_tenant_for(request.user, slug)
    if not can_change_secrets(request.user, tenant):
        raise Http404("No such tenant")
    password = actions.reveal_service_account_password(tenant, request.user.get_username())
    step = _step_or_404(tenant, "service_account")
    state = StepState.objects.get(tenant=tenant, step_id=step.id)
    context = {"tenant": tenant, "password": password, **service_account_page(tenant, state, True)}
    return render(request, "wizard/_password.html", context)


# The order a person reads the summary in; jsonb does not keep the services' key order.
SUMMARY_ORDER = (
    "organization",
    "tenant",
    "tenant_id",
    "service_account",
    "room_lists",
    "app_id",
    "management_scope",
    "role",
    "rooms",
)


def _activation_summary(tenant: Tenant) -> dict:
    state = StepState.objects.filter(tenant=tenant, step_id="activate").first()
    summary = step_of(tenant, "activate").result_type.from_json(state.result).summary if state else {}
    items = dict(presenters.public_items(summary))
    rank = {key: index for index, key in enumerate(SUMMARY_ORDER)}
    return {key: items[key] for key in sorted(items, key=lambda key: (rank.get(key, len(rank)), key))}


@require_GET
def activation(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    states = selectors.states_of_every_step(tenant)
    state = next((s for s in states if s.step_id == "activate"), None)
    # Only Exchange Online's activate delivers a webhook; another profile's row reads as none configured.
    webhook = ActivateResult.from_json(state.result).webhook if state else {}
    context = {
        "tenant": tenant,
        "state": state,
        "nav": presenters.nav_of(steps_of(tenant), states),
        "tenant_active": tenant.status == TenantStatus.ACTIVE,
        "summary": presenters.display_items(_activation_summary(tenant)),
        "webhook": webhook,
        "now": timezone.now(),
        **_drift_context(request, tenant),
    }
    return render(request, "wizard/activation.html", context)


def _drift_context(request: HttpRequest, tenant: Tenant) -> dict:
    """The latest drift check and the new rooms it offers, for the organisation's page and the support console."""
    panel = presenters.drift_panel(tenant)
    active = tenant.status == TenantStatus.ACTIVE and panel["drift_checked"]
    return {
        **panel,
        "can_check_drift": can_operate(request.user, tenant) and active,
        "can_place_rooms": can_change_inputs(request.user, tenant) and active,
    }


@require_POST
def check_drift(request: HttpRequest, slug: str) -> HttpResponse:
    """Check now, on the worker, instead of waiting for the schedule: the organisation's admins and support
    operators."""
    tenant = get_tenant_for(request.user, slug)
    if not can_operate(request.user, tenant) or tenant.status != TenantStatus.ACTIVE:
        raise Http404("No such tenant")
    if not presenters.drift_checked(tenant):  # nothing offers it: the check has no way to look at this organisation
        raise Http404("No drift check for this organisation")
    if actions.request_drift_check(tenant, request.user.get_username()) is None:
        messages.error(request, _("A drift check is already running; its findings appear here when it ends."))
    else:
        messages.success(request, _("Drift check queued: its findings appear here when it ends."))
    return redirect("wizard:activation", slug=tenant.slug)


@require_POST
def place_new_rooms(request: HttpRequest, slug: str) -> HttpResponse:
    """The new rooms the page offered, placed by the rooms step (its plan of lists of 75 and checks)."""
    tenant = get_tenant_for(request.user, slug)
    if not can_change_inputs(request.user, tenant) or tenant.status != TenantStatus.ACTIVE:
        raise Http404("No such tenant")
    try:
        actions.place_new_rooms(tenant, request.user.get_username(), request.POST.getlist("address"))
    except StepError as error:
        messages.error(request, f"{gettext(error.message)} {gettext(error.fix)}")
        return redirect("wizard:activation", slug=tenant.slug)
    except (actions.PrerequisiteNotDone, IllegalTransition) as refusal:
        messages.error(request, _("The rooms step cannot run now: {refusal}").format(refusal=refusal))
        return redirect("wizard:activation", slug=tenant.slug)
    messages.success(request, _("Placing the new rooms: “Rooms” shows its progress and its preview."))
    return redirect("wizard:step", slug=tenant.slug, step_id=RoomsResult.STEP_ID)


@require_POST
def drift_settings(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    if not can_change_inputs(request.user, tenant):
        raise Http404("No such tenant")
    enabled = request.POST.get("place_new_rooms") == "on"
    actions.set_place_new_rooms(tenant, enabled, request.user.get_username())
    messages.success(
        request,
        "New rooms will be placed after each drift check." if enabled else "New rooms will be offered here.",
    )
    return redirect("wizard:activation", slug=tenant.slug)


@require_POST
def switch_exchange_writes(request: HttpRequest, slug: str) -> HttpResponse:
    """Who makes the organisation's Exchange Online changes (Onramp, or the admin running each step's PowerShell):
    posted from a step's page by the organisation's admins and from the support console by support operators;
    back to the page it came from (`next`, on this site only)."""
    tenant = get_tenant_for(request.user, slug)
    if not can_operate(request.user, tenant):
        raise Http404("No such tenant")
    try:
        switched = actions.set_exchange_writes(tenant, request.user.get_username(), request.POST.get("writes", ""))
    except ValueError:
        messages.error(request, _("Choose who makes the Exchange changes: Onramp or you."))
    except StepError as refusal:
        messages.error(request, f"{gettext(refusal.message)} {gettext(refusal.fix)}")
    except IllegalTransition as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(
            request,
            "You make the Exchange changes now: each Exchange step shows the PowerShell to run, then confirm."
            if switched.admin_runs_exchange_writes
            else "Onramp makes the Exchange changes again, through InvokeCommand.",
        )
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(back)
    return redirect("wizard:resume", slug=tenant.slug)


@require_GET
def activation_json(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    response = JsonResponse(_activation_summary(tenant), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="onramp-{tenant.slug}.json"'
    return response


@require_GET
def room_list_csv(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """One planned room list's CSV, the file the Exchange Server script's Import-Csv line reads."""
    tenant = get_tenant_for(request.user, slug)
    if tenant.profile != Profile.EXCHANGE_SERVER:
        raise Http404("No such file")
    try:
        filename, text = presenters.room_list_csv(tenant, number)
    except LookupError:
        raise Http404("No such room list") from None
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
