"""The connect and rooms forms of the exchange_server profile: Basic credentials over HTTPS with the organisation's
CA certificate pasted on the form (no app-only token option), and a rooms upload that is kept between confirmations."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from tenants.models import Profile
from tests.factories import inputs_from_form
from wizard.actions import create_tenant
from wizard.engine import ensure_states
from wizard.microsoft.errors import UNREACHABLE, MicrosoftError
from wizard.models import StepState, StepStatus
from wizard.outcomes import Done, StepContext
from wizard.steps.exchange_server.connect import service as connect_step
from wizard.steps.exchange_server.connect.form import ConnectForm
from wizard.steps.exchange_server.rooms.form import RoomsForm

from .conftest import SERVICE_ACCOUNT, SERVICE_PASSWORD, create_service_account, exchange_server_tenant

pytestmark = pytest.mark.django_db


def form(form_class, tenant, step_id, data=None, files=None):
    state = StepState.objects.get(tenant=tenant, step_id=step_id)
    return form_class(data or {}, files, tenant=tenant, state=state)


def inputs_of(tenant, step_id, valid_form):
    return inputs_from_form(tenant, step_id, valid_form.cleaned_data, actor="admin")


def connect(tenant, inputs):
    StepState.objects.filter(tenant=tenant, step_id="connect").update(inputs=inputs)
    state = StepState.objects.get(tenant=tenant, step_id="connect")
    return connect_step.perform(StepContext(tenant=tenant, state=state, actor="admin", progress=lambda p, m: None))


def test_the_ca_certificate_pasted_on_the_form_is_what_ews_calls_trust(sandbox_tenant, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    info = sandbox_tenant.info
    tenant = exchange_server_tenant(info)
    create_service_account(tenant)
    ensure_states(tenant)
    tenant.custom_endpoints = {k: v for k, v in tenant.custom_endpoints.items() if k != "ca_bundle"}
    tenant.save()
    data = {"service_account_upn": SERVICE_ACCOUNT, "password": SERVICE_PASSWORD, "ews_url": info["ews_url"]}

    untrusted = form(ConnectForm, tenant, "connect", data)
    assert untrusted.is_valid(), untrusted.errors
    assert "auth" not in untrusted.fields  # Basic over HTTPS only: no app-only token option
    with pytest.raises(MicrosoftError) as error:
        connect(tenant, inputs_of(tenant, "connect", untrusted))
    # The words do not say which failure it was (an endpoint typed on a form must not map internal ports); the fix
    # names the CA bundle among the causes.
    assert error.value.message.endswith(UNREACHABLE) and "CA bundle" in error.value.fix

    assert not form(ConnectForm, tenant, "connect", {**data, "ca_certificates": "not a certificate"}).is_valid()
    pem = Path(info["ca_bundle"]).read_text()
    trusted = form(ConnectForm, tenant, "connect", {**data, "ca_certificates": pem})
    assert trusted.is_valid(), trusted.errors
    inputs = inputs_of(tenant, "connect", trusted)
    assert SERVICE_PASSWORD not in str(inputs) and pem not in str(inputs)
    tenant.refresh_from_db()
    assert Path(tenant.custom_endpoints["ca_bundle"]).read_text().strip() == pem.strip()
    assert isinstance(connect(tenant, inputs), Done)
    again = form(ConnectForm, tenant, "connect", {"service_account_upn": SERVICE_ACCOUNT})
    assert again.is_valid(), again.errors  # the stored password and CA bundle are kept
    assert "leave empty to keep it" in str(again.fields["ca_certificates"].help_text)


def test_confirming_again_does_not_ask_for_the_csv_again(db):
    from tenants.models import Tenant

    tenant = Tenant.objects.create(slug="onprem-csv", display_name="On premises", profile=Profile.EXCHANGE_SERVER)
    ensure_states(tenant)
    first = form(RoomsForm, tenant, "rooms")
    assert not first.is_valid() and "left_out" not in first.fields
    upload = SimpleUploadedFile("rooms.csv", b"ResourceAccounts\nRoom-1@contoso.com\nroom-2@contoso.com\n=cmd\n")
    uploaded = form(RoomsForm, tenant, "rooms", files={"csv_file": upload})
    assert uploaded.is_valid(), uploaded.errors
    inputs = inputs_of(tenant, "rooms", uploaded)
    assert inputs["rooms"] == ["room-1@contoso.com", "room-2@contoso.com"]
    assert [row["status"] for row in inputs["refused_rows"]] == ["formula"]
    StepState.objects.filter(tenant=tenant, step_id="rooms").update(inputs=inputs)

    kept = form(RoomsForm, tenant, "rooms")
    assert kept.is_valid(), kept.errors
    assert inputs_of(tenant, "rooms", kept) == inputs
    reported = form(
        RoomsForm, tenant, "rooms", {"left_out": "WARNING: No mailbox has this address, left out: ROOM-2@contoso.com"}
    )
    assert reported.is_valid(), reported.errors
    after = inputs_of(tenant, "rooms", reported)
    assert after["rooms"] == ["room-1@contoso.com"]
    assert [(row["status"], row["address"]) for row in after["refused_rows"]][-1] == (
        "unknown_mailbox",
        "room-2@contoso.com",
    )


def test_the_rooms_page_lists_the_rows_left_out_and_the_service_account_page_its_result(admin_user, admin_client):
    tenant = create_tenant(
        creator=admin_user, display_name="Onprem", slug="onprem-page", profile=Profile.EXCHANGE_SERVER
    )
    ensure_states(tenant)
    refused = [
        {"line": 4, "raw": "=cmd", "address": None, "status": "formula", "reason": "Looks like a formula"},
        {
            "line": None,
            "raw": "bob@contoso.com",
            "address": "bob@contoso.com",
            "status": "not_a_resource_mailbox",
            "reason": "Not a room or equipment mailbox",
        },
    ]
    StepState.objects.filter(tenant=tenant, step_id="rooms").update(
        inputs={"rooms": ["room-1@contoso.com"], "refused_rows": refused}
    )
    StepState.objects.filter(tenant=tenant, step_id__in=("service_account", "connect", "room_list")).update(
        status=StepStatus.SUCCEEDED
    )
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode()
    assert "Rows left out of the room lists" in page and "2 rows of your upload are not in the commands" in page
    assert "bob@contoso.com" in page and "Not a room or equipment mailbox" in page and "=cmd" in page
    assert "1 rooms are uploaded; leave empty to keep them." in page

    StepState.objects.filter(tenant=tenant, step_id="service_account").update(
        status=StepStatus.SUCCEEDED,
        finished_at=timezone.now(),
        result={
            "service_account_upn": SERVICE_ACCOUNT,
            "display_name": "Rooms",
            "script_sha256": "ab" * 32,
            "confirmed_by": "alice",
            "confirmed_at": "2026-11-25T13:17:30+00:00",
        },
    )
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "service_account"])).content.decode()
    assert SERVICE_ACCOUNT in page and "alice confirmed running them" in page
    assert "Read-Host -AsSecureString" in page and SERVICE_PASSWORD not in page
