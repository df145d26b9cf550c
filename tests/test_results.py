"""wizard.results: each step's result reads back what it wrote, reads rows saved by older releases, and both
profiles' rooms steps describe their room lists with the one RoomListEntry."""

import dataclasses
import types
import typing

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.models import Profile
from tests.factories import make_tenant, set_state
from wizard.errors import StepError
from wizard.results import RoomListEntry, StepResult
from wizard.services.common import required_result, result_of
from wizard.steps.exchange_online.connect.result import ConnectResult
from wizard.steps.exchange_online.room_list.result import RoomListResult
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.verify.result import VerifyResult
from wizard.steps.exchange_server.rooms.result import ExchangeServerRoomsResult
from wizard.steps.registry import steps_for

PROFILES = (Profile.EXCHANGE_ONLINE, Profile.EXCHANGE_SERVER)
RESULT_TYPES = sorted(
    {step.result_type for profile in PROFILES for step in steps_for(profile)}, key=lambda kind: kind.__name__
)


def _sample(value_type: object, name: str) -> object:
    """A value of a field's type that is not its default."""
    origin, args = typing.get_origin(value_type), typing.get_args(value_type)
    if value_type is str:
        return f"{name}-value"
    if value_type is bool:
        return True
    if value_type is int:
        return 7
    if value_type is float:
        return 1764200000.5
    if origin is tuple:
        return (_sample(args[0], name),)
    if origin in (typing.Union, types.UnionType):
        return _sample(next(arg for arg in args if arg is not type(None)), name)
    if dataclasses.is_dataclass(value_type):
        return _filled(value_type)
    return {"key": name}  # a JSON object (Mapping)


def _filled(kind: type) -> object:
    hints = typing.get_type_hints(kind)
    return kind(**{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(kind)})


def test_every_step_of_both_profiles_names_its_result_type():
    for profile in PROFILES:
        for step in steps_for(profile):
            assert issubclass(step.result_type, StepResult) and step.id == step.result_type.STEP_ID


@pytest.mark.parametrize("kind", RESULT_TYPES, ids=lambda kind: kind.__name__)
def test_a_result_reads_back_what_it_wrote(kind):
    result = _filled(kind)
    stored = result.to_json()
    assert kind.from_json(stored) == result
    assert all(not isinstance(value, tuple) for value in stored.values())  # plain JSON: lists, not tuples


@pytest.mark.parametrize("kind", RESULT_TYPES, ids=lambda kind: kind.__name__)
def test_an_old_row_reads_with_defaults_and_unknown_keys_ignored(kind):
    assert kind.from_json({}) == kind()
    assert kind.from_json(None) == kind()
    assert kind.from_json({"a_key_from_another_release": 1, "auth": "basic"}) == kind()


def test_missing_and_null_values_take_the_fields_defaults():
    found = ConnectResult.from_json({"organization_name": "Contoso", "verified_domains": None})
    assert found.organization_name == "Contoso" and found.verified_domains == () and found.licences == ()
    assert found.address_domain == ""
    assert ConnectResult.from_json({"verified_domains": ["b.com", "a.com"]}).address_domain == "b.com"


def test_both_profiles_rooms_steps_keep_their_room_lists_as_room_list_entries():
    rooms_types = {next(step.result_type for step in steps_for(profile) if step.id == "rooms") for profile in PROFILES}
    assert rooms_types == {RoomsResult, ExchangeServerRoomsResult}
    for kind in rooms_types:
        assert typing.get_type_hints(kind)["lists"] == tuple[RoomListEntry, ...]


def test_room_lists_saved_before_the_shared_type_read_as_room_list_entries():
    # Exchange Online kept only a member count; Exchange Server kept the members under "room_lists".
    online = RoomsResult.from_json(
        {"lists": [{"name": "Rooms", "address": "rooms@contoso.com", "dn": "CN=Rooms", "members": 75, "created": 1}]}
    )
    server = ExchangeServerRoomsResult.from_json(
        {"room_lists": [{"number": 2, "name": "Rooms 02", "address": "r2@contoso.com", "members": ["a@c.com"]}]}
    )
    assert online.lists == (
        RoomListEntry(name="Rooms", address="rooms@contoso.com", member_count=75, dn="CN=Rooms", created=1),
    )
    assert server.lists == (
        RoomListEntry(name="Rooms 02", address="r2@contoso.com", members=("a@c.com",), member_count=1, number=2),
    )
    assert RoomListEntry.from_json(server.lists[0].to_json()) == server.lists[0]


def test_the_verify_drift_reads_as_a_record():
    found = VerifyResult.from_json({"rooms_passed": 0, "drift": {"gone_rooms": ["x@contoso.com"]}})
    assert found.rooms_passed == 0 and found.drift.gone_rooms == ("x@contoso.com",) and found.drift.unlisted_rooms == ()
    assert VerifyResult.from_json({}).rooms_passed is None


@pytest.mark.django_db
def test_result_of_reads_another_steps_saved_result():
    tenant = make_tenant()
    assert result_of(tenant, ConnectResult) is None
    set_state(tenant, "connect", result={"organization_name": "Contoso", "verified_domains": ["contoso.com"]})
    found = result_of(tenant, ConnectResult)
    assert found == ConnectResult(organization_name="Contoso", verified_domains=("contoso.com",))


@pytest.mark.django_db
def test_result_of_reads_the_one_row_without_joining_or_sorting():
    tenant = make_tenant()
    set_state(tenant, "connect", result={"organization_name": "Contoso"})
    with CaptureQueriesContext(connection) as queries:
        result_of(tenant, ConnectResult)
    (query,) = [query["sql"] for query in queries]
    assert "JOIN" not in query and "ORDER BY" not in query, query  # first() sorted by the tenant's name


@pytest.mark.django_db
def test_required_result_names_the_step_that_has_not_finished():
    tenant = make_tenant()
    set_state(tenant, "room_list", result={"name": "Onramp Rooms"})
    with pytest.raises(StepError) as refused:
        required_result(tenant, RoomListResult, "address", "Room list")
    assert refused.value.code == "previous_step_incomplete" and "“Room list” has not finished yet" in str(
        refused.value.message
    )
    set_state(tenant, "room_list", result={"name": "Onramp Rooms", "address": "rooms@contoso.com"})
    assert required_result(tenant, RoomListResult, "address", "Room list") == "rooms@contoso.com"
