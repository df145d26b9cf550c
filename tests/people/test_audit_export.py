"""An organisation's timeline (its audit trail) downloads as CSV and JSON for its members, viewers included, and
support, never for anyone else; CSV cells cannot run as formulas and detail keys naming a secret stay out."""

import csv
import io
import json

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import Membership, Role
from tests.factories import make_tenant, make_user
from wizard.audit import record_event

pytestmark = pytest.mark.django_db


def _download(client: Client, slug: str, fmt: str) -> str:
    response = client.get(reverse(f"orgs:timeline_{fmt}", args=[slug]))
    assert response.status_code == 200, response
    assert response["Content-Disposition"].endswith(f'.{fmt}"')
    return b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()


@pytest.fixture
def contoso():
    tenant = make_tenant("contoso")
    record_event(tenant, '=HYPERLINK("http://evil")', "run", "succeeded", step_id="connect", detail={"n": 1})
    record_event(tenant, "alice", "retry", "failed", step_id="rooms", detail={"client_secret": "s3cret", "why": "+1"})
    return tenant


def test_a_viewer_downloads_csv_with_formulas_neutralised(contoso):
    viewer = make_user("vera")
    Membership.objects.create(user=viewer, tenant=contoso, role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    rows = list(csv.DictReader(io.StringIO(_download(client, "contoso", "csv"))))
    assert [row["what"] for row in rows] == ["create_tenant", "run", "retry"]
    assert rows[1]["who"] == '\'=HYPERLINK("http://evil")'
    assert rows[2]["step_id"] == "rooms" and rows[2]["outcome"] == "failed"
    assert "s3cret" not in rows[2]["detail"] and json.loads(rows[2]["detail"]) == {"why": "+1"}


def test_support_downloads_json_and_strangers_get_404(contoso):
    support = make_user("sam", is_staff=True)
    client = Client()
    client.force_login(support)
    body = json.loads(_download(client, "contoso", "json"))
    assert body["organisation"] == "contoso"
    assert [event["who"] for event in body["events"]][-1] == "alice"
    assert "s3cret" not in json.dumps(body)
    stranger = Client()
    stranger.force_login(make_user("eve"))
    assert stranger.get(reverse("orgs:timeline_csv", args=["contoso"])).status_code == 404
