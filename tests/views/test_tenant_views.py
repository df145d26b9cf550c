"""The admin's own pages: the organisation list and creating one."""

import pytest
from django.urls import reverse

from tenants.models import Membership

pytestmark = pytest.mark.django_db


def test_home_lists_only_my_tenants_with_where_they_stand(tenant, other_tenant, admin_client):
    page = admin_client.get(reverse("orgs:home")).content.decode()
    assert "Contoso" in page and "Fabrikam" not in page
    assert "Next: Connect the tenant" in page


def test_home_needs_sign_in(client):
    assert client.get(reverse("orgs:home"))["Location"].startswith(reverse("login"))


def test_create_tenant_makes_me_its_admin_and_opens_the_wizard(admin_client, admin_user):
    response = admin_client.post(
        reverse("orgs:create"), {"display_name": "Northwind Traders", "slug": "", "profile": "exchange_online"}
    )
    assert response["Location"] == reverse("wizard:resume", args=["northwind-traders"])
    assert Membership.objects.filter(user=admin_user, tenant__slug="northwind-traders").exists()


def test_create_tenant_refuses_a_taken_short_name(tenant, admin_client):
    response = admin_client.post(
        reverse("orgs:create"), {"display_name": "Contoso", "slug": "contoso", "profile": "exchange_online"}
    )
    assert response.status_code == 200
    assert "is taken" in response.content.decode()


def test_health_check_needs_no_sign_in(client):
    assert client.get(reverse("healthz")).json() == {"status": "ok"}


def test_favicon_is_our_icon_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("onramp/icon.svg")


def test_another_organisations_page_is_our_not_found_page_naming_no_organisation(other_tenant, admin_client):
    response = admin_client.get(reverse("wizard:resume", args=[other_tenant.slug]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page and 'rel="icon"' in page
    assert other_tenant.display_name not in page
