"""Room list planning: at most 75 per list, each room once, nothing moved, re-planning adds nothing. The property
tests run many seeded random cases (hypothesis is not a dependency)."""

import random

import pytest

from wizard.room_plan import ROOM_LIST_MAX_MEMBERS, list_alias, list_name, missing_members, plan_room_lists

DOMAIN = "contoso.onmicrosoft.com"
SEEDS = range(300)


def rooms(count: int, start: int = 1) -> list[str]:
    return [f"room-{i:04d}@{DOMAIN}" for i in range(start, start + count)]


def plan(wanted, existing=None):
    return plan_room_lists("Rooms", "rooms", DOMAIN, wanted, existing or {})


def applied(planned) -> dict[str, set[str]]:
    """The tenant's lists after a plan ran to completion."""
    return {room_list.name: set(room_list.members) for room_list in planned}


def partly_applied(planned, rng: random.Random) -> dict[str, set[str]]:
    """The tenant's lists after a plan was interrupted: some lists not created, some members not added yet."""
    existing = {}
    for room_list in planned:
        if room_list.is_new and rng.random() < 0.3:
            continue
        added = [room for room in room_list.members_to_add if rng.random() < 0.6]
        existing[room_list.name] = set(room_list.members_to_keep) | set(added)
    return existing


def random_case(rng: random.Random) -> tuple[list[str], dict[str, set[str]]]:
    """Wanted rooms (with repeats and case changes) and the lists a previous, maybe interrupted, run left."""
    universe = rooms(rng.randint(0, 400))
    earlier = rng.sample(universe, rng.randint(0, len(universe)))
    existing = partly_applied(plan(earlier), rng) if rng.random() < 0.8 else {}
    wanted = rng.sample(universe, rng.randint(0, len(universe)))
    wanted += [room.upper() for room in rng.sample(wanted, min(len(wanted), rng.randint(0, 5)))]
    return wanted, existing


@pytest.mark.parametrize("seed", SEEDS)
def test_properties_over_random_inputs(seed):
    rng = random.Random(seed)
    wanted, existing = random_case(rng)
    planned = plan(wanted, existing)

    assert all(len(room_list.members) <= ROOM_LIST_MAX_MEMBERS for room_list in planned)
    placements = [room.lower() for room_list in planned for room in room_list.members]
    assert len(placements) == len(set(placements)), "a room is in two lists"
    assert {room.lower() for room in wanted} <= set(placements), "a room was lost"
    for room_list in planned:  # nothing moved, nothing dropped
        assert set(room_list.members_to_keep) == existing.get(room_list.name, set())
    assert {name for name in existing} <= {room_list.name for room_list in planned}
    new_numbers = [room_list.number for room_list in planned if room_list.is_new]
    if new_numbers:  # a list is opened only when every earlier one is full
        assert all(len(room_list.members) == ROOM_LIST_MAX_MEMBERS for room_list in planned if not room_list.is_new)
    assert all(not room_list.is_new or room_list.members_to_add for room_list in planned)

    replanned = plan(wanted, applied(planned))
    assert all(not room_list.members_to_add for room_list in replanned)
    assert applied(replanned) == applied(planned)


@pytest.mark.parametrize("seed", SEEDS)
def test_missing_members_against_random_lists(seed):
    rng = random.Random(seed)
    universe = rooms(rng.randint(0, 150))
    current = set(rng.sample(universe, rng.randint(0, len(universe))))
    wanted = rng.sample(universe, rng.randint(0, len(universe)))
    missing = missing_members({room.upper() for room in current}, wanted + wanted)

    assert missing == [room for room in wanted if room not in current]
    assert missing_members(current | set(missing), wanted) == []


def test_2000_rooms_make_27_lists_named_and_addressed_by_number():
    planned = plan(rooms(2000))
    assert len(planned) == 27
    assert [len(room_list.members_to_add) for room_list in planned] == [75] * 26 + [50]
    assert (planned[0].name, planned[0].alias, planned[0].address) == ("Rooms", "rooms", f"rooms@{DOMAIN}")
    assert (planned[1].name, planned[1].alias, planned[1].address) == ("Rooms 02", "rooms-02", f"rooms-02@{DOMAIN}")
    assert planned[26].name == "Rooms 27" and planned[26].address == f"rooms-27@{DOMAIN}"
    assert all(room_list.is_new for room_list in planned)


def test_new_rooms_fill_the_lowest_lists_with_space_before_a_list_is_opened():
    existing = {"Rooms": set(rooms(75)), "Rooms 02": set(rooms(10, start=76)), "Rooms 03": set(rooms(74, start=86))}
    planned = plan(rooms(100, start=500), existing)
    assert [(room_list.name, len(room_list.members_to_add), room_list.is_new) for room_list in planned] == [
        ("Rooms", 0, False),
        ("Rooms 02", 65, False),
        ("Rooms 03", 1, False),
        ("Rooms 04", 34, True),
    ]
    assert planned[1].members_to_add == tuple(rooms(65, start=500))


def test_a_deleted_list_number_is_reused_before_a_higher_one():
    existing = {"Rooms": set(rooms(75)), "Rooms 03": set(rooms(75, start=76))}
    planned = plan(rooms(80, start=500), existing)
    assert [(room_list.name, len(room_list.members), room_list.is_new) for room_list in planned] == [
        ("Rooms", 75, False),
        ("Rooms 02", 75, True),
        ("Rooms 03", 75, False),
        ("Rooms 04", 5, True),
    ]


def test_lists_outside_the_scheme_are_ignored_and_tenant_spelling_is_kept():
    existing = {"rooms": {rooms(1)[0]}, "Rooms 2": set(rooms(3, start=2)), "Lobby screens": set(), "Rooms 02x": set()}
    planned = plan(rooms(4), existing)
    assert [(room_list.name, room_list.members_to_keep, room_list.members_to_add) for room_list in planned] == [
        ("rooms", (rooms(1)[0],), tuple(rooms(3, start=2))),
    ]


def test_an_overfull_list_is_kept_as_it_is():
    planned = plan(rooms(1, start=900), {"Rooms": set(rooms(80))})
    assert [(len(room_list.members_to_keep), room_list.members_to_add) for room_list in planned] == [
        (80, ()),
        (0, tuple(rooms(1, start=900))),
    ]


def test_nothing_to_place_and_no_lists_means_no_lists():
    assert plan([]) == []


@pytest.mark.parametrize(
    ("name", "alias", "domain"), [("", "rooms", DOMAIN), ("Rooms", " ", DOMAIN), ("Rooms", "r", "")]
)
def test_empty_names_are_refused(name, alias, domain):
    with pytest.raises(ValueError, match="must not be empty"):
        plan_room_lists(name, alias, domain, rooms(1), {})


def test_names_past_99_keep_counting():
    assert (list_name("Rooms", 1), list_name("Rooms", 9), list_name("Rooms", 100)) == ("Rooms", "Rooms 09", "Rooms 100")
    assert (list_alias("rooms", 1), list_alias("rooms", 12)) == ("rooms", "rooms-12")


def test_an_unavailable_number_is_skipped_for_the_next_free_one():
    planned = plan_room_lists("Rooms", "rooms", DOMAIN, rooms(160), {"Rooms": set()}, unavailable={2, 3})
    assert [(room_list.name, room_list.address, len(room_list.members)) for room_list in planned] == [
        ("Rooms", f"rooms@{DOMAIN}", 75),
        ("Rooms 04", f"rooms-04@{DOMAIN}", 75),
        ("Rooms 05", f"rooms-05@{DOMAIN}", 10),
    ]
