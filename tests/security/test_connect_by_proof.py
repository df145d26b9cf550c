"""Connect by proof (issue 23 point 0): an organisation is bound to a Microsoft tenant only by an administrator's
Microsoft sign-in or by a token issued to the organisation's own app, and the installation's connector secret never
leaves for endpoints someone typed. The attacks of the issue, reproduced: stealing the connector secret through an
authority of one's own, binding a victim's tenant by pasting ids or by forging the consent answer."""

import datetime
import html
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.db import connection
from django.test import Client
from django.urls import reverse

from tenants.access import tenants_bound_to
from tenants.models import BindingProof, Cloud, Membership, Tenant
from tests.factories import (
    bound_by_proof,
    connected_tenant,
    make_tenant,
    make_user,
    on_sandbox_cloud,
    run_inline,
    set_state,
    state_of,
)
from tests.people.conftest import answer_sign_in_page, sandbox_sign_in_settings
from tests.people.test_signin_without_claims import follow_sign_in
from wizard import engine
from wizard.errors import StepError
from wizard.models import AuditEvent, StepStatus
from wizard.services.connector import connector_clients
from wizard.steps.exchange_online.connect import service as connect
from wizard.steps.exchange_online.connect.form import ConnectForm

pytestmark = pytest.mark.django_db

GLOBAL_ADMIN = "admin@contoso.onmicrosoft.com"
EXCHANGE_ADMIN = "user-001@contoso.onmicrosoft.com"
VICTIM_TENANT_ID = "0b7e5a52-8f13-4c6e-9d0e-7d1c2b3a4f56"
ATTACKER_HOST = "127.0.0.2"  # loopback, but not the host the installation vouches for (tests/conftest.py)


@pytest.fixture
def onramps_app(settings, sandbox_tenant):
    """Onramp's multi-tenant app, published outside the sandbox tenant (which has no service principal for it until
    an administrator consents): its id and secret are the installation's."""
    settings.ONRAMP_CONNECTOR_CLIENT_ID = sandbox_tenant.info["onramp_app_id"]
    settings.ONRAMP_CONNECTOR_CLIENT_SECRET = sandbox_tenant.info["onramp_app_secret"]
    return sandbox_tenant


def admin_client(username: str) -> Client:
    client = Client()
    client.force_login(make_user(username))
    return client


def start_connect(client: Client, tenant: Tenant, info: dict):
    return client.post(
        reverse("wizard:start_consent", args=[tenant.slug]), {"integration_app_id": info["integration_app_id"]}
    )


def follow_consent(info: dict, url: str) -> str:
    session = requests.Session()
    session.trust_env = False
    answer = session.get(url, verify=info["ca_bundle"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_connect_with_microsoft_binds_the_tenant_its_administrator_signed_in_to(onramps_app):
    info = onramps_app.info
    tenant = on_sandbox_cloud(make_tenant("contoso", admin="alice"), info)
    client = admin_client("alice")

    sign_in = start_connect(client, tenant, info)
    assert sign_in.status_code == 302 and "/organizations/oauth2/v2.0/authorize" in sign_in["Location"]
    consent = client.get(local(answer_sign_in_page(info, sign_in["Location"], GLOBAL_ADMIN)))
    assert consent.status_code == 302
    assert urlsplit(consent["Location"]).path == f"/{info['tenant_id']}/adminconsent", "consent in the proven tenant"
    back = client.get(local(follow_consent(info, consent["Location"])))

    assert back.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.microsoft_tenant_id, tenant.binding_proof) == (info["tenant_id"], BindingProof.ADMIN_SIGN_IN)
    assert tenant.binding_proven_by == GLOBAL_ADMIN and tenant.client_id == info["onramp_app_id"]
    assert list(tenants_bound_to(info["tenant_id"])) == [tenant]
    assert AuditEvent.objects.filter(tenant=tenant, action="bind_microsoft_tenant", detail__proof="admin_sign_in")
    assert tenant.integration_app_id == info["integration_app_id"]
    assert len(connection.run_on_commit) == 1, "the connect step was not queued"
    # Consent gave Onramp's app its application permissions; a directory role is assigned by the admin, never by
    # consent (step 0 names it when missing).
    onramps_app.control.grant_permission("Exchange Administrator", app_id=info["onramp_app_id"])
    queued = state_of(tenant, "connect")
    engine.execute_step(queued.pk, queued.task_id)
    assert state_of(tenant, "connect").status == StepStatus.SUCCEEDED, "the installation's secret did not sign in"


def test_an_administrator_who_may_not_consent_is_told_which_role_is_missing(onramps_app):
    info = onramps_app.info
    tenant = on_sandbox_cloud(make_tenant("contoso", admin="alice"), info)
    client = admin_client("alice")

    sign_in = start_connect(client, tenant, info)
    refused = client.get(local(answer_sign_in_page(info, sign_in["Location"], EXCHANGE_ADMIN)), follow=True)

    page = refused.content.decode()
    assert "is not a Global Administrator or Privileged Role Administrator" in page
    tenant.refresh_from_db()
    assert (tenant.microsoft_tenant_id, tenant.binding_proof) == ("", "")
    event = AuditEvent.objects.get(tenant=tenant, action="connect_with_microsoft", outcome="refused")
    assert event.detail["reason"] == "not_a_consenting_administrator"


def test_a_forged_consent_answer_without_a_sign_in_binds_nothing(onramps_app):
    """The attack: start connecting, skip Microsoft, and come back with `admin_consent=True&tenant=<victim>`."""
    info = onramps_app.info
    tenant = on_sandbox_cloud(make_tenant("evil", admin="mallory"), info)
    client = admin_client("mallory")
    sign_in = start_connect(client, tenant, info)
    state = dict(parse_qsl(urlsplit(sign_in["Location"]).query))["state"]

    forged = client.get(
        reverse("orgs:consent_callback"), {"admin_consent": "True", "tenant": VICTIM_TENANT_ID, "state": state}
    )

    assert forged.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.microsoft_tenant_id, tenant.binding_proof) == ("", "")
    assert AuditEvent.objects.filter(tenant=tenant, action="connect_with_microsoft", outcome="refused").exists()


