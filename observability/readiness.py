"""GET /readyz: whether this installation can do its work now — the database answers, the broker answers, and a
worker beat recently. /healthz only says the web process is up.

The worker's beat is written by the worker itself (WorkerHeartbeat, a bootstep on the worker's timer, every
BEAT_SECONDS) into the broker's Redis: reading it costs the probe one round trip, where `inspect().ping()` would
broadcast to every worker through the broker on each probe and wait out its timeout for the answers. The timer
runs in the worker's consuming loop, so a worker stuck reconnecting to its broker stops beating too. A worker that
shuts down cleanly takes its beat back at once; one that dies is forgotten after STALE_SECONDS."""

import time
from functools import cache
from pathlib import Path

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from observability.logs import get_logger

log = get_logger(__name__)

BEAT_SECONDS = 5
STALE_SECONDS = 30
BEATS_KEY = "onramp:worker-beats"  # a sorted set: worker hostname → time of its last beat
_TIMEOUT_SECONDS = 2


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=_TIMEOUT_SECONDS, socket_connect_timeout=_TIMEOUT_SECONDS)


def _beat_file() -> Path:
    """Without Redis (the embedded filesystem broker of `make run`) the beat is a file's modification time."""
    return Path(settings.VAR_DIR) / "worker-beat"


def worker_beat(hostname: str) -> None:
    """Called by the worker every BEAT_SECONDS; a failure (Redis away) only leaves the beat to go stale."""
    try:
        if settings.REDIS_URL:
            now = time.time()
            with _redis(settings.REDIS_URL).pipeline() as pipe:
                pipe.zadd(BEATS_KEY, {hostname: now})
                pipe.zremrangebyscore(BEATS_KEY, 0, now - 24 * 3600)  # workers long gone
                pipe.execute()
        else:
            _beat_file().touch()
    except (redis.RedisError, OSError) as error:
        log.warning("worker beat not recorded", error=type(error).__name__)


def worker_gone(hostname: str) -> None:
    """A worker that shuts down cleanly is no longer counted."""
    try:
        if settings.REDIS_URL:
            _redis(settings.REDIS_URL).zrem(BEATS_KEY, hostname)
    except redis.RedisError:
        pass  # its beat goes stale by itself


def _database() -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    if settings.REDIS_URL:
        _redis(settings.REDIS_URL).ping()
    elif not Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]).is_dir():
        raise OSError("the embedded broker's folder is missing")


def _worker() -> None:
    since = time.time() - STALE_SECONDS
    if settings.REDIS_URL:
        fresh = _redis(settings.REDIS_URL).zrangebyscore(BEATS_KEY, since, "+inf", start=0, num=1)
    else:
        fresh = _beat_file().exists() and _beat_file().stat().st_mtime >= since
    if not fresh:
        raise LookupError(f"no worker beat in the last {STALE_SECONDS} s")


CHECKS = {"database": _database, "broker": _broker, "worker": _worker}


def run_checks() -> dict[str, dict[str, object]]:
    """Each check's outcome; a failure says its kind and, for the worker, why, never a connection string."""
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except LookupError as missing:
            results[name] = {"ok": False, "error": str(missing)}
        except (DatabaseError, redis.RedisError, OSError) as error:
            results[name] = {"ok": False, "error": type(error).__name__}
        else:
            results[name] = {"ok": True}
    return results


@login_not_required
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    ready = all(result["ok"] for result in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)
