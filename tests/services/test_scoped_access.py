"""Step 5 refuses to call the access scoped while the integration's app holds tenant-wide calendar access, or
another Exchange assignment of a calendar role that its scope does not limit."""

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


def test_another_calendar_assignment_of_the_app_is_found_by_role_and_reported(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=5)
    app_id = sandbox.info["integration_app_id"]
    sandbox.control.invoke("New-ServicePrincipal", AppId=app_id, ObjectId="5e6f7a8b-0000-4000-8000-000000000001")
    sandbox.control.invoke("New-ManagementRoleAssignment", App=app_id, Role="Application Calendars.Read")
    tenant = connected_tenant(sandbox.info)

    failed = run_steps(tenant, inputs={"rooms": all_rooms_inputs(confirmed=True)}).stopped_at

    assert failed.step_id == "scoped_access" and failed.error_code == "other_role_assignment"
    assert "Application Calendars.Read over every mailbox in the organisation (no scope)" in failed.error_message
    assert "Remove-ManagementRoleAssignment" in failed.error_detail["fix"]
    assert "New-ManagementRoleAssignment" not in sandbox.control.calls()["write_calls"]
