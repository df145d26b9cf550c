"""Changing a connected organisation's credentials on step 0 ("Change the settings and run again"): new credentials
are proven at the token endpoint before they replace the working ones, and the token cache goes with the old ones."""

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import SecretKind
from tenants.secrets import has_secret, read_secret
from tests.factories import connected_tenant, make_user, run_inline
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

    response = client.post(
        reverse("wizard:run", args=[tenant.slug, "connect"]),
        connect_form(info, client_secret="a-wrong-secret", integration_client_secret="another-new-one"),
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Microsoft refused the new credentials: AADSTS7000215" in page
    assert "client secret is wrong or expired" in page
    assert "The credentials that worked before are kept." in page
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == info["client_secret"]
    assert read_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET) == info["integration_client_secret"]
    assert AuditEvent.objects.filter(tenant=tenant, action="save_app_credentials").count() == saves_before
    assert pending_sends() == 0, "the refused change queued the step"
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
    tenant.refresh_from_db()
    assert tenant.client_id == info["integration_app_id"]
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == info["integration_client_secret"]
    assert not has_secret(tenant, SecretKind.TOKEN_CACHE)
    assert AuditEvent.objects.filter(tenant=tenant, action="save_app_credentials", detail__proven=True).exists()
    assert pending_sends() == 1
