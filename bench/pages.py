"""Pages: the support dashboard over 10,000 tenants, a progress poll, and 200 admins polling at once, served by a
real gunicorn (the Dockerfile's command line) on a fresh PostgreSQL database filled with bulk-created data.

Latencies are taken over HTTP from this process (so they include the client's own share of the CPU on a shared
machine); queries per request are counted in-process with CaptureQueriesContext on the same database.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.djangoenv import setup_django
from bench.processes import free_port, stop, wait_until
from bench.report import BenchResult, Target

DATABASE = "onramp_bench"
ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
TARGET_DASHBOARD_P95_MS = 150.0
TARGET_POLL_P95_MS = 15.0
# The progress poll under many admins at once: each poller asks every second, as the page does.
TARGET_POLLERS_P95_MS = 250.0
POLL_INTERVAL_S = 1.0  # htmx's `every 1s`
SMALL_TENANTS = 100  # query counts are compared between this many tenants and the full set
BATCH = 2_000


@dataclass(frozen=True)
class Scale:
    tenants: int
    pollers: int
    sequential_requests: int
    polling_seconds: float

    @property
    def poller_tenants(self) -> list[int]:
        """Spread over all tenants, so the small set the query counts start from has the same mix of statuses
        as the full one (an all-running sample would make the `failed` filter an empty page there)."""
        return list(range(0, self.tenants, self.tenants // self.pollers))[: self.pollers]


FULL = Scale(tenants=10_000, pollers=200, sequential_requests=300, polling_seconds=30)
QUICK = Scale(tenants=1_000, pollers=50, sequential_requests=60, polling_seconds=8)


def _fill(start: int, stop: int, pollers: frozenset[int]) -> None:
    """Tenants [start, stop) with their 8 step states and 3 audit events each, in bulk. Tenant i stands at step
    i % 9 (9: all done) with a status cycling through every kind; the `pollers` are running step 4."""
    from tenants.models import Profile, Tenant
    from wizard.models import AuditEvent, StepState, StepStatus
    from wizard.steps.registry import steps_for

    steps = steps_for(Profile.EXCHANGE_ONLINE)
    current_statuses = [
        StepStatus.RUNNING, StepStatus.WAITING, StepStatus.FAILED, StepStatus.INTERRUPTED,
        StepStatus.NEEDS_INPUT, StepStatus.QUEUED, StepStatus.NOT_STARTED,
    ]  # fmt: skip
    for batch_start in range(start, stop, BATCH):
        numbers = range(batch_start, min(stop, batch_start + BATCH))
        tenants = Tenant.objects.bulk_create(
            Tenant(
                slug=f"tenant-{n:05d}",
                display_name=f"Organisation {n:05d}",
                microsoft_tenant_id=f"00000000-0000-4000-8000-{n:012d}",
                profile=Profile.EXCHANGE_ONLINE,
            )
            for n in numbers
        )
        states, events = [], []
        for n, tenant in zip(numbers, tenants, strict=True):
            current = 4 if n in pollers else n % (len(steps) + 1)
            status = StepStatus.RUNNING if n in pollers else current_statuses[n % len(current_statuses)]
            for position, step in enumerate(steps):
                if position < current:
                    state_status = StepStatus.SUCCEEDED
                elif position == current:
                    state_status = status
                else:
                    state_status = StepStatus.NOT_STARTED
                states.append(
                    StepState(
                        tenant=tenant,
                        step_id=step.id,
                        position=position,
                        status=state_status,
                        progress_percent=37 if state_status == StepStatus.RUNNING else 0,
                        progress_message="Adding rooms to Rooms 03 (150 of 2,000)",
                    )
                )
            events += [
                AuditEvent(tenant=tenant, actor="onramp", step_id=steps[k].id, action="run", outcome="succeeded")
                for k in range(3)
            ]
        StepState.objects.bulk_create(states)
        AuditEvent.objects.bulk_create(events)


def _admins(numbers: list[int]) -> list[Any]:
    """One admin for each of these tenants: the pollers."""
    from django.contrib.auth import get_user_model

    from tenants.models import Membership, Role, Tenant

    user_model = get_user_model()
    users = user_model.objects.bulk_create(user_model(username=f"admin-{n:05d}", password="!") for n in numbers)
    tenants = Tenant.objects.filter(slug__in=[f"tenant-{n:05d}" for n in numbers]).order_by("slug")
    Membership.objects.bulk_create(
        Membership(user=user, tenant=tenant, role=Role.ADMIN) for user, tenant in zip(users, tenants, strict=True)
    )
    return users


def _session_cookie(user: Any) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _queries(user: Any, path: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    client.get(path)  # warm: the first request of a connection fills caches the next ones reuse
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code} in-process")
    return len(captured)


def _dashboard_queries(support: Any, tenants: int) -> dict[str, int]:
    """Queries per request for each way support looks at the dashboard."""
    from wizard.selectors import DASHBOARD_PAGE_SIZE

    last_page = -(-tenants // DASHBOARD_PAGE_SIZE)
    views = {
        "first page": "/support/",
        "failed filter": "/support/?filter=failed",
        "search": "/support/?q=organisation+00",
        "last page": f"/support/?page={last_page}",
    }
    return {view: _queries(support, path) for view, path in views.items()}


BIG_UPLOAD_ROWS = 50_000


def _store_big_upload(slug: str) -> None:
    """A 50,000-row CSV saved in the rooms step's inputs and its preview in its result, as a large upload leaves
    them while the step runs."""
    from wizard.models import StepState

    addresses = [f"room-{n:05}@contoso.onmicrosoft.com" for n in range(BIG_UPLOAD_ROWS)]
    StepState.objects.filter(tenant__slug=slug, step_id="rooms").update(
        inputs={
            "source": "csv",
            "csv": {
                "column": "ResourceAccounts",
                "rows": [[n + 2, a, a, "valid", ""] for n, a in enumerate(addresses)],
            },
        },
        result={
            "preview": [{"line": n + 2, "address": a, "status": "valid", "reason": ""} for n, a in enumerate(addresses)]
        },
    )


def _healthy(base: str) -> bool:
    with contextlib.suppress(requests.ConnectionError):
        return requests.get(f"{base}/healthz", timeout=5).status_code == 200
    return False


@contextlib.contextmanager
def _gunicorn(env: dict[str, str]) -> Iterator[str]:
    """The Dockerfile's server command (3 sync workers) on a free loopback port; its log goes to the scratch dir
    (a pipe nobody reads would fill and block the workers)."""
    port = free_port()
    log_path = Path(env["ONRAMP_VAR_DIR"]) / "gunicorn.log"
    command = [str(GUNICORN), "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "3"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(base) or process.poll() is not None, 60, f"gunicorn (log: {log_path})")
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn did not start: {log_path.read_text()[-2000:]}")
        yield base
    finally:
        stop(process)


def _http_session(cookie: str) -> requests.Session:
    from django.conf import settings

    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
    return session


def _timed_get(session: requests.Session, url: str, headers: dict[str, str] | None = None) -> tuple[float, int]:
    started = time.perf_counter()
    response = session.get(url, headers=headers, timeout=30)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return elapsed_ms, response.status_code


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _sequential(session: requests.Session, url: str, count: int, headers: dict[str, str] | None = None) -> dict:
    """`count` requests one after another, after 10 unmeasured ones (worker warm-up, connection pools)."""
    for _ in range(10):
        _timed_get(session, url, headers)
    timings, statuses = [], []
    for _ in range(count):
        elapsed, status = _timed_get(session, url, headers)
        timings.append(elapsed)
        statuses.append(status)
    bad = [status for status in statuses if status != 200]
    if bad:
        raise RuntimeError(f"GET {url}: {len(bad)} of {count} answered {sorted(set(bad))}")
    return {
        "requests": count,
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(_percentile(timings, 0.95), 2),
        "max_ms": round(max(timings), 2),
    }


@dataclass
class _PollerLog:
    timings: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _poller(session: requests.Session, url: str, until: float, log: _PollerLog) -> None:
    """One admin's browser: a poll every second (htmx waits for the answer before the next interval starts)."""
    time.sleep(random.uniform(0, POLL_INTERVAL_S))  # browsers do not open in lock-step
    while time.monotonic() < until:
        try:
            elapsed, status = _timed_get(session, url, {"HX-Request": "true"})
            error = "" if status == 200 else f"HTTP {status}"
        except requests.RequestException as exc:
            elapsed, error = 0.0, type(exc).__name__
        with log.lock:
            if error:
                log.errors.append(error)
            else:
                log.timings.append(elapsed)
        time.sleep(POLL_INTERVAL_S)


