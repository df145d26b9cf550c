"""The Exchange Server rooms step offers each planned room list as the CSV its script imports."""

import csv
import io

import pytest
from django.urls import reverse

from tenants.models import Profile
from wizard.actions import create_tenant
from wizard.models import StepState


@pytest.fixture
def server_tenant(admin_user):
    tenant = create_tenant(creator=admin_user, display_name="Onprem", slug="onprem", profile=Profile.EXCHANGE_SERVER)
    rooms = [f"room-{n:03}@contoso.com" for n in range(1, 81)]
    StepState.objects.filter(tenant=tenant, step_id="room_list").update(
        inputs={"name": "Rooms", "alias": "rooms", "address": "rooms@contoso.com"}
    )
    StepState.objects.filter(tenant=tenant, step_id="rooms").update(inputs={"rooms": rooms})
    return tenant


def test_rooms_page_links_one_csv_per_list(server_tenant, admin_client):
    page = admin_client.get(reverse("wizard:step", args=[server_tenant.slug, "rooms"])).content.decode()
    assert reverse("wizard:room_list_csv", args=[server_tenant.slug, 1]) in page
    assert reverse("wizard:room_list_csv", args=[server_tenant.slug, 2]) in page
    assert reverse("wizard:room_list_csv", args=[server_tenant.slug, 3]) not in page


def test_each_csv_holds_its_lists_rooms(server_tenant, admin_client):
    files = [admin_client.get(reverse("wizard:room_list_csv", args=[server_tenant.slug, n])) for n in (1, 2)]
    rows = [list(csv.DictReader(io.StringIO(f.content.decode()))) for f in files]

    assert [f["Content-Disposition"] for f in files] == [
        'attachment; filename="rooms.csv"',
        'attachment; filename="rooms-02.csv"',
    ]
    assert [len(r) for r in rows] == [75, 5]
    addresses = [row["ResourceAccounts"] for part in rows for row in part]
    assert sorted(addresses) == [f"room-{n:03}@contoso.com" for n in range(1, 81)]


def test_unknown_list_and_other_tenants_are_404(server_tenant, admin_client, other_client):
    assert admin_client.get(reverse("wizard:room_list_csv", args=[server_tenant.slug, 3])).status_code == 404
    assert other_client.get(reverse("wizard:room_list_csv", args=[server_tenant.slug, 1])).status_code == 404
