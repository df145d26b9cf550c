"""Rooms and verify: Onramp's steps 4 and 6 over 2,000 rooms against the sandbox at 250 ms latency per call. Rooms
runs under a budget of 10 calls a second, next to the budget-limited lower bound and the article's loop (one
`Add-DistributionGroupMember` per room, one after another) under the same settings. Rooms10k is the rooms step of one
tenant of 10,000 rooms under the same settings (issue 29 point 4), without the article's loop, with the worker
process's memory: its resident set before the step and its peak during it. Verify runs under Microsoft's
per-service limits (sandbox.throttling.MICROSOFT_LIMITS), next to the bound those limits imply.

Onramp runs as deployed: a Celery worker process on Redis (the shared rate limit) and PostgreSQL, the sandbox in
this process. The earlier steps are run first through the engine with the sandbox's latency and budget off; only
the measured step runs under them. Its wall time is the step's own (`started_at` to `finished_at`, written by the
worker), so queueing before it starts is not counted; its calls are the sandbox's own counts.
"""

from __future__ import annotations

import contextlib
import io
import math
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from bench.djangoenv import setup_django
from bench.processes import free_port, stop, wait_until
from bench.report import BenchResult, Target
from wizard.steps.exchange_online.room_list.result import RoomListResult

# One database per benchmark, so the rooms and verify benchmarks may run at the same time.
DATABASE = "onramp_bench_{name}"
ROOT = Path(__file__).resolve().parent.parent
LATENCY_MS = 250
BUDGET_CALLS_PER_SECOND = 10
FULL_ROOMS = 2_000
QUICK_ROOMS = 100
LARGE_ROOMS = 10_000
QUICK_LARGE_ROOMS = 500
LIST_SIZE = 75
TARGET_RATIO = 1.2
TARGET_SPEEDUP = 10.0
TARGET_VERIFY_SECONDS = 60.0
TARGET_CALLS_PER_ROOM = 1.05
# The rooms step's worker process at its peak: Django, Celery and four idle threads take about 110 MB; the step
# holds each room's address and its plan of lists, a few kB a room, so 10 kB a room at most (100 MB for 10,000), and
# the worker stays well inside a 512 MB container with room for its other threads' steps.
TARGET_PEAK_MB = 300
TARGET_GROWTH_MB = 100
# Sandbox call-count keys that take no slot of the tenant's budget: the identity platform, and the envelope of a
# Graph $batch (each request inside it is admitted and counted on its own).
UNBUDGETED_PREFIXES = ("GET /{tenant}", "POST /{tenant}", "identity", "POST /$batch")


@contextlib.contextmanager
def _redis(scratch: Path) -> Iterator[str]:
    """A private redis-server: the broker and the shared rate limit, as in production."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make bench installs it)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with (scratch / "redis.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 10, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process, grace=10)


@contextlib.contextmanager
def _worker(env: dict[str, str]) -> Iterator[subprocess.Popen]:
    log_path = Path(env["ONRAMP_VAR_DIR"]) / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "threads", "--concurrency", "4",
        "--loglevel", "INFO", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: b"ready." in log_path.read_bytes(), 60, "the Celery worker", 0.5)
        yield process
    finally:
        stop(process)


def _memory_mb(pid: int) -> dict[str, float]:
    """A live process's resident set now and its peak (VmRSS, VmHWM) in MB, from /proc/<pid>/status."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM")}


