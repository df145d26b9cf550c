"""Thin Celery tasks: they schedule and report; wizard.engine and the services do the work."""

from celery import shared_task

from wizard import engine


@shared_task(name=engine.RUN_STEP_TASK, acks_late=True, reject_on_worker_lost=True)
def run_step(state_id: int, task_id: str, verify_only: bool = False) -> int | None:
    return engine.execute_step(state_id, task_id, verify_only)


@shared_task(name="wizard.tasks.watch_steps")
def watch_steps() -> dict[str, int]:
    return {
        "interrupted": len(engine.mark_interrupted_steps()),
        "redelivered": len(engine.redeliver_lost_tasks()),
    }
