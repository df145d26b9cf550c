"""Changing a connected organisation's credentials on step 0 ("Change the settings and run again"): new credentials
are proven at the token endpoint, by step 0 on the worker and never inside the web request, before they replace the
working ones, and the token cache goes with the old ones."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import SecretKind
from tenants.secrets import has_secret, read_secret
from tests.factories import connected_tenant, make_user, run_inline, state_of
from wizard import engine
from wizard.models import AuditEvent, StepStatus

pytestmark = pytest.mark.django_db


def connect_form(info: dict, **changes: str) -> dict:
    """The connect form as the page fills it for a tenant pointed at the sandbox, with `changes` typed in."""
    fields = {
        "microsoft_tenant_id": info["tenant_id"],
        "client_id": info["client_id"],
        "client_secret": "",
        "integration_app_id": info["integration_app_id"],
        "cloud": "custom",
        **{key: info[key] for key in ("authority", "graph_url", "exchange_admin_url", "ews_url")},
    }
    return {**fields, **changes}


def run_queued(tenant):
    """Run the step the page queued, here, as the worker would."""
    queued = state_of(tenant, "connect")
    engine.execute_step(queued.pk, queued.task_id)
    return state_of(tenant, "connect")


@pytest.fixture
def connected(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info, admin="alice")
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED
    assert has_secret(tenant, SecretKind.TOKEN_CACHE), "no cached token, so this test would prove nothing"
    client = Client()
    client.force_login(make_user("alice"))
    return tenant, client


def test_a_wrong_new_secret_is_refused_and_the_working_one_kept(connected, sandbox_tenant, pending_sends):
    tenant, client = connected
    info = sandbox_tenant.info
    saves_before = AuditEvent.objects.filter(tenant=tenant, action="save_app_credentials").count()

    sandbox_tenant.control.reset_calls()
    response = client.post(
        reverse("wizard:run", args=[tenant.slug, "connect"]),
        connect_form(info, client_secret="a-wrong-secret", integration_client_secret="another-new-one"),
    )

    assert response.status_code == 302
    assert sandbox_tenant.control.calls()["total"] == 0, "the web request called Microsoft"
    assert pending_sends() == 1
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == info["client_secret"], "applied before its proof"
    refused = run_queued(tenant)
    assert refused.status == StepStatus.FAILED and refused.error_code == "AADSTS7000215"
    page = client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()
    assert "Microsoft refused the new credentials: AADSTS7000215" in page
    assert "client secret is wrong or expired" in page
    assert "The credentials that worked before are kept" in page
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == info["client_secret"]
    assert read_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET) == info["integration_client_secret"]
    assert AuditEvent.objects.filter(tenant=tenant, action="save_app_credentials", outcome="succeeded").count() == (
        saves_before
    )
    assert not has_secret(tenant, SecretKind.PENDING_CREDENTIALS), "a refused change would be tried again"
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED


def test_new_credentials_that_work_replace_the_old_and_drop_the_token_cache(connected, sandbox_tenant, pending_sends):
    tenant, client = connected
    info = sandbox_tenant.info
    # Another app of the same Microsoft tenant, with its own secret: Microsoft issues it a token.
    response = client.post(
        reverse("wizard:run", args=[tenant.slug, "connect"]),
        connect_form(info, client_id=info["integration_app_id"], client_secret=info["integration_client_secret"]),
    )

    assert response.status_code == 302
    assert pending_sends() == 1
    # The new app signs in (the change is applied) and step 0 goes on to find it holds no grants.
    assert run_queued(tenant).error_code == "permissions_missing"
    tenant.refresh_from_db()
    assert tenant.client_id == info["integration_app_id"]
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == info["integration_client_secret"]
    cached = json.loads(read_secret(tenant, SecretKind.TOKEN_CACHE) or "{}")
    cached_apps = {entry["client_id"] for entry in cached.get("AccessToken", {}).values()}
    assert info["client_id"] not in cached_apps, "a token of the replaced app was kept"
    assert AuditEvent.objects.filter(tenant=tenant, action="save_app_credentials", detail__proven=True).exists()
