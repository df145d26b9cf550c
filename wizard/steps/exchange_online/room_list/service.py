"""Step 3: the room list. A distribution group of type RoomList, managed by the service account. A group that
already has the address is adopted when it is a RoomList; a plain distribution group is converted only when the
admin asks for it, because converting changes how Outlook shows it to everyone.

ManagedBy lists mailbox Names, and since 2022 (MC365786) a new mailbox's Name is its Entra object id, not its alias:
the service account's mailbox is resolved once and a manager is recognised by any of its identities.

Every member of a room list is within the integration's reach once the scope names the list, so a group that is
adopted or converted is first read: a member that is not a room or equipment mailbox (a person, a shared mailbox, a
nested group) is named and the step stops until the admin confirms its removal; Onramp then removes exactly the
members it named (a member that appeared since is named again, never removed unseen)."""

import re
from typing import Any

from django.utils.translation import gettext_noop

from tenants.models import Tenant
from wizard.audit import REQUESTED, SUCCEEDED, record_event, unconfirmed_writes
from wizard.errors import StepError
from wizard.microsoft import hashtable
from wizard.microsoft.errors import NotFound
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.powershell import quote
from wizard.services.common import required_result, result_of, saved_result
from wizard.services.connector import connector_clients
from wizard.steps.exchange_online.connect.result import ConnectResult
from wizard.steps.exchange_online.room_list.result import RoomListResult
from wizard.steps.exchange_online.service_account.result import ServiceAccountResult

STEP_ID = "room_list"
CREATE_ROOM_LIST = "create_room_list"
DEFAULT_NAME = "Onramp Rooms"
ROOM_LIST = "RoomList"
# The only recipients a room list may hold: anything else in a scoped list is a mailbox the integration can open.
RESOURCE_TYPES = frozenset({"RoomMailbox", "EquipmentMailbox"})
REMOVE_INPUT = "remove_non_room_members"


def alias_for(name: str) -> str:
    """An Exchange alias from a display name: letters, digits, dots, dashes and underscores only."""
    alias = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.").lower()
    return alias or "onramp-rooms"


def wanted_list(tenant: Tenant, inputs: dict[str, Any]) -> dict[str, str]:
    """The list's name, alias and address: the admin's inputs, else defaults in the tenant's default domain."""
    name = (inputs.get("name") or DEFAULT_NAME).strip()
    alias = (inputs.get("alias") or alias_for(name)).strip()
    address = (inputs.get("address") or "").strip().lower()
    if not address:
        address = f"{alias}@{(result_of(tenant, ConnectResult) or ConnectResult()).address_domain}"
    return {"name": name, "alias": alias, "address": address}


# The properties that identify a mailbox wherever Exchange names it (ManagedBy holds its Name). Not the alias: two
# recipients' Names may equal one's alias.
_IDENTITY_FIELDS = ("Name", "ExternalDirectoryObjectId", "DistinguishedName", "PrimarySmtpAddress", "Guid")


def mailbox_identities(exchange, address: str) -> list[str]:
    """Every identity of the mailbox at `address`, lower-cased, read once with Get-Mailbox."""
    try:
        mailbox = exchange.invoke_one("Get-Mailbox", Identity=address) or {}
    except NotFound:
        raise StepError(
            code="service_account_mailbox_missing",
            message=f"Exchange Online has no mailbox for {address}.",
            explanation=gettext_noop("The room list is managed by the service account's mailbox."),
            fix=gettext_noop("Run “Service account” again and wait for its mailbox."),
        ) from None
    return identities_of(mailbox, address)


def identities_of(mailbox: dict[str, Any], address: str) -> list[str]:
    """The lower-cased identities of a Get-Mailbox object (and the address it was looked up by)."""
    found = {str(mailbox.get(name) or "").lower() for name in _IDENTITY_FIELDS} | {address.lower()}
    return sorted(found - {""})


def is_manager(group: dict[str, Any], manager_identities: list[str]) -> bool:
    """Whether one of the group's ManagedBy entries is the manager's mailbox, by identity."""
    wanted = {identity.lower() for identity in manager_identities}
    return any(str(entry).lower() in wanted for entry in group.get("ManagedBy") or [])


