"""Re-verify on the worker: a finished step's check alone runs; the tenant is read, never written."""

from tests.factories import connected_tenant, state_of
from tests.helpers import wait_for
from wizard import engine
from wizard.models import StepStatus


def test_reverify_runs_only_the_check_and_writes_nothing(sandbox_tenant, run_steps):
    tenant = connected_tenant(sandbox_tenant.info)
    assert run_steps(tenant, until="room_list").finished
    sandbox_tenant.control.reset_calls()

    engine.enqueue_step(tenant, "room_list", "alice", action="reverify", verify_only=True)
    state = wait_for(
        lambda: (s := state_of(tenant, "room_list")).status not in (StepStatus.QUEUED, StepStatus.RUNNING) and s,
        60,
        what="the re-verification",
    )

    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message)
    assert state.attempts == 2
    calls = sandbox_tenant.control.calls()
    assert calls["writes"] == 0, calls["write_calls"]
    assert "Get-DistributionGroup" in calls["calls"]
    assert "New-DistributionGroup" not in calls["calls"]
