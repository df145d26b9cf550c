"""A worker of the test's own with extra environment (a metrics directory, a log format, an exporter): the shared
worker is stopped first, so that this one is the queue's only consumer."""

from collections.abc import Callable, Iterator

import pytest

from config.celery import app as celery_app
from tests.helpers import Worker


@pytest.fixture
def worker_with(
    session_worker, worker_env, redis_server, tmp_path, transactional_db
) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        session_worker.stop()
        celery_app.control.purge()
        worker = Worker({**worker_env, **env}, tmp_path / f"worker-{len(started)}.log")
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
