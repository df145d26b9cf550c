"""Console: the support console and the audit trail at fleet size (issue 29 point 5). 100,000 organisations with
their step states (and a month of nightly drift checks for those that finished their steps) and 10,000,000 audit
events, one organisation holding 1,000,000 of them, seeded with SQL on a fresh PostgreSQL database; the dashboard
and the tenant page timed over HTTP against a real gunicorn (the Dockerfile's command line), and the timeline export
of the million-event organisation streamed through a one-worker gunicorn whose peak resident memory is read from the
kernel (VmHWM, reset before each export).

Constant memory is judged as a ratio: the serving worker's peak while it exports 1,000,000 events over its peak while
it exports 100,000. An absolute bound would mostly measure what the worker has loaded (Django, the app, its
templates), which differs between machines and releases; the ratio measures only what the export adds per event.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.djangoenv import setup_django
from bench.pages import GUNICORN, ROOT, _http_session, _queries, _sequential, _session_cookie
from bench.processes import free_port, stop, wait_until
from bench.report import BenchResult, Target

TARGET_DASHBOARD_P95_MS = 150.0
TARGET_TENANT_PAGE_P95_MS = 150.0
# Peak memory while exporting ten times the events, over the peak at one tenth: allocator noise, not growth.
TARGET_EXPORT_MEMORY_RATIO = 1.2
# How long a support engineer should wait for the largest trail. (The Dockerfile's gthread workers keep telling
# gunicorn's master they are alive while a thread streams, so its 30 s worker timeout does not cut a long download,
# as it would a sync worker's.)
TARGET_EXPORT_SECONDS = 30.0
# The Dockerfile's server: gthread workers of this many threads.
SERVER_THREADS = 4
SMALL_TENANTS = 100  # query counts are compared between this many organisations and the full set
# The organisations the export measures: the first on the dashboard's first page, as "Organisation 000000" sorts.
BIG = 0
MEDIUM = 1
ORDINARY = 2


@dataclass(frozen=True)
class Scale:
    tenants: int
    events: int
    big_events: int  # the organisation whose whole timeline is exported
    medium_events: int  # a tenth of it: the export's memory is compared between the two
    requests: int

    @property
    def database(self) -> str:
        return "onramp_bench_console_quick" if self is QUICK else "onramp_bench_console"


FULL = Scale(tenants=100_000, events=10_000_000, big_events=1_000_000, medium_events=100_000, requests=200)
QUICK = Scale(tenants=2_000, events=200_000, big_events=100_000, medium_events=10_000, requests=30)


def _slug(n: int) -> str:
    return f"org-{n:06d}"


# Where organisation n stands, as bench/pages.py spreads them: at step n % 9 (9: all done), whose status cycles
# through every kind a step can be in while it has not finished.
_CURRENT_STATUSES = ("running", "waiting", "failed", "interrupted", "needs_input", "queued", "not_started")


def _template() -> int:
    """Organisation 0, created through the ORM with its step states: the row every other organisation copies, so a
    column added to the models later is filled with its default without this module knowing it."""
    from tenants.models import Profile, Tenant
    from wizard.models import StepState
    from wizard.steps.registry import steps_for

    tenant = Tenant.objects.create(
        slug=_slug(0),
        display_name="Organisation 000000",
        microsoft_tenant_id=f"00000000-0000-4000-8000-{0:012d}",
        profile=Profile.EXCHANGE_ONLINE,
    )
    StepState.objects.bulk_create(
        StepState(tenant=tenant, step_id=step.id, position=position)
        for position, step in enumerate(steps_for(Profile.EXCHANGE_ONLINE))
    )
    return tenant.pk


def _copied_columns(model: Any, own: dict[str, str]) -> tuple[str, str]:
    """(column list, select list) of an INSERT … SELECT that takes `own` expressions for those columns and every
    other column from the template row `t`."""
    columns = [field.column for field in model._meta.concrete_fields if not field.primary_key]
    return ", ".join(f'"{column}"' for column in columns), ", ".join(
        own.get(column, f't."{column}"') for column in columns
    )


def _seed_tenants(cursor: Any, template_id: int, start: int, stop_before: int) -> None:
    """Organisations [start, stop_before) and their step states, copied from the template in two statements."""
    from tenants.models import Tenant
    from wizard.models import StepState

    number = "lpad(n::text, 6, '0')"
    columns, values = _copied_columns(
        Tenant,
        {
            "slug": f"'org-' || {number}",
            "display_name": f"'Organisation ' || {number}",
            "microsoft_tenant_id": "'00000000-0000-4000-8000-' || lpad(n::text, 12, '0')",
            "created_at": "now() - n * interval '1 minute'",
            "updated_at": "now() - n * interval '1 minute'",
        },
    )
    cursor.execute(
        f"INSERT INTO {Tenant._meta.db_table} ({columns}) SELECT {values} "  # noqa: S608 (names from the models)
        f"FROM generate_series(%s, %s) AS n CROSS JOIN {Tenant._meta.db_table} AS t WHERE t.id = %s",
        [max(start, 1), stop_before - 1, template_id],
    )
    current = "mod(o.n, 9)"
    statuses = "ARRAY[" + ", ".join(f"'{status}'" for status in _CURRENT_STATUSES) + "]"
    status = (
        f"CASE WHEN t.position < {current} THEN 'succeeded' WHEN t.position = {current} "
        f"THEN ({statuses})[mod(o.n, {len(_CURRENT_STATUSES)}) + 1] ELSE 'not_started' END"
    )
    columns, values = _copied_columns(
        StepState,
        {
            "tenant_id": "o.id",
            "status": status,
            # What step 0 found is what the dashboard's search looks in besides the names.
            "result": "CASE WHEN t.step_id = 'connect' AND t.position < mod(o.n, 9) THEN jsonb_build_object("
            "'verified_domains', jsonb_build_array(o.slug || '.example', 'rooms.' || o.slug || '.example')) "
            "ELSE t.result END",
            "progress_percent": f"CASE WHEN t.position = {current} AND mod(o.n, 7) = 0 THEN 37 ELSE 0 END",
            "updated_at": "now() - mod(o.n, 180) * interval '1 minute'",
        },
    )
    cursor.execute(
        f"INSERT INTO {StepState._meta.db_table} ({columns}) SELECT {values} "  # noqa: S608
        f"FROM (SELECT id, slug, substr(slug, 5)::int AS n FROM {Tenant._meta.db_table}) AS o "
        f"CROSS JOIN {StepState._meta.db_table} AS t WHERE t.tenant_id = %s AND o.n BETWEEN %s AND %s",
        [template_id, max(start, 1), stop_before - 1],
    )
    # The template's own states, by the same rule (n = 0: at step 0, running).
    cursor.execute(
        f"UPDATE {StepState._meta.db_table} SET status = CASE WHEN position = 0 THEN 'running' "  # noqa: S608
        "ELSE 'not_started' END WHERE tenant_id = %s",
        [template_id],
    )


def _seed_drift_checks(cursor: Any, template_id: int, start: int, stop_before: int) -> None:
    """A month of nightly drift checks for organisations [start, stop_before) that finished their steps (n % 9 = 8):
    the latest drifted for one in five of them, an older one for one in three (the Drifted filter must tell the two
    apart)."""
    from django.utils import timezone

    from tenants.models import Tenant
    from wizard.models import DriftCheck, DriftCheckStatus

    template = DriftCheck.objects.create(
        tenant_id=template_id, requested_by="schedule", due_at=timezone.now(), status=DriftCheckStatus.DONE
    )
    drifted = "(k = 0 AND mod(o.n, 5) = 0) OR (k = 10 AND mod(o.n, 3) = 0)"
    columns, values = _copied_columns(
        DriftCheck,
        {
            "tenant_id": "o.id",
            "due_at": "now() - k * interval '1 day'",
            "started_at": "now() - k * interval '1 day'",
            "finished_at": "now() - k * interval '1 day' + interval '1 minute'",
            "drifted": drifted,
            "findings": f"CASE WHEN {drifted} THEN jsonb_build_array(jsonb_build_object('kind', 'room_not_in_list', "
            "'summary', '1 room is in no room list', 'addresses', jsonb_build_array('room-1@' || o.slug))) "
            "ELSE t.findings END",
        },
    )
    cursor.execute(
        f"INSERT INTO {DriftCheck._meta.db_table} ({columns}) SELECT {values} "  # noqa: S608
        f"FROM (SELECT id, slug, substr(slug, 5)::int AS n FROM {Tenant._meta.db_table}) AS o "
        f"CROSS JOIN generate_series(0, 29) AS k CROSS JOIN {DriftCheck._meta.db_table} AS t "
        "WHERE t.id = %s AND mod(o.n, 9) = 8 AND o.n BETWEEN %s AND %s",
        [template.pk, start, stop_before - 1],
    )
    DriftCheck.objects.filter(pk=template.pk).delete()


# One event row of the timeline; `i` numbers it within its organisation (0 the oldest).
_EVENT_VALUES = """
    CASE WHEN mod(i, 7) = 0 THEN 'alice@contoso.example' ELSE 'onramp' END,
    (ARRAY['connect', 'org_customization', 'service_account', 'room_list', 'rooms', 'scoped_access', 'verify',
           'activate'])[mod(i, 8) + 1],
    (ARRAY['run', 'add_room', 'retry', 'verify', 'microsoft_busy'])[mod(i, 5) + 1],
    (ARRAY['succeeded', 'succeeded', 'succeeded', 'failed', 'waiting'])[mod(i, 5) + 1],
    jsonb_build_object('message', 'Added room-' || i || '@contoso.example to Rooms ' || mod(i, 40),
                       'request_id', md5(i::text), 'rooms', mod(i, 500)),
    now() - interval '1 second' * (%(count)s - i)
