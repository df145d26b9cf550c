"""The step state machine. Views, the CLI and tasks change a step's status only through these functions."""

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from tenants.models import Tenant
from wizard import metrics, notifications, task_names
from wizard.audit import SYSTEM_ACTOR, record_event
from wizard.errors import IllegalTransition, ReverifyRefused, StepError, support_case_ids
from wizard.heartbeat import Heartbeat
from wizard.microsoft import BusyWait, SignInAgainNeeded, busy_listener
from wizard.models import PAYLOAD_FIELDS, StepState, StepStatus
from wizard.outcomes import SIGN_IN_AGAIN, Done, NeedsInput, StepContext, Wait
from wizard.services import admin_sign_in
from wizard.steps.registry import Step, step_of, steps_of

logger = logging.getLogger(__name__)

S = StepStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.NOT_STARTED: frozenset({S.QUEUED, S.SKIPPED, S.NEEDS_INPUT}),
    S.QUEUED: frozenset({S.RUNNING, S.FAILED, S.INTERRUPTED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.WAITING, S.NEEDS_INPUT, S.INTERRUPTED}),
    S.WAITING: frozenset({S.RUNNING, S.FAILED, S.INTERRUPTED, S.QUEUED}),
    S.NEEDS_INPUT: frozenset({S.QUEUED, S.SKIPPED}),
    S.SUCCEEDED: frozenset({S.QUEUED}),
    S.FAILED: frozenset({S.QUEUED, S.SKIPPED}),
    S.SKIPPED: frozenset({S.QUEUED}),
    S.INTERRUPTED: frozenset({S.QUEUED}),
}
# Sent by name: wizard.tasks imports this module, never the other way round.


def ensure_states(tenant: Tenant) -> list[StepState]:
    """One state row per step of the tenant's profile, created on first sight. The payload fields are deferred:
    the steps list and resume read statuses only, and a page loads its own step's payload when it reads it."""
    steps = steps_of(tenant)
    existing = {state.step_id: state for state in tenant.step_states.defer(*PAYLOAD_FIELDS)}
    missing = [
        StepState(tenant=tenant, step_id=step.id, position=index)
        for index, step in enumerate(steps)
        if step.id not in existing
    ]
    if missing:
        StepState.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {state.step_id: state for state in tenant.step_states.defer(*PAYLOAD_FIELDS)}
    return [existing[step.id] for step in steps]


def _transition(state: StepState, new_status: str, **fields: Any) -> StepState:
    if new_status not in ALLOWED_TRANSITIONS[state.status]:
        raise IllegalTransition(f"{state.step_id}: {state.status} → {new_status} is not allowed")
    state.status = new_status
    for name, value in fields.items():
        setattr(state, name, value)
    # Only what changed: a full save writes the row's inputs and result again, as large as its rooms.
    state.save(update_fields=["status", "updated_at", *fields])
    return state


def _locked(state_id: int, tenant: Tenant | None = None) -> StepState:
    """The step's row, locked, with its organisation: the caller's `tenant` when it holds it (no join to read it
    again), else read with the row."""
    if tenant is None:
        return StepState.objects.select_for_update().select_related("tenant").get(pk=state_id)
    state = StepState.objects.select_for_update().get(pk=state_id)
    state.tenant = tenant
    return state


def _locked_step(tenant: Tenant, step_id: str) -> StepState:
    """The tenant's row of `step_id`, locked; the profile's rows are created first if the tenant has none yet."""
    rows = StepState.objects.select_for_update()
    try:
        state = rows.get(tenant=tenant, step_id=step_id)
    except StepState.DoesNotExist:
        ensure_states(tenant)
        state = rows.get(tenant=tenant, step_id=step_id)
    state.tenant = tenant  # the caller's: no join to read it again
    return state


