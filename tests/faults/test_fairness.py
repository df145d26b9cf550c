"""Fairness between Microsoft tenants (issue 29 point 3): a large tenant whose calls Microsoft throttles, with a
backlog of checks queued first, holds at most ONRAMP_TENANT_WORK_SLOTS of the worker's slots; the small tenants'
checks, queued after it, all start before its backlog is drained, and none of their calls is throttled. Steps and
drift checks wait in queues of their own: a step queued behind a backlog of checks starts before it is drained.
Order and overlap are counted; nothing is timed."""

import pytest
from celery import current_app
from django.conf import settings

from sandbox.control import SandboxControl
from tests.factories import activated_like, activated_tenant, connected_tenant
from tests.helpers import Worker, wait_for
from wizard import actions, task_names
from wizard.models import DriftCheck, DriftCheckStatus, StepState

LARGE_ORGANISATIONS = 6  # on the large tenant: more checks than the worker has threads
SMALL_TENANTS = 4
WORKER_THREADS = 4  # tests.helpers.Worker's concurrency
SLOTS = 1
LARGE_ROOMS, SMALL_ROOMS = 60, 5
# The large tenant's Exchange budget (calls a second), below the pace Onramp keeps: its checks wait on Retry-After.
LARGE_BUDGET = 2


@pytest.fixture
def worker_with_slots(session_worker, worker_env, redis_server, tmp_path, transactional_db):
    """A worker of this test's own whose tenants have `slots` work slots each (0: no cap)."""
    started = []

    def start(slots: int) -> Worker:
        session_worker.stop()
        current_app.control.purge()
        worker = Worker({**worker_env, "ONRAMP_TENANT_WORK_SLOTS": str(slots)}, tmp_path / "worker.log")
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _all_ended() -> bool:
    return not DriftCheck.objects.exclude(status__in=(DriftCheckStatus.DONE, DriftCheckStatus.FAILED)).exists()


def _most_at_once(checks: list[DriftCheck]) -> int:
    """The most of these checks that ran at the same moment, from when each started and ended."""
    edges = sorted([(c.started_at, 1) for c in checks] + [(c.finished_at, -1) for c in checks])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_a_large_throttled_tenant_holds_its_slots_only_and_small_tenants_go_first(worker_with_slots, make_sandbox):
    worker_with_slots(SLOTS)
    sandbox = make_sandbox(
        tenants=1 + SMALL_TENANTS, tenant_rooms=(LARGE_ROOMS, *[SMALL_ROOMS] * SMALL_TENANTS), equipment=1, users=1
    )
    large_info, *small_infos = sandbox.info["tenants"]
    first = activated_tenant(large_info, "large-0")
    large = [first] + [activated_like(first, large_info, f"large-{n}") for n in range(1, LARGE_ORGANISATIONS)]
    small = [activated_tenant(info, f"small-{n}") for n, info in enumerate(small_infos)]
    large_control = SandboxControl.from_info(large_info)
    small_controls = [SandboxControl.from_info(info) for info in small_infos]
    large_control.set_knobs(latency_ms=100, exchange_budget_rps=LARGE_BUDGET)
    for control in small_controls:
        control.set_knobs(latency_ms=100)
        control.reset_calls()
    large_control.reset_calls()

    # The large tenant's backlog is queued first, then the small tenants' checks, as "Check now" queues them.
    for organisation in large + small:
        assert actions.request_drift_check(organisation, "test") is not None

    wait_for(_all_ended, 300, interval=0.5, what="every check")
    checks = {c.tenant.slug: c for c in DriftCheck.objects.select_related("tenant")}
    assert all(c.status == DriftCheckStatus.DONE for c in checks.values()), [
        (slug, c.error_message) for slug, c in checks.items() if c.status != DriftCheckStatus.DONE
    ]
    large_checks = [checks[o.slug] for o in large]
    small_checks = [checks[o.slug] for o in small]

    assert _most_at_once(large_checks) == SLOTS
    # The large tenant's backlog was not drained when the last small check started: they did not wait behind it.
    last_large_start = max(c.started_at for c in large_checks)
    assert max(c.started_at for c in small_checks) < last_large_start
    # More than the cap: the small tenants ran beside the large one, in the slots it could not take.
    assert _most_at_once(large_checks + small_checks) > SLOTS
    assert large_control.calls()["throttled"] > 0, "the large tenant was never throttled: the test proves nothing"
    assert sum(control.calls()["throttled"] for control in small_controls) == 0
    print(
        f"{len(small_checks)} small checks started before the large tenant's last; large at once "
        f"{_most_at_once(large_checks)}, all at once {_most_at_once(large_checks + small_checks)}; "
        f"large tenant throttled {large_control.calls()['throttled']} times"
    )


def test_a_step_does_not_wait_behind_a_backlog_of_drift_checks(worker_with_slots, sandbox_tenant):
    """Without the cap, so that only the queues are tested: the worker's threads are all on drift checks when an
    administrator's step is queued; the step runs at the next free thread, before the checks' queue is drained (one
    queue would run it only after every check queued before it had started)."""
    worker_with_slots(0)
    first = activated_tenant(sandbox_tenant.info, "org-0")
    backlog = [first] + [activated_like(first, sandbox_tenant.info, f"org-{n}") for n in range(1, 2 * WORKER_THREADS)]
    sandbox_tenant.control.set_knobs(latency_ms=300)
    for organisation in backlog:
        actions.request_drift_check(organisation, "test")
    wait_for(
        lambda: (
            DriftCheck.objects.filter(status=DriftCheckStatus.RUNNING, heartbeat_at__isnull=False).count()
            == WORKER_THREADS
        ),
        60,
        what="a check on every thread",
    )
    newcomer = connected_tenant(sandbox_tenant.info, "newcomer")

    step = actions.submit_step(newcomer, "connect", "test")

    wait_for(_all_ended, 300, interval=0.5, what="every check")
    step = wait_for(lambda: StepState.objects.filter(pk=step.pk, started_at__isnull=False).first(), 60)
    check_starts = sorted(DriftCheck.objects.values_list("started_at", flat=True))
    assert step.started_at < check_starts[-1], "the step waited for the whole backlog of checks"


def test_steps_and_drift_checks_are_routed_to_queues_of_their_own():
    routes = settings.CELERY_TASK_ROUTES
    assert routes[task_names.RUN_STEP]["queue"] == settings.STEPS_QUEUE
    assert routes[task_names.RUN_DRIFT_CHECK]["queue"] == settings.DRIFT_QUEUE
    # A worker started without -Q consumes every declared queue.
    declared = {queue.name for queue in current_app.conf.task_queues}
    assert declared == {settings.CELERY_TASK_DEFAULT_QUEUE, settings.STEPS_QUEUE, settings.DRIFT_QUEUE}
