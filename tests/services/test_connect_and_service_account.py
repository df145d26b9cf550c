"""Steps 0-2 against the sandbox's awkward tenants: a wrong secret, a dehydrated organisation, slow mailboxes,
replication lag, and no licence left."""

from tenants.models import SecretKind
from tenants.secrets import has_secret, store_secret
from tests.factories import connected_tenant, state_of
from tests.helpers import WORKER_HEARTBEAT_TIMEOUT_SECONDS, wait_for
from wizard import engine
from wizard.microsoft import connector_clients
from wizard.models import AuditEvent, StepStatus
from wizard.steps.exchange_online.service_account.service import reveal_password_once


def test_wrong_client_secret_fails_connect_with_the_fix(sandbox_tenant, run_steps):
    tenant = connected_tenant(sandbox_tenant.info)
    store_secret(tenant, SecretKind.CLIENT_SECRET, "not-the-secret")

    outcome = run_steps(tenant, until="connect")

    state = outcome.stopped_at
    assert state.step_id == "connect" and state.status == StepStatus.FAILED
    assert state.error_code == "AADSTS7000215"
    assert "client secret" in state.error_detail["explanation"].lower()
    assert "New client secret" in state.error_detail["fix"]


def test_connect_reads_the_organisation_and_names_a_missing_permission(sandbox_tenant, run_steps):
    tenant = connected_tenant(sandbox_tenant.info)
    sandbox_tenant.control.remove_connector_permission("Domain.Read.All")

    failed = run_steps(tenant, until="connect").stopped_at

    assert failed.error_code == "permissions_missing"
    assert "Domain.Read.All" in failed.error_message and "Domain.Read.All" in failed.error_detail["fix"]
    sandbox_tenant.control.grant_permission("Domain.Read.All")
    assert run_steps(tenant, until="connect").finished
    result = state_of(tenant, "connect").result
    assert result["organization_name"] == "Contoso"
    assert result["verified_domains"] == ["contoso.onmicrosoft.com", "contoso.com"]
    assert result["default_domain"] == "contoso.com"


def test_an_app_without_its_exchange_role_is_told_the_role_not_the_permission(sandbox_tenant, run_steps):
    """Exchange accepted the token (Exchange.ManageAsApp is granted) and answered 401 "User is not allowed to call":
    the fix is the role alone, never "grant Exchange.ManageAsApp" again (issue 25 point 3)."""
    tenant = connected_tenant(sandbox_tenant.info)
    sandbox_tenant.control.remove_connector_permission("Exchange Administrator")

    failed = run_steps(tenant, until="connect").stopped_at

    assert failed.error_code == "permissions_missing"
    assert "Exchange Administrator role" in failed.error_message
    assert "Exchange.ManageAsApp permission" not in failed.error_message
    fix = failed.error_detail["fix"]
    assert "API permissions" not in fix and "Exchange Administrator" in fix


def test_dehydrated_organisation_is_customised_and_waited_for(make_sandbox, run_steps):
    sandbox = make_sandbox(dehydrated=True, customization_delay_s=3)
    tenant = connected_tenant(sandbox.info)

    outcome = run_steps(tenant, until="org_customization")

    assert outcome.finished
    assert sandbox.control.calls()["write_calls"] == {"Enable-OrganizationCustomization": 1}
    assert sandbox.control.state()["organization"]["IsDehydrated"] is False
    result = state_of(tenant, "org_customization").result
    assert result["is_dehydrated"] is False and "1 April 2027" in result["ews_note"]
    assert AuditEvent.objects.filter(tenant=tenant, step_id="org_customization", action="wait").exists()


def test_service_account_waits_for_its_mailbox_without_holding_a_worker(make_sandbox, run_steps):
    sandbox = make_sandbox(provisioning_delay_s=4)
    tenant = connected_tenant(sandbox.info)

    outcome = run_steps(tenant, until="service_account")

    assert outcome.finished
    state = state_of(tenant, "service_account")
    assert state.attempts == 1  # one run of the step, re-scheduled while waiting rather than retried
    assert state.result["mailbox_ready"] and state.result["sku_part_number"] == "O365_BUSINESS_PREMIUM"
    wait = AuditEvent.objects.get(tenant=tenant, step_id="service_account", action="wait")
    assert "mailbox of onramp-svc@contoso.com" in wait.detail["waiting_for"]
    user = next(u for u in sandbox.control.state()["users"] if u["userPrincipalName"] == "onramp-svc@contoso.com")
    assert user["hasMailbox"] and user["usageLocation"] == "US"
    assert sandbox.control.calls()["calls"]["GET /users/{id}/mailboxSettings"] >= 2
    password = reveal_password_once(tenant, "test")
    assert password and len(password) == 24
    assert reveal_password_once(tenant, "test") is None  # shown once; still stored until activation
    assert has_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)