def test_a_consent_answer_naming_another_tenant_than_the_signed_in_one_binds_nothing(onramps_app):
    """The attack after a real sign-in to one's own tenant: the consent answer names the victim's tenant."""
    info = onramps_app.info
    tenant = on_sandbox_cloud(make_tenant("evil", admin="mallory"), info)
    client = admin_client("mallory")
    sign_in = start_connect(client, tenant, info)
    consent = client.get(local(answer_sign_in_page(info, sign_in["Location"], GLOBAL_ADMIN)))
    state = dict(parse_qsl(urlsplit(consent["Location"]).query))["state"]

    forged = client.get(
        reverse("orgs:consent_callback"), {"admin_consent": "True", "tenant": VICTIM_TENANT_ID, "state": state}
    )

    assert forged.status_code == 302
    tenant.refresh_from_db()
    assert tenant.binding_proof == "" and tenant.microsoft_tenant_id != VICTIM_TENANT_ID
    event = AuditEvent.objects.get(tenant=tenant, action="admin_consent", outcome="refused")
    assert event.detail["answered_tenant"] == VICTIM_TENANT_ID


def test_onramps_app_id_cannot_be_pasted_in_the_form_or_saved_by_the_command(onramps_app):
    info = onramps_app.info
    tenant = make_tenant("evil", admin="mallory")
    form = ConnectForm(
        {
            "microsoft_tenant_id": info["tenant_id"],
            "client_id": info["onramp_app_id"],
            "integration_app_id": info["integration_app_id"],
            "cloud": Cloud.WORLDWIDE,
        },
        tenant=tenant,
        state=state_of(tenant, "connect"),
    )
    assert not form.is_valid()
    assert "Onramp's own app" in form.errors["client_id"][0]

    with pytest.raises(StepError) as refused:
        connect.save_app_credentials(
            tenant,
            actor="mallory",
            microsoft_tenant_id=info["tenant_id"],
            client_id=info["onramp_app_id"],
            client_secret="",
        )
    assert refused.value.code == "installation_app_pasted"
    tenant.refresh_from_db()
    assert tenant.microsoft_tenant_id == "" and not tenants_bound_to(info["tenant_id"]).exists()