def _reset_peak(pid: int) -> None:
    """Start the process's peak resident set (VmHWM) again from its resident set now, so the peak read after a step
    is the step's, not that of the earlier steps the same worker ran (proc(5), /proc/<pid>/clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _run_step(tenant: Any, step_id: str, inputs: dict[str, Any] | None, timeout: float) -> Any:
    """Queue one step for the worker, as the Run button does, and wait for it to end; fail loudly unless it
    succeeded."""
    from wizard import engine
    from wizard.models import FINISHED_STATUSES, StepState, StepStatus

    engine.enqueue_step(tenant, step_id, "bench", inputs=inputs)
    stopped = (*FINISHED_STATUSES, StepStatus.FAILED, StepStatus.NEEDS_INPUT, StepStatus.INTERRUPTED)

    def ended() -> Any:
        state = StepState.objects.get(tenant=tenant, step_id=step_id)
        return state if state.status in stopped else None

    state = wait_until(ended, timeout, f"step {step_id}")
    if state.status not in FINISHED_STATUSES:
        raise RuntimeError(f"step {step_id} ended {state.status}: {state.error_code} {state.error_message}")
    return state


def _prepare(info: dict[str, Any], through: str, slug: str = "bench") -> Any:
    """An Onramp tenant connected to the sandbox (`onramp connect $(python -m sandbox onramp-connect …)`, which also
    runs step 0), its steps run up to and including `through`. `info` may be one tenant of a fleet sandbox's."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from sandbox.onramp import connect_arguments
    from wizard.actions import create_tenant
    from wizard.steps.exchange_online.rooms import service as rooms_service
    from wizard.steps.registry import steps_for

    admin = get_user_model().objects.create_user(f"{slug}-admin", password=None)
    tenant = create_tenant(creator=admin, display_name=f"{info['domain']} (bench)", slug=slug)
    with tempfile.TemporaryDirectory() as scratch:
        arguments = connect_arguments(info, Path(scratch) / "sandbox.json")
        call_command("onramp", "connect", "--slug", tenant.slug, *arguments, "--actor", "bench", stdout=io.StringIO())
    tenant.refresh_from_db()
    inputs = {"rooms": rooms_service.all_rooms_inputs(confirmed=True)}
    for step in steps_for(tenant.profile):
        if step.id != "connect":  # `onramp connect` ran it
            _run_step(tenant, step.id, inputs.get(step.id), timeout=600)
        if step.id == through:
            return tenant
    raise ValueError(f"no step {through}")


def _budgeted_calls(counts: dict[str, int]) -> int:
    return sum(n for key, n in counts.items() if not key.startswith(UNBUDGETED_PREFIXES))


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    calls = Counter(after["calls"])
    calls.subtract(before["calls"])
    counts = {key: n for key, n in calls.items() if n}
    return {
        "calls": counts,
        "budgeted_calls": _budgeted_calls(counts),
        "writes": after["writes"] - before["writes"],
        "throttled": after["throttled"] - before["throttled"],
        "throttled_by_service": dict(
            Counter(after.get("throttled_by_service", {})) - Counter(before.get("throttled_by_service", {}))
        ),
        "faults": after["faults"] - before["faults"],
    }


def _timed_step(
    sandbox: Any,
    tenant: Any,
    step_id: str,
    inputs: dict[str, Any] | None,
    timeout: float,
    limits: dict[str, Any] | None = None,
) -> dict:
    """Run `step_id` at the benchmark's latency, under one budget of 10 calls a second, or under the per-service
    `limits` when given; its wall time, calls and lower bound."""
    from sandbox.throttling import LIMITS_OFF

    knobs = {"budget_rps": BUDGET_CALLS_PER_SECOND} if limits is None else {"budget_rps": 0, **limits}
    sandbox.control.set_knobs(latency_ms=LATENCY_MS, **knobs)
    before = sandbox.control.calls()
    queued = time.monotonic()
    state = _run_step(tenant, step_id, inputs, timeout)
    queued_to_done = time.monotonic() - queued
    calls = _delta(before, sandbox.control.calls())
    sandbox.control.set_knobs(latency_ms=0, budget_rps=0, **LIMITS_OFF)
    wall = (state.finished_at - state.started_at).total_seconds()
    bound = calls["budgeted_calls"] / BUDGET_CALLS_PER_SECOND if limits is None else _limits_bound(calls, limits)
    return {
        "wall_seconds": round(wall, 2),
        "queued_to_done_seconds": round(queued_to_done, 2),
        "lower_bound_seconds": round(bound, 2),
        "ratio": round(wall / bound, 3) if bound else None,
        **calls,
        "result": {key: value for key, value in state.result.items() if not isinstance(value, list | dict)},
    }


def _room_placement(snapshot: dict[str, Any]) -> dict[str, Any]:
    """From the sandbox's own state: rooms in no room list, rooms in more than one (or twice in one), list sizes."""
    rooms = {user["userPrincipalName"].lower() for user in snapshot["users"] if user["kind"] == "room"}
    lists = [group for group in snapshot["groups"] if group["recipientTypeDetails"] == "RoomList"]
    placements = Counter(member.lower() for group in lists for member in group["members"])
    return {
        "rooms": len(rooms),
        "lists": len(lists),
        "largest_list": max((len(group["members"]) for group in lists), default=0),
        "lost": len(rooms - placements.keys()),
        "duplicated": sum(1 for room in rooms if placements[room] > 1),
    }