def enqueue_step(
    tenant: Tenant,
    step_id: str,
    actor: str,
    inputs: dict[str, Any] | None = None,
    action: str = "run",
    verify_only: bool = False,
    inputs_from: Callable[[StepState], dict[str, Any]] | None = None,
    send_task: bool = True,
    then: Sequence[str] = (),
) -> StepState:
    """Queue a step for the worker. `inputs` replaces the saved inputs when given (a retry keeps them);
    `then` names the steps to queue in turn, each with its saved inputs, once this one succeeds (a chain stops at
    the first step that does not succeed);
    `inputs_from(state)` computes them instead, called only once the step is locked and may be queued, so a refused
    submission stores nothing. `verify_only` runs just the step's check, for re-verifying a finished step without
    touching the tenant: ReverifyRefused for a step that has no check or has not succeeded. Without `send_task` the
    caller runs execute_step itself, in its own process."""
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        state = _locked_step(tenant, step_id)
        if verify_only:
            _refuse_unless_reverifiable(step_of(tenant, step_id), state)
        if S.QUEUED not in ALLOWED_TRANSITIONS[state.status]:
            raise IllegalTransition(f"{state.step_id}: {state.status} → {S.QUEUED} is not allowed")
        if inputs_from is not None:
            inputs = inputs_from(state)
        fields: dict[str, Any] = {
            "task_id": task_id,
            "progress_percent": 0,
            "progress_message": "Queued",
            "error_code": "",
            "error_message": "",
            "error_detail": {},
            "finished_at": None,
            "auto_resumes": 0,
            "then_steps": list(then),
            "verify_only": verify_only,
        }
        if inputs is not None:
            fields["inputs"] = inputs
        _transition(state, S.QUEUED, **fields)
        record_event(tenant, actor, action, "queued", step_id, {"task_id": task_id})
        if send_task:
            transaction.on_commit(lambda: _send_run_task(state.pk, task_id, verify_only=verify_only))
    return state


def _refuse_unless_reverifiable(step: Step, state: StepState) -> None:
    """Re-verify runs a step's check and nothing else. A step without a check would run its service (changing the
    tenant); a step that has not succeeded has nothing to check, and its check would read a result it never saved."""
    if step.verify is None:
        raise ReverifyRefused(step.title, has_check=False)
    if state.status != S.SUCCEEDED:
        raise ReverifyRefused(step.title, S(state.status).label)


def _reverify(step: Step, ctx: StepContext) -> dict[str, Any]:
    """The step's check alone; never its service, which would change the tenant."""
    if step.verify is None:
        raise StepError(
            code="nothing_to_reverify",
            message=f"“{step.title}” has no check of its own, so it cannot be re-verified.",
            explanation=gettext_noop(
                "Re-verify only reads; this step's only action is to run it again, which changes the tenant."
            ),
            fix=gettext_noop("Run the step again if that is what you meant."),
        )
    return step.verify(ctx)


def _send_run_task(state_id: int, task_id: str, countdown: int | None = None, verify_only: bool = False) -> None:
    current_app.send_task(task_names.RUN_STEP, (state_id, task_id, verify_only), countdown=countdown)


def postpone_step(state_id: int, task_id: str, countdown: int, verify_only: bool = False) -> None:
    """Send the step's task again in `countdown` seconds without running it (its Microsoft tenant's work slots are
    full, wizard.work_slots). Its row says the message was just sent, so the watchdog does not take it for lost and
    send a second one meanwhile."""
    now = timezone.now()
    mine = StepState.objects.filter(pk=state_id, task_id=task_id)
    mine.filter(status=S.QUEUED).update(updated_at=now)
    mine.filter(status=S.WAITING).update(heartbeat_at=now + timedelta(seconds=countdown))
    _send_run_task(state_id, task_id, countdown=countdown, verify_only=verify_only)


def skip_step(tenant: Tenant, step_id: str, actor: str) -> StepState:
    step = step_of(tenant, step_id)
    if not step.optional:
        raise IllegalTransition(f"{step.title} is not optional")
    with transaction.atomic():
        state = _locked_step(tenant, step_id)
        _transition(state, S.SKIPPED, finished_at=timezone.now())
        record_event(tenant, actor, "skip", "skipped", step_id)
    return state


