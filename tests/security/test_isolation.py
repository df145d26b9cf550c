"""Every URL pattern of the project, walked from the resolver and filled with another tenant's slug, each of its
step ids and every action, GET and POST: a tenant admin gets a 404 (or the 405 an unknown tenant gets too), never a
page, and nothing changes. A new URL pattern must be classified here before this suite passes."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tenants.models import TenantSecret
from tests.security.urlwalk import Route, all_routes
from wizard.models import AuditEvent, StepState

pytestmark = pytest.mark.django_db

# URL patterns without a tenant in them, and who may use them.
# orgs:consent_from_terminal_done is a fixed page where Microsoft returns an administrator who consented from a link
# `onramp connect --with-microsoft` printed (someone with no Onramp account); it reads nothing and trusts nothing.
# metrics answers the monitoring's bearer token, never a session (tests/views/test_metrics.py); readyz, like healthz,
# tells only whether the database, the broker and a worker answer (tests/monitoring/test_readiness.py).
# set_language (Django's) only sets the language cookie and redirects to a local `next`, for the sign-in page too
# (tests/i18n/test_language_choice.py). favicon redirects to the static icon (tests/views/test_tenant_views.py).
PUBLIC = frozenset(
    {
        "login",
        "logout",
        "healthz",
        "readyz",
        "people:microsoft_start",
        "people:microsoft_callback",
        "people:invitation",
        "orgs:consent_from_terminal_done",
        "metrics",
        "set_language",
        "favicon",
    }
)
ANY_SIGNED_IN = frozenset({"orgs:home", "orgs:create", "orgs:consent_callback"})
SUPPORT_ONLY = frozenset({"orgs:support", "orgs:support_export", "orgs:support_tenant"})
UNKNOWN_SLUG = "no-such-tenant"


def _tenant_routes() -> list[Route]:
    return [route for route in all_routes() if "slug" in route.params]


def _world() -> list[tuple]:
    """Everything a forged request could change: step rows, the audit trail, stored secrets."""
    return [
        list(StepState.objects.order_by("pk").values_list("pk", "status", "task_id", "inputs", "result", "attempts")),
        AuditEvent.objects.count(),
        list(TenantSecret.objects.order_by("pk").values_list("pk", "ciphertext")),
    ]


def _call(client: Client, method: str, url: str) -> int:
    return getattr(client, method)(url).status_code


def test_every_url_pattern_is_classified():
    unclassified = [
        route.name
        for route in all_routes()
        if "slug" not in route.params and route.name not in PUBLIC | ANY_SIGNED_IN | SUPPORT_ONLY
    ]
    assert not unclassified, f"decide who may use these URL patterns and list them here: {unclassified}"
    assert len(_tenant_routes()) >= 10  # the walk found the wizard's URLs, not an empty resolver


def test_another_tenants_urls_are_404_for_a_tenant_admin(users, tenants):
    client = Client()
    client.force_login(users["alice"])
    before = _world()
    answered: list[str] = []
    checked = 0
    for route in _tenant_routes():
        for victim in (tenants["fabrikam"], tenants["northwind"]):
            for url in route.urls(victim):
                unknown_url = url.replace(f"/{victim.slug}/", f"/{UNKNOWN_SLUG}/", 1)
                for method in ("get", "post"):
                    status = _call(client, method, url)
                    checked += 1
                    # 405 before the tenant is even looked up says nothing about it: an unknown tenant gets it too.
                    if status != 404 and not (status == 405 and _call(client, method, unknown_url) == 405):
                        answered.append(f"{method.upper()} {url} → {status}")
    assert not answered, "another tenant's URLs answered:\n" + "\n".join(answered)
    assert checked > 100
    assert _world() == before, "a refused request changed something"


def test_own_tenant_urls_answer_so_the_walk_is_not_vacuous(users, tenants):
    client = Client()
    client.force_login(users["alice"])
    step_page = next(route for route in all_routes() if route.name == "wizard:step")
    assert all(client.get(url).status_code == 200 for url in step_page.urls(tenants["contoso"]))


def test_support_console_is_404_for_tenant_admins_even_on_their_own_tenant(users, tenants):
    client = Client()
    client.force_login(users["alice"])
    for route in all_routes():
        if route.name in SUPPORT_ONLY:
            for url in route.urls(tenants["contoso"]):
                assert client.get(url).status_code == 404, url


def test_anonymous_requests_go_to_login_everywhere_but_the_public_urls(tenants):
    client = Client()
    for route in all_routes():
        if route.name in PUBLIC:
            continue
        for url in route.urls(tenants["fabrikam"]):
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                assert response.status_code == 302, f"{method.upper()} {url} → {response.status_code}"
                assert response["Location"].startswith("/login/"), url


def test_a_user_without_tenants_sees_none(tenants):
    stranger = get_user_model().objects.create_user("eve", password="pw-eve-1234")
    client = Client()
    client.force_login(stranger)
    page = client.get("/").content.decode()
    assert all(tenant.display_name not in page for tenant in tenants.values())


def test_django_admin_is_closed_to_tenant_admins(users):
    client = Client()
    client.force_login(users["alice"])
    response = client.get("/admin/tenants/tenantsecret/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
