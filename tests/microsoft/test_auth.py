"""App-only tokens from the sandbox's identity platform over HTTPS, and the encrypted per-tenant token cache."""

import base64
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.models import SecretKind, TenantSecret
from tenants.secrets import read_secret
from tests.microsoft.conftest import tenant_for
from wizard.microsoft import connector_clients, integration_clients
from wizard.microsoft.errors import AuthenticationFailed, PermissionMissing


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def token_requests(sandbox) -> int:
    return sum(n for key, n in sandbox.control.calls()["calls"].items() if "token" in key.lower())


@pytest.mark.django_db
def test_token_cache_is_persisted_encrypted_and_reused(sandbox_tenant, tenant, rate):
    info = sandbox_tenant.info
    with connector_clients(tenant) as ms:
        ms.graph.get("/organization")
        graph_token = ms.credentials.token(ms.endpoints.graph_scope)

    cache = read_secret(tenant, SecretKind.TOKEN_CACHE)
    assert cache and graph_token in cache  # the cache round-trips through tenants.secrets

    # Nothing secret is readable in the database: not the client secret, not the token, not its JWT payload.
    with connection.cursor() as cursor:
        cursor.execute("SELECT ciphertext FROM tenants_tenantsecret")
        stored = b"".join(bytes(row[0]) for row in cursor.fetchall())
    for plaintext in (
        info["client_secret"],
        info["integration_client_secret"],
        graph_token,
        graph_token.split(".")[1],
        "access_token",
    ):
        assert plaintext.encode() not in stored
    row_count = TenantSecret.objects.filter(tenant=tenant, kind=SecretKind.TOKEN_CACHE).count()
    assert row_count == 1

    # New clients (another task, another worker) reuse the cached token: no second token request.
    sandbox_tenant.control.reset_calls()
    with connector_clients(tenant) as ms:
        ms.graph.get("/organization")
        assert ms.credentials.token(ms.endpoints.graph_scope) == graph_token
    assert token_requests(sandbox_tenant) == 0


def discovery_requests(sandbox) -> int:
    return sum(n for key, n in sandbox.control.calls()["calls"].items() if "openid-configuration" in key)


@pytest.mark.django_db
def test_authority_discovery_fetched_once_per_process(sandbox_tenant, tenant, rate):
    """Every step builds new clients; the authority's OpenID configuration must not cost each one a round trip
    before its first call, for either app."""
    with connector_clients(tenant) as ms:
        ms.graph.get("/organization")
    sandbox_tenant.control.reset_calls()
    for clients in (connector_clients, integration_clients, connector_clients):
        with clients(tenant) as app:
            app.credentials.token(app.endpoints.graph_scope)
    assert discovery_requests(sandbox_tenant) == 0


@pytest.mark.django_db
def test_building_clients_reads_the_tenants_secrets_in_one_query(sandbox_tenant, tenant, rate):
    """Every step builds its clients, a dozen an onboarding: the app's secret, its certificate and the token cache
    come in one query, not one each."""
    with connector_clients(tenant) as ms:
        ms.graph.get("/organization")  # a token cache to read
    for clients in (connector_clients, integration_clients):
        with CaptureQueriesContext(connection) as queries:
            clients(tenant).close()
        secret_reads = [query for query in queries.captured_queries if "tenants_tenantsecret" in query["sql"]]
        assert len(secret_reads) == 1, [query["sql"] for query in secret_reads]


@pytest.mark.django_db
def test_cache_written_only_when_changed(sandbox_tenant, tenant, rate):
    with connector_clients(tenant) as ms:
        ms.graph.get("/organization")
    first = TenantSecret.objects.get(tenant=tenant, kind=SecretKind.TOKEN_CACHE).updated_at
    with connector_clients(tenant) as ms:
        ms.graph.get("/domains")
    assert TenantSecret.objects.get(tenant=tenant, kind=SecretKind.TOKEN_CACHE).updated_at == first


