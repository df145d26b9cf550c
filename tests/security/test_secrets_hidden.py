"""Support sees every tenant but no secret: every page, JSON and CSV a support user can GET (the wizard's pages of
every step, the support console, its CSV export, Django's admin) is searched for known secret values, their
ciphertext and anything shaped like an access token. Support cannot reveal the password or enter credentials."""

import json
import re

import pytest
from django.test import Client

from tenants.models import SecretKind, TenantSecret
from tenants.secrets import read_secret, store_secret
from tests.security.urlwalk import all_routes
from wizard.audit import record_event
from wizard.models import StepState

pytestmark = pytest.mark.django_db

ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXNi"
SECRETS = {
    SecretKind.CLIENT_SECRET: "Zq8~known-connector-secret-3f9a1c7e",
    SecretKind.INTEGRATION_CLIENT_SECRET: "Xy7~known-integration-secret-81bd44",
    SecretKind.SERVICE_ACCOUNT_PASSWORD: "Known-Svc-Passw0rd!6c2e0b",
    SecretKind.TOKEN_CACHE: json.dumps({"AccessToken": {"k": {"secret": ACCESS_TOKEN}}}),
    SecretKind.WEBHOOK_SECRET: "known-webhook-signing-secret-9e1f0a",
}
TOKEN_SHAPE = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


@pytest.fixture
def secret_tenant(tenants):
    """Contoso with every kind of secret stored, and secret-looking values planted where a careless service could
    put them: in step results and in an audit event's detail (the pages' second fence must hide them)."""
    tenant = tenants["contoso"]
    for kind, value in SECRETS.items():
        store_secret(tenant, kind, value)
    planted = {
        "password": SECRETS[SecretKind.SERVICE_ACCOUNT_PASSWORD],
        "client_secret": SECRETS[SecretKind.CLIENT_SECRET],
        "access_token": ACCESS_TOKEN,
        "user_principal_name": "onramp-svc@contoso.com",
    }
    StepState.objects.filter(tenant=tenant).update(result=planted, status="succeeded")
    StepState.objects.filter(tenant=tenant, step_id="activate").update(result={"summary": planted}, status="succeeded")
    record_event(tenant, "onramp", "run", "succeeded", "connect", {"token": ACCESS_TOKEN, "upn": "x@contoso.com"})
    return tenant


def _needles() -> list[bytes]:
    values = [value.encode() for value in SECRETS.values()] + [ACCESS_TOKEN.encode()]
    ciphertexts = [bytes(row.ciphertext) for row in TenantSecret.objects.all()]
    return values + ciphertexts


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _leaks(body: bytes) -> list[str]:
    found = [needle[:24].decode(errors="replace") + "…" for needle in _needles() if needle in body]
    return found + [match.decode()[:24] + "…" for match in TOKEN_SHAPE.findall(body)]


def _support_get_urls(tenant) -> list[str]:
    urls = [url for route in all_routes() for url in route.urls(tenant)]
    secret_ids = TenantSecret.objects.filter(tenant=tenant).values_list("pk", flat=True)
    admin = ["/admin/", "/admin/tenants/tenant/", f"/admin/tenants/tenant/{tenant.pk}/change/"]
    admin += ["/admin/tenants/tenantsecret/"] + [f"/admin/tenants/tenantsecret/{pk}/change/" for pk in secret_ids]
    return urls + admin + ["/support/?q=contoso", "/support/tenants.csv?q=contoso"]


def test_support_sees_no_secret_on_any_page_json_or_csv(users, secret_tenant):
    client = Client()
    client.force_login(users["support"])
    leaks, served = [], 0
    for url in _support_get_urls(secret_tenant):
        response = client.get(url)
        served += response.status_code == 200
        leaks += [f"{url}: {leak}" for leak in _leaks(_body(response))]
    assert not leaks, "secrets shown to support:\n" + "\n".join(leaks)
    assert served >= 15  # the walk reached real pages: the steps, the console, the export


def test_the_tenants_own_admin_gets_no_secret_rendered_back_either(users, secret_tenant):
    client = Client()
    client.force_login(users["alice"])
    leaks = []
    for route in all_routes():
        for url in route.urls(secret_tenant):
            leaks += [f"{url}: {leak}" for leak in _leaks(_body(client.get(url)))]
    assert not leaks, "secrets rendered back to the admin:\n" + "\n".join(leaks)


def test_support_cannot_reveal_the_password_or_enter_credentials(users, secret_tenant):
    client = Client()
    client.force_login(users["support"])
    response = client.post(f"/t/{secret_tenant.slug}/service-account/password")
    assert response.status_code == 404
    assert SECRETS[SecretKind.SERVICE_ACCOUNT_PASSWORD].encode() not in response.content
    StepState.objects.filter(tenant=secret_tenant, step_id="connect").update(status="failed")
    response = client.post(
        f"/t/{secret_tenant.slug}/steps/connect/run",
        {"microsoft_tenant_id": "x", "client_id": "y", "client_secret": "support-typed-this", "cloud": "worldwide"},
    )
    assert response.status_code == 404
    assert read_secret(secret_tenant, SecretKind.CLIENT_SECRET) == SECRETS[SecretKind.CLIENT_SECRET]
