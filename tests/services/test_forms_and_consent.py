"""The step forms' contract with the page, and admin consent through the sandbox's /adminconsent redirect."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tenants.models import Cloud, SecretKind
from tenants.secrets import has_secret, read_secret, store_secret
from tests.factories import connected_tenant, inputs_from_form, make_tenant, set_state, state_of
from wizard import actions
from wizard.errors import IllegalTransition
from wizard.models import AuditEvent, StepStatus
from wizard.steps.exchange_online.activate.form import ActivateForm
from wizard.steps.exchange_online.connect.form import ConnectForm
from wizard.steps.exchange_online.rooms.form import RoomsForm
from wizard.steps.exchange_online.rooms.service import SOURCE_CSV
from wizard.steps.exchange_online.service_account.form import ServiceAccountForm


@pytest.fixture
def tenant(sandbox_tenant, db):
    return connected_tenant(sandbox_tenant.info)


def test_connect_form_stores_secrets_encrypted_and_never_in_the_inputs(db):
    # A first connection: no working credentials to prove new ones against (tests/views/test_change_credentials.py).
    tenant = make_tenant("fabrikam")
    store_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET, "integration-secret")
    form = ConnectForm(
        {
            "microsoft_tenant_id": "11111111-2222-3333-4444-555555555555",
            "client_id": "app-id",
            "client_secret": "s3cret-value",
            "integration_app_id": "integration-id",
            "integration_client_secret": "",
            "cloud": Cloud.USGOV_HIGH,
        },
        tenant=tenant,
        state=state_of(tenant, "connect"),
    )

    assert form.is_valid(), form.errors
    actions.submit_step(tenant, "connect", "alice", cleaned_data=form.cleaned_data)
    inputs = state_of(tenant, "connect").inputs

    assert "s3cret" not in str(inputs)
    tenant.refresh_from_db()
    assert (tenant.microsoft_tenant_id, tenant.client_id, tenant.cloud) == (
        "11111111-2222-3333-4444-555555555555",
        "app-id",
        Cloud.USGOV_HIGH,
    )
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == "s3cret-value"
    assert has_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET)  # an empty field keeps the stored one
    event = AuditEvent.objects.get(tenant=tenant, action="save_app_credentials", actor="alice")
    assert "s3cret" not in str(event.detail)


def test_a_refused_submission_stores_nothing(tenant):
    """A probe saved a new client id while the page said "already running": the transition is checked first."""
    set_state(tenant, "connect", status=StepStatus.RUNNING)
    before = (tenant.microsoft_tenant_id, tenant.client_id, read_secret(tenant, SecretKind.CLIENT_SECRET))
    form = ConnectForm(
        {
            "microsoft_tenant_id": "99999999-2222-3333-4444-555555555555",
            "client_id": "probe-app",
            "client_secret": "probe-secret",
            "integration_app_id": "integration-id",
            "cloud": Cloud.WORLDWIDE,
        },
        tenant=tenant,
        state=state_of(tenant, "connect"),
    )
    assert form.is_valid(), form.errors

    with pytest.raises(IllegalTransition):
        actions.submit_step(tenant, "connect", "mallory", cleaned_data=form.cleaned_data)

    tenant.refresh_from_db()
    assert (tenant.microsoft_tenant_id, tenant.client_id, read_secret(tenant, SecretKind.CLIENT_SECRET)) == before
    assert not AuditEvent.objects.filter(tenant=tenant, actor="mallory").exists()


def test_service_account_form_offers_the_verified_domains_and_exchange_licences(tenant):
    state = state_of(tenant, "connect")
    state.result = {
        "verified_domains": ["contoso.onmicrosoft.com", "contoso.com"],
        "default_domain": "contoso.com",
        "licences": [
            {"sku_id": "a", "sku_part_number": "EXCHANGESTANDARD", "free_units": 2, "has_exchange": True},
            {"sku_id": "b", "sku_part_number": "POWER_BI_STANDARD", "free_units": 9, "has_exchange": False},
        ],
    }
    state.save()
    data = {"local_part": "rooms-svc", "domain": "contoso.com", "display_name": "Rooms", "usage_location": "gb"}

    form = ServiceAccountForm(data, tenant=tenant, state=state_of(tenant, "service_account"))

    assert [value for value, _ in form.fields["domain"].choices] == ["contoso.onmicrosoft.com", "contoso.com"]
    assert [value for value, _ in form.fields["sku_id"].choices] == ["", "a"]
    assert form.is_valid(), form.errors
    assert inputs_from_form(tenant, "service_account", form.cleaned_data) == {
        "user_principal_name": "rooms-svc@contoso.com",
        "display_name": "Rooms",
        "usage_location": "GB",
        "sku_id": "",
    }
    unverified = ServiceAccountForm({**data, "domain": "fabrikam.com"}, tenant=tenant, state=state)
    assert not unverified.is_valid() and "domain" in unverified.errors


def test_rooms_form_parses_the_csv_then_confirms_the_saved_choice(tenant):
    state = state_of(tenant, "rooms")
    upload = SimpleUploadedFile("rooms.csv", b"ResourceAccounts\nroom-001@contoso.onmicrosoft.com\n=cmd()\n")

    form = RoomsForm({"source": SOURCE_CSV}, {"csv_file": upload}, tenant=tenant, state=state)

    assert form.is_valid(), form.errors
    inputs = inputs_from_form(tenant, "rooms", form.cleaned_data)
    assert inputs["source"] == SOURCE_CSV and inputs["confirmed"] is False
    assert [row[3] for row in inputs["csv"]["rows"]] == ["valid", "formula"]
    state.inputs = inputs
    state.save()
    confirm = RoomsForm({"confirm": "1"}, tenant=tenant, state=state)
    assert confirm.is_valid(), confirm.errors
    assert inputs_from_form(tenant, "rooms", confirm.cleaned_data) == {**inputs, "confirmed": True}


def test_rooms_form_names_a_whole_file_problem(tenant):
    upload = SimpleUploadedFile("rooms.csv", b"Name\nBoardroom\n")

    form = RoomsForm({"source": SOURCE_CSV}, {"csv_file": upload}, tenant=tenant, state=state_of(tenant, "rooms"))

    assert not form.is_valid()
    assert "ResourceAccounts" in form.errors["csv_file"][0]
    nothing_to_confirm = RoomsForm({"confirm": "1"}, tenant=tenant, state=state_of(tenant, "rooms"))
    assert not nothing_to_confirm.is_valid()


def test_activate_form_needs_a_signing_secret_for_a_webhook(tenant, settings):
    settings.ONRAMP_WEBHOOK_ALLOW_PRIVATE = True  # a documentation address (RFC 5737): no DNS on an offline machine
    state = state_of(tenant, "activate")
    assert not ActivateForm({"webhook_url": "https://192.0.2.10/hook"}, tenant=tenant, state=state).is_valid()

    form = ActivateForm({"webhook_url": "https://192.0.2.10/hook", "webhook_secret": "k"}, tenant=tenant, state=state)

    assert form.is_valid()
    assert inputs_from_form(tenant, "activate", form.cleaned_data) == {"webhook_url": "https://192.0.2.10/hook"}
    assert read_secret(tenant, SecretKind.WEBHOOK_SECRET) == "k"


def test_connect_form_keeps_a_sandbox_tenant_on_its_endpoints(tenant):
    form = ConnectForm(tenant=tenant, state=state_of(tenant, "connect"))
    assert form.fields["cloud"].initial == Cloud.CUSTOM

    posted = ConnectForm(
        {
            "microsoft_tenant_id": tenant.microsoft_tenant_id,
            "client_id": tenant.client_id,
            "integration_app_id": tenant.integration_app_id,
            "cloud": Cloud.CUSTOM,
        },
        tenant=tenant,
        state=state_of(tenant, "connect"),
    )

    assert posted.is_valid(), posted.errors
    inputs_from_form(tenant, "connect", posted.cleaned_data)
    tenant.refresh_from_db()
    assert tenant.cloud == Cloud.CUSTOM and tenant.custom_endpoints["graph_url"].endswith("/v1.0")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/hook",
        "https://[::1]/hook",
        "https://192.168.0.10/hook",
    ],
)
def test_webhooks_to_internal_addresses_are_refused(tenant, settings, url):
    settings.ONRAMP_WEBHOOK_ALLOW_PRIVATE = False
    state = state_of(tenant, "activate")
    form = ActivateForm({"webhook_url": url, "webhook_secret": "k"}, tenant=tenant, state=state)

    assert not form.is_valid()
    assert "internal address" in form.errors["webhook_url"][0]


def test_webhook_to_a_public_address_is_accepted(tenant, settings):
    settings.ONRAMP_WEBHOOK_ALLOW_PRIVATE = False
    state = state_of(tenant, "activate")
    form = ActivateForm({"webhook_url": "https://20.190.128.1/hook", "webhook_secret": "k"}, tenant=tenant, state=state)

    assert form.is_valid(), form.errors
