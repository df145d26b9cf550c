"""The Celery side, connected by config/celery.py: the worker logs through Django's LOGGING (structlog) instead of
Celery's own handlers, binds each task's id to its log lines (django-structlog), times its tasks and beats for the
readiness check."""

import logging.config
from typing import Any

from celery import Celery, bootsteps, signals
from django.conf import settings
from django.db import close_old_connections
from django_structlog.celery.steps import DjangoStructLogInitStep

from observability import celery_metrics, readiness


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Beats on the worker's timer, which runs in its consuming loop (see readiness)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer_entry = None

    def start(self, worker: Any) -> None:
        readiness.worker_beat(worker.hostname)
        beat = readiness.worker_beat
        self.timer_entry = worker.timer.call_repeatedly(readiness.BEAT_SECONDS, beat, (worker.hostname,))

    def stop(self, worker: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
        readiness.worker_gone(worker.hostname)


def _logging_from_django_settings(**_: Any) -> None:
    """Connected to setup_logging, so Celery leaves the root logger alone and Django's LOGGING renders every line."""
    logging.config.dictConfig(settings.LOGGING)


def _close_old_connections(**_: Any) -> None:
    close_old_connections()


def connect(app: Celery) -> None:
    signals.setup_logging.connect(_logging_from_django_settings, weak=False)
    app.steps["worker"].add(DjangoStructLogInitStep)
    app.steps["worker"].add(WorkerHeartbeat)
    signals.task_prerun.connect(celery_metrics.task_started, weak=False)
    signals.task_postrun.connect(celery_metrics.task_ended, weak=False)
    # As Django does around each request: a connection past CONN_MAX_AGE, broken, or left mid-transaction is closed;
    # any other is kept for the thread's next task (settings.CELERY_DB_REUSE_MAX).
    signals.task_prerun.connect(_close_old_connections, weak=False)
    signals.task_postrun.connect(_close_old_connections, weak=False)