def get_group(exchange, identity: str) -> dict[str, Any] | None:
    try:
        return exchange.invoke_one("Get-DistributionGroup", Identity=identity)
    except NotFound:
        return None


def group_summary(group: dict[str, Any]) -> dict[str, str]:
    return {
        "name": group["Name"],
        "alias": group.get("Alias", ""),
        "address": group["PrimarySmtpAddress"].lower(),
        "dn": group["DistinguishedName"],
        "guid": group.get("Guid", ""),
    }


def member_summary(member: dict[str, Any]) -> dict[str, str]:
    address = str(member.get("PrimarySmtpAddress") or member.get("Name") or "").lower()
    return {"address": address, "type": str(member.get("RecipientTypeDetails") or "")}


def non_room_members(exchange, identity: str) -> list[dict[str, str]]:
    """The members of the group at `identity` that are not room or equipment mailboxes, by address and type."""
    members = exchange.invoke("Get-DistributionGroupMember", Identity=identity, ResultSize="Unlimited")
    return sorted(
        (member_summary(m) for m in members if m.get("RecipientTypeDetails") not in RESOURCE_TYPES),
        key=lambda m: m["address"],
    )


def describe_members(members: list[dict[str, str]], limit: int = 200) -> str:
    """The members as "address (type)", cut with "and N more" past about `limit` characters."""
    shown: list[str] = []
    for member in members:
        text = f"{member['address']} ({member['type'] or 'unknown type'})"
        if shown and len(", ".join([*shown, text])) > limit:
            return ", ".join(shown) + f" and {len(members) - len(shown)} more"
        shown.append(text)
    return ", ".join(shown)


def _members_need_confirmation(address: str, members: list[dict[str, str]]) -> NeedsInput:
    # The reason is the step's progress message (300 characters); the full list is in the result.
    return NeedsInput(
        f"{address} holds {len(members)} member(s) that are not rooms, which the integration could then reach: "
        f"{describe_members(members, limit=120)}. Confirm that Onramp removes them, or choose another address.",
        {"address": address, "non_room_members": members},
    )


def _remove_confirmed_members(
    ctx: StepContext, exchange, address: str, members: list[dict[str, str]]
) -> NeedsInput | None:
    """Remove the members the admin confirmed; a NeedsInput when there is anything the admin has not seen."""
    named = {m["address"] for m in ctx.previous_result.get("non_room_members") or []}
    if not ctx.inputs.get(REMOVE_INPUT):
        return _members_need_confirmation(address, members)
    unseen = [m for m in members if m["address"] not in named]
    if unseen:
        return NeedsInput(
            f"{address} has {len(unseen)} more member(s) that are not rooms since you confirmed: "
            f"{describe_members(unseen, limit=120)}. Confirm again to remove all {len(members)}.",
            {"address": address, "non_room_members": members},
        )
    for index, member in enumerate(members):
        ctx.progress(30 + int(10 * index / len(members)), f"Removing {member['address']} from {address}")
        exchange.invoke("Remove-DistributionGroupMember", Identity=address, Member=member["address"])
    record_event(
        ctx.tenant,
        ctx.actor,
        "remove_non_room_members",
        "succeeded",
        STEP_ID,
        {"address": address, "members": [m["address"] for m in members]},
    )
    return None


def not_a_room_list_error(address: str) -> StepError:
    return StepError(
        code="not_a_room_list",
        message=f"{address} is an ordinary distribution group, not a room list.",
        explanation=gettext_noop(
            "A group with this address already exists. Onramp does not change an existing group's type "
            "without asking: Outlook will then offer it in the room finder, and it can hold only rooms."
        ),
        fix=f"Run Set-DistributionGroup -Identity {quote(address)} -RoomList -BypassSecurityGroupManagerCheck in "
        "Exchange Online PowerShell, or tick "
        "“Convert the existing group to a room list” on this page and run the step again; or choose another "
        "address.",
        extra={"address": address, "convertible": True},
    )


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    wanted = wanted_list(tenant, ctx.inputs)
    manager = required_result(tenant, ServiceAccountResult, "user_principal_name", "Service account")
    with connector_clients(tenant) as ms:
        return _ensure_room_list(ctx, ms.exchange, wanted, manager)


