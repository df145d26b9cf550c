"""The wizard's pages: access, every status's panel, actions, progress polling, rooms, password, activation."""

import html
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tenants.models import SecretKind
from tenants.secrets import store_secret
from tests.factories import set_state
from wizard.audit import record_event
from wizard.models import AuditEvent, MembershipStatus, Room, StepState, StepStatus, VerificationStatus
from wizard.steps.registry import prerequisites

pytestmark = pytest.mark.django_db


def finish(tenant, *step_ids: str) -> None:
    for step_id in step_ids:
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED, finished_at=timezone.now(), attempts=1)


def finish_before(tenant, step_id: str) -> None:
    """Every step this one builds on is done, so it may run."""
    finish(tenant, *(step.id for step in prerequisites(tenant.profile, step_id)))


def tenant_urls(slug: str) -> list[tuple[str, str]]:
    """Every wizard URL of a tenant, with its method."""
    return [
        ("get", reverse("wizard:resume", args=[slug])),
        ("get", reverse("wizard:step", args=[slug, "connect"])),
        ("get", reverse("wizard:progress", args=[slug, "connect"])),
        ("get", reverse("wizard:rooms", args=[slug, "rooms"])),
        ("get", reverse("wizard:activation", args=[slug])),
        ("get", reverse("wizard:activation_json", args=[slug])),
        ("post", reverse("wizard:run", args=[slug, "org_customization"])),
        ("post", reverse("wizard:action", args=[slug, "org_customization", "retry"])),
        ("post", reverse("wizard:action", args=[slug, "org_customization", "reverify"])),
        ("post", reverse("wizard:action", args=[slug, "org_customization", "resume"])),
        ("post", reverse("wizard:reveal_password", args=[slug])),
        ("post", reverse("wizard:start_consent", args=[slug])),
    ]


def test_every_url_is_a_404_to_another_tenants_admin(tenant, other_client, pending_sends):
    for method, url in tenant_urls(tenant.slug):
        response = getattr(other_client, method)(url)
        assert response.status_code == 404, (method, url)
    assert pending_sends() == 0
    assert StepState.objects.filter(tenant=tenant).exclude(status=StepStatus.NOT_STARTED).count() == 0


def test_anonymous_is_sent_to_sign_in(tenant):
    client = Client()
    for method, url in tenant_urls(tenant.slug):
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith(reverse("login")), (method, url)


def test_posts_need_the_csrf_token(tenant, admin_user, pending_sends):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("wizard:run", args=[tenant.slug, "org_customization"]))
    assert response.status_code == 403
    assert pending_sends() == 0


def test_support_sees_any_tenant(tenant, support_client):
    response = support_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"]))
    assert response.status_code == 200
    assert b"Contoso" in response.content


def test_opening_a_tenant_lands_on_the_first_unfinished_step(tenant, admin_client):
    finish(tenant, "connect", "org_customization")
    response = admin_client.get(reverse("wizard:resume", args=[tenant.slug]))
    assert response["Location"] == reverse("wizard:step", args=[tenant.slug, "service_account"])


