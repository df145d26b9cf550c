"""Room plan details that mutation testing showed no test would notice (scripts/mutation.py): each planned list
carries its own number, kept members are listed without regard to case, and empty names are refused in words."""

import pytest

from wizard.room_plan import ROOM_LIST_MAX_MEMBERS, plan_room_lists


def test_each_planned_list_carries_its_number():
    rooms = [f"room-{i:03d}@contoso.com" for i in range(ROOM_LIST_MAX_MEMBERS + 1)]
    plan = plan_room_lists("Rooms", "rooms", "contoso.com", rooms, {})
    assert [(planned.number, planned.name, planned.alias) for planned in plan] == [
        (1, "Rooms", "rooms"),
        (2, "Rooms 02", "rooms-02"),
    ]


def test_kept_members_are_listed_without_regard_to_case():
    existing = {"Rooms": {"b@contoso.com", "C@contoso.com", "a@contoso.com", "B2@contoso.com"}}
    (planned,) = plan_room_lists("Rooms", "rooms", "contoso.com", [], existing)
    assert planned.members_to_keep == ("a@contoso.com", "B2@contoso.com", "b@contoso.com", "C@contoso.com")


def test_empty_names_are_refused_in_words():
    with pytest.raises(ValueError, match=r"^base_name, base_alias and domain must not be empty$"):
        plan_room_lists(" ", "rooms", "contoso.com", [], {})
