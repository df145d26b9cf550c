"""Issue 25 point 9: "nothing else" sees every grant Microsoft documents. An unscoped assignment of each of the 24
application roles of application-rbac's "Supported Application Roles" table, and a tenant-wide grant of each
application permission that reaches mailbox content (named through the resource's appRoles), planted in the sandbox
after activation, fails verify and is a drift finding. The app's assignments are listed with
`Get-ManagementRoleAssignment -RoleAssignee`, not role by role from a fixed list."""

import pytest

from tests.factories import activated_tenant
from wizard import drift
from wizard.models import DriftCheckStatus, StepStatus

# application-rbac, "Supported Application Roles" (sandbox/WIRE.md [D13]): all 24, in the table's order.
APPLICATION_ROLES = (
    "Application Mail.Read",
    "Application Mail.ReadBasic",
    "Application Mail.ReadWrite",
    "Application Mail.Send",
    "Application MailboxSettings.Read",
    "Application MailboxSettings.ReadWrite",
    "Application Calendars.Read",
    "Application Calendars.ReadWrite",
    "Application Contacts.Read",
    "Application Contacts.ReadWrite",
    "Application MailboxFolder.Read",
    "Application MailboxFolder.ReadWrite",
    "Application MailboxItem.Read",
    "Application MailboxItem.ReadWrite",
    "Application MailboxItem.Export",
    "Application MailboxItem.ImportExport",
    "Application Mail Full Access",
    "Application Exchange Full Access",
    "Application EWS.AccessAsApp",
    "Application SMTP.SendAsApp",
    "Application MailboxConfigItem.Read",
    "Application MailboxConfigItem.ReadWrite",
    "Application MailTips.ReadBasic.All",
    "Application Mail-Advanced.ReadWrite.All",
)

# Application permissions that reach mailbox content, on Microsoft Graph and on Office 365 Exchange Online.
GRAPH_MAILBOX_PERMISSIONS = (
    "Calendars.Read",
    "Calendars.ReadBasic.All",
    "Calendars.ReadWrite",
    "Contacts.Read",
    "Contacts.ReadWrite",
    "Mail.Read",
    "Mail.ReadBasic",
    "Mail.ReadBasic.All",
    "Mail.ReadWrite",
    "Mail.Send",
    "Mail-Advanced.ReadWrite.All",
    "MailboxSettings.ReadWrite",
    "MailboxFolder.Read.All",
    "MailboxFolder.ReadWrite.All",
    "MailboxItem.Read.All",
    "MailboxItem.ReadWrite.All",
    "MailboxItem.Export.All",
    "MailboxItem.ImportExport.All",
    "MailboxConfigItem.Read",
    "MailboxConfigItem.ReadWrite",
    "Tasks.Read.All",
    "Tasks.ReadWrite.All",
)
EXCHANGE_MAILBOX_PERMISSIONS = ("full_access_as_app", "Calendars.Read", "MailboxSettings.Read")
PERMISSIONS = [("graph", name) for name in GRAPH_MAILBOX_PERMISSIONS] + [
    ("exchange", name) for name in EXCHANGE_MAILBOX_PERMISSIONS
]


def _verify_fails_and_drift_finds(sandbox, tenant, named: str, fix: str, run_steps) -> None:
    failed = run_steps(tenant, start="verify", until="verify").stopped_at
    assert failed.step_id == "verify" and failed.status == StepStatus.FAILED, failed.error_message
    assert failed.error_code == "verification_failed"
    assert named in failed.error_message
    assert fix in failed.error_detail["fix"]

    check = drift.check_now(tenant, "test")

    assert check.status == DriftCheckStatus.DONE, check.error_message
    [wider] = [finding for finding in check.findings if finding["kind"] == "wider_grants"]
    assert named in wider["summary"] and fix in wider["fix"]


@pytest.mark.parametrize("role", APPLICATION_ROLES)
def test_an_unscoped_assignment_of_each_application_role_fails_verify_and_is_drift(
    sandbox_tenant, celery_worker, run_steps, role
):
    tenant = activated_tenant(sandbox_tenant.info)
    app_id = sandbox_tenant.info["integration_app_id"]
    sandbox_tenant.control.invoke("New-ManagementRoleAssignment", App=app_id, Role=role, Name=f"{role} everywhere")

    _verify_fails_and_drift_finds(
        sandbox_tenant,
        tenant,
        f"{role} over every mailbox in the organisation (no scope)",
        "Remove-ManagementRoleAssignment -Identity",
        run_steps,
    )


@pytest.mark.parametrize(("resource", "permission"), PERMISSIONS, ids=[f"{r}-{p}" for r, p in PERMISSIONS])
def test_a_tenant_wide_grant_of_each_mailbox_permission_fails_verify_and_is_drift(
    sandbox_tenant, celery_worker, run_steps, resource, permission
):
    tenant = activated_tenant(sandbox_tenant.info)
    app_id = sandbox_tenant.info["integration_app_id"]
    sandbox_tenant.control.grant_permission(permission, app_id=app_id, resource=resource)
    resource_name = "Microsoft Graph" if resource == "graph" else "Office 365 Exchange Online"

    _verify_fails_and_drift_finds(
        sandbox_tenant,
        tenant,
        f"{resource_name} application permission {permission}",
        f"revoke {permission} ({resource_name})",
        run_steps,
    )


def test_an_assignment_scoped_to_a_group_is_listed_by_its_assignee_and_fails_verify(
    sandbox_tenant, celery_worker, run_steps
):
    tenant = activated_tenant(sandbox_tenant.info)
    control = sandbox_tenant.control
    control.invoke("New-DistributionGroup", Name="Executives", Alias="executives", Members=["user-001"])
    app_id = sandbox_tenant.info["integration_app_id"]
    control.invoke(
        "New-ManagementRoleAssignment", App=app_id, Role="Application Mail.Read", RecipientGroupScope="executives"
    )
    control.reset_calls()

    _verify_fails_and_drift_finds(
        sandbox_tenant,
        tenant,
        "Application Mail.Read over the direct members of the group Executives",
        "Remove-ManagementRoleAssignment -Identity",
        run_steps,
    )
    calls = control.calls()["calls"]
    assert calls["Get-ManagementRoleAssignment"] == 2  # verify and drift: once each, by assignee, not once per role
