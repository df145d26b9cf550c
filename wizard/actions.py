"""What a person (through a page) or the `onramp` command asks Onramp to do. Views and the command call these and
nothing below them; each is one transaction, so nothing is half-applied when the engine refuses.

Layers, each importing only those below it: views and the command → actions (this module) → engine → steps (the
declarations) → services → microsoft client → models."""

import logging
from collections.abc import Callable, Sequence
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tenants.models import ExchangeWrites, Membership, Profile, Role, Tenant
from wizard import drift, engine, notifications, selectors, task_names, work_slots
from wizard.audit import SYSTEM_ACTOR, record_event
from wizard.errors import IllegalTransition, StepError, in_a_sentence
from wizard.microsoft import signin
from wizard.models import DriftCheck, StepState, StepStatus
from wizard.outcomes import Submission
from wizard.services import admin_sign_in
from wizard.steps.exchange_online.connect import service as connect
from wizard.steps.exchange_online.rooms import service as rooms
from wizard.steps.exchange_online.service_account import service as service_account
from wizard.steps.registry import Step, step_of, steps_of

# Re-checking a step that has succeeded changes nothing in the tenant, so it needs no earlier step to be done; the
# engine accepts it only for a succeeded step that has a check (ReverifyRefused otherwise), and runs the check alone.
CHECK_ONLY_ACTIONS = ("reverify",)

logger = logging.getLogger(__name__)


class PrerequisiteNotDone(IllegalTransition):
    """A step was asked to run before a step it builds on has finished."""

    def __init__(self, step: Step, first: Step) -> None:
        self.step = step
        self.first = first
        # Shown to the person who asked (a flash, the CLI), in their language; never saved.
        super().__init__(
            _("“{title}” builds on “{first}”, which has not finished: run “{first}” first.").format(
                title=step.title, first=first.title
            )
        )


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
    then: Sequence[str] = (),
) -> StepState:
    """Queue a step (and `then` the steps to queue in turn as each succeeds, wizard.engine): with a form's
    `cleaned_data` (the step's `save_inputs` turns it into the inputs and stores its secrets), with ready `inputs`
    (the command line), or with neither to keep the saved inputs (retry, resume, re-verify). Locking the step,
    checking the transition, storing secrets, saving the inputs, the audit event and queueing the task happen in
    one transaction: IllegalTransition leaves everything as it was. A step whose
    prerequisites (Step.requires) are not done is refused with PrerequisiteNotDone before anything is saved;
    re-verify of a step that has not succeeded, or has no check, with ReverifyRefused (an IllegalTransition). Without
    `send_task` the caller runs the step in its own process (engine.execute_step)."""
    step = step_of(tenant, step_id)
    if action not in CHECK_ONLY_ACTIONS and (first := selectors.unmet_prerequisite(tenant, step.id)) is not None:
        raise PrerequisiteNotDone(step, first)
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
        then=then,
    )


def run_queued_step(state_id: int, task_id: str, verify_only: bool, should_stop: Callable[[], bool]) -> int | None:
    """The worker's run of a queued step (wizard.tasks.run_step): the engine runs its service and records how it
    ended, then the rest of its chain in the same slot while the task has used less than half its time limit;
    `should_stop` says the worker is shutting down, so a long step hands its work back. While the step's Microsoft
    tenant's work fills its slots (wizard.work_slots), the task is sent again a heartbeat later instead, and this
    worker slot takes another tenant's work meanwhile."""
    try:
        state = StepState.objects.select_related("tenant").get(pk=state_id)
    except StepState.DoesNotExist:
        return None
    with work_slots.tenant_slot(state.tenant) as held:
        if not held:
            engine.postpone_step(state_id, task_id, settings.ONRAMP_HEARTBEAT_SECONDS, verify_only)
            return None
        seconds = settings.CELERY_TASK_SOFT_TIME_LIMIT / 2
        return engine.execute_chain(state_id, task_id, verify_only, should_stop, seconds)


def watch_steps() -> dict[str, int]:
    """The watchdog's round: steps whose worker died are marked interrupted, and lost tasks are sent again; drift
    checks whose worker stopped beating are taken over by another worker."""
    taken_over = drift.take_over_lost_checks()
    _send_drift_checks(taken_over)
    return {
        "interrupted": len(engine.mark_interrupted_steps()),
        "redelivered": len(engine.redeliver_lost_tasks()),
        "drift_checks_sent_again": len(taken_over),
    }


