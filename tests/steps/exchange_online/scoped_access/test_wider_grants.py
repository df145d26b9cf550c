"""Issue 11.1 at scoped access: every grant that lets the integration's app reach more than the rooms (a tenant-wide
Graph or Exchange permission, an unscoped Exchange role assignment) stops the step, named with its exact fix."""

import pytest

from tests.factories import connected_tenant
from wizard.models import StepStatus
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

ALL_ROOMS = {"rooms": all_rooms_inputs(confirmed=True)}


def _plant_rbac(sandbox, role: str) -> None:
    app_id = sandbox.info["integration_app_id"]
    sandbox.control.invoke("New-ServicePrincipal", AppId=app_id, ObjectId="5e6f7a8b-0000-4000-8000-000000000001")
    sandbox.control.invoke("New-ManagementRoleAssignment", App=app_id, Role=role)


@pytest.mark.parametrize(
    ("plant", "code", "named", "fix"),
    [
        (
            lambda s: s.control.grant_permission("Calendars.ReadBasic.All", app_id=s.info["integration_app_id"]),
            "tenant_wide_calendar_access",
            "Microsoft Graph application permission Calendars.ReadBasic.All",
            "Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId",
        ),
        (
            lambda s: s.control.grant_permission("Mail.Read", app_id=s.info["integration_app_id"]),
            "tenant_wide_calendar_access",
            "Microsoft Graph application permission Mail.Read",
            "revoke Mail.Read (Microsoft Graph)",
        ),
        (
            lambda s: s.control.grant_permission(
                "full_access_as_app", app_id=s.info["integration_app_id"], resource="exchange"
            ),
            "tenant_wide_calendar_access",
            "Office 365 Exchange Online application permission full_access_as_app",
            "revoke full_access_as_app (Office 365 Exchange Online)",
        ),
        (
            lambda s: _plant_rbac(s, "Application Exchange Full Access"),
            "other_role_assignment",
            "Application Exchange Full Access over every mailbox in the organisation (no scope)",
            "Remove-ManagementRoleAssignment -Identity 'Application Exchange Full Access-",
        ),
        (
            lambda s: _plant_rbac(s, "Application EWS.AccessAsApp"),
            "other_role_assignment",
            "Application EWS.AccessAsApp over every mailbox",
            "Remove-ManagementRoleAssignment",
        ),
    ],
    ids=["graph-calendars-readbasic", "graph-mail-read", "exchange-full-access-as-app", "rbac-full", "rbac-ews"],
)
def test_each_wider_grant_stops_scoped_access_with_its_fix(make_sandbox, run_steps, plant, code, named, fix):
    sandbox = make_sandbox(rooms=3, equipment=0, users=1)
    plant(sandbox)
    tenant = connected_tenant(sandbox.info)

    failed = run_steps(tenant, inputs=ALL_ROOMS).stopped_at

    assert failed.step_id == "scoped_access" and failed.status == StepStatus.FAILED
    assert failed.error_code == code
    assert named in failed.error_message
    assert fix in failed.error_detail["fix"]