def test_a_finished_tenant_opens_on_its_summary(tenant, admin_client):
    StepState.objects.filter(tenant=tenant).update(status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    response = admin_client.get(reverse("wizard:resume", args=[tenant.slug]))
    assert response["Location"] == reverse("wizard:activation", args=[tenant.slug])


def test_step_page_explains_the_step_and_shows_its_powershell(tenant, admin_client):
    response = admin_client.get(reverse("wizard:step", args=[tenant.slug, "room_list"]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Room list" in page
    assert "Why this step" in page
    assert "New-DistributionGroup" in page
    assert 'data-copy="#ps-room_list"' in page
    # Every step is listed down the side with its status.
    for title in ("Connect the tenant", "Service account", "Scoped access", "Activate"):
        assert title in page
    assert 'aria-current="step"' in page


def test_unknown_step_is_a_404(tenant, admin_client):
    assert admin_client.get(reverse("wizard:step", args=[tenant.slug, "nope"])).status_code == 404


def test_run_queues_the_step(tenant, admin_client, pending_sends):
    finish_before(tenant, "org_customization")
    response = admin_client.post(reverse("wizard:run", args=[tenant.slug, "org_customization"]))
    assert response.status_code == 302
    state = StepState.objects.get(tenant=tenant, step_id="org_customization")
    assert state.status == StepStatus.QUEUED
    assert pending_sends() == 1
    assert AuditEvent.objects.filter(tenant=tenant, actor="alice", action="run", step_id="org_customization").exists()


def test_running_step_polls_and_shows_progress(tenant, admin_client):
    set_state(tenant, "org_customization", status=StepStatus.RUNNING, progress_percent=40, progress_message="Reading")
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "org_customization"])).content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert 'value="40"' in page
    assert "Reading" in page
    partial = admin_client.get(reverse("wizard:progress", args=[tenant.slug, "org_customization"]))
    assert 'hx-trigger="every 1s"' in partial.content.decode()
    assert "HX-Retarget" not in partial


def test_idle_step_does_not_poll(tenant, admin_client):
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "org_customization"])).content.decode()
    assert "every 1s" not in page


def test_progress_of_a_finished_step_refreshes_the_whole_wizard(tenant, admin_client):
    finish(tenant, "org_customization")
    response = admin_client.get(
        reverse("wizard:progress", args=[tenant.slug, "org_customization"]), headers={"HX-Request": "true"}
    )
    assert response["HX-Retarget"] == "#wizard"
    assert response["HX-Reswap"] == "outerHTML"
    page = response.content.decode()
    assert 'id="wizard"' in page
    assert "every 1s" not in page
    assert "Next: Service account" in page


def test_waiting_step_says_what_it_waits_for_and_how_long(tenant, admin_client):
    set_state(
        tenant,
        "service_account",
        status=StepStatus.WAITING,
        waiting_for="the mailbox to be provisioned",
        waiting_since=timezone.now() - timezone.timedelta(minutes=4),
    )
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "service_account"])).content.decode()
    assert "the mailbox to be provisioned" in page
    assert "4\xa0minutes so far" in page


def test_failed_step_shows_microsofts_code_explanation_fix_and_retry(tenant, admin_client, pending_sends):
    finish_before(tenant, "room_list")
    set_state(
        tenant,
        "room_list",
        status=StepStatus.FAILED,
        attempts=1,
        inputs={"name": "Rooms"},
        error_code="Request_BadRequest",
        error_message="Another object with the same value for property proxyAddresses already exists.",
        error_detail={"explanation": "The address is taken.", "fix": "Choose another address.", "request_id": "r-123"},
    )
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "room_list"])).content.decode()
    for text in ("Request_BadRequest", "already exists", "The address is taken.", "Choose another address.", "r-123"):
        assert text in page
    retry = reverse("wizard:action", args=[tenant.slug, "room_list", "retry"])
    assert retry in page
    admin_client.post(retry)
    state = StepState.objects.get(tenant=tenant, step_id="room_list")
    assert state.status == StepStatus.QUEUED
    assert state.inputs == {"name": "Rooms"}, "a retry keeps the saved inputs"
    assert AuditEvent.objects.filter(tenant=tenant, action="retry").exists()


def test_interrupted_step_offers_resume(tenant, admin_client, pending_sends):
    finish_before(tenant, "rooms")
    set_state(tenant, "rooms", status=StepStatus.INTERRUPTED, progress_message="The worker stopped.")
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode()
    resume = reverse("wizard:action", args=[tenant.slug, "rooms", "resume"])
    assert resume in page
    admin_client.post(resume)
    assert StepState.objects.get(tenant=tenant, step_id="rooms").status == StepStatus.QUEUED


