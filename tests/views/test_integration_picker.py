"""Pick the integration, don't paste it (issue 23 point 3): once connected, the admin finds the calendar product's
app among the tenant's enterprise apps by name, sees its publisher and the mailbox permissions it already holds,
and picks it; support cannot, and nothing is read before the tenant is connected."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import connected_tenant, make_user, run_inline
from wizard.models import AuditEvent, StepStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info, admin="alice")
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED
    client = Client()
    client.force_login(make_user("alice"))
    return tenant, client


def test_the_admin_finds_the_integration_by_name_and_picks_it(connected, sandbox_tenant):
    tenant, client = connected
    info = sandbox_tenant.info
    sandbox_tenant.control.grant_permission("Calendars.ReadWrite", app_id=info["integration_app_id"])
    picker = reverse("wizard:integration_picker", args=[tenant.slug])

    page = client.get(picker, {"name": "calendar"}).content.decode()

    assert "Calendar Integration" in page and info["integration_app_id"] in page
    assert "Calendars.ReadWrite" in page, "the calendar permission the app holds is not shown"
    assert "Onramp" not in page.split("<tbody>")[1], "an app whose name does not start with the search was listed"
    answer = client.post(
        reverse("wizard:choose_integration", args=[tenant.slug]), {"integration_app_id": info["client_id"]}
    )
    assert answer.status_code == 302
    tenant.refresh_from_db()
    assert tenant.integration_app_id == info["client_id"]
    assert AuditEvent.objects.filter(tenant=tenant, action="set_integration_app_id", actor="alice").exists()


def test_a_search_with_no_match_says_why_an_app_may_be_missing(connected):
    tenant, client = connected
    page = client.get(reverse("wizard:integration_picker", args=[tenant.slug]), {"name": "zzz"}).content.decode()
    assert "No enterprise app of your organisation has a name starting with" in page


def test_before_step_0_nothing_is_read(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info, admin="alice")
    client = Client()
    client.force_login(make_user("alice"))
    sandbox_tenant.control.reset_calls()
    page = client.get(reverse("wizard:integration_picker", args=[tenant.slug]), {"name": "cal"}).content.decode()
    assert "Connect the tenant first" in page
    assert sandbox_tenant.control.calls()["total"] == 0


def test_support_and_other_organisations_cannot_pick(connected, sandbox_tenant):
    tenant, _ = connected
    support = Client()
    support.force_login(make_user("sam", is_staff=True))
    assert support.get(reverse("wizard:integration_picker", args=[tenant.slug])).status_code == 404
    choose = reverse("wizard:choose_integration", args=[tenant.slug])
    assert support.post(choose, {"integration_app_id": sandbox_tenant.info["client_id"]}).status_code == 404
    stranger = Client()
    stranger.force_login(make_user("mallory"))
    assert stranger.get(reverse("wizard:integration_picker", args=[tenant.slug])).status_code == 404