def _send_drift_checks(claims: list[drift.Claim], countdown: float | None = None) -> None:
    for check_id, claim in claims:
        current_app.send_task(task_names.RUN_DRIFT_CHECK, (check_id, claim), countdown=countdown)


def schedule_drift_checks() -> int:
    """The schedule's time has come: each activated organisation's check is due within the window."""
    return len(drift.schedule_fleet())


def start_due_drift_checks() -> int:
    """Send each drift check now due to the worker; how many were sent."""
    due = drift.claim_due()
    _send_drift_checks(due)
    return len(due)


def run_drift_check(check_id: int, claim: str) -> DriftCheck | None:
    """One organisation's check on the worker, run by the holder of `claim` only; its admins are emailed what is
    new, and an organisation that opted in has its new rooms placed by the rooms step (the same action as the page's
    "Place these rooms"). None, having done nothing, for a claim that is not this run's (a message delivered again,
    a check taken over), and for a check whose Microsoft tenant's work already fills its slots (wizard.work_slots):
    its message is sent again a heartbeat later, and this worker slot takes another tenant's work meanwhile."""
    tenant = drift.startable(check_id, claim)
    if tenant is None:
        return None
    with work_slots.tenant_slot(tenant) as held:
        if not held:
            drift.postpone(check_id, claim)
            _send_drift_checks([(check_id, claim)], countdown=settings.ONRAMP_HEARTBEAT_SECONDS)
            return None
        check = drift.run_check(check_id, claim)
    if check is None:
        return None
    notifications.drift_checked(check)
    if check.tenant.place_new_rooms and (addresses := drift.new_rooms(check.tenant)):
        try:
            place_new_rooms(check.tenant, SYSTEM_ACTOR, addresses)
        except (StepError, IllegalTransition) as refusal:
            logger.warning("new rooms of %s not placed now: %s", check.tenant.slug, refusal)
    return check


def run_step_here(state: StepState) -> StepState:
    """Run a step queued with `send_task=False` in this process (the command line's step 0 and re-verify), as the
    worker runs one; the state as it ended."""
    engine.execute_step(state.pk, state.task_id)
    state.refresh_from_db()
    return state


def skip_step(tenant: Tenant, step_id: str, actor: str) -> StepState:
    return engine.skip_step(tenant, step_id, actor)


def confirm_step(tenant: Tenant, step_id: str, actor: str, *, digest: str) -> StepState:
    """The admin ran a manual step's script (named by its SHA-256, as the page showed it): the confirmation is
    recorded and the step's check queued in one transaction. StepError `script_changed` when the page was stale,
    `not_a_manual_step` for a step Onramp runs itself; IllegalTransition while the step runs, PrerequisiteNotDone
    before the steps it builds on."""
    step = step_of(tenant, step_id)
    if step.confirmation is None:
        raise StepError(
            code="not_a_manual_step",
            message=_("“{title}” is not a step you run yourself: Onramp runs it.").format(title=step.title),
            fix=_("Use “Run this step” instead."),
        )
    if (first := selectors.unmet_prerequisite(tenant, step.id)) is not None:
        raise PrerequisiteNotDone(step, first)
    with transaction.atomic():
        step.confirmation.record(tenant, step.id, actor, digest=digest)
        return engine.enqueue_step(tenant, step.id, actor, action="confirm")


@transaction.atomic
def set_integration_app_id(tenant: Tenant, integration_app_id: str, actor: str) -> Tenant:
    """The integration's app id, given on the admin-consent path (the pasted-credentials path saves it with the
    credentials)."""
    if tenant.integration_app_id != integration_app_id:
        tenant.integration_app_id = integration_app_id
        tenant.save(update_fields=["integration_app_id", "updated_at"])
        record_event(
            tenant, actor, "set_integration_app_id", "succeeded", "connect", {"integration_app_id": integration_app_id}
        )
    return tenant


def begin_connect_with_microsoft(tenant: Tenant, *, redirect_uri: str) -> dict[str, Any]:
    """msal's flow for the administrator's sign-in with Onramp's connector app (kept server-side, in the session)."""
    try:
        return signin.begin(connect.connector_sign_in_app(tenant), redirect_uri)
    except signin.SignInRefused as refusal:
        raise StepError(
            code="sign_in_unreachable", message=str(refusal), fix=gettext_noop("Try again in a few minutes.")
        ) from refusal


