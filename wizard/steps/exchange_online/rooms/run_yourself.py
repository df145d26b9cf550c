"""The rooms step when the organisation's admin makes the Exchange changes: Onramp plans the uploaded rooms into
lists of at most 75 (the same plan the automated step applies), the admin runs the commands that create the new
lists and add the rooms (each only when it is a room or equipment mailbox and not a member yet), confirms, and
Onramp looks for the lists and their rooms in Places.

Without InvokeCommand Onramp cannot read the organisation's mailboxes, so the rooms come from a CSV: "every room
mailbox" is asked as a CSV instead."""

import dataclasses
import time
from typing import Any

from django.db import transaction

from tenants.models import Tenant
from wizard.models import MembershipStatus, Room, StepState
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.results import RoomListEntry
from wizard.room_plan import PlannedList, plan_room_lists
from wizard.rooms_csv import RowStatus
from wizard.services import exchange_online_scripts as scripts
from wizard.services.common import required_result, result_of
from wizard.services.connector import connector_clients
from wizard.services.places import not_checked, room_lists_checked
from wizard.steps import manual
from wizard.steps.exchange_online.room_list.result import RoomListResult
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.rooms.service import SOURCE_CSV, STEP_ID
from wizard.steps.exchange_online.run_yourself import CHECKS, NEEDS_EXCHANGE, organization, run_yourself
from wizard.steps.exchange_online.service_account.result import ServiceAccountResult

CSV_ONLY = (
    "Upload a CSV of the rooms: while you make the Exchange changes, Onramp cannot read your mailboxes to find every"
    " room (that needs InvokeCommand)."
)


def _inputs(tenant: Tenant) -> dict[str, Any]:
    state = StepState.objects.filter(tenant=tenant, step_id=STEP_ID).only("inputs").first()
    return dict(state.inputs) if state is not None else {}


def chosen_rooms(inputs: dict[str, Any]) -> list[str]:
    """The addresses of the upload's valid rows, in file order."""
    if inputs.get("source") != SOURCE_CSV:
        return []
    rows = (inputs.get("csv") or {}).get("rows") or []
    return [str(address).lower() for _, _, address, status, _ in rows if status == RowStatus.VALID and address]


def plan(tenant: Tenant, inputs: dict[str, Any] | None = None) -> list[PlannedList]:
    """The chosen rooms spread over the first list and its overflow lists; rooms already placed (by an earlier
    confirmed run) stay where they are."""
    chosen = chosen_rooms(_inputs(tenant) if inputs is None else inputs)
    first = result_of(tenant, RoomListResult)
    if not chosen or first is None or not first.address:
        return []
    placed: dict[str, set[str]] = {first.name: set()}
    for entry in (result_of(tenant, RoomsResult) or RoomsResult()).lists:
        placed[entry.name] = set(entry.members)
    alias = first.alias or first.address.partition("@")[0]
    planned = plan_room_lists(first.name, alias, first.address.partition("@")[2], chosen, placed)
    # The first list is the one the room-list step created, at the address the admin gave it.
    return [dataclasses.replace(p, address=first.address) if p.number == 1 else p for p in planned]


def missing_input(tenant: Tenant) -> str | None:
    if not plan(tenant):
        return CSV_ONLY
    return None


def script(tenant: Tenant) -> list[scripts.OnlineScriptLine]:
    manager = (result_of(tenant, ServiceAccountResult) or ServiceAccountResult()).user_principal_name
    return scripts.rooms_script(organization(tenant), plan(tenant), manager)


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    required_result(tenant, RoomListResult, "address", "Room list")
    planned = plan(tenant, ctx.inputs)
    if not planned:
        return NeedsInput(CSV_ONLY)
    confirmed = manual.confirmation_recorded(ctx, script, manual.EXCHANGE_ONLINE_POWERSHELL)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    with transaction.atomic():
        for entry in planned:
            for address in entry.members:
                Room.objects.update_or_create(
                    tenant=tenant,
                    address=address,
                    defaults={"room_list": entry.name, "membership_status": MembershipStatus.MEMBER, "reason": ""},
                )
    lists = [{"name": p.name, "address": p.address, "rooms": p.members} for p in planned]
    ctx.progress(60, f"Looking for {len(lists)} room list(s) in Places")
    with connector_clients(tenant) as ms:
        checks = room_lists_checked(ms.graph, lists)
    checks.append(
        not_checked(
            "Addresses left out as not rooms",
            NEEDS_EXCHANGE + "; the script warns about each address that is not a room or equipment mailbox.",
        )
    )
    result = RoomsResult(
        lists=tuple(RoomListEntry.of(p.name, p.address, p.members, alias=p.alias, number=p.number) for p in planned),
        source=SOURCE_CSV,
        rooms_selected=len({address for p in planned for address in p.members}),
        rooms_added=sum(len(p.members_to_add) for p in planned),
        # The admin's run is when the lists' membership changed: verify waits on Microsoft's RBAC cache from here.
        members_changed_at=time.time(),
    )
    return Done({**result.to_json(), **confirmed, CHECKS: checks})


RUN_YOURSELF = run_yourself(script, perform, missing_input=missing_input)
