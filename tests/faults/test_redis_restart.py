"""Redis restarted in the middle of a run (the broker loses every message it held, as a Redis without persistence
does): while a step waits on Microsoft with its next check scheduled, and while the rooms step runs. The watchdog
(`engine.redeliver_lost_tasks`, run by beat in production, here by the test as it polls) sends lost messages again,
and the run completes with every room in exactly one list.

Celery 5.7 / kombu's Redis transport currently ends the worker on a lost broker connection ("Unrecoverable error:
AttributeError: 'NoneType' object has no attribute 'hostname'"); the test restarts an exited worker as the
deployment's restart policy does, so it proves that nothing is lost either way."""

from tests.faults.helpers import ADMIN, STEP_INPUTS, finished, room_placement, run_step, step, step_ids
from tests.helpers import wait_for
from wizard import engine
from wizard.models import StepStatus

ROOMS = 300


def test_run_completes_across_redis_restarts(own_worker, redis_server, make_sandbox, connected_tenant, settings):
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = 4
    # The service account's mailbox appears only seconds after licensing: the step waits with a countdown message.
    sandbox = make_sandbox(rooms=ROOMS, provisioning_delay_s=3)
    tenant = connected_tenant(sandbox.info)
    for step_id in ("connect", "org_customization"):
        run_step(tenant, step_id)

    engine.enqueue_step(tenant, "service_account", ADMIN)
    wait_for(lambda: step(tenant, "service_account").status == StepStatus.WAITING, 60, what="the mailbox wait")
    redis_server.restart()
    finished(tenant, "service_account", timeout=120, watchdog=True, supervised=own_worker)
    run_step(tenant, "room_list", watchdog=True, supervised=own_worker)

    sandbox.control.set_knobs(latency_ms=300)
    engine.enqueue_step(tenant, "rooms", ADMIN, inputs=STEP_INPUTS["rooms"])
    wait_for(lambda: step(tenant, "rooms").status == StepStatus.RUNNING, 60, what="the rooms step to start")
    redis_server.restart()
    # If the worker died with the step (see above), the watchdog resumes it by itself, adding only what is missing.
    finished(tenant, "rooms", timeout=180, watchdog=True, supervised=own_worker)
    sandbox.control.set_knobs(latency_ms=0)

    ids = step_ids(tenant)
    for step_id in ids[ids.index("rooms") + 1 :]:
        run_step(tenant, step_id, watchdog=True, supervised=own_worker)
    assert all(state.status == StepStatus.SUCCEEDED for state in tenant.step_states.filter(step_id__in=ids))
    placement = room_placement(sandbox.control.state())
    assert placement.rooms == ROOMS and placement.lost == [] and placement.duplicated == []
