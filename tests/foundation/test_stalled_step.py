"""A step whose work stops while its heartbeat thread keeps beating (issue 27 point 1: a call that never answers held
a worker thread while the step looked alive). The heartbeat beats only while the work moves; a stalled run is taken
over by the watchdog, and the stalled run, when its call finally returns, changes nothing."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from tests.factories import connected_tenant, state_of
from tests.helpers import wait_for
from wizard import engine
from wizard.actions import submit_step
from wizard.models import AuditEvent, StepStatus

SLOW_CALL_MS = 1500  # every Microsoft call of the sandbox takes this long: step 0 makes several in a row


def in_own_connection(work: Callable[[], object]) -> Callable[[], None]:
    """`work` for a thread of its own, as a worker thread runs a step, closing the thread's database connection."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    return run


@pytest.fixture
def quick_watchdog(settings) -> None:
    settings.ONRAMP_HEARTBEAT_SECONDS = 0.2
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = 1
    settings.ONRAMP_STALL_SECONDS = 1


def test_a_run_that_stops_moving_is_taken_over_and_its_late_end_changes_nothing(
    make_sandbox, quick_watchdog, no_worker
):
    sandbox = make_sandbox(latency_ms=SLOW_CALL_MS)
    tenant = connected_tenant(sandbox.info)
    state = submit_step(tenant, "connect", "alice", send_task=False)
    ended: list[int | None] = []
    run = threading.Thread(target=in_own_connection(lambda: ended.append(engine.execute_step(state.pk, state.task_id))))
    run.start()

    # The beat's watchdog, run here until it takes the stalled run over.
    interrupted = wait_for(engine.mark_interrupted_steps, 20, interval=0.2, what="the watchdog to see the stall")
    run.join(60)

    assert [s.pk for s in interrupted] == [state.pk], "the watchdog never saw the stalled run"
    assert not run.is_alive() and ended == [None]
    after = state_of(tenant, "connect")
    assert after.status == StepStatus.QUEUED and after.task_id != state.task_id, "the stalled run finished the step"
    assert AuditEvent.objects.filter(tenant=tenant, action="heartbeat", outcome="stalled").count() == 1
    assert not AuditEvent.objects.filter(tenant=tenant, action="run", outcome__in=["succeeded", "failed"]).exists()


def test_a_run_that_keeps_reporting_progress_keeps_its_heartbeat(make_sandbox, quick_watchdog, no_worker, settings):
    settings.ONRAMP_STALL_SECONDS = 30
    sandbox = make_sandbox(latency_ms=SLOW_CALL_MS)
    tenant = connected_tenant(sandbox.info)
    state = submit_step(tenant, "connect", "alice", send_task=False)
    run = threading.Thread(target=in_own_connection(lambda: engine.execute_step(state.pk, state.task_id)))
    run.start()

    interrupted = []

    def finished_or_interrupted() -> bool:
        interrupted.extend(engine.mark_interrupted_steps())
        return not run.is_alive()

    wait_for(finished_or_interrupted, 60, interval=0.2, what="the slow but moving run to end")

    assert interrupted == []
    assert state_of(tenant, "connect").status == StepStatus.SUCCEEDED
