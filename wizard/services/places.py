"""Whether the room lists Onramp manages are visible to the integration through the Places API yet.

An integration that finds rooms through Places (`/places/microsoft.graph.roomlist`) sees a new room list only once
Places has picked it up, which Microsoft says can take hours (up to 24). Verify reports each list that Places does
not show yet as a warning: the rooms are in scope and bookable, only that way of finding them lags. An integration
without Place.Read.All does not list rooms through Places, and nothing is reported."""

from typing import Any
from urllib.parse import quote

from tenants.models import Tenant
from wizard.microsoft import integration_clients
from wizard.microsoft.errors import PermissionMissing

ROOM_LISTS_PATH = "/places/microsoft.graph.roomlist"
NOT_USED = (
    "the integration's app holds no Place.Read.All, so it does not list rooms through Places; nothing to wait for."
)


def room_lists_in_places(tenant: Tenant, lists: list[dict[str, Any]]) -> dict[str, Any]:
    """For each of `lists` ({"name", "address"}), whether the integration's app sees it in Places.

    Returns {"checked": bool, "detail": str, "lists": [{"name", "address", "visible"}], "warnings": [str]}."""
    with integration_clients(tenant) as app:
        return lists_in_places(app.graph, lists)


def lists_in_places(graph, lists: list[dict[str, Any]]) -> dict[str, Any]:
    """`room_lists_in_places` through the integration app's Graph client `graph`."""
    try:
        listed = graph.get_all(ROOM_LISTS_PATH)
    except PermissionMissing:
        return {"checked": False, "detail": NOT_USED, "lists": [], "warnings": []}
    seen = {str(entry.get("emailAddress") or "").lower() for entry in listed}
    visible = [{**_named(entry), "visible": entry["address"].lower() in seen} for entry in lists]
    warnings = [
        f"The room list {entry['name']} ({entry['address']}) is not visible in Places yet: Microsoft can take up to "
        "24 hours to show a new room list there, so an integration that lists rooms through Places does not see "
        "its rooms until then (they are in scope and can be booked by address). Run verify again later to see it."
        for entry in visible
        if not entry["visible"]
    ]
    detail = f"{len(visible) - len(warnings)} of {len(visible)} room list(s) visible in Places"
    return {"checked": True, "detail": detail, "lists": visible, "warnings": warnings}


def _named(entry: dict[str, Any]) -> dict[str, str]:
    return {"name": entry.get("name") or entry["address"], "address": entry["address"].lower()}


ROOM_LIST_ROOMS_PATH = "/places/{address}/microsoft.graph.roomlist/rooms"
PLACES_LAG = (
    "Places does not show it yet: Microsoft can take up to 24 hours to show a new room list there, so Onramp cannot"
    " tell a list that lags from one that is missing; “Verify” proves the rooms by reading their calendars."
)


def room_lists_checked(graph, lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Places says of each of `lists` ({"name", "address", "rooms"}), read with `graph` (Onramp's connector
    app, Place.Read.All): each list found by its address and its rooms among the list's rooms, as checks
    {"what", "checked", "passed", "detail"}. A list Places does not show is not checked (it may lag), never failed;
    without Place.Read.All nothing is checked, and each check says why."""
    try:
        listed = graph.get_all(ROOM_LISTS_PATH)
    except PermissionMissing as refused:
        why = f"Onramp's connector app may not read Places ({refused.code}): grant it Place.Read.All to add this check."
        return [not_checked(f"Room list {entry['address']}", why) for entry in lists]
    seen = {str(entry.get("emailAddress") or "").lower() for entry in listed}
    checks = []
    for entry in lists:
        address = entry["address"].lower()
        if address not in seen:
            checks.append(not_checked(f"Room list {entry['name']} ({address})", PLACES_LAG))
            continue
        checks.append(checked(f"Room list {entry['name']} ({address}) exists", True))
        wanted = {room.lower() for room in entry.get("rooms") or ()}
        if not wanted:
            continue
        found = {
            str(room.get("emailAddress") or "").lower()
            for room in graph.get_all(ROOM_LIST_ROOMS_PATH.format(address=quote(address, safe="@")))
        }
        missing = sorted(wanted - found)
        detail = (
            f"not listed: {', '.join(missing[:20])} (Places lists rooms only, never equipment mailboxes)"
            if missing
            else f"all {len(wanted)} rooms listed"
        )
        checks.append(checked(f"Rooms of {entry['name']} in Places", not missing, detail))
    return checks


def checked(what: str, passed: bool, detail: str = "") -> dict[str, Any]:
    """A check Onramp ran, as run-it-yourself steps list them."""
    return {"what": what, "checked": True, "passed": passed, "detail": detail}


def not_checked(what: str, why: str) -> dict[str, Any]:
    return {"what": what, "checked": False, "passed": None, "detail": why}
