"""Tokens that last the whole setup (issue 23 point 2): the administrator who connects with Microsoft leaves their
sign-in with Onramp (msal's cache, encrypted at rest); before a step's writes, and between the rooms step's lists,
Onramp asks Microsoft whether it still stands. When Microsoft refuses it (invalid_grant, interaction_required), the
step waits for "Sign in again to continue" and resumes after it without writing anything twice; the audit trail
names whose sign-in each write ran under."""

import html
import threading

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants.models import SecretKind, TenantSecret
from tests.factories import make_tenant, on_sandbox_cloud, run_inline, set_state, state_of
from tests.helpers import wait_for
from tests.people.conftest import answer_sign_in_page
from tests.people.test_signin_without_claims import follow_sign_in
from tests.security.test_connect_by_proof import GLOBAL_ADMIN, admin_client, follow_consent, local, start_connect
from wizard import engine, notifications
from wizard.microsoft import DelegatedTokens, SignInAgainNeeded
from wizard.models import AuditEvent, StepStatus
from wizard.services import admin_sign_in
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

pytestmark = pytest.mark.django_db

ROOMS = 1500  # twenty lists of 75: twice what the rooms step writes at once (10), so most start after others end


@pytest.fixture
def onramps_app(settings, make_sandbox):
    sandbox = make_sandbox(rooms=ROOMS)
    settings.ONRAMP_CONNECTOR_CLIENT_ID = sandbox.info["onramp_app_id"]
    settings.ONRAMP_CONNECTOR_CLIENT_SECRET = sandbox.info["onramp_app_secret"]
    return sandbox


def connect_with_microsoft(sandbox, client: Client, slug: str = "contoso"):
    """A new organisation connected as the sandbox's Global Administrator: sign-in, consent, step 0 run here."""
    info = sandbox.info
    tenant = on_sandbox_cloud(make_tenant(slug, admin="alice"), info)
    sign_in = start_connect(client, tenant, info)
    consent = client.get(local(answer_sign_in_page(info, sign_in["Location"], GLOBAL_ADMIN)))
    client.get(local(follow_consent(info, consent["Location"])))
    queued = state_of(tenant, "connect")
    engine.execute_step(queued.pk, queued.task_id)
    assert state_of(tenant, "connect").status == StepStatus.SUCCEEDED, state_of(tenant, "connect").error_message
    tenant.refresh_from_db()
    return tenant


def run_to_rooms(tenant) -> None:
    for step_id in ("org_customization", "service_account", "room_list"):
        state = run_inline(tenant, step_id)
        assert state.status == StepStatus.SUCCEEDED, (step_id, state.status, state.error_message)


def test_connecting_keeps_the_administrators_sign_in_encrypted_and_writes_name_it(onramps_app):
    client = admin_client("alice")
    tenant = connect_with_microsoft(onramps_app, client)

    kept = admin_sign_in.kept_sign_in(tenant)
    assert kept is not None and kept.username == GLOBAL_ADMIN and '"RefreshToken"' in kept.cache
    stored = bytes(TenantSecret.objects.get(tenant=tenant, kind=SecretKind.ADMIN_SIGN_IN).ciphertext)
    assert b"RefreshToken" not in stored and GLOBAL_ADMIN.encode() not in stored, "kept in clear"
    run_to_rooms(tenant)
    writes = AuditEvent.objects.filter(tenant=tenant, action__in=["create_service_account", "create_room_list"])
    assert writes.exists()
    assert {event.detail.get("ran_under") for event in writes} == {GLOBAL_ADMIN}


def test_conditional_access_asking_for_mfa_stops_a_step_before_any_write_and_tells_the_admins(
    onramps_app, django_capture_on_commit_callbacks
):
    tenant = connect_with_microsoft(onramps_app, admin_client("alice"))
    onramps_app.control.set_knobs(refresh_requires_mfa=True)
    onramps_app.control.reset_calls()

    with django_capture_on_commit_callbacks() as scheduled:
        state = run_inline(tenant, "org_customization")

    assert state.status == StepStatus.NEEDS_INPUT
    assert state.result["sign_in_again"]["code"] == "AADSTS50076"
    assert onramps_app.control.calls()["writes"] == 0
    assert len(scheduled) == 1, "the admins' email was not scheduled"
    subject, body = notifications.compose(tenant, notifications.SIGN_IN_NEEDED, "org_customization")
    assert "sign in again" in subject and "“Sign in again to continue”" in body


