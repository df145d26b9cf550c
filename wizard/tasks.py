"""Thin Celery tasks, another face of the product beside the pages and the command: they schedule and report;
a change of state goes through wizard.actions, and wizard.engine and the services do the work."""

import logging
import multiprocessing

from celery import bootsteps, current_app, shared_task

from wizard import actions, drift, engine, notifications
from wizard.audit import SYSTEM_ACTOR
from wizard.errors import IllegalTransition, StepError

logger = logging.getLogger(__name__)

# Set when this worker starts to shut down (a lost broker ends Celery's worker, and so does a deploy's SIGTERM). A
# process-shared event, made before the prefork pool forks its children: the shutdown is noticed by the parent, and a
# flag of the parent's own memory never reached the children that run the steps.
WORKER_STOPPING = multiprocessing.Event()


class GiveUpStepsOnShutdown(bootsteps.StartStopStep):
    """Stops before the pool, whose warm shutdown waits for every running task: a step then gives up its thread at
    its next progress report, so the worker exits in seconds instead of when its longest step ends. The step is
    idempotent; the watchdog marks it interrupted and resumes it on a worker that is up."""

    requires = {"celery.worker.components:Pool"}

    def stop(self, worker: object) -> None:
        WORKER_STOPPING.set()

    def terminate(self, worker: object) -> None:
        WORKER_STOPPING.set()


current_app.steps["worker"].add(GiveUpStepsOnShutdown)


@shared_task(name=engine.RUN_STEP_TASK, acks_late=True, reject_on_worker_lost=True)
def run_step(state_id: int, task_id: str, verify_only: bool = False) -> int | None:
    return engine.execute_step(state_id, task_id, verify_only, should_stop=WORKER_STOPPING.is_set)


@shared_task(name="wizard.tasks.watch_steps")
def watch_steps() -> dict[str, int]:
    return {
        "interrupted": len(engine.mark_interrupted_steps()),
        "redelivered": len(engine.redeliver_lost_tasks()),
    }


@shared_task(name="wizard.tasks.schedule_drift_checks")
def schedule_drift_checks() -> int:
    """The schedule's time has come: each activated organisation's check is due within the window."""
    return len(drift.schedule_fleet())


@shared_task(name="wizard.tasks.start_due_drift_checks")
def start_due_drift_checks() -> int:
    due = drift.claim_due()
    for check_id in due:
        current_app.send_task(drift.RUN_CHECK_TASK, (check_id,))
    return len(due)


@shared_task(name=drift.RUN_CHECK_TASK, acks_late=True, reject_on_worker_lost=True)
def run_drift_check(check_id: int) -> int:
    """One organisation's check; its admins are emailed what is new, and an organisation that opted in has its
    new rooms placed by the rooms step (its own preview, plan and checks)."""
    check = drift.run_check(check_id)
    notifications.drift_checked(check)
    if check.tenant.place_new_rooms and (addresses := drift.new_rooms(check.tenant)):
        try:
            # The same action as the page's "Place these rooms": its prerequisite check and its choice of rooms.
            actions.place_new_rooms(check.tenant, SYSTEM_ACTOR, addresses)
        except (StepError, IllegalTransition) as refusal:
            logger.warning("new rooms of %s not placed now: %s", check.tenant.slug, refusal)
    return len(check.findings)