class _Heartbeat(Heartbeat):
    """The step row's heartbeat (wizard.heartbeat): it beats only while the step's work moves (a progress report, a
    wait on a busy Microsoft), and stops after ONRAMP_STALL_SECONDS without activity, so the watchdog treats a step
    stuck in a call that never ends as interrupted, as if its worker had died."""

    def __init__(self, state_id: int, tenant: Tenant, step_id: str) -> None:
        super().__init__(f"heartbeat-{state_id}", stall_seconds=settings.ONRAMP_STALL_SECONDS)
        self.state_id = state_id
        self.tenant = tenant
        self.step_id = step_id

    def beat(self) -> None:
        StepState.objects.filter(pk=self.state_id, status=S.RUNNING).update(heartbeat_at=timezone.now())

    def stalled(self, idle_seconds: float) -> None:
        logger.warning("%s of %s made no progress for %.0f s", self.step_id, self.tenant.slug, idle_seconds)
        detail = {"idle_seconds": round(idle_seconds)}
        record_event(self.tenant, SYSTEM_ACTOR, "heartbeat", "stalled", self.step_id, detail)


class WorkerStopping(BaseException):
    """The worker is shutting down: the running step gives up its thread at its next progress report. A
    BaseException, so that a service's `except Exception` does not swallow it."""


class RunSuperseded(BaseException):
    """This run's step was taken over by another run (the watchdog resumed it after this one stalled): this run
    stops at its next progress report and changes nothing more in the step's row."""


def _progress_writer(state_id: int, task_id: str, heartbeat: _Heartbeat, should_stop: Callable[[], bool]):
    def progress(percent: int, message: str) -> None:
        if should_stop():
            raise WorkerStopping
        heartbeat.touch()
        updated = StepState.objects.filter(pk=state_id, task_id=task_id, status=S.RUNNING).update(
            progress_percent=max(0, min(100, int(percent))),
            progress_message=message[:300],
            heartbeat_at=timezone.now(),
        )
        if not updated:
            raise RunSuperseded

    return progress


MICROSOFT_BUSY_ACTION = "microsoft_busy"


def busy_message(wait: BusyWait) -> str:
    """What the progress panel says while Onramp waits on a busy Microsoft."""
    seconds = f"{round(wait.seconds, 1):g} s"
    how = f"waiting {seconds} as it asked" if wait.asked else f"waiting {seconds} before trying again"
    return f"Microsoft is busy (HTTP {wait.status}): {how}, attempt {wait.attempt}"


class _BusyReporter:
    """Says in the running step's progress message that Microsoft is busy and how long Onramp waits, from whichever
    thread waits, and records one `microsoft_busy` event per streak: from the first call that waits until no call
    of the step is waiting any more. Reporting never fails the call that waits."""

    def __init__(self, state_id: int, tenant: Tenant, step_id: str, heartbeat: _Heartbeat) -> None:
        self.state_id = state_id
        self.tenant = tenant
        self.step_id = step_id
        self.heartbeat = heartbeat
        self._owner = threading.get_ident()
        self._lock = threading.Lock()
        self._calls_waiting = 0

    def waiting(self, wait: BusyWait, *, first: bool) -> None:
        with self._lock:
            streak_starts = first and self._calls_waiting == 0
            if first:
                self._calls_waiting += 1
        self.heartbeat.touch()  # waiting as Microsoft asked is the work moving
        message = busy_message(wait)
        try:
            StepState.objects.filter(pk=self.state_id, status=S.RUNNING).update(
                progress_message=message, heartbeat_at=timezone.now()
            )
            if streak_starts:
                detail = {"service": wait.service, "status": wait.status, "message": message}
                record_event(self.tenant, SYSTEM_ACTOR, MICROSOFT_BUSY_ACTION, "waiting", self.step_id, detail)
        except DatabaseError:
            logger.warning("could not report a busy Microsoft for %s of %s", self.step_id, self.tenant.slug)
        finally:
            if threading.get_ident() != self._owner:
                connection.close()  # a helper thread's own connection (Django's are per thread)

    def over(self) -> None:
        with self._lock:
            self._calls_waiting -= 1


class ChainHere:
    """Given to execute_step by a worker that goes on with the chain itself: the step's successor (a Run's `then`)
    is queued without its task being sent, and `next` says which row and task id to run."""

    def __init__(self) -> None:
        self.next: tuple[int, str] | None = None


