"""GET /readyz (issue 28 point 6): ready when the database and the broker answer and a worker beat recently; 503
with the failing check named otherwise. The worker here is the real one, in its own process."""

import time

import pytest
import redis
from django.conf import settings

from observability import readiness
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_ready_with_a_worker(celery_worker, client):
    # A worker the fixture has just (re)started beats once it is up, a moment later on a loaded machine.
    answer = wait_for(
        lambda: (found := client.get("/readyz")).status_code == 200 and found,
        readiness.STALE_SECONDS,
        interval=0.5,
        what="/readyz to see the worker's beat",
    )

    assert answer.json() == {
        "status": "ready",
        "checks": {"database": {"ok": True}, "broker": {"ok": True}, "worker": {"ok": True}},
    }


def test_not_ready_without_a_worker(no_worker, client):
    # A worker that stops takes its beat back; one an earlier test killed is forgotten once its beat is stale.
    answer = wait_for(
        lambda: (found := client.get("/readyz")).status_code == 503 and found,
        readiness.STALE_SECONDS + 2 * readiness.BEAT_SECONDS,
        interval=1,
        what="/readyz to say no worker",
    )

    checks = answer.json()["checks"]
    assert answer.json()["status"] == "not ready"
    assert checks["database"] == checks["broker"] == {"ok": True}
    assert checks["worker"] == {"ok": False, "error": f"no worker beat in the last {readiness.STALE_SECONDS} s"}


def test_a_worker_whose_last_beat_is_old_does_not_count(no_worker, client):
    beats = redis.Redis.from_url(settings.REDIS_URL)
    beats.delete(readiness.BEATS_KEY)
    beats.zadd(readiness.BEATS_KEY, {"celery@died-a-while-ago": time.time() - readiness.STALE_SECONDS - 1})

    answer = client.get("/readyz")

    assert answer.status_code == 503 and answer.json()["checks"]["worker"]["ok"] is False
    beats.zadd(readiness.BEATS_KEY, {"celery@died-a-while-ago": time.time()})
    assert client.get("/readyz").status_code == 200  # the same beat, recent: ready
    beats.delete(readiness.BEATS_KEY)
