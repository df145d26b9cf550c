"""A Redis outage while a long step runs costs seconds, not the length of that step: the worker that lost its
broker gives up its running step at the step's next progress report and exits (the restart policy starts a new
one), another organisation's step is served within a minute of Redis coming back, and the interrupted step is
resumed by the watchdog with every room in exactly one list."""

import time

from tests import factories
from tests.faults.helpers import ADMIN, STEP_INPUTS, finished, room_placement, run_through, step
from tests.helpers import WORKER_HEARTBEAT_TIMEOUT_SECONDS, wait_for
from wizard import engine
from wizard.models import StepStatus
from wizard.steps.exchange_online.connect.service import SHARE_DECIDED_BY, SHARE_INPUT

ROOMS = 1_500
LATENCY_MS = 1_500  # the rooms step then takes minutes: far longer than the gap allowed below
OUTAGE_SECONDS = 30
GAP_LIMIT_SECONDS = 60


def test_tasks_flow_again_within_a_minute_of_a_broker_outage(
    own_prefork_worker, redis_server, make_sandbox, connected_tenant, settings
):
    """With the prefork pool of docker-compose.yml's worker: the shutdown noticed by the pool's parent reaches the
    child that runs the step."""
    own_worker = own_prefork_worker
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = WORKER_HEARTBEAT_TIMEOUT_SECONDS
    sandbox = make_sandbox(rooms=ROOMS)
    tenant = connected_tenant(sandbox.info)
    run_through(tenant, "room_list")
    other = factories.connected_tenant(sandbox.info, slug="fabrikam", admin="bob")
    sandbox.control.set_knobs(latency_ms=LATENCY_MS)
    writes_before = sandbox.control.calls()["writes"]
    engine.enqueue_step(tenant, "rooms", ADMIN, inputs=STEP_INPUTS["rooms"])
    wait_for(lambda: sandbox.control.calls()["writes"] > writes_before, 120, what="the rooms step writing")

    redis_server.outage(OUTAGE_SECONDS)
    back = time.monotonic()
    # Both organisations are on the sandbox's one Microsoft tenant: the second says it shares it knowingly.
    engine.enqueue_step(other, "connect", "bob", inputs={SHARE_INPUT: True, SHARE_DECIDED_BY: "bob"})
    served = finished(other, "connect", timeout=GAP_LIMIT_SECONDS + 30, watchdog=True, supervised=own_worker)
    gap = time.monotonic() - back

    assert served.status == StepStatus.SUCCEEDED
    assert gap < GAP_LIMIT_SECONDS, f"tasks flowed again {gap:.0f} s after Redis came back"
    assert "left for the watchdog to resume" in own_worker.log()
    print(f"\nbroker outage {OUTAGE_SECONDS} s: tasks flowed again {gap:.1f} s after Redis came back")

    sandbox.control.set_knobs(latency_ms=0)
    rooms = finished(tenant, "rooms", timeout=240, watchdog=True, supervised=own_worker)
    assert rooms.auto_resumes >= 1 and step(tenant, "rooms").attempts >= 2
    placement = room_placement(sandbox.control.state())
    assert placement.rooms == ROOMS and placement.lost == [] and placement.duplicated == []