def prove_administrator_for_consent(
    tenant: Tenant, *, pending: dict[str, Any], response: dict[str, str], redirect_uri: str, actor: str
) -> tuple[str | None, dict[str, Any]]:
    """The administrator signed in: their validated token names their Microsoft tenant and roles. Returns where the
    browser goes next and what the session keeps for Microsoft's next answer: the admin consent link for that
    tenant and what the consent's answer is checked against; a second sign-in asking for the scope that reads
    directory roles; or, for a sign-in again (`pending["resume_step"]`), nothing: the step is queued again."""
    resume_step = pending.get("resume_step", "")
    person = connect.prove_administrator(
        tenant,
        flow=pending["flow"],
        response=response,
        actor=actor,
        redirect_uri=redirect_uri,
        roles_round=bool(pending.get("roles_round")),
        for_step=resume_step,
    )
    if isinstance(person, connect.AnotherSignIn):
        return person.flow["auth_uri"], {**pending, "flow": person.flow, "roles_round": True}
    if resume_step:
        _resume_after_sign_in(tenant, resume_step, actor)
        return None, {}
    url, state = connect.admin_consent_url(tenant, microsoft_tenant_id=person.tid, redirect_uri=redirect_uri)
    record_event(
        tenant,
        actor,
        "connect_with_microsoft",
        "signed_in",
        "connect",
        {"microsoft_tenant_id": person.tid, "oid": person.oid, "username": person.username},
    )
    return url, {"state": state, "tid": person.tid, "by": person.username or person.oid}


def begin_sign_in_again(tenant: Tenant, step_id: str, *, redirect_uri: str) -> dict[str, Any]:
    """msal's flow for "Sign in again to continue": the same sign-in as "Connect with Microsoft", whose answer
    resumes `step_id` (the session keeps it)."""
    kept = admin_sign_in.kept_sign_in(tenant)
    try:
        flow = signin.begin(
            connect.connector_sign_in_app(tenant), redirect_uri, login_hint=kept.username if kept else None
        )
    except signin.SignInRefused as refusal:
        raise StepError(
            code="sign_in_unreachable", message=str(refusal), fix=gettext_noop("Try again in a few minutes.")
        ) from refusal
    return {"flow": flow, "resume_step": step_id}


def _resume_after_sign_in(tenant: Tenant, step_id: str, actor: str) -> None:
    """Queue again the step that waited for the sign-in, with its saved inputs and the steps it was to go on to; its
    service finds what an earlier run already wrote and does not write it again."""
    state = StepState.objects.get(tenant=tenant, step_id=step_id)
    if state.status == StepStatus.NEEDS_INPUT:
        submit_step(tenant, step_id, actor, action="resume", then=state.then_steps or ())


def begin_connect_in_terminal(tenant: Tenant) -> dict[str, Any]:
    return connect.begin_connect_in_terminal(tenant)


def complete_connect_in_terminal(tenant: Tenant, *, flow: dict[str, Any], actor: str) -> Tenant:
    """The administrator's device sign-in binds the organisation to their Microsoft tenant (see the page's
    "Connect with Microsoft")."""
    return connect.complete_connect_in_terminal(tenant, flow=flow, actor=actor)


def complete_admin_consent(tenant: Tenant, *, query: dict[str, str], pending: dict[str, str], actor: str) -> Tenant:
    """Microsoft's answer to admin consent, checked against the proven administrator's tenant; binds the
    organisation to it."""
    return connect.complete_admin_consent(
        tenant,
        query=query,
        expected_state=pending.get("state", ""),
        proven_tenant_id=pending.get("tid", ""),
        proven_by=pending.get("by", ""),
        actor=actor,
    )


def reveal_service_account_password(tenant: Tenant, actor: str) -> str | None:
    """The service account's generated password, once (the audit trail records the reveal); None afterwards."""
    return service_account.reveal_password_once(tenant, actor)


# The keys a confirms_preview step keeps its preview under while it waits for confirmation.
PREVIEW_KEYS = ("preview", "preview_summary")


@transaction.atomic
def discard_preview(tenant: Tenant, step_id: str, actor: str) -> StepState:
    """A new choice was refused (a rejected upload): the preview of the earlier choice no longer stands, so it can
    no longer be confirmed. The step keeps waiting for input; its status does not change."""
    state = StepState.objects.select_for_update().get(tenant=tenant, step_id=step_id)
    if state.status == StepStatus.NEEDS_INPUT and any(key in state.result for key in PREVIEW_KEYS):
        state.result = {key: value for key, value in state.result.items() if key not in PREVIEW_KEYS}
        state.inputs = {}
        state.progress_message = "The last choice was refused; choose the rooms again."
        state.save(update_fields=["result", "inputs", "progress_message", "updated_at"])
        record_event(tenant, actor, "discard_preview", "succeeded", step_id)
    return state


