"""Fifty onboardings started together (issue 29 point 4): each organisation its own Microsoft tenant of one
multi-tenant sandbox (250 ms latency, Microsoft's per-service limits per tenant), each onboarding from "Connect" to
activation queued as one chain, as an administrator's Run does: step 0 on the worker, and each later step queued by
the worker when the one before it succeeds (wizard.engine's `then`). Workers are separate processes sharing only
Redis and PostgreSQL (bench.fleet), with a thread for every onboarding, so what the onboardings compete for is the
machine, not a worker slot.

Side by side in one run: onboardings alone (one at a time, the only work anywhere), a few for each organisation size,
then every onboarding at once. Organisations come in a few sizes, so "alone" is measured for each size (the median of
its runs) rather than fifty times; an onboarding's time together is divided by its size's time alone. Its time is
from its submission to its activation step's end, as the worker wrote it. Alongside, for the run together: the CPU
seconds the workers, this process (the sandbox serves from a thread of it), the database's backends and redis-server
spent, against the machine's busy time and wall × CPUs, and the database sessions it opened and ended.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.djangoenv import setup_django
from bench.fleet import _workers
from bench.machine import _machine_ticks
from bench.processes import wait_until
from bench.report import BenchResult, Target
from bench.steps import BUDGET_CALLS_PER_SECOND, LATENCY_MS, _redis, _room_placement

DATABASE = "onramp_bench_onboardings{size}"  # the quick one (make test) and the full one (make bench) may run at once
# (onboardings together, rooms of each size class in turn, runs alone of each size)
QUICK = (6, (20, 40), 1)
FULL = (50, (20, 40, 60), 3)
WORKER_PROCESSES = 4
THREADS_PER_WORKER = 13  # 52 slots for 50 chains: each chain holds one slot at a time
TARGET_RATIO = 1.3
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, its threads included (/proc/<pid>/stat fields 14 and 15); 0 once it
    has exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _serving_pids(database: str, redis_url: str) -> dict[str, list[int]]:
    """The PostgreSQL backends connected to this benchmark's database and its redis-server, found by their command
    lines (a backend's names its database; other benchmarks use other databases and ports)."""
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    found: dict[str, list[int]] = {"postgres": [], "redis": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if command.startswith("postgres:") and f" {database} " in command:
            found["postgres"].append(int(entry.name))
        elif "redis-server" in command and f":{port}" in command:
            found["redis"].append(int(entry.name))
    return found


def _database_sessions() -> tuple[int, float]:
    """Sessions PostgreSQL has counted on this database (each at its end) and their seconds executing statements."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions, active_time FROM pg_stat_database WHERE datname = current_database()")
        sessions, active_ms = cursor.fetchone()
    return sessions, active_ms / 1000


class _CpuMeter:
    """CPU seconds spent between `__init__` and `stop()` by this process (the benchmark's polling and the sandbox's
    threads), each worker process, the database's backends (those alive at the end: the CPU of one that ended
    meanwhile counts as the machine's, not ours; PostgreSQL's count of the sessions that ended says how many) and
    redis-server; and by the whole machine."""

    def __init__(self, workers: list[int], database: str, redis_url: str) -> None:
        self.roles = {"sandbox_and_benchmark": [os.getpid()], "workers": workers}
        self.database, self.redis_url = database, redis_url
        serving = _serving_pids(database, redis_url)
        self.before = {pid: _cpu_seconds(pid) for pids in (*self.roles.values(), *serving.values()) for pid in pids}
        self.sessions_before = _database_sessions()
        self.machine_before, self.started = _machine_ticks()[0], time.monotonic()

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        machine = (_machine_ticks()[0] - self.machine_before) / _CLOCK_TICKS
        roles = {**self.roles, **_serving_pids(self.database, self.redis_url)}
        spent = {
            role: round(sum(_cpu_seconds(pid) - self.before.get(pid, 0.0) for pid in pids), 1)
            for role, pids in roles.items()
        }
        cpus = os.cpu_count() or 1
        time.sleep(1)  # a backend reports its statements' time to the statistics at most once a second
        sessions, active = (
            now - before for now, before in zip(_database_sessions(), self.sessions_before, strict=True)
        )
        return {
            "database_sessions_ended": sessions,
            "database_statements_seconds": round(active, 1),
            "wall_seconds": round(wall, 1),
            "available_cpu_seconds": round(wall * cpus, 1),
            "machine_busy_cpu_seconds": round(machine, 1),
            "ours_cpu_seconds": round(sum(spent.values()), 1),
            "by_role_cpu_seconds": spent,
        }


def _organisation(info: dict[str, Any], slug: str) -> Any:
    """A new organisation with the sandbox tenant's app registration saved, as the connect page saves what the
    administrator pasted (step 0 not run yet), and every room chosen and confirmed on the rooms page."""
    from django.contrib.auth import get_user_model

    from tenants.models import Cloud
    from wizard.actions import create_tenant
    from wizard.models import StepState
    from wizard.steps.exchange_online.connect import service as connect
    from wizard.steps.exchange_online.rooms import service as rooms

    admin = get_user_model().objects.create_user(f"{slug}-admin", password=None)
    tenant = create_tenant(creator=admin, display_name=f"{info['domain']} (bench)", slug=slug)
    endpoints = ("authority", "graph_url", "exchange_admin_url", "ews_url", "ca_bundle")
    tenant = connect.save_app_credentials(
        tenant,
        actor="bench",
        microsoft_tenant_id=info["tenant_id"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        integration_app_id=info["integration_app_id"],
        integration_client_secret=info.get("integration_client_secret"),
        cloud=Cloud.CUSTOM,
        custom_endpoints={key: info[key] for key in endpoints if info.get(key)},
    )
    # The rooms step's saved choice, which its chain step runs with (tests/faults/test_onboardings_worker_killed.py).
    StepState.objects.filter(tenant=tenant, step_id=rooms.STEP_ID).update(inputs=rooms.all_rooms_inputs(confirmed=True))
    return tenant


def _start(tenant: Any) -> Any:
    """Run from "Connect" to activation: step 0 queued with every later required step chained after it."""
    from django.utils import timezone

    from wizard import actions, engine

    submitted_at = timezone.now()
    actions.submit_step(tenant, "connect", "bench", then=engine.steps_after(tenant, "connect"))
    return submitted_at


def _wait_activated(tenants: list[Any], timeout: float) -> None:
    """Until every onboarding's activation step has succeeded; RuntimeError at the first step that stopped."""
    from wizard.models import StepState, StepStatus

    stopping = (StepStatus.FAILED, StepStatus.NEEDS_INPUT, StepStatus.INTERRUPTED)

    def activated() -> bool:
        stopped = StepState.objects.filter(tenant__in=tenants, status__in=stopping)
        if stopped.exists():
            raise RuntimeError([(s.tenant.slug, s.step_id, s.status, s.error_message[:200]) for s in stopped])
        done = StepState.objects.filter(tenant__in=tenants, step_id="activate", status=StepStatus.SUCCEEDED)
        return done.count() == len(tenants)

    wait_until(activated, timeout, f"{len(tenants)} onboarding(s) activated", 0.5)


def _seconds(tenant: Any, submitted_at: Any) -> tuple[float, float]:
    """From submission to activation, and of it the time the chain's steps were running (the rest is each step's
    wait in the queue for a worker slot)."""
    from wizard.models import StepState

    states = list(StepState.objects.filter(tenant=tenant, started_at__isnull=False))
    finished_at = next(state.finished_at for state in states if state.step_id == "activate")
    running = sum((state.finished_at - state.started_at).total_seconds() for state in states)
    return round((finished_at - submitted_at).total_seconds(), 2), round(running, 2)


def _placement_problems(info: dict[str, Any], rooms: int) -> dict[str, Any]:
    """Rooms lost, duplicated or missing in the tenant's own state; empty when every room is in exactly one list."""
    from sandbox.control import SandboxControl

    control = SandboxControl.from_info(info)
    placement = _room_placement(control.state())
    control.close()
    wrong = {key: placement[key] for key in ("lost", "duplicated") if placement[key]}
    if placement["rooms"] != rooms:
        wrong["rooms"] = placement["rooms"]
    return wrong


def run(name: str, quick: bool) -> BenchResult:
    from sandbox.control import SandboxControl
    from sandbox.server import start_sandbox
    from sandbox.throttling import LIMITS_OFF, MICROSOFT_LIMITS

    count, size_classes, alone_runs = QUICK if quick else FULL
    alone_sizes = [size for size in size_classes for _ in range(alone_runs)]
    together_sizes = [size_classes[n % len(size_classes)] for n in range(count)]
    sizes = alone_sizes + together_sizes
    timeout = 600 + 5 * sum(together_sizes)
    with tempfile.TemporaryDirectory(prefix="onramp-bench-redis-") as scratch, _redis(Path(scratch)) as redis_url:
        shared = {"REDIS_URL": redis_url, "ONRAMP_CALLS_PER_SECOND": str(BUDGET_CALLS_PER_SECOND)}
        database = DATABASE.format(size="_quick" if quick else "")
        env = setup_django(database, shared)
        clock = time.monotonic()
        with start_sandbox(tenants=len(sizes), tenant_rooms=sizes, equipment=1, users=2) as sandbox:
            infos = sandbox.info["tenants"]
            controls = [SandboxControl.from_info(info) for info in infos]
            for control in controls:
                control.set_knobs(latency_ms=LATENCY_MS, **MICROSOFT_LIMITS)
            tenants = [_organisation(info, f"onboarding-{n:03d}") for n, info in enumerate(infos, start=1)]
            prepared = time.monotonic() - clock
            alone_tenants, together_tenants = tenants[: len(alone_sizes)], tenants[len(alone_sizes) :]
            with _workers(env, WORKER_PROCESSES, THREADS_PER_WORKER) as workers:
                alone: dict[int, list[tuple[float, float]]] = {size: [] for size in size_classes}
                for tenant, size in zip(alone_tenants, alone_sizes, strict=True):
                    submitted_at = _start(tenant)
                    _wait_activated([tenant], timeout)
                    alone[size].append(_seconds(tenant, submitted_at))

                meter = _CpuMeter([worker.pid for worker in workers], database, redis_url)
                submitted = [_start(tenant) for tenant in together_tenants]
                _wait_activated(together_tenants, timeout)
                cpu = meter.stop()
            together_runs = [_seconds(t, at) for t, at in zip(together_tenants, submitted, strict=True)]
            problems = {
                tenant.slug: wrong
                for tenant, info, size in zip(tenants, infos, sizes, strict=True)
                if (wrong := _placement_problems(info, size))
            }
            throttled = sum(control.calls()["throttled"] for control in controls)
            for control in controls:
                control.set_knobs(latency_ms=0, **LIMITS_OFF)
                control.close()

    alone_median = {size: statistics.median(total for total, _ in runs) for size, runs in alone.items()}
    together = [total for total, _ in together_runs]
    ratios = [round(s / alone_median[size], 3) for s, size in zip(together, together_sizes, strict=True)]
    roles = ", ".join(
        f"{role.replace('_', ' ')} {seconds:.0f} s" for role, seconds in cpu["by_role_cpu_seconds"].items()
    )
    settings = (
        f"{count} onboardings at once, one Microsoft tenant each of {'/'.join(map(str, size_classes))} rooms in turn; "
        f"{LATENCY_MS} ms latency, Microsoft's per-service limits per tenant; "
        f"{WORKER_PROCESSES} worker processes × {THREADS_PER_WORKER} threads"
    )
    alone_line = ", ".join(f"{size} rooms {alone_median[size]:.1f} s" for size in size_classes)
    # The soonest the run together could end were the machine ours alone: our CPU seconds spread over every CPU.
    cpu_floor = cpu["ours_cpu_seconds"] / (os.cpu_count() or 1)
    cpu["floor_seconds"] = round(cpu_floor, 1)
    cpu["floor_over_alone"] = round(cpu_floor / statistics.median(alone_median.values()), 2)
    running = {
        "alone": statistics.median(running for runs in alone.values() for _, running in runs),
        "together": statistics.median(running for _, running in together_runs),
    }
    return BenchResult(
        name,
        targets=[
            Target(
                "onboardings together: the slowest's time ÷ its time alone",
                max(ratios),
                "<=",
                TARGET_RATIO,
                "×",
                f"alone (median of {alone_runs}): {alone_line}; together {min(together):.1f} to {max(together):.1f} "
                f"s; the steps running in it {running['alone']:.1f} s alone, {running['together']:.1f} s together "
                "(medians; the rest is waiting in the queue)",
            ),
            Target(
                "onboardings together: the median time ÷ time alone",
                statistics.median(ratios),
                "<=",
                TARGET_RATIO,
                "×",
                f"{settings}; together: CPU {cpu['ours_cpu_seconds']:.0f} s ({roles}), the machine busy "
                f"{cpu['machine_busy_cpu_seconds']:.0f} s of {cpu['available_cpu_seconds']:.0f} s "
                f"({cpu['wall_seconds']:.0f} s × {os.cpu_count()} CPUs); our CPU alone fills every CPU for "
                f"{cpu_floor:.1f} s, {cpu['floor_over_alone']} × the time alone; {cpu['database_sessions_ended']} "
                f"database sessions ended, {cpu['database_statements_seconds']} s executing statements",
            ),
            Target(
                "onboardings: not activated, or a room not in exactly one list",
                len(problems),
                "<=",
                0,
                "",
                f"{len(tenants)} organisations ({len(alone_sizes)} alone, {count} together), every one activated",
            ),
            Target("onboardings: calls throttled by Microsoft", throttled, "<=", 0, "", "every tenant, every run"),
        ],
        figures={
            "settings": settings,
            "prepare_seconds": round(prepared, 1),
            "alone_seconds": {str(size): [total for total, _ in runs] for size, runs in alone.items()},
            "together_seconds": together,
            "median_steps_running_seconds": running,
            "together_rooms": together_sizes,
            "ratios": ratios,
            "activated": len(tenants),
            "placement_problems": problems,
            "throttled": throttled,
            "cpu": cpu,
        },
    )
