"""Step 4: rooms. The chosen room (and equipment) mailboxes go into room lists of at most 75 members, named
`<list>`, `<list> 02`, … (wizard.room_plan). Nothing is applied before the admin has seen the preview and confirmed.

Membership is written in the fewest calls the admin API allows: each list's members are read once, then a list
that needs several rooms gets one Update-DistributionGroupMember with its full member set, a list that needs one
gets one Add-DistributionGroupMember, and a new list is created with its members in its New-DistributionGroup.
Lists are written concurrently; the client's shared rate limiter keeps the pace within the tenant's budget."""

import re
from contextlib import suppress
from typing import Any

from tenants.models import Tenant
from wizard.engine import record_event
from wizard.errors import StepError
from wizard.microsoft import connector_clients, parallel
from wizard.microsoft.errors import AlreadyExists
from wizard.models import MembershipStatus, Room
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS, PlannedList, plan_room_lists
from wizard.rooms_csv import CsvRow, ParsedRooms, PreviewRow, RowStatus, classify_rows, summary
from wizard.services.common import required_result, step_result
from wizard.steps.registry import Done, NeedsInput, Outcome, StepContext

STEP_ID = "rooms"
SOURCE_ALL = "all"
SOURCE_CSV = "csv"
ROOM_MAILBOX = "RoomMailbox"
EQUIPMENT_MAILBOX = "EquipmentMailbox"
APPLIED_STATUSES = (RowStatus.VALID, RowStatus.ALREADY_MEMBER)


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


def _parsed_from_inputs(saved: dict[str, Any]) -> ParsedRooms:
    rows = [
        CsvRow(line, raw, address, RowStatus(status), reason) for line, raw, address, status, reason in saved["rows"]
    ]
    return ParsedRooms(rows=rows, column=saved["column"], delimiter=saved["delimiter"], encoding=saved["encoding"])


def _preview_row(row: PreviewRow) -> dict[str, Any]:
    return {"line": row.line, "address": row.address or row.raw, "status": row.status.value, "reason": row.reason}


class _Lists:
    """The tenant's room lists of this tenant's naming scheme, and their members, read once per run."""

    def __init__(self, exchange, base_name: str) -> None:
        self.exchange = exchange
        scheme = re.compile(re.escape(base_name.strip()) + r"( \d{2,})?", re.IGNORECASE)
        room_lists = exchange.invoke("Get-DistributionGroup", RecipientTypeDetails="RoomList", ResultSize="Unlimited")
        self.groups = {group["Name"]: group for group in room_lists if scheme.fullmatch(group["Name"].strip())}
        self.members = {outcome.item: outcome.result() for outcome in parallel(self._read_members, list(self.groups))}

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
        return NeedsInput("Choose the rooms: every room mailbox, or a CSV file.")
    required_result(tenant, "room_list", "address", "Room list")
    room_list = step_result(tenant, "room_list")
    manager = required_result(tenant, "service_account", "user_principal_name", "Service account")
    with connector_clients(tenant) as ms:
        return _choose_and_apply(ctx, ms.exchange, room_list, manager)