def execute_step(
    state_id: int,
    task_id: str,
    verify_only: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    chain_here: ChainHere | None = None,
) -> int | None:
    """Run the step's service and its check (or the check alone when re-verifying: the row says so, so a
    redelivered or resumed re-verification never runs the service either; `verify_only` is kept for messages sent
    before the row held it).
    Returns a countdown in seconds when the step must be re-run later. When `should_stop()` turns true the step
    stops at its next progress report and stays `running` with its heartbeat stopped, for the watchdog to resume.
    With `chain_here`, the next step of its chain is left to the caller (ChainHere) instead of to the broker."""
    with transaction.atomic():
        state = _locked(state_id)
        if state.task_id != task_id or state.status not in (S.QUEUED, S.WAITING):
            # A redelivered or superseded message: another task owns this step now.
            logger.info("skipping stale task %s for %s (%s)", task_id, state, state.status)
            return None
        now = timezone.now()
        fields: dict[str, Any] = {"heartbeat_at": now}
        step = step_of(state.tenant, state.step_id)
        verify_only = verify_only or state.verify_only
        if state.status == S.QUEUED:
            fields.update(started_at=now, waiting_since=None, waiting_for="")
            # Showing a preview applies nothing, so it is not an attempt at the step.
            if not (step.confirms_preview and not state.inputs.get("confirmed")):
                fields["attempts"] = state.attempts + 1
        _transition(state, S.RUNNING, **fields)
    tenant = state.tenant
    # Every log line of this run says whose step it is, and its own run's task id: django-structlog binds the Celery
    # task's, which is the chain's first step's for the steps a chain runs in the same task (execute_chain).
    structlog.contextvars.bind_contextvars(organisation=tenant.slug, step=step.id, task_id=task_id)
    metrics.step_started(tenant.profile, step.id)
    started = time.monotonic()

    def ended(how: str) -> None:
        metrics.step_finished(tenant.profile, step.id, how, time.monotonic() - started)

    heartbeat = _Heartbeat(state_id, tenant, step.id)
    progress = _progress_writer(state_id, task_id, heartbeat, should_stop)
    ctx = StepContext(tenant=tenant, state=state, actor=SYSTEM_ACTOR, progress=progress)
    listening = busy_listener.set(_BusyReporter(state_id, tenant, step.id, heartbeat))
    try:
        with heartbeat:
            if verify_only:
                outcome = Done(_reverify(step, ctx))
            else:
                with _under_admin_sign_in(tenant, step):
                    outcome = step.perform(ctx)
                    if isinstance(outcome, Done) and step.verify is not None:
                        state.result = {**state.result, **outcome.result}
                        outcome = Done({**outcome.result, **step.verify(ctx)})
    except SignInAgainNeeded as refused:
        # Not a failure: the step waits for an administrator to sign in again, and resumes after it.
        logger.warning("%s of %s waits for a sign-in again: %s", step.id, tenant.slug, refused.code)
        outcome = NeedsInput(SIGN_IN_AGAIN_REASON, {SIGN_IN_AGAIN: {"code": refused.code, "message": refused.message}})
        notifications.sign_in_needed(tenant, step.id)
    except WorkerStopping:
        ended("stopped")
        logger.warning("worker stopping: %s of %s left for the watchdog to resume", step.id, tenant.slug)
        return None
    except RunSuperseded:
        ended("superseded")
        logger.warning("%s of %s: this run was superseded after it stalled; it stops here", step.id, tenant.slug)
        return None
    except StepError as error:
        ended("failed")
        _finish_failed(state_id, task_id, tenant, step, error.code, error.message, error.detail())
        return None
    except Exception as error:
        ended("crashed")
        logger.exception("step %s of %s crashed", step.id, tenant.slug)
        _finish_failed(
            state_id,
            task_id,
            tenant,
            step,
            "internal_error",
            f"Onramp hit an unexpected error: {type(error).__name__}",
            {
                "explanation": "This is a fault in Onramp, not in your tenant.",
                "fix": "Retry; if it fails again, contact support with the time shown here.",
            },
        )
        return None
    finally:
        busy_listener.reset(listening)
    ended({Done: "succeeded", Wait: "waiting", NeedsInput: "needs_input"}[type(outcome)])
    return _finish(state_id, task_id, tenant, step, outcome, chain_here)


