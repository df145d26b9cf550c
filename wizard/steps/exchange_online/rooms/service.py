"""Step 4: rooms. The chosen room (and equipment) mailboxes go into room lists of at most 75 members, named
`<list>`, `<list> 02`, … (wizard.room_plan). Nothing is applied before the admin has seen the preview and confirmed.

Membership is written in the fewest calls the admin API allows: each list's members are read once, then a list
that needs several rooms gets one Update-DistributionGroupMember with its full member set, a list that needs one
gets one Add-DistributionGroupMember, and a new list is created with its members in its New-DistributionGroup.
Lists are written concurrently; the client's shared rate limiter keeps the pace within the tenant's budget.

A room that joins a list only reaches the integration's calendar access once Microsoft's RBAC cache notices it
(30 minutes to 2 hours): the result records when membership last changed, for verification to wait on."""

import re
import time
from contextlib import suppress
from typing import Any

from django.utils.translation import gettext_noop

from tenants.models import Tenant
from wizard.audit import REQUESTED, SUCCEEDED, record_event, unconfirmed_writes
from wizard.errors import StepError
from wizard.microsoft import parallel
from wizard.microsoft.errors import AlreadyExists, NotFound
from wizard.models import MembershipStatus, Room
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.results import RoomListEntry
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS, PlannedList, list_name, plan_room_lists
from wizard.rooms_csv import CsvRow, ParsedRooms, PreviewRow, RowStatus, classify_rows, summary
from wizard.services.admin_sign_in import still_signed_in
from wizard.services.common import required_result, result_of
from wizard.services.connector import connector_clients
from wizard.steps.exchange_online.room_list.result import RoomListResult
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.service_account.result import ServiceAccountResult

STEP_ID = "rooms"
CREATE_ROOM_LIST = "create_room_list"
SOURCE_ALL = "all"
SOURCE_CSV = "csv"
ROOM_MAILBOX = "RoomMailbox"
EQUIPMENT_MAILBOX = "EquipmentMailbox"
# What the preview names as the "column" of a choice of new rooms, which comes from no file.
NEW_ROOMS_COLUMN = "new rooms"
APPLIED_STATUSES = (RowStatus.VALID, RowStatus.ALREADY_MEMBER)
# Calls in flight at once: enough to hide Microsoft's latency (~250 ms) behind the tenant's budget (~10 calls/s);
# the client's shared rate limiter holds the pace, so more threads would only wait in the limiter.
CONCURRENT_CALLS = 10
# Overflow addresses held by other recipients that one run steps past; beyond this many, an admin should look.
MAX_TAKEN_ADDRESSES = 10


def all_rooms_inputs(*, include_equipment: bool = False, confirmed: bool = False) -> dict[str, Any]:
    return {"source": SOURCE_ALL, "include_equipment": include_equipment, "confirmed": confirmed}


def csv_inputs(parsed: ParsedRooms, *, confirmed: bool = False) -> dict[str, Any]:
    """The parsed upload as step inputs: the rows (with their file-level verdicts) and how the file was read."""
    return {
        "source": SOURCE_CSV,
        "csv": {
            "column": parsed.column,
            "delimiter": parsed.delimiter,
            "encoding": parsed.encoding,
            "rows": [[row.line, row.raw, row.address, row.status.value, row.reason] for row in parsed.rows],
        },
        "confirmed": confirmed,
    }


def new_rooms_inputs(addresses: list[str], *, confirmed: bool = False) -> dict[str, Any]:
    """Rooms created since activation (a drift check found them in no list), chosen the way a CSV of their addresses
    chooses them: the same preview, plan of lists and checks; the rooms already placed stay where they are."""
    rows = [CsvRow(line, address, address, RowStatus.VALID) for line, address in enumerate(addresses, start=2)]
    return csv_inputs(
        ParsedRooms(rows=rows, column=NEW_ROOMS_COLUMN, delimiter=",", encoding="utf-8"), confirmed=confirmed
    )