def check_drift(tenant: Tenant, actor: str) -> DriftCheck:
    """Re-check an activated organisation now, in this process, as the schedule does on the worker: findings on
    its timeline, what is new emailed to its admins."""
    check = drift.check_now(tenant, actor)
    notifications.drift_checked(check)
    return check


def request_drift_check(tenant: Tenant, actor: str) -> DriftCheck | None:
    """A drift check on the worker now (the page's "Check now"); None while one is already running."""
    with transaction.atomic():
        check = drift.request_check(tenant, actor)
        if check is not None:
            claims = [(check.pk, check.claim)]
            transaction.on_commit(lambda: _send_drift_checks(claims))
    return check


@transaction.atomic
def set_place_new_rooms(tenant: Tenant, enabled: bool, actor: str) -> Tenant:
    """Opt in (or out) to new rooms being placed by the drift check itself, without the admin's click."""
    if tenant.place_new_rooms != enabled:
        tenant.place_new_rooms = enabled
        tenant.save(update_fields=["place_new_rooms", "updated_at"])
        record_event(tenant, actor, "set_place_new_rooms", "succeeded", "rooms", {"enabled": enabled})
    return tenant


SWITCH_EXCHANGE_WRITES = "switch_exchange_writes"


@transaction.atomic
def set_exchange_writes(tenant: Tenant, actor: str, writes: str) -> Tenant:
    """Who makes this organisation's Exchange Online changes from now on (ExchangeWrites): Onramp through
    InvokeCommand, or the admin running each Exchange step's PowerShell. Recorded in the timeline; reversible.

    Refused (IllegalTransition) while one of the steps it changes is queued, running or waiting, so no run of a
    step mixes the two, and with `not_exchange_online` for an Exchange Server organisation (whose admin always
    runs the commands). Steps already done stay done; the others run the new way from their next run."""
    writes = ExchangeWrites(writes)
    if tenant.profile != Profile.EXCHANGE_ONLINE:
        raise StepError(
            code="not_exchange_online",
            message=_("Only an Exchange Online organisation has Exchange changes Onramp can make itself."),
            fix=_("Nothing to switch: on Exchange Server you always run the commands each step shows."),
        )
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if locked.exchange_writes != writes:
        switched = {step.id for step in steps_of(locked) if step.run_yourself is not None}
        busy = StepState.objects.filter(
            tenant=locked,
            step_id__in=switched,
            status__in=(StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING),
        ).first()
        if busy is not None:
            raise IllegalTransition(
                _("“{title}” is {status}: switch who makes the Exchange changes once it has stopped.").format(
                    title=step_of(locked, busy.step_id).title, status=in_a_sentence(StepStatus(busy.status).label)
                )
            )
        detail = {"from": locked.exchange_writes, "to": writes.value}
        locked.exchange_writes = writes
        locked.save(update_fields=["exchange_writes", "updated_at"])
        record_event(locked, actor, SWITCH_EXCHANGE_WRITES, "succeeded", detail=detail)
    tenant.exchange_writes = locked.exchange_writes
    return locked


def place_new_rooms(tenant: Tenant, actor: str, addresses: list[str], *, confirmed: bool = True) -> StepState:
    """Put rooms created since activation in the room lists through the rooms step (its preview, its plan of lists
    of 75, its checks), then run the steps after it as each succeeds, so that a room list the placement opened is
    in the scope, verified and activated without another request. Only rooms a drift check found in no list are
    taken; StepError when none is left."""
    offered = set(drift.new_rooms(tenant))
    chosen = [address for address in addresses if address in offered]
    if not chosen:
        raise StepError(
            code="no_new_rooms",
            message=_("No new room to place: the latest check found none that is still in no list."),
            fix=_("Check again for drift, then place the rooms it lists."),
        )
    return submit_step(
        tenant,
        rooms.STEP_ID,
        actor,
        inputs=rooms.new_rooms_inputs(chosen, confirmed=confirmed),
        then=engine.steps_after(tenant, rooms.STEP_ID),
    )