@pytest.mark.django_db
def test_wrong_secret_is_authentication_failed_with_the_fix(sandbox_tenant, db, rate):
    tenant = tenant_for(sandbox_tenant.info, client_secret="not-the-secret-value")
    with connector_clients(tenant) as ms, pytest.raises(AuthenticationFailed) as caught:
        ms.graph.get("/organization")
    error = caught.value
    assert error.code == "AADSTS7000215"
    assert "Invalid client secret" in error.message
    assert "wrong or expired" in error.explanation
    assert "Certificates & secrets" in error.fix
    assert error.service == "identity"
    assert "not-the-secret-value" not in f"{error} {error.detail()}"


@pytest.mark.django_db
def test_unknown_app_names_the_problem(sandbox_tenant, tenant, rate):
    tenant.client_id = "00000000-0000-0000-0000-00000000abcd"
    tenant.save()
    with connector_clients(tenant) as ms, pytest.raises(AuthenticationFailed) as caught:
        ms.exchange.invoke("Get-OrganizationConfig")
    assert caught.value.code == "AADSTS700016"
    assert "client id" in caught.value.explanation


@pytest.mark.django_db
def test_audiences_are_separate(sandbox_tenant, tenant, rate):
    with connector_clients(tenant) as ms:
        graph_token = ms.credentials.token(ms.endpoints.graph_scope)
        exchange_token = ms.credentials.token(ms.endpoints.exchange_scope)
        assert claims(graph_token)["aud"] == "https://graph.microsoft.com"
        assert claims(exchange_token)["aud"] == "https://outlook.office365.com"
        assert claims(graph_token)["appid"] == sandbox_tenant.info["client_id"]
        # Each client sends its own audience: both APIs accept the calls.
        ms.graph.get("/organization")
        ms.exchange.invoke("Get-OrganizationConfig")

    # And an API refuses a token of the other audience (as Microsoft does).
    import requests

    response = requests.get(
        f"{sandbox_tenant.info['graph_url']}/organization",
        headers={"Authorization": f"Bearer {exchange_token}"},
        verify=sandbox_tenant.info["ca_bundle"],
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


@pytest.mark.django_db
def test_integration_app_gets_its_own_token_and_no_mailbox_access(sandbox_tenant, tenant, rate):
    room = sandbox_tenant.control.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox")[0]
    with integration_clients(tenant) as app:
        token = app.credentials.token(app.endpoints.graph_scope)
        assert claims(token)["appid"] == sandbox_tenant.info["integration_app_id"]
        with pytest.raises(PermissionMissing) as caught:
            app.graph.get(f"/users/{room['PrimarySmtpAddress']}/calendar")
    assert caught.value.code == "ErrorAccessDenied"
    assert caught.value.status == 403


@pytest.mark.django_db
def test_missing_graph_permission_is_named(sandbox_tenant, tenant, rate):
    sandbox_tenant.control.remove_connector_permission("Domain.Read.All")
    with connector_clients(tenant) as ms, pytest.raises(PermissionMissing) as caught:
        ms.graph.get("/domains")
    error = caught.value
    assert error.code == "Authorization_RequestDenied"
    assert error.permission == "Domain.Read.All"
    assert "Domain.Read.All" in error.explanation
    assert "Grant admin consent" in error.fix


@pytest.mark.django_db
def test_granted_permission_is_picked_up_without_waiting_for_token_expiry(sandbox_tenant, tenant, rate):
    """A token holds the app roles of when it was issued; after the admin grants one, clients renew once."""
    sandbox_tenant.control.remove_connector_permission("Domain.Read.All")
    with connector_clients(tenant) as ms:
        ms.graph.get("/organization")  # a token without the role is now cached
    sandbox_tenant.control.grant_permission("Domain.Read.All")
    with connector_clients(tenant) as ms:
        assert ms.graph.get("/domains")["value"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("removed", "permission", "fix_words"),
    [
        ("Exchange.ManageAsApp", "Exchange.ManageAsApp", "Office 365 Exchange Online"),
        ("Exchange Administrator", "Exchange Administrator role", "Roles & admins"),
    ],
)
def test_missing_exchange_permission_or_role_is_named(sandbox_tenant, tenant, rate, removed, permission, fix_words):
    sandbox_tenant.control.remove_connector_permission(removed)
    with connector_clients(tenant) as ms, pytest.raises(PermissionMissing) as caught:
        ms.exchange.invoke("Get-OrganizationConfig")
    assert caught.value.permission == permission
    assert fix_words in caught.value.fix
    assert caught.value.service == "exchange"
