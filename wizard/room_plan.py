"""Which room list each room goes into.

Exchange room lists hold at most 75 rooms each in the booking products' room finders, so a tenant's rooms are spread
over numbered lists: `<base>`, `<base> 02`, `<base> 03`, … with aliases `<alias>`, `<alias>-02`, … The plan is stable
and idempotent, because the rooms step is re-run after crashes, retries and new uploads: a room already in one of the
lists stays where it is, new rooms fill the lowest-numbered lists that have room first, a list is opened only when
every existing one is full, and planning again after applying a plan adds nothing. The plan never removes a member:
removing rooms is a decision for the admin, reported as drift by the verify step.

Pure functions, no I/O: the caller reads the lists from the tenant and applies the plan.
"""

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

ROOM_LIST_MAX_MEMBERS = 75


@dataclass(frozen=True, slots=True)
class PlannedList:
    """One room list after the plan: the members it has (kept as they are) and those to add. `is_new` lists must be
    created first. For lists that exist, `name` is the tenant's; `alias` and `address` are the derived ones."""

    number: int
    name: str
    alias: str
    address: str
    members_to_keep: tuple[str, ...]
    members_to_add: tuple[str, ...]
    is_new: bool

    @property
    def members(self) -> tuple[str, ...]:
        """Every member once the plan is applied."""
        return self.members_to_keep + self.members_to_add


def list_name(base_name: str, number: int) -> str:
    """`Rooms` for the first list, `Rooms 02`, `Rooms 03`, … after it (zero-padded so they sort in admin centres)."""
    return base_name if number == 1 else f"{base_name} {number:02d}"


def list_alias(base_alias: str, number: int) -> str:
    """`rooms` for the first list, `rooms-02`, … after it: aliases cannot hold spaces."""
    return base_alias if number == 1 else f"{base_alias}-{number:02d}"


def plan_room_lists(
    base_name: str,
    base_alias: str,
    domain: str,
    rooms: Sequence[str],
    existing: Mapping[str, Set[str]],
    unavailable: Set[int] = frozenset(),
) -> list[PlannedList]:
    """Place every room in exactly one list of at most `ROOM_LIST_MAX_MEMBERS`, moving nothing already placed.

    `existing` maps the tenant's room list names to their current member addresses; lists whose names do not follow
    the `<base_name>` / `<base_name> NN` scheme are not this plan's and are ignored. Addresses compare without case.
    `unavailable` holds the numbers whose new list cannot be created (its address belongs to another recipient):
    the next number is opened instead. Returns every list of the scheme, existing or new, by number. A list that
    already exceeds the maximum (edited by hand) is kept as it is and gets no new member.
    """
    if not (base_name.strip() and base_alias.strip() and domain.strip()):
        raise ValueError("base_name, base_alias and domain must not be empty")
    current = _lists_of_scheme(base_name, existing)
    placed = {address.lower() for _, members in current.values() for address in members}
    pending = _unique_new(rooms, placed)
    additions: dict[int, list[str]] = {}
    start = 0
    for number in sorted(current):
        free = max(ROOM_LIST_MAX_MEMBERS - len(current[number][1]), 0)
        additions[number], start = pending[start : start + free], start + free
    number = 0
    while start < len(pending):
        number += 1
        if number not in current and number not in unavailable:
            additions[number], start = pending[start : start + ROOM_LIST_MAX_MEMBERS], start + ROOM_LIST_MAX_MEMBERS
    return [
        PlannedList(
            number=number,
            name=current[number][0] if number in current else list_name(base_name, number),
            alias=list_alias(base_alias, number),
            address=f"{list_alias(base_alias, number)}@{domain}",
            members_to_keep=tuple(sorted(current[number][1], key=str.lower)) if number in current else (),
            members_to_add=tuple(additions[number]),
            is_new=number not in current,
        )
        for number in sorted(additions)
    ]


def missing_members(current: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """The wanted members not yet in the list, once each and in the wanted order, compared without case.

    Read the list, then add only these: no call is spent on a member that is there already, and re-running after
    an interruption resumes where it stopped.
    """
    present = {address.lower() for address in current}
    return _unique_new(wanted, present)


def _lists_of_scheme(base_name: str, existing: Mapping[str, Set[str]]) -> dict[int, tuple[str, Set[str]]]:
    """The existing lists that follow the naming scheme, by number, with their names as the tenant spells them."""
    found = {}
    for name, members in existing.items():
        number = _scheme_number(base_name, name)
        if number is not None:
            found[number] = (name, members)
    return found


def _scheme_number(base_name: str, name: str) -> int | None:
    """1 for `<base>`, N for `<base> NN` (N ≥ 2, written as `list_name` writes it), None for any other name."""
    base, candidate = base_name.strip().casefold(), name.strip().casefold()
    if candidate == base:
        return 1
    suffix = candidate.removeprefix(f"{base} ")
    if suffix == candidate or not (suffix.isascii() and suffix.isdigit()):
        return None
    number = int(suffix)
    return number if number >= 2 and suffix == f"{number:02d}" else None


def _unique_new(addresses: Iterable[str], present: set[str]) -> list[str]:
    """`addresses` without those in `present` (lowercased) and without repeats, in their order; updates `present`."""
    result = []
    for address in addresses:
        key = address.lower()
        if key not in present:
            present.add(key)
            result.append(address)
    return result