"""


def _seed_events(cursor: Any, tenants: int, scale: Scale) -> None:
    """The audit trail in three statements: the big and the medium organisation's, then the rest spread evenly
    over every other organisation."""
    from tenants.models import Tenant
    from wizard.models import AuditEvent

    table = AuditEvent._meta.db_table
    columns = "tenant_id, actor, step_id, action, outcome, detail, created_at"
    for n, count in ((BIG, scale.big_events), (MEDIUM, scale.medium_events)):
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT (SELECT id FROM {Tenant._meta.db_table} "  # noqa: S608
            f"WHERE slug = %(slug)s), {_EVENT_VALUES} FROM generate_series(0, %(count)s - 1) AS i",
            {"slug": _slug(n), "count": count},
        )
    rest = scale.events - scale.big_events - scale.medium_events
    others = tenants - ORDINARY
    cursor.execute(
        f"INSERT INTO {table} ({columns}) SELECT o.id, {_EVENT_VALUES} "  # noqa: S608
        f"FROM generate_series(0, %(rest)s - 1) AS i JOIN {Tenant._meta.db_table} AS o "
        f"ON o.slug = 'org-' || lpad((%(first)s + mod(i, %(others)s))::text, 6, '0')",
        {"rest": rest, "first": ORDINARY, "others": others, "count": rest},
    )


@contextlib.contextmanager
def _bulk_load(cursor: Any, table: str) -> Iterator[None]:
    """A bulk insert into `table` with its secondary indexes built afterwards (one sort each instead of ten million
    insertions) and without the foreign keys' per-row triggers (the rows are consistent by construction). The
    indexes come back exactly as the migrations made them: their definitions are read from the catalogue."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        [table],
    )
    indexes = cursor.fetchall()
    for name, _definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in indexes:
            cursor.execute(definition)