def _parsed_from_inputs(saved: dict[str, Any]) -> ParsedRooms:
    rows = [
        CsvRow(line, raw, address, RowStatus(status), reason) for line, raw, address, status, reason in saved["rows"]
    ]
    return ParsedRooms(rows=rows, column=saved["column"], delimiter=saved["delimiter"], encoding=saved["encoding"])


def _preview_row(row: PreviewRow) -> dict[str, Any]:
    return {"line": row.line, "address": row.address or row.raw, "status": row.status.value, "reason": row.reason}


class _Lists:
    """The room lists of this tenant's naming scheme and their members, each list read in one call."""

    def __init__(
        self, exchange, groups: dict[str, dict[str, Any]], names_taken: dict[int, dict[str, Any]] | None = None
    ) -> None:
        self.exchange = exchange
        self.groups = groups
        # Groups that are not room lists but bear a later list's name, by that list's number: New-DistributionGroup
        # would refuse the name on every run, so that number is skipped.
        self.names_taken = names_taken or {}
        self.members = {
            outcome.item: outcome.result()
            for outcome in parallel(self._read_members, list(groups), max_workers=CONCURRENT_CALLS)
        }

    @classmethod
    def read(cls, exchange, base_name: str) -> "_Lists":
        """Every room list of the tenant named `<base_name>` or `<base_name> NN`, and the other groups that bear
        such a name (read in the same call)."""
        scheme = re.compile(re.escape(base_name.strip()) + r"(?: (\d{2,}))?", re.IGNORECASE)
        room_lists: dict[str, dict[str, Any]] = {}
        names_taken: dict[int, dict[str, Any]] = {}
        for group in exchange.invoke("Get-DistributionGroup", ResultSize="Unlimited"):
            match = scheme.fullmatch(group["Name"].strip())
            if match is None:
                continue
            if group.get("RecipientTypeDetails") == "RoomList":
                room_lists[group["Name"]] = group
            elif (
                match.group(1)
                and group["Name"].strip().casefold() == list_name(base_name.strip(), int(match.group(1))).casefold()
            ):
                names_taken[int(match.group(1))] = group
        return cls(exchange, room_lists, names_taken)

    def _read_members(self, name: str) -> set[str]:
        found = self.exchange.invoke(
            "Get-DistributionGroupMember", Identity=self.groups[name]["DistinguishedName"], ResultSize="Unlimited"
        )
        return {member["PrimarySmtpAddress"].lower() for member in found}

    def identity(self, name: str) -> str:
        """The distinguished name of an existing list: unambiguous where a display name may not be."""
        group = self.groups.get(name)
        return group["DistinguishedName"] if group else name

    def member_addresses(self) -> set[str]:
        return set().union(*self.members.values()) if self.members else set()


def _directory(exchange, resource_only: bool) -> dict[str, dict[str, Any]]:
    """Mailboxes by lowercased address. A CSV needs every mailbox, so a user mailbox is named as such."""
    params: dict[str, Any] = {"ResultSize": "Unlimited"}
    if resource_only:
        params["RecipientTypeDetails"] = [ROOM_MAILBOX, EQUIPMENT_MAILBOX]
    return {mailbox["PrimarySmtpAddress"].lower(): mailbox for mailbox in exchange.invoke("Get-Mailbox", **params)}