def test_reverify_requeues_a_finished_step(tenant, admin_client, pending_sends):
    finish(tenant, "connect")
    admin_client.post(reverse("wizard:action", args=[tenant.slug, "connect", "reverify"]))
    assert StepState.objects.get(tenant=tenant, step_id="connect").status == StepStatus.QUEUED
    assert AuditEvent.objects.filter(tenant=tenant, action="reverify", actor="alice").exists()


def test_a_second_run_while_queued_is_refused_politely(tenant, admin_client, pending_sends):
    finish_before(tenant, "org_customization")
    admin_client.post(reverse("wizard:run", args=[tenant.slug, "org_customization"]))
    response = admin_client.post(reverse("wizard:run", args=[tenant.slug, "org_customization"]), follow=True)
    assert "already queued or running" in response.content.decode()
    assert pending_sends() == 1


def test_unknown_action_is_a_404(tenant, admin_client):
    response = admin_client.post(reverse("wizard:action", args=[tenant.slug, "connect", "explode"]))
    assert response.status_code == 404


def test_action_returns_to_a_local_next_url_only(tenant, support_client, pending_sends):
    set_state(tenant, "connect", status=StepStatus.FAILED)
    url = reverse("wizard:action", args=[tenant.slug, "connect", "retry"])
    back = reverse("orgs:support_tenant", args=[tenant.slug])
    assert support_client.post(url, {"next": back})["Location"] == back
    set_state(tenant, "connect", status=StepStatus.FAILED)
    response = support_client.post(url, {"next": "https://evil.example/"})
    assert response["Location"] == reverse("wizard:step", args=[tenant.slug, "connect"])


def make_rooms(tenant) -> None:
    Room.objects.bulk_create(
        [
            Room(
                tenant=tenant,
                address="a@contoso.com",
                room_list="Rooms",
                membership_status=MembershipStatus.MEMBER,
                verification_status=VerificationStatus.PASS,
            ),
            Room(
                tenant=tenant,
                address="b@contoso.com",
                room_list="Rooms",
                membership_status=MembershipStatus.FAILED,
                verification_status=VerificationStatus.FAIL,
                reason="Not in scope",
            ),
            Room(tenant=tenant, address="c@contoso.com", room_list="Rooms 02"),
        ]
    )


def test_rooms_table_filters(tenant, admin_client):
    make_rooms(tenant)
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "verify"])).content.decode()
    assert all(address in page for address in ("a@contoso.com", "b@contoso.com", "c@contoso.com"))
    url = reverse("wizard:rooms", args=[tenant.slug, "verify"])
    failing = admin_client.get(url, {"rooms": "fail"}).content.decode()
    assert "b@contoso.com" in failing and "Not in scope" in failing
    assert "a@contoso.com" not in failing and "c@contoso.com" not in failing
    passing = admin_client.get(url, {"rooms": "pass"}).content.decode()
    assert "a@contoso.com" in passing and "b@contoso.com" not in passing
    pending = admin_client.get(reverse("wizard:rooms", args=[tenant.slug, "rooms"]), {"rooms": "pending"})
    assert "c@contoso.com" in pending.content.decode() and "a@contoso.com" not in pending.content.decode()


def test_rooms_table_exists_only_for_room_steps(tenant, admin_client):
    assert admin_client.get(reverse("wizard:rooms", args=[tenant.slug, "connect"])).status_code == 404


def test_service_account_password_is_shown_once_to_the_tenants_admin(tenant, admin_client, support_client):
    finish(tenant, "service_account")
    store_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD, "S3cret-Pa55word!")
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "service_account"])).content.decode()
    assert "S3cret-Pa55word!" not in page
    assert "Show the password once" in page
    support_page = support_client.get(reverse("wizard:step", args=[tenant.slug, "service_account"])).content
    assert b"Show the password once" not in support_page
    assert support_client.post(reverse("wizard:reveal_password", args=[tenant.slug])).status_code == 404

    first = admin_client.post(reverse("wizard:reveal_password", args=[tenant.slug])).content.decode()
    assert "S3cret-Pa55word!" in first
    assert 'download="contoso-service-account.txt"' in first
    second = admin_client.post(reverse("wizard:reveal_password", args=[tenant.slug])).content.decode()
    assert "S3cret-Pa55word!" not in second
    assert "not shown again" in second
    assert (
        AuditEvent.objects.filter(tenant=tenant, action="reveal_service_account_password", actor="alice").count() == 1
    )


