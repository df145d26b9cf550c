"""Thin Celery tasks, another face of the product beside the pages and the command: they schedule and report;
each calls one action of wizard.actions, which the engine and the services carry out."""

import multiprocessing

from celery import bootsteps, current_app, shared_task

from wizard import actions, task_names

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


@shared_task(name=task_names.RUN_STEP, acks_late=True, reject_on_worker_lost=True)
def run_step(state_id: int, task_id: str, verify_only: bool = False) -> int | None:
    return actions.run_queued_step(state_id, task_id, verify_only, should_stop=WORKER_STOPPING.is_set)


@shared_task(name="wizard.tasks.watch_steps")
def watch_steps() -> dict[str, int]:
    return actions.watch_steps()


@shared_task(name="wizard.tasks.schedule_drift_checks")
def schedule_drift_checks() -> int:
    return actions.schedule_drift_checks()


@shared_task(name="wizard.tasks.start_due_drift_checks")
def start_due_drift_checks() -> int:
    return actions.start_due_drift_checks()


@shared_task(name=task_names.RUN_DRIFT_CHECK, acks_late=True, reject_on_worker_lost=True)
def run_drift_check(check_id: int, claim: str = "") -> int:
    # A message sent before checks carried claims has none: it runs nothing, and the watchdog sends it again.
    check = actions.run_drift_check(check_id, claim)
    return len(check.findings) if check else 0