def _choose_and_apply(ctx: StepContext, exchange, room_list: dict[str, Any], manager: str) -> Outcome:
    tenant = ctx.tenant
    ctx.progress(5, "Reading the room and equipment mailboxes")
    directory = _directory(exchange, resource_only=ctx.inputs["source"] == SOURCE_ALL)
    ctx.progress(10, "Reading the room lists")
    lists = _Lists(exchange, room_list["name"])
    chosen, preview = _selection(ctx.inputs, directory, lists.member_addresses())
    preview_result = {"preview": preview, "preview_summary": _preview_summary(preview)}
    if not ctx.inputs.get("confirmed"):
        return NeedsInput(
            f"Check the preview of {len(preview)} rows, then confirm to add {len(chosen)} rooms.", preview_result
        )
    if not chosen:
        raise StepError(
            code="no_rooms",
            message="No room can be added: the selection holds no room or equipment mailbox.",
            fix="Upload a CSV of room addresses, or create room mailboxes in the Exchange admin center first.",
        )
    plan = plan_room_lists(
        room_list["name"],
        room_list.get("alias") or room_list["address"].partition("@")[0],
        room_list["address"].partition("@")[2],
        chosen,
        lists.members,
    )
    _record_rooms(tenant, chosen, directory, plan)
    applied = _apply(ctx, exchange, plan, lists, manager, len(chosen))
    return Done({**preview_result, **applied, "source": ctx.inputs["source"], "rooms_selected": len(chosen)})


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
    """One call for one list: create it with its members, add the one missing member, or set the full set."""
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
        return {"dn": group["DistinguishedName"], "address": group["PrimarySmtpAddress"].lower(), "created": True}
    if len(planned.members_to_add) == 1:
        # Added meanwhile (another run, an admin): the room is where it should be.
        with suppress(AlreadyExists):
            exchange.invoke("Add-DistributionGroupMember", Identity=identity, Member=planned.members_to_add[0])
    elif planned.members_to_add:
        exchange.invoke("Update-DistributionGroupMember", Identity=identity, Members=list(planned.members))
    return {"created": False}


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
        added = [address.lower() for address in planned.members_to_add]
        if done.error is not None:
            message = str(getattr(done.error, "message", done.error))
            failures.append({"list": planned.name, "code": getattr(done.error, "code", ""), "message": message})
            Room.objects.filter(tenant=ctx.tenant, address__in=added).update(
                membership_status=MembershipStatus.FAILED, reason=f"{planned.name}: {message}"[:500]
            )
            return
        outcome[planned.name] = done.value
        Room.objects.filter(tenant=ctx.tenant, address__in=added).update(
            membership_status=MembershipStatus.MEMBER, reason=""
        )
        placed += len(added)
        ctx.progress(15 + int(80 * placed / max(total, 1)), f"{placed} of {total} rooms in room lists")

    parallel(
        lambda planned: _write_list(exchange, planned, lists.identity(planned.name), manager), to_write, on_done=written
    )
    for planned in to_write:
        if planned.is_new and planned.name in outcome:
            record_event(ctx.tenant, ctx.actor, "create_room_list", "succeeded", STEP_ID, {"name": planned.name})
    if failures:
        raise StepError(
            code="room_lists_incomplete",
            message=f"{len(failures)} room list(s) could not be written: "
            + "; ".join(f"{f['list']}: {f['message']}" for f in failures),
            explanation="The other lists were written; their rooms are in place.",
            fix="Run this step again: it reads the lists and adds only the rooms still missing.",
            extra={"failures": failures},
        )
    summary_lists = []
    for planned in plan:
        group = lists.groups.get(planned.name, {})
        written = outcome.get(planned.name, {})
        summary_lists.append(
            {
                "name": planned.name,
                "address": written.get("address") or group.get("PrimarySmtpAddress", planned.address).lower(),
                "dn": written.get("dn") or group.get("DistinguishedName", ""),
                "members": len(planned.members),
                "created": bool(written.get("created")),
            }
        )
    return {
        "lists": summary_lists,
        "rooms_added": placed - already,
        "rooms_already_members": already,
        "write_calls": len(to_write),
    }


def verify(ctx: StepContext) -> dict[str, Any]:
    """Every chosen room is in exactly one of the lists, and no list holds more than 75 members."""
    with connector_clients(ctx.tenant) as ms:
        lists = _Lists(ms.exchange, ctx.state.result["lists"][0]["name"])
    where: dict[str, list[str]] = {}
    for name, members in lists.members.items():
        for address in members:
            where.setdefault(address, []).append(name)
    chosen = set(Room.objects.filter(tenant=ctx.tenant).values_list("address", flat=True))
    missing = sorted(address for address in chosen if not where.get(address))
    doubled = sorted(address for address in chosen if len(where.get(address, [])) > 1)
    oversized = sorted(name for name, members in lists.members.items() if len(members) > ROOM_LIST_MAX_MEMBERS)
    if missing or doubled or oversized:
        raise StepError(
            code="room_lists_inconsistent",
            message=f"{len(missing)} room(s) in no list, {len(doubled)} in several, {len(oversized)} list(s) over "
            f"{ROOM_LIST_MAX_MEMBERS} members.",
            fix="Run this step again; remove rooms from extra lists by hand if an admin added them twice.",
            extra={"missing": missing[:50], "in_several_lists": doubled[:50], "oversized_lists": oversized},
        )
    return {"verified_rooms": len(chosen), "verified_lists": len(lists.members)}
