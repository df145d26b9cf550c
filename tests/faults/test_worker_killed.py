"""SIGKILL of the worker in the middle of the rooms step: the watchdog marks the step interrupted within the
heartbeat timeout and queues it again by itself; the restarted worker runs it, and it finishes with every room in
exactly one room list, once, although some lists were written before the kill and some answers were lost."""

import time

from tests.faults.helpers import ADMIN, STEP_INPUTS, finished, room_placement, run_through, step
from tests.helpers import WORKER_HEARTBEAT_SECONDS, WORKER_HEARTBEAT_TIMEOUT_SECONDS, wait_for
from wizard import engine
from wizard.models import AuditEvent, MembershipStatus, Room, StepStatus

ROOMS = 1_500  # 20 lists: the writes take a few seconds at the latency below
LATENCY_MS = 400


def test_worker_killed_during_rooms_step_then_resumed_by_itself(own_worker, make_sandbox, connected_tenant, settings):
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = WORKER_HEARTBEAT_TIMEOUT_SECONDS
    sandbox = make_sandbox(rooms=ROOMS)
    tenant = connected_tenant(sandbox.info)
    run_through(tenant, "room_list")
    sandbox.control.set_knobs(latency_ms=LATENCY_MS)
    writes_before = sandbox.control.calls()["writes"]

    engine.enqueue_step(tenant, "rooms", ADMIN, inputs=STEP_INPUTS["rooms"])
    wait_for(lambda: sandbox.control.calls()["writes"] - writes_before >= 2, 120, what="the first lists written")
    own_worker.kill()
    killed_at = time.monotonic()

    assert step(tenant, "rooms").status == StepStatus.RUNNING
    assert sandbox.control.calls()["writes"] - writes_before < 20, "the step finished before the kill"
    # The watchdog sees the stopped heartbeat once it is older than the timeout; the last beat was at most one
    # heartbeat interval before the kill.
    deadline = WORKER_HEARTBEAT_TIMEOUT_SECONDS + WORKER_HEARTBEAT_SECONDS + 2
    wait_for(lambda: engine.mark_interrupted_steps(), deadline, what="the watchdog to mark the step interrupted")
    assert time.monotonic() - killed_at <= deadline
    resumed = step(tenant, "rooms")
    assert resumed.status == StepStatus.QUEUED and resumed.auto_resumes == 1
    assert "resuming by itself" in resumed.progress_message

    own_worker.start()
    state = finished(tenant, "rooms", timeout=180)

    assert state.attempts == 2
    assert AuditEvent.objects.filter(tenant=tenant, step_id="rooms", action="auto_resume").count() == 1
    placement = room_placement(sandbox.control.state())
    assert placement.rooms == ROOMS
    assert placement.lost == [] and placement.duplicated == []
    assert placement.largest_list <= 75 and placement.lists == 20
    assert not Room.objects.filter(tenant=tenant).exclude(membership_status=MembershipStatus.MEMBER).exists()
    assert Room.objects.filter(tenant=tenant).count() == ROOMS