def _concurrent_pollers(base: str, cookies: dict[int, str], seconds: float) -> dict:
    log = _PollerLog()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=_poller, args=(_http_session(cookie), f"{base}/t/tenant-{n:05d}/steps/rooms/progress", until, log)
        )
        for n, cookie in cookies.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = len(log.timings) + len(log.errors)
    return {
        "pollers": len(cookies),
        "seconds": seconds,
        "requests": total,
        "errors": len(log.errors),
        "error_kinds": sorted(set(log.errors)),
        "p50_ms": round(statistics.median(log.timings), 2) if log.timings else None,
        "p95_ms": round(_percentile(log.timings, 0.95), 2) if log.timings else None,
        "max_ms": round(max(log.timings), 2) if log.timings else None,
    }


def run(name: str, quick: bool) -> BenchResult:
    scale = QUICK if quick else FULL
    env = setup_django(DATABASE)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # the manifest whitenoise serves in production
    support = get_user_model().objects.create_user("support", password=None, is_staff=True)
    poller_tenants = frozenset(scale.poller_tenants)
    _fill(0, SMALL_TENANTS, poller_tenants)
    queries_small = _dashboard_queries(support, SMALL_TENANTS)
    started = time.monotonic()
    _fill(SMALL_TENANTS, scale.tenants, poller_tenants)
    fill_seconds = time.monotonic() - started
    admins = _admins(scale.poller_tenants)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would have after a bulk load
    queries_full = _dashboard_queries(support, scale.tenants)
    poll_path = "/t/tenant-00000/steps/rooms/progress"
    poll_queries = _queries(admins[0], poll_path)
    big_upload_slug = f"tenant-{scale.poller_tenants[1]:05}"
    _store_big_upload(big_upload_slug)
    big_poll_path = f"/t/{big_upload_slug}/steps/rooms/progress"
    cookies = {n: _session_cookie(user) for n, user in zip(scale.poller_tenants, admins, strict=True)}
    support_cookie = _session_cookie(support)

    with _gunicorn(env) as base:
        dashboard = _sequential(_http_session(support_cookie), f"{base}/support/", scale.sequential_requests)
        search = _sequential(_http_session(support_cookie), f"{base}/support/?q=organisation+0042", 50)
        poll = _sequential(
            _http_session(cookies[0]), f"{base}{poll_path}", scale.sequential_requests, {"HX-Request": "true"}
        )
        big_poll = _sequential(
            _http_session(cookies[scale.poller_tenants[1]]),
            f"{base}{big_poll_path}",
            scale.sequential_requests,
            {"HX-Request": "true"},
        )
        pollers = _concurrent_pollers(base, cookies, scale.polling_seconds)

    growth = max(queries_full[view] - queries_small[view] for view in queries_full)
    tenants = f"{scale.tenants:,} tenants"
    return BenchResult(
        name,
        targets=[
            Target(
                "support dashboard: p95 over HTTP",
                dashboard["p95_ms"],
                "<",
                TARGET_DASHBOARD_P95_MS,
                "ms",
                f"p50 {dashboard['p50_ms']} ms, {dashboard['requests']} requests, {tenants}",
            ),
            Target(
                "support dashboard: queries growth",
                growth,
                "<=",
                0,
                "queries",
                f"{queries_full['first page']} per request at {tenants}, {queries_small['first page']} at "
                f"{SMALL_TENANTS}; filters, search and last page alike",
            ),
            Target(
                "progress poll: p95 over HTTP",
                poll["p95_ms"],
                "<",
                TARGET_POLL_P95_MS,
                "ms",
                f"p50 {poll['p50_ms']} ms, {poll_queries} queries, one admin",
            ),
            Target(
                f"progress poll with a {BIG_UPLOAD_ROWS:,}-row upload stored: p95",
                big_poll["p95_ms"],
                "<",
                TARGET_POLL_P95_MS,
                "ms",
                f"p50 {big_poll['p50_ms']} ms; the upload and its preview stay in the database",
            ),
            Target(
                f"{scale.pollers} admins polling: p95",
                pollers["p95_ms"],
                "<",
                TARGET_POLLERS_P95_MS,
                "ms",
                f"p50 {pollers['p50_ms']} ms, every poller on its own organisation",
            ),
            Target(
                f"{scale.pollers} admins polling: errors",
                pollers["errors"],
                "<=",
                0,
                "errors",
                f"{pollers['requests']:,} polls in {scale.polling_seconds:.0f} s, p95 {pollers['p95_ms']} ms",
            ),
        ],
        figures={
            "tenants": scale.tenants,
            "fill_seconds": round(fill_seconds, 1),
            "dashboard": dashboard,
            "dashboard_search": search,
            "dashboard_queries_at_full_scale": queries_full,
            f"dashboard_queries_at_{SMALL_TENANTS}_tenants": queries_small,
            "progress_poll": {**poll, "queries": poll_queries},
            "progress_poll_with_big_upload": big_poll,
            "concurrent_pollers": pollers,
            "server": "gunicorn config.wsgi:application --workers 3 (sync), as in the Dockerfile",
            "database": f"PostgreSQL {DATABASE} at {os.environ['DATABASE_URL'].rsplit('@', 1)[-1]}",
        },
    )
