"""Fleet-wide pacing of the scheduled drift check: 20 activated organisations on one Microsoft tenant (one sandbox,
with Microsoft's limits on, per service), checked by the worker as its beat starts the checks that fall due. Each
organisation starts at its own offset in the window, never before; the calls of every check share one rate limit
through Redis, so the tenant never sees a burst: no call is throttled, and every organisation is found clean."""

import time

from django.utils import timezone

from sandbox.throttling import MICROSOFT_LIMITS
from tests.factories import activated_like, activated_tenant
from tests.helpers import Worker, wait_for
from wizard import drift, tasks
from wizard.models import DriftCheck, DriftCheckStatus

ORGANISATIONS = 20
WINDOW_SECONDS = 20
# The Exchange admin API's budget per tenant in the sandbox (Microsoft publishes none), and Onramp's pace in each
# of its budgets: the same number of calls a second.
BUDGET_PER_SECOND = 8


def test_twenty_organisations_on_one_tenant_are_checked_in_their_slots_without_a_throttled_call(
    make_sandbox, session_worker, worker_env, redis_server, tmp_path, transactional_db
):
    sandbox = make_sandbox()
    session_worker.stop()
    worker = Worker({**worker_env, "ONRAMP_CALLS_PER_SECOND": str(BUDGET_PER_SECOND)}, tmp_path / "worker.log")
    worker.start()
    try:
        first = activated_tenant(sandbox.info, "org-00")
        fleet = [first] + [activated_like(first, sandbox.info, f"org-{n:02d}") for n in range(1, ORGANISATIONS)]
        sandbox.control.set_knobs(**{**MICROSOFT_LIMITS, "exchange_budget_rps": BUDGET_PER_SECOND})
        sandbox.control.reset_calls()
        time.sleep(1)  # the activation's calls leave the sandbox's and Onramp's buckets
        start = timezone.now()

        scheduled = drift.schedule_fleet(start, WINDOW_SECONDS)
        assert len(scheduled) == ORGANISATIONS

        def beat() -> bool:  # what the worker's beat does every ONRAMP_DRIFT_POLL_SECONDS
            tasks.start_due_drift_checks()
            return not DriftCheck.objects.exclude(status__in=(DriftCheckStatus.DONE, DriftCheckStatus.FAILED)).exists()

        wait_for(beat, WINDOW_SECONDS + 90, interval=0.5, what="every organisation's drift check")
    finally:
        worker.stop()

    checks = list(DriftCheck.objects.select_related("tenant").order_by("due_at"))
    assert {check.tenant.slug for check in checks} == {tenant.slug for tenant in fleet}
    assert all(check.status == DriftCheckStatus.DONE and check.findings == [] for check in checks), [
        (check.tenant.slug, check.error_message, check.findings) for check in checks
    ]
    assert all(check.started_at >= check.due_at for check in checks)
    offsets = sorted((check.due_at - start).total_seconds() for check in checks)
    assert offsets[-1] - offsets[0] > WINDOW_SECONDS / 2
    calls = sandbox.control.calls()
    assert calls["throttled"] == 0, calls
    span = (max(check.finished_at for check in checks) - start).total_seconds()
    print(f"{ORGANISATIONS} organisations: {calls['total']} calls in {span:.1f} s, none throttled")