def _selection(
    inputs: dict[str, Any], directory: dict[str, dict[str, Any]], current: set[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The addresses to place, and the preview rows the admin confirms."""
    if inputs.get("source") == SOURCE_CSV:
        types = {address: mailbox["RecipientTypeDetails"] for address, mailbox in directory.items()}
        preview = classify_rows(_parsed_from_inputs(inputs["csv"]), types, current)
        chosen = [row.address.lower() for row in preview if row.status in APPLIED_STATUSES and row.address]
        return chosen, [_preview_row(row) for row in preview]
    wanted = {ROOM_MAILBOX, EQUIPMENT_MAILBOX} if inputs.get("include_equipment") else {ROOM_MAILBOX}
    chosen = sorted(address for address, mailbox in directory.items() if mailbox["RecipientTypeDetails"] in wanted)
    preview = [
        {
            "line": index,
            "address": address,
            "status": (RowStatus.ALREADY_MEMBER if address in current else RowStatus.VALID).value,
            "reason": "Already in a room list; nothing to do." if address in current else "",
        }
        for index, address in enumerate(chosen, start=1)
    ]
    return chosen, preview


def _preview_summary(preview: list[dict[str, Any]]) -> dict[str, int]:
    counts = summary([])
    for row in preview:
        counts[row["status"]] += 1
    counts["total"] = len(preview)
    return counts


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    if ctx.inputs.get("source") not in (SOURCE_ALL, SOURCE_CSV):
        return NeedsInput(gettext_noop("Choose the rooms: every room mailbox, or a CSV file."))
    required_result(tenant, RoomListResult, "address", "Room list")
    room_list = result_of(tenant, RoomListResult) or RoomListResult()
    manager = required_result(tenant, ServiceAccountResult, "user_principal_name", "Service account")
    with connector_clients(tenant) as ms:
        return _choose_and_apply(ctx, ms.exchange, room_list, manager)


def _choose_and_apply(ctx: StepContext, exchange, room_list: RoomListResult, manager: str) -> Outcome:
    tenant = ctx.tenant
    ctx.progress(5, "Reading the mailboxes and the room lists")
    directory, lists = (
        outcome.result()
        for outcome in parallel(
            lambda read: read(),
            [
                lambda: _directory(exchange, resource_only=ctx.inputs["source"] == SOURCE_ALL),
                lambda: _Lists.read(exchange, room_list.name),
            ],
        )
    )
    _record_lists_found_created(ctx, lists)
    chosen, preview = _selection(ctx.inputs, directory, lists.member_addresses())
    plan = _plan(exchange, room_list, chosen, lists)
    to_add = sum(len(planned.members_to_add) for planned in plan)
    preview_result = {
        "preview": preview,
        "preview_summary": _preview_summary(preview),
        "planned_lists": _planned_lists(plan, lists),
    }
    if not ctx.inputs.get("confirmed"):
        return NeedsInput(
            f"Check the preview of {len(preview)} rows, then confirm to add {to_add} rooms.", preview_result
        )
    if not chosen:
        raise StepError(
            code="no_rooms",
            message=gettext_noop("No room can be added: the selection holds no room or equipment mailbox."),
            fix=gettext_noop(
                "Upload a CSV of room addresses, or create room mailboxes in the Exchange admin center first."
            ),
        )
    _record_rooms(tenant, chosen, directory, plan)
    applied = _apply(ctx, exchange, plan, lists, manager, len(chosen))
    changed_at = time.time() if applied["write_calls"] else ctx.previous_result.get("members_changed_at")
    return Done(
        {
            **preview_result,
            **applied,
            "source": ctx.inputs["source"],
            "rooms_selected": len(chosen),
            "members_changed_at": changed_at,
        }
    )


def _record_lists_found_created(ctx: StepContext, lists: _Lists) -> None:
    """A list an earlier attempt asked Microsoft to create, with no answer seen (its worker was killed while the
    call was in flight, or reading it back failed), that exists now: Onramp created it, and says so once."""
    existing = {name.casefold(): name for name in lists.groups}
    for requested in sorted(unconfirmed_writes(ctx.tenant, STEP_ID, CREATE_ROOM_LIST, "name")):
        if requested.casefold() in existing:
            detail = {"name": existing[requested.casefold()], "confirmed_by": "found by a later attempt"}
            record_event(ctx.tenant, ctx.actor, CREATE_ROOM_LIST, SUCCEEDED, STEP_ID, detail)


def _plan(exchange, room_list: RoomListResult, chosen: list[str], lists: _Lists) -> list[PlannedList]:
    """The lists the chosen rooms go into, each new list at an address no other recipient holds.

    One Get-Recipient per new list (concurrently) before anything is created: a recipient that already owns an
    overflow list's address, or a group that is not a room list but bears its name, would make New-DistributionGroup
    fail the same way on every retry, so its number is skipped for the next one, whose address is checked in turn."""
    base_alias = room_list.alias or room_list.address.partition("@")[0]
    domain = room_list.address.partition("@")[2]
    holders: dict[int, dict[str, str]] = {
        number: {
            "name": str(group.get("Name") or ""),
            "kind": str(group.get("RecipientTypeDetails") or ""),
            "address": str(group.get("PrimarySmtpAddress") or "").lower(),
            "taken": "name",
        }
        for number, group in lists.names_taken.items()
    }
    checked: set[int] = set()
    while True:
        plan = plan_room_lists(room_list.name, base_alias, domain, chosen, lists.members, set(holders))
        unchecked = [planned for planned in plan if planned.is_new and planned.number not in checked]
        if not unchecked:
            return plan
        for looked_up in parallel(
            lambda planned: _holder(exchange, planned.address), unchecked, max_workers=CONCURRENT_CALLS
        ):
            checked.add(looked_up.item.number)
            holder = looked_up.result()
            if holder is not None:
                holders[looked_up.item.number] = {**holder, "address": looked_up.item.address, "taken": "address"}
        if len(holders) > MAX_TAKEN_ADDRESSES:
            raise _addresses_taken(list(holders.values()))


def _holder(exchange, address: str) -> dict[str, str] | None:
    """The recipient that owns `address` (its name and kind), or None when the address is free."""
    try:
        found = exchange.invoke("Get-Recipient", Identity=address)
    except NotFound:
        return None
    if not found:
        return None
    return {"name": str(found[0].get("Name") or ""), "kind": str(found[0].get("RecipientTypeDetails") or "")}


def _addresses_taken(holders: list[dict[str, str]]) -> StepError:
    named = "; ".join(
        f"the name ‘{holder['name']}’ is taken by a {holder['kind']} ({holder['address']})"
        if holder["taken"] == "name"
        else f"{holder['address']} belongs to ‘{holder['name']}’ ({holder['kind']})"
        for holder in holders
    )
    return StepError(
        code="room_list_addresses_taken",
        message=f"No free address for a new room list: {named}.",
        explanation="Each room list needs an address of its own. Onramp steps past an address another recipient "
        f"holds to the next number, but gave up after {len(holders)} taken ones.",
        fix=gettext_noop(
            "Free these addresses or names (Exchange admin center → Recipients → the holder → change its email "
            "address or name, or remove it if it is unused), then run this step again."
        ),
        extra={"holders": holders},
    )


def _planned_lists(plan: list[PlannedList], lists: _Lists) -> list[dict[str, Any]]:
    """The plan as the preview shows it and the step's PowerShell follows it: each list's name, alias and address,
    its members after confirming, the rooms added to it, and whether the list is created."""
    return [
        {
            "number": planned.number,
            "name": planned.name,
            "alias": planned.alias,
            "address": str(lists.groups.get(planned.name, {}).get("PrimarySmtpAddress") or planned.address).lower(),
            "members": len(planned.members),
            "adding": len(planned.members_to_add),
            "rooms_to_add": list(planned.members_to_add),
            "created": planned.is_new,
        }
        for planned in plan
    ]


def planned_lists_of(result: RoomsResult) -> list[PlannedList]:
    """The plan a preview saved in the step's result, as the planner made it (the rooms each list keeps are not
    saved, only the ones it adds)."""
    return [
        PlannedList(
            number=entry.number,
            name=entry.name,
            alias=entry.alias,
            address=entry.address,
            members_to_keep=(),
            members_to_add=entry.rooms_to_add,
            is_new=entry.created,
        )
        for entry in result.planned_lists
        if entry.number
    ]


def _record_rooms(tenant: Tenant, chosen: list[str], directory: dict[str, dict[str, Any]], plan: list[PlannedList]):
    """A Room row per chosen mailbox, with the list the plan puts it in, before anything is written."""
    list_of = {address.lower(): planned.name for planned in plan for address in planned.members}
    kept = {address.lower() for planned in plan for address in planned.members_to_keep}
    rows = [
        Room(
            tenant=tenant,
            address=address,
            display_name=directory.get(address, {}).get("DisplayName", ""),
            room_list=list_of.get(address, ""),
            membership_status=MembershipStatus.MEMBER if address in kept else MembershipStatus.PENDING,
        )
        for address in chosen
    ]
    Room.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["tenant", "address"],
        update_fields=["display_name", "room_list", "membership_status", "updated_at"],
    )


def _write_list(exchange, planned: PlannedList, identity: str, manager: str) -> dict[str, Any]:
    """One call writes one list: create it with its members, add its one missing member, or set its full member
    set. Then one call reads it back, in the same thread, so checking overlaps the other lists' writes."""
    written: dict[str, Any] = {"created": planned.is_new}
    if planned.is_new:
        group = exchange.invoke_one(
            "New-DistributionGroup",
            Name=planned.name,
            Alias=planned.alias,
            PrimarySmtpAddress=planned.address,
            RoomList=True,
            ManagedBy=[manager],
            Members=list(planned.members_to_add),
        )
        identity = group["DistinguishedName"]
        written.update(dn=identity, address=group["PrimarySmtpAddress"].lower())
    elif len(planned.members_to_add) == 1:
        # Added meanwhile (another run, an admin): the room is where it should be.
        with suppress(AlreadyExists):
            exchange.invoke("Add-DistributionGroupMember", Identity=identity, Member=planned.members_to_add[0])
    else:
        exchange.invoke("Update-DistributionGroupMember", Identity=identity, Members=list(planned.members))
    try:
        found = exchange.invoke("Get-DistributionGroupMember", Identity=identity, ResultSize="Unlimited")
    except NotFound:
        # A list created a moment ago may not have replicated yet; step 6 checks every room's access anyway.
        return {**written, "members": None}
    return {**written, "members": sorted(member["PrimarySmtpAddress"].lower() for member in found)}


def _apply(
    ctx: StepContext, exchange, plan: list[PlannedList], lists: _Lists, manager: str, total: int
) -> dict[str, Any]:
    already = sum(len(planned.members_to_keep) for planned in plan)
    placed = already
    to_write = [planned for planned in plan if planned.members_to_add]
    ctx.progress(15, f"{placed} of {total} rooms already in a room list; writing {len(to_write)} list(s)")
    outcome: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, str]] = []

    def written(done) -> None:
        nonlocal placed
        planned: PlannedList = done.item
        if done.value is not None and done.value["created"]:
            # Recorded as soon as Microsoft confirms it, before anything else can stop this run.
            record_event(ctx.tenant, ctx.actor, CREATE_ROOM_LIST, SUCCEEDED, STEP_ID, {"name": planned.name})
        added = [address.lower() for address in planned.members_to_add]
        if done.error is not None:
            message = str(getattr(done.error, "message", done.error))
            failures.append({"list": planned.name, "code": getattr(done.error, "code", ""), "message": message})
            Room.objects.filter(tenant=ctx.tenant, address__in=added).update(
                membership_status=MembershipStatus.FAILED, reason=f"{planned.name}: {message}"[:500]
            )
            return
        outcome[planned.name] = done.value
        read_back = done.value["members"]
        absent = [] if read_back is None else sorted(set(added) - set(read_back))
        if absent:
            failures.append(
                {"list": planned.name, "code": "not_in_list", "message": f"{len(absent)} room(s) absent when read back"}
            )
            Room.objects.filter(tenant=ctx.tenant, address__in=absent).update(
                membership_status=MembershipStatus.FAILED,
                reason=f"Not in {planned.name} when read back after writing it."[:500],
            )
        Room.objects.filter(tenant=ctx.tenant, address__in=set(added) - set(absent)).update(
            membership_status=MembershipStatus.MEMBER, reason=""
        )
        placed += len(added) - len(absent)
        ctx.progress(15 + int(80 * placed / max(total, 1)), f"{placed} of {total} rooms in room lists")

    for start in range(0, len(to_write), CONCURRENT_CALLS):
        batch = to_write[start : start + CONCURRENT_CALLS]
        # A long run writes under the administrator's sign-in as long as Microsoft still honours it: asked before each
        # batch, so once it is revoked the lists not started wait for a sign-in again (the run after it writes only
        # what is missing).
        still_signed_in(ctx.tenant)
        for planned in batch:
            if planned.is_new:
                # Before the call, in case its answer never arrives: a later attempt that finds the list confirms it.
                record_event(ctx.tenant, ctx.actor, CREATE_ROOM_LIST, REQUESTED, STEP_ID, {"name": planned.name})
        parallel(
            lambda planned: _write_list(exchange, planned, lists.identity(planned.name), manager),
            batch,
            max_workers=CONCURRENT_CALLS,
            on_done=written,
        )
    if failures:
        raise StepError(
            code="room_lists_incomplete",
            message=f"{len(failures)} room list(s) could not be written: "
            + "; ".join(f"{f['list']}: {f['message']}" for f in failures),
            explanation=gettext_noop("The other lists were written; their rooms are in place."),
            fix=gettext_noop("Run this step again: it reads the lists and adds only the rooms still missing."),
            extra={"failures": failures},
        )
    _check_placement(plan, lists, outcome)
    summary_lists = []
    for planned in plan:
        group = lists.groups.get(planned.name, {})
        written = outcome.get(planned.name, {})
        summary_lists.append(
            RoomListEntry.of(
                planned.name,
                written.get("address") or group.get("PrimarySmtpAddress", planned.address).lower(),
                planned.members,
                dn=written.get("dn") or group.get("DistinguishedName", ""),
                alias=planned.alias,
                number=planned.number,
                created=bool(written.get("created")),
            ).to_json()
        )
    return {
        "lists": summary_lists,
        "rooms_added": placed - already,
        "rooms_already_members": already,
        "write_calls": len(to_write),
    }