class _ArticleShell:
    """The article's PowerShell loop, as plain HTTPS calls to the admin API: one cmdlet per call, one call at a
    time, a throttled call waited out by its Retry-After and sent again (as the Exchange module does)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override the sandbox's CA
        self.session.verify = info["ca_bundle"]
        token = self.session.post(
            f"{info['authority']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "scope": info["exchange_scope"],
            },
            timeout=30,
        )
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        self.url = f"{info['exchange_admin_url']}/InvokeCommand"
        self.throttled = 0

    def invoke(self, cmdlet: str, **parameters: Any) -> None:
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}
        while True:
            response = self.session.post(self.url, json=body, timeout=60)
            if response.status_code in (429, 503):
                self.throttled += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            return


def _article_loop(sandbox: Any, rooms: list[str], first_list: RoomListResult) -> dict[str, Any]:
    """`New-DistributionGroup -RoomList` for each further bucket of 75, then `Add-DistributionGroupMember` per
    room, in order; the first list exists already (the article's previous step)."""
    shell = _ArticleShell(sandbox.info)
    name, alias, domain = first_list.name, first_list.alias, first_list.address.partition("@")[2]
    sandbox.control.set_knobs(latency_ms=LATENCY_MS, budget_rps=BUDGET_CALLS_PER_SECOND)
    before = sandbox.control.calls()
    started = time.monotonic()
    for bucket, start in enumerate(range(0, len(rooms), LIST_SIZE), start=1):
        list_name = name if bucket == 1 else f"{name} {bucket:02d}"
        if bucket > 1:
            shell.invoke(
                "New-DistributionGroup",
                Name=list_name,
                Alias=f"{alias}-{bucket:02d}",
                PrimarySmtpAddress=f"{alias}-{bucket:02d}@{domain}",
                RoomList=True,
            )
        for room in rooms[start : start + LIST_SIZE]:
            # An app is never the list's manager, so Exchange needs the switch from it (as from Onramp).
            shell.invoke(
                "Add-DistributionGroupMember", Identity=list_name, Member=room, BypassSecurityGroupManagerCheck=True
            )
    wall = time.monotonic() - started
    calls = _delta(before, sandbox.control.calls())
    sandbox.control.set_knobs(latency_ms=0, budget_rps=0)
    bound = calls["budgeted_calls"] / BUDGET_CALLS_PER_SECOND
    return {"wall_seconds": round(wall, 2), "lower_bound_seconds": round(bound, 2), **calls}


def _bench_rooms(name: str, room_count: int, env: dict[str, str]) -> BenchResult:
    from sandbox.server import start_sandbox
    from wizard.steps.exchange_online.rooms import service as rooms_service

    with start_sandbox(rooms=room_count) as sandbox, _worker(env):
        tenant = _prepare(sandbox.info, through="room_list")
        first_list = RoomListResult.from_json(tenant.step_states.get(step_id="room_list").result)
        onramp = _timed_step(
            sandbox, tenant, "rooms", rooms_service.all_rooms_inputs(confirmed=True), timeout=room_count
        )
        onramp_placement = _room_placement(sandbox.control.state())
    with start_sandbox(rooms=room_count) as sandbox:
        sandbox.control.invoke(
            "New-DistributionGroup",
            Name=first_list.name,
            Alias=first_list.alias,
            PrimarySmtpAddress=first_list.address,
            RoomList=True,
        )
        rooms = sorted(u["userPrincipalName"] for u in sandbox.control.state()["users"] if u["kind"] == "room")
        article = _article_loop(sandbox, rooms, first_list)
        article_placement = _room_placement(sandbox.control.state())

    settings = f"{room_count:,} rooms, {LATENCY_MS} ms latency, {BUDGET_CALLS_PER_SECOND} calls/s"
    return BenchResult(
        name,
        targets=[
            _rooms_ratio_target(onramp, settings),
            Target(
                "rooms step: speed-up over the article's loop",
                round(article["wall_seconds"] / onramp["wall_seconds"], 1),
                ">=",
                TARGET_SPEEDUP,
                "×",
                f"article {article['wall_seconds']} s for {article['budgeted_calls']} calls",
            ),
            _placement_target(onramp_placement),
        ],
        figures={
            "settings": settings,
            "onramp": {**onramp, "placement": onramp_placement},
            "article_loop": {**article, "placement": article_placement},
        },
    )


def _rooms_ratio_target(onramp: dict[str, Any], settings: str) -> Target:
    return Target(
        "rooms step: wall time ÷ lower bound",
        onramp["ratio"],
        "<=",
        TARGET_RATIO,
        "×",
        f"{onramp['wall_seconds']} s for {onramp['budgeted_calls']} calls; bound "
        f"{onramp['lower_bound_seconds']} s; {settings}",
    )


def _placement_target(placement: dict[str, Any]) -> Target:
    return Target(
        "rooms step: rooms lost or duplicated",
        placement["lost"] + placement["duplicated"],
        "<=",
        0,
        "rooms",
        f"{placement['lost']} lost, {placement['duplicated']} duplicated; {placement['rooms']} rooms in "
        f"{placement['lists']} lists of at most {placement['largest_list']}",
    )


def _rooms_with_memory(room_count: int, env: dict[str, str]) -> dict[str, Any]:
    """The rooms step of one tenant of `room_count` rooms on a worker of its own: wall time against its bound, where
    the rooms went, the worker's memory around the step, and how long the sandbox's seed and the earlier steps took."""
    from sandbox.server import start_sandbox
    from wizard.steps.exchange_online.rooms import service as rooms_service

    clock = time.monotonic()
    with start_sandbox(rooms=room_count) as sandbox:
        seeded = time.monotonic() - clock
        with _worker(env) as worker:
            clock = time.monotonic()
            tenant = _prepare(sandbox.info, through="room_list", slug=f"bench-{room_count}")
            prepared = time.monotonic() - clock
            _reset_peak(worker.pid)
            before = _memory_mb(worker.pid)
            onramp = _timed_step(
                sandbox, tenant, "rooms", rooms_service.all_rooms_inputs(confirmed=True), timeout=room_count
            )
            after = _memory_mb(worker.pid)  # while the worker is up: its VmHWM goes with it
        placement = _room_placement(sandbox.control.state())
    return {
        "rooms": room_count,
        "sandbox_seed_seconds": round(seeded, 1),
        "prepare_seconds": round(prepared, 1),
        "memory": {
            "rss_before_step_mb": before["VmRSS"],
            "peak_during_step_mb": after["VmHWM"],
            "rss_after_step_mb": after["VmRSS"],
            "growth_during_step_mb": round(after["VmHWM"] - before["VmRSS"], 1),
        },
        "onramp": {**onramp, "placement": placement},
    }


def _bench_large_rooms(name: str, room_counts: tuple[int, int], env: dict[str, str]) -> BenchResult:
    """The rooms step of a large tenant, next to that of the rooms benchmark's size in the same run, so the memory
    the step adds is seen growing with the rooms."""
    reference, large = (_rooms_with_memory(room_count, env) for room_count in room_counts)
    memory, reference_memory = large["memory"], reference["memory"]
    settings = f"{large['rooms']:,} rooms in one tenant, {LATENCY_MS} ms latency, {BUDGET_CALLS_PER_SECOND} calls/s"
    return BenchResult(
        name,
        targets=[
            _rooms_ratio_target(large["onramp"], settings),
            Target(
                "rooms step: the worker process's peak resident memory",
                memory["peak_during_step_mb"],
                "<=",
                TARGET_PEAK_MB,
                "MB",
                f"{memory['rss_before_step_mb']} MB before the step; VmHWM of a Celery worker of 4 threads; "
                f"sandbox seed {large['sandbox_seed_seconds']} s, the steps before it {large['prepare_seconds']} s",
            ),
            Target(
                "rooms step: memory the step adds to the worker at its peak",
                memory["growth_during_step_mb"],
                "<=",
                TARGET_GROWTH_MB,
                "MB",
                f"{reference_memory['growth_during_step_mb']} MB for {reference['rooms']:,} rooms in the same run",
            ),
            _placement_target(large["onramp"]["placement"]),
        ],
        figures={"settings": settings, "runs": [reference, large]},
    )


def _by_service(counts: dict[str, int]) -> dict[str, int]:
    """The sandbox's call counts by the budget Microsoft charges them to (sandbox.throttling)."""
    from sandbox.graph import outlook_path

    services: Counter[str] = Counter()
    for key, n in counts.items():
        if key.startswith(UNBUDGETED_PREFIXES):
            continue
        if key == "EWS GetFolder":
            services["ews"] += n
        elif " /" not in key:
            services["exchange"] += n
        else:
            services["outlook" if outlook_path(key.split(" ", 1)[1]) else "directory"] += n
    return dict(services)


def _limits_bound(calls: dict[str, Any], limits: dict[str, Any]) -> float:
    """The least time Microsoft's per-service limits allow for these calls, with every service's calls overlapped:
    the Exchange admin API's calls at its per-tenant budget; the directory's at its resource units (1 a call); the
    calendar reads, one per mailbox, at one latency for every four requests Graph hands Outlook at a time from each
    batch Onramp keeps in flight (its HTTP pool). Each mailbox's own limits (10,000 per 10 minutes, 4 at once) never
    bind at one read per mailbox."""
    from sandbox.throttling import BATCH_OUTLOOK_PARALLEL
    from wizard.steps.exchange_online.verify.service import CALENDAR_BATCHES_IN_FLIGHT

    services = _by_service(calls["calls"])
    exchange = services.get("exchange", 0) / limits["exchange_budget_rps"]
    directory = services.get("directory", 0) / (limits["directory_resource_units_per_10_seconds"] / 10)
    in_flight = BATCH_OUTLOOK_PARALLEL * CALENDAR_BATCHES_IN_FLIGHT
    outlook = math.ceil(services.get("outlook", 0) / in_flight) * LATENCY_MS / 1000
    calls["by_service"] = services
    calls["bound_terms_seconds"] = {
        "exchange": round(exchange, 2),
        "directory": round(directory, 2),
        "outlook": round(outlook, 2),
    }
    return max(exchange, directory, outlook)


def _bench_verify(name: str, room_count: int, env: dict[str, str]) -> BenchResult:
    from sandbox.server import start_sandbox
    from sandbox.throttling import MICROSOFT_LIMITS

    with start_sandbox(rooms=room_count) as sandbox, _worker(env):
        tenant = _prepare(sandbox.info, through="scoped_access")
        onramp = _timed_step(sandbox, tenant, "verify", None, timeout=room_count * 2, limits=MICROSOFT_LIMITS)
    settings = (
        f"{room_count:,} rooms, {LATENCY_MS} ms latency, Microsoft's per-service limits "
        f"(Exchange admin {MICROSOFT_LIMITS['exchange_budget_rps']:g}/s per tenant, Outlook "
        f"{MICROSOFT_LIMITS['outlook_requests_per_10_minutes']:,} per 10 min and "
        f"{MICROSOFT_LIMITS['outlook_concurrent_requests']} at once per mailbox, directory "
        f"{MICROSOFT_LIMITS['directory_resource_units_per_10_seconds']:,} units per 10 s)"
    )
    terms = ", ".join(f"{service} {seconds} s" for service, seconds in onramp["bound_terms_seconds"].items())
    per_room = round(onramp["budgeted_calls"] / room_count, 3)
    return BenchResult(
        name,
        targets=[
            Target(
                "verify step: wall time",
                onramp["wall_seconds"],
                "<",
                TARGET_VERIFY_SECONDS,
                "s",
                f"{settings}; {onramp['throttled']} throttled",
            ),
            Target(
                "verify step: calls per room",
                per_room,
                "<=",
                TARGET_CALLS_PER_ROOM,
                "calls a room",
                f"{onramp['budgeted_calls']} calls ({onramp['by_service']}) for {room_count:,} rooms",
            ),
            Target(
                "verify step: wall time ÷ the limits' bound",
                onramp["ratio"],
                "<=",
                TARGET_RATIO,
                "×",
                f"{onramp['wall_seconds']} s; bound {onramp['lower_bound_seconds']} s = max({terms})",
            ),
        ],
        figures={"settings": settings, "limits": MICROSOFT_LIMITS, "onramp": onramp},
    )


def run(name: str, quick: bool) -> BenchResult:
    room_count = QUICK_ROOMS if quick else FULL_ROOMS
    with tempfile.TemporaryDirectory(prefix="onramp-bench-redis-") as scratch, _redis(Path(scratch)) as redis_url:
        env = setup_django(
            DATABASE.format(name=name),
            {"REDIS_URL": redis_url, "ONRAMP_CALLS_PER_SECOND": str(BUDGET_CALLS_PER_SECOND)},
        )
        if name == "rooms":
            return _bench_rooms(name, room_count, env)
        if name == "rooms10k":
            return _bench_large_rooms(
                name, (QUICK_ROOMS, QUICK_LARGE_ROOMS) if quick else (FULL_ROOMS, LARGE_ROOMS), env
            )
        return _bench_verify(name, room_count, env)
