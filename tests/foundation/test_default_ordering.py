"""One organisation's steps and rooms, read in their default order, are read from their own table: the order is by the
organisation's id, never by its name through a join to the tenants table (which every unordered query paid)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_tenant
from wizard.models import Room

pytestmark = pytest.mark.django_db


def _one_query(read) -> tuple[list, str]:
    with CaptureQueriesContext(connection) as queries:
        rows = list(read())
    (query,) = [query["sql"] for query in queries]
    return rows, query


def test_an_organisations_steps_in_their_default_order_need_no_join():
    tenant = make_tenant()
    steps, query = _one_query(tenant.step_states.all)
    assert "JOIN" not in query and "ORDER BY" in query, query
    assert [state.position for state in steps] == sorted(state.position for state in steps) and len(steps) > 1


def test_an_organisations_rooms_in_their_default_order_need_no_join():
    tenant = make_tenant()
    Room.objects.bulk_create(Room(tenant=tenant, address=address) for address in ("b@contoso.com", "a@contoso.com"))
    rooms, query = _one_query(tenant.rooms.all)
    assert "JOIN" not in query and "ORDER BY" in query, query
    assert [room.address for room in rooms] == ["a@contoso.com", "b@contoso.com"]