def execute_chain(
    state_id: int, task_id: str, verify_only: bool, should_stop: Callable[[], bool], seconds: float
) -> int | None:
    """execute_step, then each next step of the chain in this thread (a Run's `then`, queued as it is reached) for
    up to `seconds`: a worker that hands every step on through the broker makes each wait for a message to travel
    and for a worker slot, which under load took longer than an onboarding's quick steps. Past `seconds`, or when
    the worker is stopping, the next step's task is sent, for any worker to take. Returns what execute_step returns
    for the last step run here."""
    started = time.monotonic()
    while True:
        chain_here = ChainHere()
        countdown = execute_step(state_id, task_id, verify_only, should_stop, chain_here)
        if chain_here.next is None:
            return countdown
        state_id, task_id = chain_here.next
        verify_only = False
        if should_stop() or time.monotonic() - started >= seconds:
            _send_run_task(state_id, task_id)
            return None


# A step whose run Microsoft stopped because the kept administrator's sign-in no longer stands (SignInAgainNeeded)
# says so in its result under this key, and its page offers "Sign in again to continue".
# Saved as the step's message in English; the page translates it (gettext_noop marks it for makemessages).
SIGN_IN_AGAIN_REASON = gettext_noop(
    "Microsoft asks the administrator to sign in again before Onramp continues (the sign-in was revoked, the "
    "password changed, or a policy asks for it). Sign in again to continue: the step resumes where it stopped."
)


def _under_admin_sign_in(tenant: Tenant, step: Step) -> contextlib.AbstractContextManager:
    """A run's writes under the kept administrator's sign-in, asked of Microsoft first (wizard.services.
    admin_sign_in); a step that hands access back runs whether or not that sign-in still stands."""
    if not step.under_admin_sign_in:
        return contextlib.nullcontext()
    return admin_sign_in.writes_under(tenant, step.admin_roles)


def _superseded(state: StepState, task_id: str) -> bool:
    """Whether another run owns the step now: a run that stalled and was resumed must not finish it."""
    if state.task_id == task_id and state.status == S.RUNNING:
        return False
    logger.warning(
        "%s of %s: a superseded run (task %s) ended; the step is left as it is",
        state.step_id,
        state.tenant.slug,
        task_id,
    )
    return True


def _finish(
    state_id: int,
    task_id: str,
    tenant: Tenant,
    step: Step,
    outcome: Done | Wait | NeedsInput,
    chain_here: ChainHere | None = None,
) -> int | None:
    with transaction.atomic():
        state = _locked(state_id, tenant)
        if _superseded(state, task_id):
            return None
        now = timezone.now()
        result = {**state.result, **outcome.result}
        if isinstance(outcome, Done):
            waited = state.waiting_since is not None
            _transition(
                state,
                S.SUCCEEDED,
                result=result,
                finished_at=now,
                progress_percent=100,
                progress_message="Done",
                waiting_for="",
                waiting_since=None,
            )
            record_event(tenant, SYSTEM_ACTOR, "run", "succeeded", step.id)
            notifications.step_succeeded(tenant, step.id, waited=waited)
            if state.then_steps:
                _queue_next(tenant, state.then_steps, chain_here)
            return None
        if isinstance(outcome, Wait):
            first_wait = state.waiting_since is None
            # While waiting, heartbeat_at holds when the next check is due, so the watchdog can spot a lost one.
            _transition(
                state,
                S.WAITING,
                result=result,
                waiting_for=outcome.waiting_for,
                waiting_since=state.waiting_since or now,
                progress_message=outcome.waiting_for,
                heartbeat_at=now + timedelta(seconds=outcome.seconds),
            )
            if first_wait:
                record_event(tenant, SYSTEM_ACTOR, "wait", "waiting", step.id, {"waiting_for": outcome.waiting_for})
            task_id = state.task_id
            transaction.on_commit(lambda: _send_run_task(state_id, task_id, countdown=outcome.seconds))
            return outcome.seconds
        _transition(state, S.NEEDS_INPUT, result=result, progress_message=outcome.reason, finished_at=now)
        record_event(tenant, SYSTEM_ACTOR, "run", "needs_input", step.id, {"reason": outcome.reason})
        return None


