"""Issue 11.1 and 16.2 at verify: a grant that lets the integration's app reach more than the rooms is found and
explained with its exact fix (scoped access's own check: ../scoped_access/test_wider_grants.py), whether or not Onramp
holds the integration's secret, saying which checks it could not run."""

from tests.factories import connected_tenant, state_of
from wizard.models import StepStatus
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

ALL_ROOMS = {"rooms": all_rooms_inputs(confirmed=True)}


def test_a_leftover_application_access_policy_is_explained_as_superseded_without_failing(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=3, equipment=0, users=1)
    sandbox.control.invoke("New-DistributionGroup", Name="Old Scope", Alias="old-scope", Members=["room-001"])
    sandbox.control.invoke(
        "New-ApplicationAccessPolicy",
        AppId=sandbox.info["integration_app_id"],
        PolicyScopeGroupId="old-scope",
        AccessRight="RestrictAccess",
    )
    tenant = connected_tenant(sandbox.info)

    assert run_steps(tenant, inputs=ALL_ROOMS).finished

    [policy] = state_of(tenant, "scoped_access").result["grants"]["findings"]
    assert policy["kind"] == "application_access_policy" and policy["widens"] is False
    assert "RBAC for Applications replaces" in policy["why"]
    assert "Remove-ApplicationAccessPolicy -Identity" in policy["fix"]
    assert "removing it changes nothing" in policy["fix"]
    [found] = state_of(tenant, "verify").result["grants"]
    assert found["kind"] == "application_access_policy"

    # With a tenant-wide grant the policy is what limits the app: the fix says to revoke the grant first.
    sandbox.control.set_knobs(tenant_wide_calendar_grant=True)
    failed = run_steps(tenant, start="verify", until="verify").stopped_at
    assert failed.error_code == "verification_failed"
    policy = next(f for f in failed.error_detail["result"]["grants"] if f["kind"] == "application_access_policy")
    assert "revoke that permission first" in policy["fix"]


def test_verify_without_the_integration_secret_still_finds_a_tenant_wide_grant_and_says_what_it_skipped(
    make_sandbox, run_steps
):
    sandbox = make_sandbox(rooms=3, equipment=0, users=1)
    tenant = connected_tenant({**sandbox.info, "integration_client_secret": None})

    assert run_steps(tenant, inputs=ALL_ROOMS).finished
    passed = state_of(tenant, "verify").result
    assert passed["calendar_checked"] is False
    assert [c for c in passed["checks_not_run"] if c.startswith("calendar_read: ")]
    assert "client secret is not stored" in passed["checks_not_run"][0]
    assert {c["name"] for c in passed["checks"] if c["ran"]} == {
        "entra_app_permissions",
        "exchange_role_assignments",
        "application_access_policies",
    }

    sandbox.control.set_knobs(tenant_wide_calendar_grant=True)
    failed = run_steps(tenant, start="verify", until="verify").stopped_at

    assert failed.status == StepStatus.FAILED and failed.error_code == "verification_failed"
    assert "wider grants" in failed.error_message and "Calendars.ReadWrite" in failed.error_message
    assert "Remove-MgServicePrincipalAppRoleAssignment" in failed.error_detail["fix"]
    assert failed.error_detail["result"]["calendar_checked"] is False


def test_where_ews_is_open_to_the_integration_the_control_mailbox_is_also_tried_over_ews(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=3, equipment=0, users=1)
    app_id = sandbox.info["integration_app_id"]
    sandbox.control.invoke("Set-OrganizationConfig", EwsEnabled=True, EwsAllowedAppIDs=[app_id])
    tenant = connected_tenant(sandbox.info)

    assert run_steps(tenant, inputs=ALL_ROOMS).finished
    [ews] = [c for c in state_of(tenant, "verify").result["checks"] if c["name"] == "ews_control_read"]
    # Exchange Online refuses an app without EWS access at the HTTP level (401, x-ms-diagnostics 2000008).
    assert ews["ran"] is True and "TokenWithoutEwsPermission" in ews["detail"]  # refused before any GetFolder ran

    sandbox.control.grant_permission("full_access_as_app", app_id=app_id, resource="exchange")
    failed = run_steps(tenant, start="verify", until="verify").stopped_at

    assert failed.error_code == "verification_failed"
    assert "over EWS" in failed.error_message and "full_access_as_app" in failed.error_message
    assert failed.error_detail["result"]["control_opened_over_ews"] is True


def test_the_ews_control_is_named_as_not_run_where_ews_is_blocked(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=3, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)

    assert run_steps(tenant, inputs=ALL_ROOMS).finished

    [ews] = [c for c in state_of(tenant, "verify").result["checks"] if c["name"] == "ews_control_read"]
    assert ews["ran"] is False and "EWS is blocked for the integration's app" in ews["detail"]
    assert "EWS GetFolder" not in sandbox.control.calls()["calls"]