def _support_user() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("support", password=None, is_staff=True)


def _query_counts(support: Any) -> dict[str, int]:
    """Queries per request of each page the console measures."""
    return {
        "dashboard": _queries(support, "/support/"),
        "dashboard failed filter": _queries(support, "/support/?filter=failed"),
        "dashboard drifted filter": _queries(support, "/support/?filter=drifted"),
        "dashboard search": _queries(support, "/support/?q=organisation+00004"),
        "tenant page": _queries(support, f"/support/t/{_slug(BIG)}/"),
    }


def _answers(base: str) -> bool:
    """Whether the server answers its health check yet: on a busy machine its workers' first request (Django's
    start) may take longer than a read timeout, which is not yet, not a failure."""
    with contextlib.suppress(requests.RequestException):
        return requests.get(f"{base}/healthz", timeout=5).status_code == 200
    return False


@contextlib.contextmanager
def _server(env: dict[str, str], workers: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """The Dockerfile's server command (gthread workers) with `workers` workers, on a free loopback port."""
    port = free_port()
    log_path = Path(env["ONRAMP_VAR_DIR"]) / f"gunicorn-{port}.log"
    command = [
        str(GUNICORN), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", "gthread", "--threads", str(SERVER_THREADS),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base) or process.poll() is not None, 180, f"gunicorn (log: {log_path})")
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn did not start: {log_path.read_text()[-2000:]}")
        yield base, process
    finally:
        stop(process)


def _worker_pid(master: int) -> int:
    """The one worker a one-worker gunicorn master forked."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == master:
                    children.append(int(entry.name))
    if len(children) != 1:
        raise RuntimeError(f"gunicorn {master} has {len(children)} workers, expected one")
    return children[0]


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _export(session: requests.Session, url: str, worker: int) -> dict[str, Any]:
    """Download one export as a client does, in pieces; the worker's peak resident memory meanwhile (its high-water
    mark, reset to its current size just before: writing 5 to clear_refs)."""
    Path(f"/proc/{worker}/clear_refs").write_text("5")
    before_kib = _memory_kib(worker, "VmRSS")
    started = time.perf_counter()
    lines = size = 0
    last = b""
    first_byte_s = None
    with session.get(url, stream=True, timeout=900) as response:
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        for chunk in response.iter_content(chunk_size=1 << 16):
            if first_byte_s is None:
                first_byte_s = time.perf_counter() - started
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk
    seconds = time.perf_counter() - started
    if not last.endswith(b"\n"):
        raise RuntimeError(f"GET {url} ended mid-line after {size:,} bytes: the worker was stopped?")
    peak_kib = _memory_kib(worker, "VmHWM")
    return {
        "lines": lines,
        "megabytes": round(size / 1e6, 1),
        "seconds": round(seconds, 2),
        "first_byte_s": round(first_byte_s or seconds, 3),
        "rss_before_mb": round(before_kib / 1024, 1),
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "peak_growth_mb": round((peak_kib - before_kib) / 1024, 1),
    }


def _seed(scale: Scale) -> dict[str, Any]:
    """Organisations and their audit trail; returns the seeding's timings and the query counts at the small size."""
    from django.db import connection

    from tenants.models import Tenant
    from wizard.models import AuditEvent, DriftCheck, StepState

    support = _support_user()
    template_id = _template()
    clock = time.monotonic()
    with connection.cursor() as cursor:
        _seed_tenants(cursor, template_id, 0, SMALL_TENANTS)
        _seed_drift_checks(cursor, template_id, 0, SMALL_TENANTS)
        cursor.execute("ANALYZE")
    queries_small = _query_counts(support)
    with connection.cursor() as cursor:
        _seed_tenants(cursor, template_id, SMALL_TENANTS, scale.tenants)
        _seed_drift_checks(cursor, template_id, SMALL_TENANTS, scale.tenants)
        tenants_s = time.monotonic() - clock
        clock = time.monotonic()
        with _bulk_load(cursor, AuditEvent._meta.db_table):
            _seed_events(cursor, scale.tenants, scale)
        events_s = time.monotonic() - clock
        clock = time.monotonic()
        # As autovacuum would have after a bulk load: statistics, and the visibility map index-only scans use.
        for model in (Tenant, StepState, DriftCheck, AuditEvent):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM " + AuditEvent._meta.db_table)  # noqa: S608
        (events,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM " + Tenant._meta.db_table)  # noqa: S608
        (tenants,) = cursor.fetchone()
    if (tenants, events) != (scale.tenants, scale.events):
        raise RuntimeError(f"seeded {tenants:,} organisations and {events:,} events, expected {scale}")
    return {
        "support": support,
        "queries_small": queries_small,
        "seconds": {
            "organisations": round(tenants_s, 1),
            "events": round(events_s, 1),
            "vacuum_analyze": round(time.monotonic() - clock, 1),
        },
    }


def _deep_cursor(n: int, scale: Scale) -> int:
    """An event in the middle of organisation n's timeline: the tenant page from there on is a deep page."""
    from wizard.models import AuditEvent

    events = AuditEvent.objects.filter(tenant__slug=_slug(n)).order_by("-created_at", "-id")
    return events.values_list("pk", flat=True)[scale.big_events // 2]


def run(name: str, quick: bool) -> BenchResult:
    scale = QUICK if quick else FULL
    env = setup_django(scale.database)
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # the manifest whitenoise serves in production
    seeded = _seed(scale)
    support = seeded["support"]
    queries_full = _query_counts(support)
    cookie = _session_cookie(support)
    deep = _deep_cursor(BIG, scale)
    big = _slug(BIG)

    with _server(env, workers=3) as (base, _process):
        session = _http_session(cookie)
        pages = {
            "dashboard": _sequential(session, f"{base}/support/", scale.requests),
            "dashboard failed filter": _sequential(session, f"{base}/support/?filter=failed", scale.requests),
            "dashboard drifted filter": _sequential(session, f"{base}/support/?filter=drifted", scale.requests),
            "dashboard search": _sequential(session, f"{base}/support/?q=organisation+00004", scale.requests),
            "tenant page": _sequential(session, f"{base}/support/t/{big}/", scale.requests),
            "tenant page, deep in the timeline": _sequential(
                session, f"{base}/support/t/{big}/?before={deep}", scale.requests
            ),
            "tenant page, ordinary organisation": _sequential(
                session, f"{base}/support/t/{_slug(ORDINARY)}/", scale.requests
            ),
        }
    # One worker, so the process whose memory is read is the one serving.
    with _server(env, workers=1) as (base, process):
        session = _http_session(cookie)
        worker = _worker_pid(process.pid)
        _export(session, f"{base}/t/{_slug(ORDINARY)}/timeline.csv", worker)  # warm: imports, connection
        exports = {
            f"{fmt} {label}": _export(session, f"{base}/t/{_slug(n)}/timeline.{fmt}", worker)
            for fmt in ("csv", "json")
            for n, label in ((MEDIUM, "medium"), (BIG, "big"))
        }
    for fmt in ("csv", "json"):
        for label, events in (("medium", scale.medium_events), ("big", scale.big_events)):
            expected = events + 1 if fmt == "csv" else events + 7  # the header; the document's own lines
            if exports[f"{fmt} {label}"]["lines"] != expected:
                raise RuntimeError(
                    f"{fmt} export of {events:,} events has {exports[f'{fmt} {label}']['lines']:,} lines"
                )

    growth = max(queries_full[page] - seeded["queries_small"][page] for page in queries_full)
    organisations = f"{scale.tenants:,} organisations, {scale.events:,} events"

    def page_target(label: str, page: str, limit: float) -> Target:
        figures = pages[page]
        return Target(
            f"{label}: p95 over HTTP",
            figures["p95_ms"],
            "<",
            limit,
            "ms",
            f"p50 {figures['p50_ms']} ms, {figures['requests']} requests, {organisations}",
        )

    def memory_target(fmt: str) -> Target:
        medium, big_export = exports[f"{fmt} medium"], exports[f"{fmt} big"]
        return Target(
            f"timeline export ({fmt.upper()}): worker peak at {scale.big_events:,} ÷ at {scale.medium_events:,} events",
            round(big_export["peak_rss_mb"] / medium["peak_rss_mb"], 3),
            "<=",
            TARGET_EXPORT_MEMORY_RATIO,
            "×",
            f"peak {big_export['peak_rss_mb']} MB vs {medium['peak_rss_mb']} MB; grew "
            f"{big_export['peak_growth_mb']} MB vs {medium['peak_growth_mb']} MB while exporting",
        )

    def seconds_target(fmt: str) -> Target:
        figures = exports[f"{fmt} big"]
        return Target(
            f"timeline export ({fmt.upper()}) of {scale.big_events:,} events: seconds",
            figures["seconds"],
            "<",
            TARGET_EXPORT_SECONDS,
            "s",
            f"{figures['lines']:,} lines, {figures['megabytes']} MB, first byte after {figures['first_byte_s']} s",
        )

    return BenchResult(
        name,
        targets=[
            page_target("support dashboard", "dashboard", TARGET_DASHBOARD_P95_MS),
            page_target("support dashboard, failed filter", "dashboard failed filter", TARGET_DASHBOARD_P95_MS),
            page_target("support dashboard, drifted filter", "dashboard drifted filter", TARGET_DASHBOARD_P95_MS),
            page_target("support dashboard, search", "dashboard search", TARGET_DASHBOARD_P95_MS),
            Target(
                "support console: queries growth",
                growth,
                "<=",
                0,
                "queries",
                f"{queries_full['dashboard']} per dashboard, {queries_full['tenant page']} per tenant page at "
                f"{scale.tenants:,} organisations; the same at {SMALL_TENANTS} with no events",
            ),
            page_target(
                f"tenant page of the {scale.big_events:,}-event organisation", "tenant page", TARGET_TENANT_PAGE_P95_MS
            ),
            page_target(
                "tenant page, half way down its timeline",
                "tenant page, deep in the timeline",
                TARGET_TENANT_PAGE_P95_MS,
            ),
            memory_target("csv"),
            memory_target("json"),
            seconds_target("csv"),
            seconds_target("json"),
        ],
        figures={
            "organisations": scale.tenants,
            "events": scale.events,
            "big_organisation_events": scale.big_events,
            "medium_organisation_events": scale.medium_events,
            "seed_seconds": seeded["seconds"],
            "pages": pages,
            "queries_at_full_scale": queries_full,
            f"queries_at_{SMALL_TENANTS}_organisations": seeded["queries_small"],
            "exports": exports,
            "server": "gunicorn config.wsgi:application (sync): 3 workers for the pages, 1 for the exports",
            "database": f"PostgreSQL {scale.database} at {os.environ['DATABASE_URL'].rsplit('@', 1)[-1]}",
        },
    )