def _check_placement(plan: list[PlannedList], lists: _Lists, outcome: dict[str, dict[str, Any]]) -> None:
    """After writing: every planned room is in exactly one list and no list holds more than 75 members, as the
    lists were read (at the start for lists left alone, right after writing for the others)."""
    members = {
        planned.name: outcome.get(planned.name, {}).get("members") or lists.members.get(planned.name, set())
        for planned in plan
    }
    where: dict[str, list[str]] = {}
    for name, addresses in members.items():
        for address in addresses:
            where.setdefault(address, []).append(name)
    planned_rooms = {address.lower() for planned in plan for address in planned.members}
    doubled = sorted(address for address in planned_rooms if len(where.get(address, [])) > 1)
    oversized = sorted(name for name, addresses in members.items() if len(addresses) > ROOM_LIST_MAX_MEMBERS)
    if doubled or oversized:
        raise StepError(
            code="room_lists_inconsistent",
            message=f"{len(doubled)} room(s) are in several lists, {len(oversized)} list(s) hold more than "
            f"{ROOM_LIST_MAX_MEMBERS} members.",
            explanation="Someone changed the lists by hand: a room in two lists is offered twice, and Outlook's room "
            f"finder shows at most {ROOM_LIST_MAX_MEMBERS} rooms of a list.",
            fix=gettext_noop(
                "Remove the extra memberships in the Exchange admin center (Groups → the room list → Members), then "
                "run this step again."
            ),
            extra={"in_several_lists": doubled[:50], "oversized_lists": oversized},
        )
