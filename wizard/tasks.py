"""Thin Celery tasks: they schedule and report; wizard.engine and the services do the work."""

import threading

from celery import bootsteps, current_app, shared_task

from wizard import engine

# Set when this worker starts to shut down (a lost broker ends Celery's worker, and so does a deploy's SIGTERM).
WORKER_STOPPING = threading.Event()


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