def test_activation_page_and_json(tenant, admin_client):
    summary = {"tenant_id": "t-1", "service_account": "svc@contoso.com", "room_lists": ["rooms@contoso.com"]}
    set_state(
        tenant,
        "activate",
        status=StepStatus.SUCCEEDED,
        result={"summary": {**summary, "client_secret": "nope"}, "webhook": {"status": "delivered", "attempts": 1}},
    )
    page = admin_client.get(reverse("wizard:activation", args=[tenant.slug])).content.decode()
    assert "svc@contoso.com" in page and "rooms@contoso.com" in page
    assert "Delivered" in page
    assert "data-print" in page
    assert "nope" not in page
    download = admin_client.get(reverse("wizard:activation_json", args=[tenant.slug]))
    assert download["Content-Disposition"] == 'attachment; filename="onramp-contoso.json"'
    assert download.json() == summary


def test_activation_before_the_end_points_back_to_the_wizard(tenant, admin_client):
    page = admin_client.get(reverse("wizard:activation", args=[tenant.slug])).content.decode()
    assert "Continue where you left off" in page


def test_support_cannot_start_admin_consent(tenant, support_client):
    assert support_client.post(reverse("wizard:start_consent", args=[tenant.slug])).status_code == 404


def test_consent_callback_without_a_pending_consent_is_a_404(admin_client):
    assert admin_client.get(reverse("orgs:consent_callback"), {"admin_consent": "True"}).status_code == 404


def test_result_never_shows_secret_keys(tenant, support_client):
    set_state(
        tenant, "connect", status=StepStatus.SUCCEEDED, result={"organization_name": "Contoso", "client_secret": "zzz"}
    )
    record_event(tenant, "alice", "save", "succeeded", "connect", {"token": "tok-zzz", "client_id": "cid"})
    page = support_client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()
    assert "Contoso" in page and "zzz" not in page


def test_rooms_preview_lists_problems_first_and_offers_confirm(tenant, admin_client, pending_sends):
    finish_before(tenant, "rooms")
    preview = [
        {"line": 2, "address": "room-1@contoso.com", "status": "valid", "reason": ""},
        {"line": 3, "address": "room-1@contoso.com", "status": "duplicate", "reason": "Same address as row 2."},
        {"line": 4, "address": "=cmd()", "status": "formula", "reason": "Looks like a formula."},
    ]
    set_state(
        tenant,
        "rooms",
        status=StepStatus.NEEDS_INPUT,
        inputs={"source": "csv", "csv": {}},
        result={"preview": preview, "preview_summary": {"valid": 1, "duplicate": 1, "formula": 1, "total": 3}},
    )
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode()
    assert page.index("Same address as row 2.") < page.index(
        'room-1@contoso.com</td>\n        <td data-label="Status"><span class="pill status-valid"'
    )
    assert "Confirm and add 1 room" in page
    assert 'name="confirm" value="1"' in page
    assert "Choose other rooms instead" in page


CONNECT_BUTTON = '<button class="primary" type="submit">Connect with Microsoft</button>'