def test_a_pasted_tenant_id_with_onramps_app_gets_no_token_and_joins_no_one(onramps_app, settings):
    """An organisation row that names Onramp's app and the victim's tenant id without proof (however it got there)
    cannot use the installation's secret, and the victim's administrators are not joined to it."""
    info = onramps_app.info
    tenant = on_sandbox_cloud(make_tenant("evil", admin="mallory"), info)
    Tenant.objects.filter(pk=tenant.pk).update(microsoft_tenant_id=info["tenant_id"], client_id=info["onramp_app_id"])
    onramps_app.control.reset_calls()

    state = run_inline(tenant, "connect")

    assert state.status == StepStatus.FAILED and state.error_code == "installation_app_unproven"
    assert onramps_app.control.calls()["total"] == 0, "a token was asked for the victim's tenant"
    sandbox_sign_in_settings(settings, info)
    assert not tenants_bound_to(info["tenant_id"]).exists()
    victim_admin = make_user(GLOBAL_ADMIN)
    assert not Membership.objects.filter(user=victim_admin, tenant=tenant).exists()


def _self_signed(host: str, folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "attacker.pem", folder / "attacker-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def attackers_authority(tmp_path):
    """An identity provider of the attacker's, on loopback over TLS with its own CA: it answers discovery as
    Microsoft would and records every request it receives (and the body of each)."""
    cert_file, key_file = _self_signed(ATTACKER_HOST, tmp_path)
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            received.append(f"GET {self.path}")
            base = f"https://{ATTACKER_HOST}:{self.server.server_port}/{VICTIM_TENANT_ID}"
            self._answer(
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                }
            )

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            received.append(f"POST {self.path} {body}")
            self._answer({"token_type": "Bearer", "expires_in": 3600, "access_token": "stolen"})

        def log_message(self, *args) -> None:
            """Quiet: the test reads what the server recorded, not its request log."""

    server = ThreadingHTTPServer((ATTACKER_HOST, 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://{ATTACKER_HOST}:{server.server_port}"
    yield {"base": base, "ca_bundle": str(cert_file), "received": received}
    server.shutdown()
    server.server_close()


def _point_at(tenant: Tenant, authority: dict, client_id: str) -> Tenant:
    base = authority["base"]
    Tenant.objects.filter(pk=tenant.pk).update(
        microsoft_tenant_id=VICTIM_TENANT_ID,
        client_id=client_id,
        cloud=Cloud.CUSTOM,
        custom_endpoints={
            "authority": f"{base}/{VICTIM_TENANT_ID}",
            "graph_url": f"{base}/v1.0",
            "exchange_admin_url": f"{base}/adminapi/beta/{VICTIM_TENANT_ID}",
            "ews_url": f"{base}/EWS/Exchange.asmx",
            "ca_bundle": authority["ca_bundle"],
        },
    )
    return Tenant.objects.get(pk=tenant.pk)


def test_the_connector_secret_never_reaches_an_authority_someone_typed(onramps_app, attackers_authority):
    """The attack: explicit endpoints of one's own, Onramp's app id and no secret; the worker used to fall back to
    the installation's secret and post it to the attacker's token endpoint. The step runs as the worker runs it."""
    tenant = _point_at(make_tenant("evil", admin="mallory"), attackers_authority, onramps_app.info["onramp_app_id"])

    state = run_inline(tenant, "connect", actor="mallory")

    secret = onramps_app.info["onramp_app_secret"]
    assert not any(secret in line for line in attackers_authority["received"]), "the connector secret was sent"
    assert attackers_authority["received"] == [], "the installation's app talked to the attacker's endpoints"
    assert state.status == StepStatus.FAILED and state.error_code == "installation_app_unproven"
    assert "Connect with Microsoft" in state.error_detail["fix"]


def test_connect_with_microsoft_is_refused_on_explicit_endpoints(onramps_app, attackers_authority):
    tenant = _point_at(make_tenant("evil", admin="mallory"), attackers_authority, "")
    client = admin_client("mallory")

    answer = start_connect(client, tenant, onramps_app.info)

    assert answer.status_code == 302 and answer["Location"].endswith("/connect/")
    assert attackers_authority["received"] == []
    assert "connects only through Microsoft" in client.get(answer["Location"]).content.decode()


def test_an_organisations_own_app_proves_its_tenant_on_trusted_endpoints_only(
    sandbox_tenant, attackers_authority, settings
):
    """Step 0 with the organisation's own app: a token from the vouched-for sandbox binds its tenant id; the same
    step against an authority someone typed binds nothing, however well it answers."""
    proven = connected_tenant(sandbox_tenant.info, "contoso", admin="alice")
    assert run_inline(proven, "connect").status == StepStatus.SUCCEEDED
    proven.refresh_from_db()
    assert proven.binding_proof == BindingProof.OWN_APP_TOKEN
    assert list(tenants_bound_to(sandbox_tenant.info["tenant_id"])) == [proven]

    typed = _point_at(make_tenant("evil", admin="mallory"), attackers_authority, "11111111-2222-3333-4444-555555555555")
    engine.ensure_states(typed)
    run_inline(typed, "connect")
    typed.refresh_from_db()
    assert typed.binding_proof == "" and not tenants_bound_to(VICTIM_TENANT_ID).exists()


def test_the_consent_link_names_only_the_proven_tenant(onramps_app):
    tenant = on_sandbox_cloud(make_tenant("contoso"), onramps_app.info)
    url, state = connect.admin_consent_url(
        tenant, microsoft_tenant_id=onramps_app.info["tenant_id"], redirect_uri="https://onramp.example/cb"
    )
    parts = urlsplit(url)
    assert parts.path == f"/{onramps_app.info['tenant_id']}/adminconsent"
    assert dict(parse_qsl(parts.query)) == {
        "client_id": onramps_app.info["onramp_app_id"],
        "redirect_uri": "https://onramp.example/cb",
        "state": state,
    }


def test_after_handing_access_back_onramps_app_is_not_used_for_the_organisation(onramps_app):
    """The installation's secret cannot be deleted for one organisation, so after "Reduce Onramp's access" Onramp
    stops using its app there: no token is asked for, and the step says access was handed back."""
    info = onramps_app.info
    tenant = bound_by_proof(on_sandbox_cloud(make_tenant("contoso", admin="alice"), info), info["tenant_id"])
    Tenant.objects.filter(pk=tenant.pk).update(client_id=info["onramp_app_id"])
    tenant.refresh_from_db()
    set_state(tenant, "reduce_access", status=StepStatus.SUCCEEDED)
    onramps_app.control.reset_calls()

    with pytest.raises(StepError) as refused:
        connector_clients(tenant)

    assert refused.value.code == "access_handed_back"
    assert onramps_app.control.calls()["total"] == 0


def test_without_wids_a_global_administrator_connects_after_a_second_sign_in_for_the_roles(onramps_app):
    """A default app registration gets no `wids` claim (its manifest's groupMembershipClaims is None) and User.Read
    lists directory roles without naming them: the administrator signs in once more, asked for the scope that reads
    them (RoleManagement.Read.Directory), and connects."""
    info = onramps_app.info
    onramps_app.control.set_knobs(group_membership_claims="None")
    tenant = on_sandbox_cloud(make_tenant("contoso", admin="alice"), info)
    client = admin_client("alice")

    sign_in = start_connect(client, tenant, info)
    again = client.get(local(answer_sign_in_page(info, sign_in["Location"], GLOBAL_ADMIN)))
    assert again.status_code == 302 and "RoleManagement.Read.Directory" in again["Location"]
    follow_sign_in(info, client, again, consent={"consent": "accept"})

    tenant.refresh_from_db()
    assert (tenant.microsoft_tenant_id, tenant.binding_proof) == (info["tenant_id"], BindingProof.ADMIN_SIGN_IN)
    assert tenant.binding_proven_by == GLOBAL_ADMIN


def test_when_the_roles_cannot_be_read_connecting_names_what_the_operator_must_set(onramps_app):
    """An Exchange Administrator may not consent to RoleManagement.Read.Directory (Microsoft's "Need admin
    approval"): refused with the two settings that would let Onramp know the roles, and nothing is bound."""
    info = onramps_app.info
    onramps_app.control.set_knobs(group_membership_claims="None")
    tenant = on_sandbox_cloud(make_tenant("contoso", admin="alice"), info)
    client = admin_client("alice")

    sign_in = start_connect(client, tenant, info)
    again = client.get(local(answer_sign_in_page(info, sign_in["Location"], EXCHANGE_ADMIN)))
    refused = follow_sign_in(info, client, again, consent={"consent": "decline"})

    page = html.unescape(client.get(refused["Location"]).content.decode())
    assert "Onramp asked Microsoft to read which administrator roles you hold, and Microsoft refused" in page
    assert 'groupMembershipClaims to "DirectoryRole"' in page and "RoleManagement.Read.Directory" in page
    tenant.refresh_from_db()
    assert tenant.binding_proof == ""
    event = AuditEvent.objects.get(tenant=tenant, action="connect_with_microsoft", outcome="refused")
    assert event.detail["reason"] == "directory_roles_unreadable"