def steps_after(tenant: Tenant, step_id: str) -> list[str]:
    """The steps a run goes on to after `step_id` (a chain's `then`): every later step but the optional ones."""
    required = [step.id for step in steps_of(tenant) if not step.optional]
    return required[required.index(step_id) + 1 :]


def _queue_next(tenant: Tenant, chain: list[str], chain_here: ChainHere | None) -> None:
    """The next step of a chain, carrying the rest; a step that cannot be queued now (someone runs it) ends the
    chain, on the timeline."""
    step_id, *rest = chain
    try:
        queued = enqueue_step(tenant, step_id, SYSTEM_ACTOR, then=rest, send_task=chain_here is None)
    except IllegalTransition as refusal:
        record_event(tenant, SYSTEM_ACTOR, "chain", "stopped", step_id, {"reason": str(refusal)})
        return
    if chain_here is not None:
        chain_here.next = (queued.pk, queued.task_id)


def _finish_failed(
    state_id: int, task_id: str, tenant: Tenant, step: Step, code: str, message: str, detail: dict
) -> None:
    with transaction.atomic():
        state = _locked(state_id, tenant)
        if _superseded(state, task_id):
            return
        _transition(
            state,
            S.FAILED,
            error_code=code,
            error_message=message,
            error_detail=detail,
            finished_at=timezone.now(),
            waiting_for="",
            waiting_since=None,
        )
        # The timeline keeps what Microsoft's support asks for, beside the words.
        failure = {"code": code, "message": message, **support_case_ids(detail)}
        record_event(tenant, SYSTEM_ACTOR, "run", "failed", step.id, failure)
        notifications.step_failed(tenant, step.id, message)


def redeliver_lost_tasks() -> list[StepState]:
    """Send again the task of a step queued or waiting for longer than it should be: its message was lost
    (a broker restarted without persistence, a worker killed holding a countdown). A duplicate is harmless
    because execute_step only runs the task whose id the row holds, once per status change."""
    now = timezone.now()
    timeout = timedelta(seconds=settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS)
    lost = list(
        StepState.objects.filter(status=S.QUEUED, updated_at__lt=now - timeout * 4)
        | StepState.objects.filter(status=S.WAITING, heartbeat_at__lt=now - timeout)
    )
    for state in lost:
        _send_run_task(state.pk, state.task_id)
    return lost


def mark_interrupted_steps() -> list[StepState]:
    """A running step whose heartbeat stopped (its worker died) becomes `interrupted`, and is queued again by itself
    a bounded number of times with growing delays (the services are idempotent); after that, Resume re-queues it."""
    cutoff = timezone.now() - timedelta(seconds=settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS)
    interrupted = []
    for state_id in StepState.objects.filter(status=S.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            state = _locked(state_id)
            if state.status != S.RUNNING or state.heartbeat_at >= cutoff:
                continue
            _transition(state, S.INTERRUPTED, progress_message="The worker stopped while this step ran.")
            record_event(state.tenant, SYSTEM_ACTOR, "heartbeat", "interrupted", state.step_id)
            if state.auto_resumes < settings.ONRAMP_AUTO_RESUMES:
                _resume_automatically(state)
            interrupted.append(state)
    return interrupted


def _resume_automatically(state: StepState) -> None:
    attempt = state.auto_resumes + 1
    delay = settings.ONRAMP_HEARTBEAT_SECONDS * 2**attempt
    task_id = str(uuid.uuid4())
    message = (
        f"The worker stopped while this step ran; resuming by itself in {delay} s "
        f"(automatic resume {attempt} of {settings.ONRAMP_AUTO_RESUMES})."
    )
    _transition(state, S.QUEUED, task_id=task_id, auto_resumes=attempt, progress_percent=0, progress_message=message)
    record_event(
        state.tenant,
        SYSTEM_ACTOR,
        "auto_resume",
        "queued",
        state.step_id,
        {"task_id": task_id, "attempt": attempt, "of": settings.ONRAMP_AUTO_RESUMES, "delay_seconds": delay},
    )
    transaction.on_commit(lambda: _send_run_task(state.pk, task_id, countdown=delay))
