"""The drift check on a 2,000-room organisation that drifted: 50 rooms created since activation, one room list
emptied by hand, one wider grant to the integration's app. The check runs the way the schedule runs it (beat's
round of due checks sends it to a Celery worker process, on Redis and PostgreSQL) against the sandbox at 250 ms
latency under Microsoft's per-service limits; it must find all three cases in that one run.

The organisation is activated first through the engine with latency and limits off; only the check is measured
(`started_at` to `finished_at`, written by the worker)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.djangoenv import setup_django
from bench.processes import wait_until
from bench.report import BenchResult, Target
from bench.steps import BUDGET_CALLS_PER_SECOND, FULL_ROOMS, LATENCY_MS, QUICK_ROOMS, _delta, _prepare, _redis, _worker

DATABASE = "onramp_bench_drift"
TARGET_CHECK_SECONDS = 60.0
CASES = 3


def _drift(sandbox: Any, tenant: Any, new_rooms: int) -> dict[str, Any]:
    """The three changes, made as an admin would in the Exchange admin center and Entra ID."""
    from wizard.services.common import result_of
    from wizard.steps.exchange_online.rooms.result import RoomsResult

    emptied = result_of(tenant, RoomsResult).lists[-1]
    members = sandbox.control.invoke("Get-DistributionGroupMember", Identity=emptied.dn, ResultSize="Unlimited")
    for member in members:
        sandbox.control.invoke(
            "Remove-DistributionGroupMember",
            Identity=emptied.dn,
            Member=member["PrimarySmtpAddress"],
            BypassSecurityGroupManagerCheck=True,
        )
    for n in range(new_rooms):
        sandbox.control.add_mailbox("room", alias=f"new-room-{n:03d}")
    sandbox.control.grant_permission("Calendars.Read", app_id=sandbox.info["integration_app_id"])
    return {"new_rooms": new_rooms, "emptied_list": emptied.name, "rooms_left_out": len(members)}


def run(name: str, quick: bool) -> BenchResult:
    from sandbox.server import start_sandbox
    from sandbox.throttling import LIMITS_OFF, MICROSOFT_LIMITS

    room_count = QUICK_ROOMS if quick else FULL_ROOMS
    new_rooms = 10 if quick else 50
    with tempfile.TemporaryDirectory(prefix="onramp-bench-redis-") as scratch, _redis(Path(scratch)) as redis_url:
        env = setup_django(DATABASE, {"REDIS_URL": redis_url, "ONRAMP_CALLS_PER_SECOND": str(BUDGET_CALLS_PER_SECOND)})
        from django.utils import timezone

        from wizard import drift, tasks
        from wizard.models import DriftCheck, DriftCheckStatus

        with start_sandbox(rooms=room_count) as sandbox, _worker(env):
            tenant = _prepare(sandbox.info, through="activate")
            made = _drift(sandbox, tenant, new_rooms)
            sandbox.control.set_knobs(latency_ms=LATENCY_MS, **MICROSOFT_LIMITS)
            before = sandbox.control.calls()
            [scheduled] = drift.schedule_fleet(timezone.now(), 0)
            runs = tasks.start_due_drift_checks()
            check = wait_until(
                lambda: (
                    (c := DriftCheck.objects.get(pk=scheduled.pk)).status
                    in (DriftCheckStatus.DONE, DriftCheckStatus.FAILED)
                    and c
                ),
                room_count,
                "the drift check",
            )
            calls = _delta(before, sandbox.control.calls())
            sandbox.control.set_knobs(latency_ms=0, **LIMITS_OFF)
    if check.status != DriftCheckStatus.DONE:
        return BenchResult(name, error=f"the drift check could not run: {check.error_message}")
    found = {finding["kind"]: finding for finding in check.findings}
    # Each case with the count it must report (a grant is one finding, whatever it names).
    expected = {"new_rooms": new_rooms, "rooms_out_of_lists": made["rooms_left_out"], "wider_grants": None}
    detected = sum(
        kind in found and (count is None or found[kind]["count"] == count) for kind, count in expected.items()
    )
    wall = round((check.finished_at - check.started_at).total_seconds(), 2)
    settings = (
        f"{room_count:,} rooms, {LATENCY_MS} ms latency, Microsoft's per-service limits; drift: {new_rooms} rooms "
        f"added, {made['emptied_list']} emptied ({made['rooms_left_out']} rooms), Calendars.Read granted"
    )
    return BenchResult(
        name,
        targets=[
            Target(
                "drift check: cases detected in one scheduled run",
                detected,
                ">=",
                CASES,
                f"of {CASES}",
                f"{settings}; {runs} run; found {sorted(found)}",
            ),
            Target(
                "drift check: wall time",
                wall,
                "<",
                TARGET_CHECK_SECONDS,
                "s",
                f"{calls['budgeted_calls']} calls, {calls['throttled']} throttled",
            ),
        ],
        figures={
            "settings": settings,
            "drift": made,
            "findings": [{key: f[key] for key in ("kind", "summary", "count")} for f in check.findings],
            "calls": calls,
            "wall_seconds": wall,
        },
    )