def test_service_account_rides_out_replication_lag(make_sandbox, run_steps):
    sandbox = make_sandbox(replication_lag_s=3)
    tenant = connected_tenant(sandbox.info)

    outcome = run_steps(
        tenant, until="service_account", inputs={"service_account": {"user_principal_name": "svc@contoso.com"}}
    )

    assert outcome.finished, outcome.stopped_at.error_message
    assert sandbox.control.calls()["write_calls"]["POST /users"] == 1  # never created twice
    assert state_of(tenant, "service_account").result["user_principal_name"] == "svc@contoso.com"


def test_service_account_waits_for_a_new_usage_location_to_replicate_before_licensing(make_sandbox, run_steps):
    sandbox = make_sandbox(replication_lag_s=3)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="org_customization").finished
    # The admin made the account earlier, without a usage location: Onramp sets one, then licenses it.
    with connector_clients(tenant) as ms:
        ms.graph.post(
            "/users",
            {
                "accountEnabled": True,
                "displayName": "Rooms",
                "mailNickname": "svc",
                "userPrincipalName": "svc@contoso.com",
                "passwordProfile": {"password": "Sandbox-Passw0rd!", "forceChangePasswordNextSignIn": False},
            },
        )
    sandbox.control.advance(4)

    outcome = run_steps(
        tenant, inputs={"service_account": {"user_principal_name": "svc@contoso.com"}}, until="service_account"
    )

    assert outcome.finished, outcome.stopped_at.error_message
    wait = AuditEvent.objects.get(tenant=tenant, step_id="service_account", action="wait")
    assert "replicate the usage location US of svc@contoso.com" in wait.detail["waiting_for"]
    # Set once; the refused licence assignments (each a call Microsoft answered) were tried again, not the PATCH.
    writes = sandbox.control.calls()["write_calls"]
    assert writes["PATCH /users/{id}"] == 1 and writes["POST /users/{id}/assignLicense"] >= 2
    assert state_of(tenant, "service_account").result["sku_part_number"] == "O365_BUSINESS_PREMIUM"


def test_no_free_licence_is_a_clear_error_naming_the_sku_and_leaves_the_tenant_untouched(make_sandbox, run_steps):
    sandbox = make_sandbox(free_licenses=0)
    tenant = connected_tenant(sandbox.info)
    users_before = sandbox.control.state()["users"]

    state = run_steps(tenant, until="service_account").stopped_at

    assert state.step_id == "service_account" and state.error_code == "no_free_exchange_licence"
    assert "O365_BUSINESS_PREMIUM: 0 free" in state.error_message
    # Free SKUs with thousands of free units carry only Exchange Foundation: named, never picked.
    for free in ("POWER_BI_STANDARD", "FLOW_FREE", "TEAMS_EXPLORATORY", "O365_BUSINESS"):
        assert f"{free}: no Exchange Online mailbox plan" in state.error_message
    assert "O365_BUSINESS_PREMIUM" in state.error_detail["fix"]
    # The licences are read before anything is written: no account is created that could never get a mailbox.
    assert sandbox.control.calls()["writes"] == 0
    assert sandbox.control.state()["users"] == users_before
    assert not has_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)
    sandbox.control.set_knobs(free_licenses=1)
    assert run_steps(tenant, until="service_account").finished
    assert sandbox.control.calls()["write_calls"]["POST /users"] == 1


def test_the_mailbox_wait_survives_a_killed_worker(make_sandbox, run_steps, celery_worker, settings):
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = WORKER_HEARTBEAT_TIMEOUT_SECONDS
    sandbox = make_sandbox(provisioning_delay_s=8)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="org_customization").finished
    engine.enqueue_step(tenant, "service_account", "test")
    wait_for(lambda: state_of(tenant, "service_account").status == StepStatus.WAITING, 30, what="the mailbox wait")

    celery_worker.kill()  # holding the re-scheduled check, as a machine that dies would
    celery_worker.start()
    # The watchdog (celery beat in production) re-sends a check that is overdue.
    wait_for(engine.redeliver_lost_tasks, 60, interval=0.5, what="the overdue check to be re-sent")
    wait_for(lambda: state_of(tenant, "service_account").status == StepStatus.SUCCEEDED, 60, what="the mailbox")

    writes = sandbox.control.calls()["write_calls"]
    assert writes["POST /users"] == 1 and writes["POST /users/{id}/assignLicense"] == 1
    assert state_of(tenant, "service_account").result["mailbox_ready"]
