"""The drift check on the organisation's page and in the support console: findings with their fixes, new rooms
offered with one button (which queues the rooms step with those rooms), Check now, the opt-in, the "Drifted" filter;
viewers and other organisations' admins cannot act."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants.models import Membership, Profile, Role, TenantStatus
from tests.factories import set_state, state_of
from wizard import drift
from wizard.actions import create_tenant
from wizard.models import AuditEvent, DriftCheck, DriftCheckStatus, MembershipStatus, Room, StepStatus
from wizard.steps.exchange_online.rooms import service as rooms
from wizard.steps.registry import steps_for

NEW = ["room-new-1@contoso.onmicrosoft.com", "room-new-2@contoso.onmicrosoft.com"]
FINDINGS = [
    {
        "kind": "new_rooms",
        "summary": "2 new room(s), not in any list.",
        "fix": "Place them.",
        "addresses": NEW,
        "count": 2,
    },
    {
        "kind": "wider_grants",
        "summary": "The integration's app holds a grant wider than the rooms: Calendars.Read.",
        "fix": "Remove the Calendars.Read application permission.",
        "addresses": [],
        "count": 1,
    },
]


def _activated(tenant):
    for step in steps_for(tenant.profile):
        set_state(tenant, step.id, status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    tenant.status = TenantStatus.ACTIVE
    tenant.save()
    return tenant


def _checked(tenant, findings=FINDINGS):
    now = timezone.now()
    return DriftCheck.objects.create(
        tenant=tenant,
        requested_by="onramp",
        due_at=now,
        finished_at=now,
        status=DriftCheckStatus.DONE,
        findings=findings,
        drifted=bool(findings),
    )


@pytest.fixture
def active(tenant):
    return _activated(tenant)


def test_the_page_shows_the_findings_their_fixes_and_the_new_rooms_with_one_button(active, admin_client):
    _checked(active)

    page = admin_client.get(reverse("wizard:activation", args=[active.slug])).content.decode()

    assert "Drift since activation" in page and "Drifted" in page
    assert "Calendars.Read" in page and "Remove the Calendars.Read application permission." in page
    assert page.count("new, not in any list") == 2
    assert "Place 2 new rooms" in page and "Check for drift now" in page


def test_an_untouched_organisation_shows_no_drift(active, admin_client):
    _checked(active, [])
    page = admin_client.get(reverse("wizard:activation", args=[active.slug])).content.decode()
    assert "No drift" in page and "new, not in any list" not in page


def test_a_check_that_could_not_read_calendars_says_so_beside_no_drift(active, admin_client):
    check = _checked(active, [])
    check.not_checked = [drift.CALENDAR_READS_NOT_POSSIBLE]
    check.save()

    page = admin_client.get(reverse("wizard:activation", args=[active.slug])).content.decode()

    assert "No drift" in page and "as far as it could look" in page
    assert "Calendar reads as the integration were not possible: no integration secret stored" in page


def test_placing_new_rooms_queues_the_rooms_step_with_those_rooms_confirmed(active, admin_client, pending_sends):
    _checked(active)

    response = admin_client.post(reverse("wizard:place_new_rooms", args=[active.slug]), {"address": NEW})

    assert response.status_code == 302 and response["Location"] == reverse("wizard:step", args=[active.slug, "rooms"])
    state = state_of(active, "rooms")
    assert state.status == StepStatus.QUEUED
    assert state.inputs == rooms.new_rooms_inputs(NEW, confirmed=True)
    assert pending_sends() == 1


def test_only_rooms_the_check_offered_are_placed(active, admin_client):
    _checked(active)
    Room.objects.create(tenant=active, address=NEW[0], membership_status=MembershipStatus.MEMBER)

    response = admin_client.post(
        reverse("wizard:place_new_rooms", args=[active.slug]), {"address": [NEW[0], "ceo@contoso.onmicrosoft.com"]}
    )

    assert response["Location"] == reverse("wizard:activation", args=[active.slug])
    assert state_of(active, "rooms").status == StepStatus.SUCCEEDED
    page = admin_client.get(response["Location"]).content.decode()
    assert "No new room to place" in page


def test_check_now_queues_one_check(active, admin_client, pending_sends):
    url = reverse("wizard:check_drift", args=[active.slug])
    admin_client.post(url)
    admin_client.post(url)

    assert DriftCheck.objects.filter(tenant=active, status=DriftCheckStatus.RUNNING).count() == 1
    assert pending_sends() == 1
    page = admin_client.get(reverse("wizard:activation", args=[active.slug])).content.decode()
    assert "Checking…" in page


def test_the_opt_in_is_saved_and_audited(active, admin_client):
    admin_client.post(reverse("wizard:drift_settings", args=[active.slug]), {"place_new_rooms": "on"})
    active.refresh_from_db()
    assert active.place_new_rooms
    assert AuditEvent.objects.filter(tenant=active, action="set_place_new_rooms").count() == 1


def test_viewers_and_other_admins_cannot_act(active, other_client):
    _checked(active)
    viewer = get_user_model().objects.create_user("vera", password="pw-vera-1234")
    Membership.objects.create(user=viewer, tenant=active, role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)

    page = client.get(reverse("wizard:activation", args=[active.slug])).content.decode()

    assert "new, not in any list" in page and "Place 2 new rooms" not in page and "Check for drift now" not in page
    for name in ("place_new_rooms", "check_drift", "drift_settings"):
        url = reverse(f"wizard:{name}", args=[active.slug])
        assert client.post(url, {"address": NEW, "place_new_rooms": "on"}).status_code == 404
        assert other_client.post(url, {"address": NEW}).status_code == 404
    assert state_of(active, "rooms").status == StepStatus.SUCCEEDED
    assert not DriftCheck.objects.filter(status=DriftCheckStatus.RUNNING).exists()


def test_the_console_filters_drifted_organisations_and_shows_their_findings(active, other_tenant, support_client):
    _activated(other_tenant)
    _checked(other_tenant)
    _checked(other_tenant, [])  # fixed since: its latest check is clean
    _checked(active)

    listed = support_client.get(reverse("orgs:support"), {"filter": "drifted"}).content.decode()

    assert "Contoso" in listed and "Fabrikam" not in listed
    detail = support_client.get(reverse("orgs:support_tenant", args=[active.slug])).content.decode()
    assert "Calendars.Read" in detail and "new, not in any list" in detail


def test_a_new_room_whose_placement_failed_is_offered_again(active, admin_client):
    _checked(active)
    Room.objects.create(tenant=active, address=NEW[0], membership_status=MembershipStatus.FAILED)

    page = admin_client.get(reverse("wizard:activation", args=[active.slug])).content.decode()

    assert "Place 2 new rooms" in page


def test_a_list_opened_for_new_rooms_after_the_scope_asks_for_scoped_access_again(active, admin_client):
    set_state(active, "scoped_access", result={"room_list_dns": ["CN=Onramp Rooms,OU=x"], "scope_name": "s"})
    lists = [{"name": "Onramp Rooms", "dn": "CN=Onramp Rooms,OU=x"}, {"name": "Onramp Rooms 02", "dn": "CN=02,OU=x"}]
    set_state(active, "rooms", result={"lists": lists})

    page = admin_client.get(reverse("wizard:activation", args=[active.slug])).content.decode()

    assert "Onramp Rooms 02: opened for new rooms after “Scoped access” ran" in page
    assert reverse("wizard:run", args=[active.slug, "scoped_access"]) in page
    set_state(active, "scoped_access", result={"room_list_dns": ["CN=Onramp Rooms,OU=x", "cn=02,ou=x"]})
    page = admin_client.get(reverse("wizard:activation", args=[active.slug])).content.decode()
    assert "opened for new rooms" not in page


def test_an_exchange_server_organisation_is_not_offered_a_drift_check_it_cannot_run(admin_user, admin_client):
    """The drift check reads an Exchange Online tenant through the connector app; an Exchange Server organisation
    has no such app (and activation erased the service account's password), so a check could only fail."""
    onprem = _activated(
        create_tenant(creator=admin_user, display_name="Onprem", slug="onprem", profile=Profile.EXCHANGE_SERVER)
    )

    page = admin_client.get(reverse("wizard:activation", args=[onprem.slug])).content.decode()
    response = admin_client.post(reverse("wizard:check_drift", args=[onprem.slug]))

    assert "Check for drift now" not in page and "Not checked yet" not in page
    assert "does not check an Exchange Server organisation for drift" in page
    assert response.status_code == 404
    assert not DriftCheck.objects.filter(tenant=onprem).exists()


def test_support_sees_an_exchange_online_organisations_drift_and_no_check_of_an_exchange_server_one(
    active, admin_user, support_client
):
    _checked(active)
    onprem = _activated(
        create_tenant(creator=admin_user, display_name="Onprem", slug="onprem", profile=Profile.EXCHANGE_SERVER)
    )

    online = support_client.get(reverse("orgs:support_tenant", args=[active.slug])).content.decode()
    server = support_client.get(reverse("orgs:support_tenant", args=[onprem.slug])).content.decode()

    assert "Drifted" in online and "does not check an Exchange Server organisation" not in online
    assert "does not check an Exchange Server organisation for drift" in server
