import pytest
from django.contrib.auth import get_user_model
from django.http import Http404

from tenants.access import can_change_secrets, can_operate, get_tenant_for, visible_tenants
from wizard.actions import create_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def users():
    model = get_user_model()
    return {
        "alice": model.objects.create_user("alice", password="pw-alice-123"),
        "bob": model.objects.create_user("bob", password="pw-bob-123"),
        "support": model.objects.create_user("support", password="pw-support-123", is_staff=True),
    }


@pytest.fixture
def tenants(users):
    return {
        "contoso": create_tenant(creator=users["alice"], display_name="Contoso", slug="contoso"),
        "fabrikam": create_tenant(creator=users["bob"], display_name="Fabrikam", slug="fabrikam"),
    }


def test_admin_sees_only_own_tenants(users, tenants):
    assert list(visible_tenants(users["alice"])) == [tenants["contoso"]]
    assert get_tenant_for(users["alice"], "contoso") == tenants["contoso"]
    with pytest.raises(Http404):
        get_tenant_for(users["alice"], "fabrikam")


def test_unknown_and_foreign_tenants_look_the_same(users, tenants):
    with pytest.raises(Http404) as foreign:
        get_tenant_for(users["alice"], "fabrikam")
    with pytest.raises(Http404) as unknown:
        get_tenant_for(users["alice"], "no-such-tenant")
    assert str(foreign.value) == str(unknown.value)


def test_support_sees_all_and_may_operate_but_not_change_secrets(users, tenants):
    assert set(visible_tenants(users["support"])) == set(tenants.values())
    assert can_operate(users["support"], tenants["fabrikam"])
    assert not can_change_secrets(users["support"], tenants["fabrikam"])


def test_admin_operates_and_changes_secrets_of_own_tenant_only(users, tenants):
    assert can_operate(users["alice"], tenants["contoso"])
    assert can_change_secrets(users["alice"], tenants["contoso"])
    assert not can_operate(users["alice"], tenants["fabrikam"])


def test_every_tenant_url_is_404_for_another_admin(client, users, tenants):
    client.force_login(users["alice"])
    fabrikam = tenants["fabrikam"]
    urls = [f"/t/{fabrikam.slug}/"] + [
        f"/t/{fabrikam.slug}/steps/{state.step_id}/{suffix}"
        for state in fabrikam.step_states.all()
        for suffix in ("", "progress")
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    for state in fabrikam.step_states.all():
        assert client.post(f"/t/{fabrikam.slug}/steps/{state.step_id}/run").status_code == 404


def test_anonymous_users_are_sent_to_login(client, tenants):
    response = client.get("/t/contoso/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.get("/healthz").status_code == 200
