"""Step 5 refuses to call the access scoped while the integration's app holds tenant-wide calendar access."""

from tests.factories import connected_tenant
from wizard.models import StepStatus
from wizard.services.rooms import all_rooms_inputs


def test_a_tenant_wide_calendar_grant_makes_scoped_access_fail_and_say_why(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=5, tenant_wide_calendar_grant=True)
    tenant = connected_tenant(sandbox.info)

    failed = run_steps(tenant, inputs={"rooms": all_rooms_inputs(confirmed=True)}).stopped_at

    assert failed.step_id == "scoped_access" and failed.status == StepStatus.FAILED
    assert failed.error_code == "tenant_wide_calendar_access"
    assert "Calendars.ReadWrite" in failed.error_message
    assert "added to Exchange RBAC grants" in failed.error_detail["explanation"]
    assert "revoke" in failed.error_detail["fix"]
    state = sandbox.control.state()
    assert len(state["scopes"]) == 1 and len(state["role_assignments"]) == 1  # the scoped grant is in place

    sandbox.control.set_knobs(tenant_wide_calendar_grant=False)
    assert run_steps(tenant).finished
