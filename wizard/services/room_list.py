"""Step 3: the room list. A distribution group of type RoomList, managed by the service account. A group that
already has the address is adopted when it is a RoomList; a plain distribution group is converted only when the
admin asks for it, because converting changes how Outlook shows it to everyone.

ManagedBy lists mailbox Names, and since 2022 (MC365786) a new mailbox's Name is its Entra object id, not its alias:
the service account's mailbox is resolved once and a manager is recognised by any of its identities."""

import re
from typing import Any

from tenants.models import Tenant
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.microsoft import connector_clients
from wizard.microsoft.errors import NotFound
from wizard.microsoft.exchange_admin import hashtable
from wizard.outcomes import Done, Outcome, StepContext
from wizard.powershell import quote
from wizard.services.common import required_result, step_result

STEP_ID = "room_list"
DEFAULT_NAME = "Onramp Rooms"
ROOM_LIST = "RoomList"


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
        connect = step_result(tenant, "connect")
        domain = connect.get("default_domain") or next(iter(connect.get("verified_domains") or []), "")
        address = f"{alias}@{domain}"
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
            explanation="The room list is managed by the service account's mailbox.",
            fix="Run “Service account” again and wait for its mailbox.",
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


def not_a_room_list_error(address: str) -> StepError:
    return StepError(
        code="not_a_room_list",
        message=f"{address} is an ordinary distribution group, not a room list.",
        explanation="A group with this address already exists. Onramp does not change an existing group's type "
        "without asking: Outlook will then offer it in the room finder, and it can hold only rooms.",
        fix=f"Run Set-DistributionGroup -Identity {quote(address)} -RoomList -BypassSecurityGroupManagerCheck in "
        "Exchange Online PowerShell, or tick "
        "“Convert the existing group to a room list” on this page and run the step again; or choose another "
        "address.",
        extra={"address": address, "convertible": True},
    )


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    wanted = wanted_list(tenant, ctx.inputs)
    manager = required_result(tenant, "service_account", "user_principal_name", "Service account")
    with connector_clients(tenant) as ms:
        return _ensure_room_list(ctx, ms.exchange, wanted, manager)


def _ensure_room_list(ctx: StepContext, exchange, wanted: dict[str, str], manager: str) -> Outcome:
    tenant = ctx.tenant
    ctx.progress(10, f"Reading the mailbox of {manager}")
    manager_identities = mailbox_identities(exchange, manager)
    ctx.progress(20, f"Looking for {wanted['address']}")
    group = get_group(exchange, wanted["address"])
    adopted = group is not None
    if group is None:
        ctx.progress(40, f"Creating the room list {wanted['name']}")
        group = exchange.invoke_one(
            "New-DistributionGroup",
            Name=wanted["name"],
            Alias=wanted["alias"],
            PrimarySmtpAddress=wanted["address"],
            RoomList=True,
            ManagedBy=[manager],
        )
        record_event(tenant, ctx.actor, "create_room_list", "succeeded", STEP_ID, {"address": wanted["address"]})
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
        {**group_summary(group), "manager": manager, "manager_identities": manager_identities, "adopted": adopted}
    )


def verify(ctx: StepContext) -> dict[str, Any]:
    result = ctx.state.result
    with connector_clients(ctx.tenant) as ms:
        group = get_group(ms.exchange, result["address"])
        manager_identities = result.get("manager_identities") or mailbox_identities(ms.exchange, result["manager"])
    if group is None or group.get("RecipientTypeDetails") != ROOM_LIST:
        raise StepError(
            code="room_list_missing",
            message=f"{result['address']} is not a room list any more.",
            fix="Run this step again to create it.",
        )
    if not is_manager(group, manager_identities):
        raise StepError(
            code="room_list_manager_missing",
            message=f"{result['manager']} does not manage {result['address']}.",
            fix="Run this step again to set the manager.",
        )
    return {"dn": group["DistinguishedName"]}
