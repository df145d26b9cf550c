"""After new rooms are placed, the pages say so at once: the drift panel stops counting them as new (it said
"2 new room(s)" until the next check), and the rooms step's result names where they came from instead of "From 2
rows of your CSV file" when no file was uploaded."""

import pytest
from django.urls import reverse

from tests.factories import set_state
from tests.views.test_drift_views import FINDINGS, NEW, _activated, _checked
from wizard.models import MembershipStatus, Room, StepStatus
from wizard.steps.exchange_online.rooms import service as rooms


@pytest.fixture
def active(tenant):
    return _activated(tenant)


def _placed(tenant, addresses: list[str]) -> None:
    for address in addresses:
        Room.objects.create(tenant=tenant, address=address, membership_status=MembershipStatus.MEMBER)


def test_rooms_placed_since_the_check_are_no_longer_counted_as_new(active, admin_client, support_client):
    _checked(active)
    _placed(active, NEW)

    for client, url in (
        (admin_client, reverse("wizard:activation", args=[active.slug])),
        (support_client, reverse("orgs:support_tenant", args=[active.slug])),
    ):
        page = client.get(url).content.decode()
        assert "new room(s), not in any list" not in page
        assert "new, not in any list" not in page
        assert "less the 2 new rooms placed since" in page
        assert "Calendars.Read" in page, "the other findings stand until the next check"


def test_one_room_placed_of_two_leaves_one_new(active, admin_client):
    _checked(active)
    _placed(active, NEW[:1])

    page = admin_client.get(reverse("wizard:activation", args=[active.slug])).content.decode()

    assert "1 new room(s), not in any list" in page and "2 new room(s)" not in page
    assert "Place 1 new room" in page and NEW[1] in page


def test_a_check_whose_only_finding_was_placed_reads_as_no_drift_left(active, admin_client):
    _checked(active, FINDINGS[:1])
    _placed(active, NEW)

    page = admin_client.get(reverse("wizard:activation", args=[active.slug])).content.decode()

    assert "Drifted" not in page and "No drift left" in page
    assert "found 2 new rooms in no list; they have been placed in the room lists since" in page


def _rooms_done(tenant, inputs: dict) -> str:
    set_state(
        tenant,
        rooms.STEP_ID,
        status=StepStatus.SUCCEEDED,
        inputs=inputs,
        result={
            "source": inputs["source"],
            "preview_summary": {"valid": 2, "total": 2},
            "rooms_added": 2,
            "write_calls": 1,
        },
    )
    return reverse("wizard:step", args=[tenant.slug, rooms.STEP_ID])


def test_placed_new_rooms_do_not_read_as_a_csv_file(active, admin_client):
    page = admin_client.get(_rooms_done(active, rooms.new_rooms_inputs(NEW, confirmed=True))).content.decode()

    assert "of your CSV file" not in page
    assert "The 2 new rooms chosen on the organisation&#x27;s page after a drift check" in page


def test_a_placement_preview_names_no_column(active, admin_client):
    set_state(
        active,
        rooms.STEP_ID,
        status=StepStatus.NEEDS_INPUT,
        inputs=rooms.new_rooms_inputs(NEW),
        result={"source": "csv", "preview": [{"line": 2, "address": NEW[0], "status": "valid", "reason": ""}]},
    )
    page = admin_client.get(reverse("wizard:step", args=[active.slug, rooms.STEP_ID])).content.decode()
    assert "Read addresses from the column" not in page


def test_an_upload_still_reads_as_rows_of_the_csv_file(active, admin_client):
    inputs = {"source": "csv", "csv": {"column": "ResourceAccounts", "rows": []}, "confirmed": True}
    page = admin_client.get(_rooms_done(active, inputs)).content.decode()
    assert "From 2 rows of your CSV file" in page
