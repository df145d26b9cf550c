"""The names of the tasks that code below wizard.tasks sends to the worker (by name: it cannot import the tasks)."""

RUN_STEP = "wizard.tasks.run_step"
RUN_DRIFT_CHECK = "wizard.tasks.run_drift_check"
