"""Celery's metrics: how long each task ran (task_prerun/task_postrun signals, counted by the worker process that
ran it) and how many messages wait in the broker's queues (read from Redis when Prometheus scrapes)."""

import time
from collections.abc import Iterator
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily

from observability.logs import get_logger

log = get_logger(__name__)

TASK_SECONDS = Histogram(
    "onramp_celery_task_seconds",
    "How long a Celery task ran on a worker, by task and how it ended.",
    ["task", "state"],
    buckets=(0.05, 0.25, 1, 5, 15, 60, 300, 1800, float("inf")),
)
_started: dict[str, float] = {}  # task id → when it started, in the worker process that runs it


def task_started(task_id: str, **_: Any) -> None:
    _started[task_id] = time.monotonic()


def task_ended(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        TASK_SECONDS.labels(task.name, state or "UNKNOWN").observe(time.monotonic() - started)


# kombu's Redis transport keeps a queue's messages of priority 0 under the queue's name, and those of its other
# priority steps (3, 6, 9 by default) under the name with this separator and the priority appended.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_UNACKED_KEY = "unacked"  # kombu's hash of messages delivered to a worker and not yet acknowledged


class QueueDepth:
    """Messages waiting in each queue and messages delivered but not yet acknowledged (running, or held by a worker
    for a countdown), read from the broker's Redis at scrape time, for every queue the app declares (steps, drift
    checks and the default one). Without Redis (the embedded broker) nothing is reported."""

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("onramp_celery_queue_messages", "Messages waiting in a Celery queue.", labels=["queue"]),
            GaugeMetricFamily("onramp_celery_unacked_messages", "Messages a worker took and has not acknowledged yet."),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registering asks for the names: given here, so that importing never touches Redis.
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not settings.REDIS_URL:
            return
        waiting, unacked = self._families()
        queues = [queue.name for queue in current_app.conf.task_queues or ()] or [current_app.conf.task_default_queue]
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            with client.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.llen(queue)
                    for priority in _PRIORITY_STEPS:
                        pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{priority}")
                pipe.hlen(_UNACKED_KEY)
                lengths = pipe.execute()
        except redis.RedisError as error:
            log.warning("queue depth not read", error=type(error).__name__)
            return
        finally:
            client.close()
        per_queue = len(_PRIORITY_STEPS) + 1
        for index, queue in enumerate(queues):
            waiting.add_metric([queue], sum(lengths[index * per_queue : (index + 1) * per_queue]))
        unacked.add_metric([], lengths[-1])
        yield waiting
        yield unacked
