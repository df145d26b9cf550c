"""One organisation's timeline at fleet size (issue 29 point 5): the tenant page pages through it by keyset (older and
newer links from an event, no count), and the timeline export streams from a server-side cursor in pieces, oldest
first, only that organisation's events, formulas neutralised and secrets left out, for support and the
organisation's members and a 404 to everyone else."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from wizard.audit import record_event
from wizard.models import AuditEvent
from wizard.selectors import TIMELINE_PAGE_SIZE

pytestmark = pytest.mark.django_db

MANY = 2 * TIMELINE_PAGE_SIZE + 37


def _add_events(tenant, count: int, *, same_time_every: int = 0) -> list[int]:
    """`count` events after the tenant's creation (its `n` in the detail, 0 the oldest); their ids, oldest first.
    With `same_time_every`, their times are set a second apart, that many events sharing each (the pager must
    settle ties by id)."""
    events = AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant=tenant, actor="onramp", step_id="rooms", action="add_room", outcome="succeeded", detail={"n": n}
        )
        for n in range(count)
    )
    ids = [event.pk for event in events]
    if same_time_every:
        start = timezone.now() + timedelta(seconds=1)
        for first in range(0, count, same_time_every):
            moment = start + timedelta(seconds=first // same_time_every)
            AuditEvent.objects.filter(pk__in=ids[first : first + same_time_every]).update(created_at=moment)
    return ids


def _timeline_ns(html: str) -> list[int]:
    """The events' `n` on a tenant page, in the order shown."""
    return [int(n) for n in re.findall(r"N: (\d+)<", html)]


def _links(html: str) -> dict[str, str]:
    pager = html[html.index('class="pager"') :] if 'class="pager"' in html else ""
    return {name: value for name, value in re.findall(r'href="\?(before|after)=(\d+)"', pager)}


@pytest.mark.parametrize("same_time_every", [1, 7])
def test_older_links_walk_the_whole_timeline_once_and_newer_links_walk_back(tenant, support_client, same_time_every):
    _add_events(tenant, MANY, same_time_every=same_time_every)
    url = reverse("orgs:support_tenant", args=[tenant.slug])
    html = support_client.get(url).content.decode()
    pages = [_timeline_ns(html)]
    assert "before" in _links(html) and "after" not in _links(html)
    while "before" in (links := _links(html)):
        html = support_client.get(url, {"before": links["before"]}).content.decode()
        pages.append(_timeline_ns(html))
    assert [len(page) for page in pages] == [TIMELINE_PAGE_SIZE, TIMELINE_PAGE_SIZE, MANY - 2 * TIMELINE_PAGE_SIZE]
    assert sum(pages, []) == list(range(MANY - 1, -1, -1))
    # The creation event (no `n`) is the oldest of all, on the last page.
    assert "create_tenant" in html
    back = []
    while "after" in (links := _links(html)):
        html = support_client.get(url, {"after": links["after"]}).content.decode()
        back.append(_timeline_ns(html))
    assert back == pages[-2::-1]


def test_another_tenants_event_or_nonsense_as_the_anchor_shows_the_newest(tenant, other_tenant, support_client):
    _add_events(tenant, MANY, same_time_every=1)
    (foreign,) = _add_events(other_tenant, 1)
    url = reverse("orgs:support_tenant", args=[tenant.slug])
    newest = _timeline_ns(support_client.get(url).content.decode())
    for query in (
        {"before": foreign},
        {"after": foreign},
        {"before": "x1"},
        {"after": ""},
        {"before": "²"},
        {"after": "9" * 30},
    ):
        assert _timeline_ns(support_client.get(url, query).content.decode()) == newest, query


def test_the_tenant_page_is_a_404_to_an_admin_and_its_pager_too(tenant, admin_client):
    (event,) = _add_events(tenant, 1)
    url = reverse("orgs:support_tenant", args=[tenant.slug])
    assert admin_client.get(url, {"before": event}).status_code == 404


def _download(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content).decode()


def test_the_export_has_only_this_organisations_events_oldest_first_safe_and_without_secrets(
    tenant, other_tenant, support_client, admin_client, other_client
):
    record_event(tenant, "=cmd|' /C calc'!A0", "run", "failed", "rooms", {"why": "@SUM(1)", "api_token": "tok-1"})
    record_event(other_tenant, "mallory", "run", "succeeded", "rooms", {"other": "fabrikam-only"})
    url = reverse("orgs:timeline_csv", args=[tenant.slug])
    for client in (support_client, admin_client):
        rows = list(csv.reader(io.StringIO(_download(client, url))))
        assert rows[0] == ["when", "who", "what", "step", "step_id", "outcome", "detail"]
        assert [row[2] for row in rows[1:]] == ["create_tenant", "run"]
        assert rows[2][1] == "'=cmd|' /C calc'!A0" and rows[2][3] == "Rooms"
        assert json.loads(rows[2][6]) == {"why": "@SUM(1)"}
    body = _download(support_client, url)
    assert "mallory" not in body and "fabrikam-only" not in body and "tok-1" not in body
    assert other_client.get(url).status_code == 404
    document = json.loads(_download(support_client, reverse("orgs:timeline_json", args=[tenant.slug])))
    assert [event["who"] for event in document["events"]] == ["alice", "=cmd|' /C calc'!A0"]
    assert document["events"][1]["detail"] == {"why": "@SUM(1)"} and document["organisation"] == "contoso"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_export_streams_from_a_server_side_cursor_in_pieces(tenant, support_client, fmt):
    """Half way through the download the events come from a cursor still open on the database, and the response
    arrives in pieces of about 64 KB: no list of every event, no single string of the whole file."""
    if connection.vendor != "postgresql":
        pytest.skip("server-side cursors are PostgreSQL's")
    count = 6000  # three of the export's chunks of 2,000
    _add_events(tenant, count)
    response = support_client.get(reverse(f"orgs:timeline_{fmt}", args=[tenant.slug]))
    pieces = iter(response.streaming_content)
    first = next(pieces)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_cursors WHERE statement ILIKE %s", [f"%{AuditEvent._meta.db_table}%"])
        open_cursors = cursor.fetchall()
    assert len(open_cursors) == 1, open_cursors
    rest = list(pieces)
    # Pieces of about 64 KB: neither one line each (a system call a line) nor the whole file at once.
    assert 1 < len(rest) + 1 < count // 100 and all(len(piece) < 80_000 for piece in [first, *rest])
    body = b"".join([first, *rest]).decode()
    if fmt == "csv":
        ns = [json.loads(row["detail"]).get("n") for row in csv.DictReader(io.StringIO(body))]
    else:
        ns = [event["detail"].get("n") for event in json.loads(body)["events"]]
    assert ns == [None, *range(count)]  # the creation event, then every one, oldest first
