"""A Microsoft tenant's work slots (wizard.work_slots, issue 29 point 3), in the suite's real Redis: at most
ONRAMP_TENANT_WORK_SLOTS holders at once, organisations on one tenant sharing them; the holder's heartbeat keeps its
slot past the lease, a holder that stopped beating (a killed worker) loses it; a step whose tenant's slots are full
is sent again to the steps queue, still queued, not run."""

import time

import pytest
import redis

from tests.factories import make_tenant
from wizard import actions, engine, work_slots
from wizard.models import StepState, StepStatus


@pytest.fixture
def one_slot(settings, redis_server):
    settings.REDIS_URL = redis_server.url
    settings.ONRAMP_TENANT_WORK_SLOTS = 1
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = 1
    client = redis.Redis.from_url(redis_server.url)
    for key in client.scan_iter(f"{work_slots.KEY_PREFIX}*"):
        client.delete(key)
    yield client
    client.close()


@pytest.mark.django_db
def test_a_tenant_holds_its_slots_only_and_organisations_on_it_share_them(one_slot, settings):
    settings.ONRAMP_HEARTBEAT_SECONDS = 0.2
    first, same, other = make_tenant("first"), make_tenant("same-tenant"), make_tenant("other")
    for organisation in (first, same):
        organisation.microsoft_tenant_id = "00000000-0000-0000-0000-000000000001"
        organisation.save()

    with work_slots.tenant_slot(first) as held:
        time.sleep(1.5)  # past the lease: its heartbeat renewed it
        with work_slots.tenant_slot(same) as second, work_slots.tenant_slot(other) as elsewhere:
            assert (held, second, elsewhere) == (True, False, True)
    with work_slots.tenant_slot(same) as again:
        assert again


@pytest.mark.django_db
def test_a_holder_that_stopped_beating_loses_its_slot_within_the_lease(one_slot, settings):
    settings.ONRAMP_HEARTBEAT_SECONDS = 3600  # as a killed worker: no renewal
    tenant = make_tenant("contoso")

    with work_slots.tenant_slot(tenant) as held:
        with work_slots.tenant_slot(tenant) as second:
            assert held and not second
        time.sleep(1.2)
        with work_slots.tenant_slot(tenant) as after_the_lease:
            assert after_the_lease


def test_a_step_whose_tenant_slots_are_full_is_sent_again_and_stays_queued(one_slot, no_worker, settings):
    tenant = make_tenant("contoso")
    state = engine.enqueue_step(tenant, "connect", "alice", send_task=False)
    waiting = one_slot.llen(settings.STEPS_QUEUE)

    with work_slots.tenant_slot(tenant):
        assert actions.run_queued_step(state.pk, state.task_id, False, should_stop=lambda: False) is None

    state = StepState.objects.get(pk=state.pk)
    assert state.status == StepStatus.QUEUED and state.attempts == 0 and state.started_at is None
    # Sent with a countdown: a worker holds it until then; with none running, it waits in the queue.
    assert one_slot.llen(settings.STEPS_QUEUE) == waiting + 1