def test_a_sign_in_revoked_during_the_rooms_step_waits_for_sign_in_again_then_finishes_without_a_second_write(
    onramps_app,
):
    client = admin_client("alice")
    tenant = connect_with_microsoft(onramps_app, client)
    run_to_rooms(tenant)
    onramps_app.control.set_knobs(latency_ms=100)
    onramps_app.control.reset_calls()
    revoked = threading.Event()

    def revoke_at_the_first_write() -> None:
        wait_for(
            lambda: onramps_app.control.calls()["writes"],
            timeout=60,
            interval=0.01,
            what="the rooms step's first write",
        )
        onramps_app.control.revoke_refresh_tokens()
        revoked.set()

    watcher = threading.Thread(target=revoke_at_the_first_write)
    watcher.start()
    stopped = run_inline(tenant, "rooms", inputs=all_rooms_inputs(confirmed=True))
    watcher.join()

    assert revoked.is_set()
    assert stopped.status == StepStatus.NEEDS_INPUT, (stopped.status, stopped.error_message)
    assert stopped.result["sign_in_again"]["code"] == "AADSTS50173"
    first_run = onramps_app.control.calls()["write_calls"]
    written_lists = first_run.get("New-DistributionGroup", 0) + first_run.get("Update-DistributionGroupMember", 0)
    assert 0 < written_lists < ROOMS // 75, f"the revocation did not stop the run in the middle: {first_run}"
    page = html.unescape(client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode())
    assert "Sign in again to continue" in page

    onramps_app.control.set_knobs(latency_ms=0)
    again = client.post(reverse("wizard:sign_in_again", args=[tenant.slug, "rooms"]))
    assert again.status_code == 302 and "login_hint=" in again["Location"]
    back = follow_sign_in(onramps_app.info, client, again)
    assert back["Location"] == reverse("wizard:step", args=[tenant.slug, "rooms"])
    queued = state_of(tenant, "rooms")
    assert queued.status == StepStatus.QUEUED
    engine.execute_step(queued.pk, queued.task_id)

    finished = state_of(tenant, "rooms")
    assert finished.status == StepStatus.SUCCEEDED, finished.error_message
    both_runs = onramps_app.control.calls()["write_calls"]
    # Every list written once across both runs: the first list made by the room list step, the others created.
    assert both_runs.get("New-DistributionGroup", 0) == ROOMS // 75 - 1, both_runs
    assert both_runs.get("Update-DistributionGroupMember", 0) == 1, both_runs
    assert finished.result["rooms_added"] + finished.result["rooms_already_members"] == ROOMS
    created = AuditEvent.objects.filter(tenant=tenant, step_id="rooms", action="create_room_list")
    assert {event.detail.get("ran_under") for event in created} == {GLOBAL_ADMIN}


def hand_back(tenant):
    for step_id in (
        "org_customization",
        "service_account",
        "room_list",
        "rooms",
        "scoped_access",
        "verify",
        "activate",
    ):
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED)
    set_state(tenant, "activate", status=StepStatus.SUCCEEDED)
    return run_inline(tenant, "reduce_access", inputs={"confirm": True})


def test_reducing_access_erases_the_kept_sign_in_and_says_which_grant_to_remove_when_it_may_not(onramps_app):
    tenant = connect_with_microsoft(onramps_app, admin_client("alice"))
    # The organisation's administrator took the one scope that deletes grants out of the consent.
    onramps_app.control.remove_delegated_consent(
        onramps_app.info["onramp_app_id"], scopes=["DelegatedPermissionGrant.ReadWrite.All"]
    )

    state = hand_back(tenant)

    assert state.status == StepStatus.SUCCEEDED, state.error_message
    assert not TenantSecret.objects.filter(tenant=tenant).exists(), "a token or sign-in was left in the database"
    grant = next(
        entry for entry in state.result["manual"] if entry["what"] == "Remove Onramp's delegated permission grant"
    )
    assert "403 Authorization_RequestDenied" in grant["why"]
    assert "Remove-MgOauth2PermissionGrant" in grant["powershell"] and "Enterprise applications" in grant["clicks"]
    assert "cannot sign in to your tenant" in state.result["still_can"]


def test_reducing_access_removes_onramps_delegated_grant_with_the_administrators_sign_in(onramps_app):
    tenant = connect_with_microsoft(onramps_app, admin_client("alice"))
    kept = admin_sign_in.kept_sign_in(tenant)

    state = hand_back(tenant)

    assert state.status == StepStatus.SUCCEEDED, state.error_message
    assert any("delegated permission grant" in entry["what"] for entry in state.result["done"]), state.result["manual"]
    assert not any("delegated" in entry["what"] for entry in state.result["manual"])
    assert onramps_app.control.calls()["calls"]["DELETE /oauth2PermissionGrants/{id}"] >= 1
    assert not TenantSecret.objects.filter(tenant=tenant).exists()
    # No grant of Onramp's app is left: the sign-in Onramp held can no longer get a token.
    with pytest.raises(SignInAgainNeeded) as refused:
        DelegatedTokens(admin_sign_in.connector_sign_in_app(tenant), kept).refresh()
    assert refused.value.code == "AADSTS65001"


def test_an_organisation_bound_by_its_own_app_has_no_kept_sign_in_to_read():
    tenant = make_tenant("contoso")  # bound by its app registration's credentials, not by an administrator's sign-in
    with CaptureQueriesContext(connection) as queries:
        assert admin_sign_in.kept_sign_in(tenant) is None
    assert len(queries) == 0, "every step of an app-bound organisation read the secrets table for nothing"
