"""SIGKILL of the worker in the middle of fifty onboardings started together (issue 29 point 4), each its own Microsoft
tenant of one sandbox, each queued from "Connect" to activation as one chain: the steps the dead worker ran stop
beating, the watchdog marks each interrupted within its bound and queues it again by itself, and a worker that is up
runs it. Every onboarding is activated, with every room in exactly one room list: none lost, none duplicated.
Correctness only: nothing is timed but the watchdog's bound."""

import time

from django.utils import timezone

from sandbox.control import SandboxControl
from tests.factories import connected_tenant
from tests.faults.helpers import room_placement
from tests.helpers import WORKER_HEARTBEAT_SECONDS, WORKER_HEARTBEAT_TIMEOUT_SECONDS, wait_for
from wizard import actions
from wizard.models import AuditEvent, StepState, StepStatus
from wizard.steps.exchange_online.rooms import service as rooms
from wizard.steps.registry import steps_for

ONBOARDINGS = 50
ROOMS = 8
WATCH_EVERY_SECONDS = 0.5  # what beat's watch-steps entry does, every max(5, timeout ÷ 2) s in production


def _steps(tenant) -> list[str]:
    return [step.id for step in steps_for(tenant.profile) if not step.optional]


def test_fifty_onboardings_survive_a_worker_killed_in_their_middle(own_worker, make_sandbox, settings):
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = WORKER_HEARTBEAT_TIMEOUT_SECONDS
    sandbox = make_sandbox(tenants=ONBOARDINGS, rooms=ROOMS, equipment=1, users=1)
    infos = sandbox.info["tenants"]
    fleet = [connected_tenant(info, f"org-{n:02d}") for n, info in enumerate(infos)]
    for tenant in fleet:
        StepState.objects.filter(tenant=tenant, step_id=rooms.STEP_ID).update(
            inputs=rooms.all_rooms_inputs(confirmed=True)
        )
    total_steps = sum(len(_steps(tenant)) for tenant in fleet)

    for tenant in fleet:  # together, as fifty administrators pressing Run
        first, *rest = _steps(tenant)
        actions.submit_step(tenant, first, "test", then=rest)

    def succeeded() -> int:
        return StepState.objects.filter(tenant__in=fleet, status=StepStatus.SUCCEEDED).count()

    wait_for(lambda: succeeded() >= total_steps // 3, 300, what="a third of the steps done")
    own_worker.kill()
    killed_at, killed_wall = time.monotonic(), timezone.now()
    # With no worker alive, the rows still running are the steps the dead worker was running.
    running_at_kill = StepState.objects.filter(tenant__in=fleet, status=StepStatus.RUNNING).count()
    assert succeeded() < total_steps, "every onboarding had finished before the kill"

    own_worker.start()

    def watch() -> bool:
        actions.watch_steps()
        stopped = StepState.objects.filter(tenant__in=fleet, status__in=(StepStatus.FAILED, StepStatus.NEEDS_INPUT))
        assert not stopped.exists(), [(s.tenant.slug, s.step_id, s.error_message) for s in stopped]
        return StepState.objects.filter(tenant__in=fleet, step_id="activate", status=StepStatus.SUCCEEDED).count()

    wait_for(lambda: watch() == ONBOARDINGS, 600, interval=WATCH_EVERY_SECONDS, what="every onboarding activated")
    finished_after = time.monotonic() - killed_at

    interrupted = list(
        AuditEvent.objects.filter(
            tenant__in=fleet, action="heartbeat", outcome="interrupted", created_at__gte=killed_wall
        ).values_list("created_at", flat=True)
    )
    # Every step the dead worker was running, and only those, was interrupted, each within the watchdog's bound.
    assert 0 < len(interrupted) == running_at_kill
    bound = WORKER_HEARTBEAT_TIMEOUT_SECONDS + WORKER_HEARTBEAT_SECONDS + WATCH_EVERY_SECONDS + 1
    latest = max((at - killed_wall).total_seconds() for at in interrupted)
    assert latest <= bound, (latest, bound)
    assert not StepState.objects.filter(tenant__in=fleet, status=StepStatus.INTERRUPTED).exists()
    for tenant, info in zip(fleet, infos, strict=True):
        placement = room_placement(SandboxControl.from_info(info).state())
        assert placement.rooms == ROOMS and placement.lost == [] and placement.duplicated == [], tenant.slug
    print(
        f"{ONBOARDINGS} onboardings: {running_at_kill} step(s) running at the kill, {len(interrupted)} interrupted "
        f"(the latest {latest:.1f} s after it, bound {bound:.1f} s), all activated {finished_after:.0f} s after it"
    )
