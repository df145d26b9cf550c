"""Step 5 refuses to call the access scoped while the integration's app holds tenant-wide calendar access, or
another Exchange assignment of a calendar role that its scope does not limit."""

from tests.factories import connected_tenant, state_of
from tests.helpers import wait_for
from wizard import actions
from wizard.models import StepStatus
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs


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


def test_scoped_access_waits_while_exchange_still_refuses_scopes_after_customisation(make_sandbox, run_steps):
    # Public captures (WIRE.md [I17]): IsDehydrated reads False, yet New-ManagementScope is refused as dehydrated
    # for about 30 minutes more.
    sandbox = make_sandbox(rooms=5, dehydrated=True, customization_delay_s=1)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs(confirmed=True)}).finished
    sandbox.control.set_knobs(hydration_lag_s=1800)

    actions.submit_step(tenant, "scoped_access", "test")

    waiting = wait_for(
        lambda: (state := state_of(tenant, "scoped_access")).status == StepStatus.WAITING and state,
        60,
        what="scoped access to wait for Exchange",
    )
    assert "refuses them as not customised (dehydrated)" in waiting.waiting_for
    assert sandbox.control.state()["scopes"] == []
    sandbox.control.advance(1800)
    done = wait_for(
        lambda: (
            (state := state_of(tenant, "scoped_access")).status in (StepStatus.SUCCEEDED, StepStatus.FAILED) and state
        ),
        60,
        what="scoped access to go on once Exchange accepts scopes",
    )
    assert done.status == StepStatus.SUCCEEDED, done.error_message
    assert done.attempts == 1  # waited, not retried
    assert len(sandbox.control.state()["scopes"]) == 1