def _ensure_room_list(ctx: StepContext, exchange, wanted: dict[str, str], manager: str) -> Outcome:
    tenant = ctx.tenant
    ctx.progress(10, f"Reading the mailbox of {manager}")
    manager_identities = mailbox_identities(exchange, manager)
    ctx.progress(20, f"Looking for {wanted['address']}")
    group = get_group(exchange, wanted["address"])
    adopted = group is not None
    if adopted and wanted["address"] in unconfirmed_writes(tenant, STEP_ID, CREATE_ROOM_LIST, "address"):
        # An earlier attempt asked for it and was stopped before the answer: Onramp created it, not the admin.
        adopted = False
        detail = {"address": wanted["address"], "confirmed_by": "found by a later attempt"}
        record_event(tenant, ctx.actor, CREATE_ROOM_LIST, SUCCEEDED, STEP_ID, detail)
    removed: list[dict[str, str]] = []
    if group is not None and (
        group.get("RecipientTypeDetails") == ROOM_LIST or ctx.inputs.get("convert_existing_group")
    ):
        ctx.progress(30, f"Reading the members of {wanted['address']}")
        removed = non_room_members(exchange, wanted["address"])
        if removed:
            refused = _remove_confirmed_members(ctx, exchange, wanted["address"], removed)
            if refused is not None:
                return refused
    if group is None:
        ctx.progress(40, f"Creating the room list {wanted['name']}")
        # Before the call, in case its answer never arrives: a later attempt that finds the list confirms it.
        record_event(tenant, ctx.actor, CREATE_ROOM_LIST, REQUESTED, STEP_ID, {"address": wanted["address"]})
        group = exchange.invoke_one(
            "New-DistributionGroup",
            Name=wanted["name"],
            Alias=wanted["alias"],
            PrimarySmtpAddress=wanted["address"],
            RoomList=True,
            ManagedBy=[manager],
        )
        record_event(tenant, ctx.actor, CREATE_ROOM_LIST, SUCCEEDED, STEP_ID, {"address": wanted["address"]})
    elif group.get("RecipientTypeDetails") != ROOM_LIST:
        if not ctx.inputs.get("convert_existing_group"):
            raise not_a_room_list_error(wanted["address"])
        ctx.progress(50, "Converting the existing group to a room list")
        exchange.invoke("Set-DistributionGroup", Identity=wanted["address"], RoomList=True)
        record_event(tenant, ctx.actor, "convert_to_room_list", "succeeded", STEP_ID, {"address": wanted["address"]})
        group = {**group, "RecipientTypeDetails": ROOM_LIST}
    if not is_manager(group, manager_identities):
        ctx.progress(70, f"Making {manager} its manager")
        exchange.invoke("Set-DistributionGroup", Identity=wanted["address"], ManagedBy=hashtable(Add=[manager]))
    return Done(
        {
            **group_summary(group),
            "manager": manager,
            "manager_identities": manager_identities,
            "adopted": adopted,
            "removed_members": removed,
            "non_room_members": [],
        }
    )


def verify(ctx: StepContext) -> dict[str, Any]:
    result = saved_result(ctx.state, RoomListResult, "address", "manager")
    with connector_clients(ctx.tenant) as ms:
        group = get_group(ms.exchange, result.address)
        manager_identities = list(result.manager_identities) or mailbox_identities(ms.exchange, result.manager)
        people = non_room_members(ms.exchange, result.address) if group is not None else []
    if group is None or group.get("RecipientTypeDetails") != ROOM_LIST:
        raise StepError(
            code="room_list_missing",
            message=f"{result.address} is not a room list any more.",
            fix=gettext_noop("Run this step again to create it."),
        )
    if not is_manager(group, manager_identities):
        raise StepError(
            code="room_list_manager_missing",
            message=f"{result.manager} does not manage {result.address}.",
            fix=gettext_noop("Run this step again to set the manager."),
        )
    if people:
        raise StepError(
            code="room_list_holds_non_rooms",
            message=f"{result.address} holds members that are not rooms: {describe_members(people)}.",
            explanation=gettext_noop("Every member of a scoped room list is within the integration's calendar access."),
            fix=gettext_noop("Run this step again: Onramp names them and removes them once you confirm."),
            extra={"non_room_members": people},
        )
    return {"dn": group["DistinguishedName"]}
