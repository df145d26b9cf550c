"""The room list page says what the step will do: "Convert the existing group to a room list" says what converting
does and what it removes."""

import html

from django.urls import reverse

from tests.views.test_wizard_views import finish_before


def test_converting_a_group_says_what_it_does_and_what_it_removes(tenant, admin_client):
    finish_before(tenant, "room_list")

    page = html.unescape(admin_client.get(reverse("wizard:step", args=[tenant.slug, "room_list"])).content.decode())

    assert "Convert the existing group to a room list" in page
    assert "Set-DistributionGroup -RoomList" in page and "keeps its name, address and members" in page
    assert "Converting removes nothing by itself" in page