def test_only_the_tenants_admin_sees_the_credentials_form(tenant, admin_client, support_client, settings):
    settings.ONRAMP_CONNECTOR_CLIENT_ID = "00000000-0000-0000-0000-0000000c0a11"
    admin_page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()
    assert 'type="password"' in admin_page and CONNECT_BUTTON in admin_page
    support_page = support_client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()
    assert 'type="password"' not in support_page and CONNECT_BUTTON not in support_page
    response = support_client.post(reverse("wizard:run", args=[tenant.slug, "connect"]), {"client_secret": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("profile", ["exchange_online", "exchange_server"])
def test_every_step_page_of_every_profile_renders(admin_user, admin_client, support_client, profile):
    from wizard.actions import create_tenant
    from wizard.steps.registry import steps_for

    tenant = create_tenant(
        creator=admin_user, display_name=f"Org {profile}", slug=profile.replace("_", "-"), profile=profile
    )
    for step in steps_for(profile):
        for client in (admin_client, support_client):
            response = client.get(reverse("wizard:step", args=[tenant.slug, step.id]))
            assert response.status_code == 200, (profile, step.id)
            assert html.escape(step.title) in response.content.decode()


def test_the_progress_poll_updates_the_pill_and_the_steps_list_too(tenant, admin_client):
    finish_before(tenant, "org_customization")
    set_state(tenant, "org_customization", status=StepStatus.RUNNING, progress_percent=66)
    partial = admin_client.get(reverse("wizard:progress", args=[tenant.slug, "org_customization"])).content.decode()
    assert '<span id="step-status" class="pill status-running" hx-swap-oob="true">Running</span>' in partial
    assert 'id="nav-org_customization" class="status-running current" hx-swap-oob="true"' in partial
    assert '<span id="nav-summary-status" hx-swap-oob="true">Running</span>' in partial


def test_the_progress_poll_leaves_the_payloads_in_the_database_and_costs_four_queries(tenant, admin_client):
    """Every admin with a running step asks every second (make bench: 200 at once): the session, the person, the
    tenant with the member check, the step without its upload and preview."""
    finish_before(tenant, "rooms")
    set_state(tenant, "rooms", status=StepStatus.RUNNING, progress_percent=5, inputs={"csv": {"rows": [[2, "x"]]}})
    url = reverse("wizard:progress", args=[tenant.slug, "rooms"])
    admin_client.get(url)
    with CaptureQueriesContext(connection) as captured:
        partial = admin_client.get(url).content.decode()
    assert "5%" in partial
    assert len(captured) == 4, [query["sql"] for query in captured]
    (state_query,) = [query["sql"] for query in captured if "wizard_stepstate" in query["sql"]]
    assert '"progress_percent"' in state_query
    assert '"inputs"' not in state_query and '"result"' not in state_query


def test_support_polls_a_tenant_it_is_not_a_member_of_and_another_admin_gets_a_404(
    tenant, support_client, other_client
):
    finish_before(tenant, "rooms")
    set_state(tenant, "rooms", status=StepStatus.RUNNING, progress_percent=30)
    url = reverse("wizard:progress", args=[tenant.slug, "rooms"])
    assert "30%" in support_client.get(url).content.decode()
    assert other_client.get(url).status_code == 404


def test_admin_consent_is_offered_only_when_there_is_an_app_to_consent_to(tenant, admin_client, settings):
    settings.ONRAMP_CONNECTOR_CLIENT_ID = ""
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()
    assert CONNECT_BUTTON not in page
    assert "Connect with an app registration of your own" in page
    settings.ONRAMP_CONNECTOR_CLIENT_ID = "00000000-0000-0000-0000-0000000c0a11"
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()
    assert CONNECT_BUTTON in page
    assert 'name="integration_app_id"' in page[page.index("consent-title") : page.index(CONNECT_BUTTON)]


def test_the_consent_path_asks_for_the_integrations_app_id(tenant, admin_client, settings):
    settings.ONRAMP_CONNECTOR_CLIENT_ID = "00000000-0000-0000-0000-0000000c0a11"
    url = reverse("wizard:start_consent", args=[tenant.slug])
    response = admin_client.post(url, {"integration_app_id": " "}, follow=True)
    assert "Enter the integration's application ID before consenting." in html.unescape(response.content.decode())
    assert response.redirect_chain[-1][0] == reverse("wizard:step", args=[tenant.slug, "connect"])

    assert not AuditEvent.objects.filter(tenant=tenant, action="set_integration_app_id").exists()


def test_the_connect_form_takes_only_an_app_of_ones_own_with_its_secret(tenant, settings):
    from tests.factories import state_of
    from wizard.steps.exchange_online.connect.form import ConnectForm

    settings.ONRAMP_CONNECTOR_CLIENT_ID = "00000000-0000-0000-0000-0000000c0a11"
    data = {
        "microsoft_tenant_id": "11111111-2222-3333-4444-555555555555",
        "client_id": settings.ONRAMP_CONNECTOR_CLIENT_ID,
        "integration_app_id": "22222222-2222-3333-4444-555555555555",
        "cloud": "worldwide",
    }
    onramps_app = ConnectForm(data, tenant=tenant, state=state_of(tenant, "connect"))
    assert not onramps_app.is_valid() and "Connect with Microsoft" in onramps_app.errors["client_id"][0]
    own_app = ConnectForm(
        {**data, "client_id": "33333333-0000-0000-0000-000000000000"}, tenant=tenant, state=state_of(tenant, "connect")
    )
    assert not own_app.is_valid() and "client_secret" in own_app.errors


CONNECT_FIELDS = {
    "microsoft_tenant_id": "11111111-2222-3333-4444-555555555555",
    "client_id": "22222222-2222-3333-4444-555555555555",
    "client_secret": "s3cret-value",
    "integration_app_id": "33333333-2222-3333-4444-555555555555",
    "cloud": "custom",
}
ENDPOINTS = {
    "authority": "https://login.private.example/11111111-2222-3333-4444-555555555555",
    "graph_url": "https://graph.private.example/v1.0",
    "exchange_admin_url": "https://exchange.private.example/adminapi/beta/11111111-2222-3333-4444-555555555555",
    "ews_url": "https://exchange.private.example/EWS/Exchange.asmx",
}


def test_the_connect_form_offers_explicit_endpoints_to_admins(tenant, admin_client):
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()
    assert '<option value="custom">Explicit endpoints</option>' in page
    assert "<summary>Explicit endpoints</summary>" in page
    for name in ("authority", "graph_url", "exchange_admin_url", "ews_url"):
        assert f'name="{name}"' in page
    assert 'type="file" name="ca_bundle"' in page


def test_explicit_endpoints_and_a_ca_bundle_are_saved_with_the_credentials(
    tenant, admin_client, pending_sends, settings, tmp_path, sandbox_tenant
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.VAR_DIR = tmp_path
    url = reverse("wizard:run", args=[tenant.slug, "connect"])
    missing = admin_client.post(url, {**CONNECT_FIELDS, **ENDPOINTS, "graph_url": "", "ews_url": "http://x.example/"})
    assert missing.status_code == 400
    page = missing.content.decode()
    assert "Needed with explicit endpoints." in page and "Use an https:// URL" in page
    assert '<details class="advanced" open>' in page
    not_pem = SimpleUploadedFile("ca.pem", b"hello", content_type="application/x-pem-file")
    bad = admin_client.post(url, {**CONNECT_FIELDS, **ENDPOINTS, "ca_bundle": not_pem})
    assert "This is not a PEM file of certificates" in bad.content.decode()

    pem = Path(sandbox_tenant.info["ca_bundle"]).read_bytes()
    ca = SimpleUploadedFile("sandbox-ca.pem", pem, content_type="application/x-pem-file")
    assert admin_client.post(url, {**CONNECT_FIELDS, **ENDPOINTS, "ca_bundle": ca}).status_code == 302
    tenant.refresh_from_db()
    assert tenant.cloud == "custom"
    assert {key: tenant.custom_endpoints[key] for key in ENDPOINTS} == ENDPOINTS
    stored = tenant.custom_endpoints["ca_bundle"]
    assert stored.startswith(str(tmp_path)) and Path(stored).read_bytes() == pem


def rooms_waiting_on_a_preview(tenant) -> None:
    finish_before(tenant, "rooms")
    set_state(
        tenant,
        "rooms",
        status=StepStatus.NEEDS_INPUT,
        inputs={"source": "csv", "csv": {"column": "ResourceAccounts", "rows": []}, "confirmed": False},
        result={
            "preview": [{"line": 2, "address": "room-1@contoso.com", "status": "valid", "reason": ""}],
            "preview_summary": {"valid": 1, "total": 1},
        },
    )


def test_an_empty_upload_gets_one_error(tenant, admin_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    finish_before(tenant, "rooms")
    empty = SimpleUploadedFile("rooms.csv", b"", content_type="text/csv")
    response = admin_client.post(
        reverse("wizard:run", args=[tenant.slug, "rooms"]), {"source": "csv", "csv_file": empty}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "The submitted file is empty." in page
    assert "Choose the CSV file to upload." not in page
    # A screen reader hears the error with the field: the input is invalid and described by the error's id.
    field = re.search(r'<input[^>]*name="csv_file"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and "id_csv_file_error" in field, field
    assert 'id="id_csv_file_error"' in page


def test_a_rejected_upload_clears_the_preview_it_would_replace(tenant, admin_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    rooms_waiting_on_a_preview(tenant)
    assert (
        "Confirm and add 1 room"
        in admin_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode()
    )
    header_only = SimpleUploadedFile("rooms.csv", b"ResourceAccounts\r\n", content_type="text/csv")
    url = reverse("wizard:run", args=[tenant.slug, "rooms"])
    response = admin_client.post(url, {"source": "csv", "csv_file": header_only})
    assert response.status_code == 400
    assert "Confirm and add" not in response.content.decode()
    state = StepState.objects.get(tenant=tenant, step_id="rooms")
    assert state.status == StepStatus.NEEDS_INPUT and "preview" not in state.result and state.inputs == {}
    assert (
        "Confirm and add" not in admin_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode()
    )
    confirm = admin_client.post(url, {"confirm": "1"})
    assert "There is no preview to confirm" in confirm.content.decode()
    assert AuditEvent.objects.filter(tenant=tenant, action="discard_preview").exists()


def test_the_preview_names_a_column_other_than_the_articles(tenant, admin_client):
    rooms_waiting_on_a_preview(tenant)
    set_state(tenant, "rooms", inputs={"source": "csv", "csv": {"column": "Email", "rows": []}})
    page = html.unescape(admin_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode())
    assert "Read addresses from the column ‘Email’; the article's column is ‘ResourceAccounts’." in page
    set_state(tenant, "rooms", inputs={"source": "csv", "csv": {"column": "Resource Accounts", "rows": []}})
    assert (
        "Read addresses from"
        not in admin_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode()
    )


def test_the_confirm_button_counts_the_rooms_it_will_write_and_the_preview_shows_the_planned_lists(
    tenant, admin_client
):
    finish_before(tenant, "rooms")
    preview = [
        {"line": 1, "address": "room-1@contoso.com", "status": "valid", "reason": ""},
        {"line": 2, "address": "room-2@contoso.com", "status": "already_member", "reason": "Already in a room list."},
    ]
    planned = [{"name": "Rooms", "address": "rooms@contoso.com", "members": 2, "adding": 1, "created": False}]
    set_state(
        tenant,
        "rooms",
        status=StepStatus.NEEDS_INPUT,
        inputs={"source": "all"},
        result={"preview": preview, "planned_lists": planned},
    )
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode()
    assert "Confirm and add 1 room<" in page and "Confirm and add 2 rooms" not in page
    assert "1 is in one already" in page
    assert "The room list after confirming" in page and "rooms@contoso.com" in page
