"""Microsoft Graph v1.0: the directory, licences, mailbox settings, places, calendars and $batch."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import jwt

from .oidc import directory_roles
from .responses import Request, Response, graph_error
from .state import (
    ALL_SKUS,
    EXCHANGE_APP_ID,
    EXCHANGE_AUDIENCE,
    EXCHANGE_PLAN_NAMES,
    GLOBAL_ADMINISTRATOR,
    GRAPH_APP_ID,
    GRAPH_AUDIENCE,
    ORG_NAME,
    RESOURCE_APP_ROLES,
    ROLE_NAMES,
    UNVERIFIED_DOMAIN,
    USER_ADMINISTRATOR,
    EntraServicePrincipal,
    Tenant,
    User,
    stable_id,
)
from .throttling import BATCH_OUTLOOK_PARALLEL, Rejection
from .tokens import TokenError, verify_token

MAX_BATCH = 20
SKUS = {sku["skuId"]: sku for sku in ALL_SKUS}
DEFAULT_USER_PROPS = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
READ_USERS = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
WRITE_USERS = ("User.ReadWrite.All", "Directory.ReadWrite.All")
# Directory roles that may write users under a person's token: Global Administrator, User Administrator [ROLES].
DIRECTORY_WRITERS = {GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR}
CALENDAR_ROLES = {"Calendars.Read", "Calendars.ReadBasic.All", "Calendars.ReadWrite"}


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Call:
    tenant: Tenant
    method: str
    path: str  # below /v1.0, decoded
    query: dict[str, str]
    body: Any
    base_url: str
    app_id: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    token: dict[str, Any] = field(default_factory=dict)  # the access token's claims

    @property
    def signed_in_user(self) -> User | None:
        """The person a delegated token acts for (`idtyp` "user"); None under an app's own token."""
        if self.token.get("idtyp") != "user":
            return None
        return self.tenant.users.get(str(self.token.get("oid", "")))

    def granted(self) -> set[str]:
        """Under a person's token its delegated scopes (`scp`), under an app's its application permissions, read
        from the tenant's current grants (see WIRE.md)."""
        if self.token.get("idtyp") == "user":
            return set(str(self.token.get("scp", "")).split())
        return self.tenant.app_roles(self.app_id, GRAPH_APP_ID)

    @property
    def advanced_query(self) -> bool:
        """Graph's advanced query parameters: `ConsistencyLevel: eventual` and `$count=true` (aad-advanced-queries)."""
        return (
            self.headers.get("consistencylevel", "").strip().lower() == "eventual"
            and self.query.get("$count", "").strip().lower() == "true"
        )


# -- helpers --------------------------------------------------------------------------------------
def _not_found(key: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
    )


def _bad(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def _visible_user(call: Call, key: str) -> User:
    user = call.tenant.user_by_key(key)
    if user is None or not call.tenant.visible(user):
        raise _not_found(key)
    return user


def _mailbox_user(call: Call, key: str) -> User:
    """A user for an Exchange-backed endpoint: Exchange's wording for unknown users and missing mailboxes."""
    user = call.tenant.user_by_key(key)
    if user is None or not call.tenant.visible(user):
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
    if not call.tenant.has_mailbox(user):
        raise GraphError(
            404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
        )
    return user


def _skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")[1])
    except (ValueError, IndexError) as exc:
        raise _bad("Invalid $skiptoken.", "BadRequest") from exc


def _page(
    call: Call, items: list[dict[str, Any]], context: str, default_top: int = 100, max_top: int = 999
) -> dict[str, Any]:
    try:
        top = min(int(call.query.get("$top", default_top)), max_top)
    except ValueError as exc:
        raise _bad(f"Invalid value '{call.query['$top']}' for $top.", "BadRequest") from exc
    offset = _offset(call.query.get("$skiptoken"))
    page: dict[str, Any] = {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}"}
    page["value"] = items[offset : offset + top]
    if offset + top < len(items):
        query = {k: v for k, v in call.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = _skiptoken(offset + top)
        page["@odata.nextLink"] = f"{call.base_url}/v1.0{call.path}?{urlencode(query, safe='$,')}"
    return page


_EQ = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_STARTS_WITH = re.compile(r"^\s*startswith\(\s*displayName\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)


def _filter_eq(call: Call, allowed: tuple[str, ...], resource: str) -> tuple[str, str] | None:
    expr = call.query.get("$filter")
    if not expr:
        return None
    match = _EQ.match(expr)
    prop = match.group(1) if match else expr.split()[0] if expr.split() else expr
    key = next((k for k in allowed if k.lower() == prop.lower()), None)
    if not match or key is None:
        raise _bad(
            f"Unsupported or invalid query filter clause specified for property '{prop}' of resource '{resource}'.",
            "Request_UnsupportedQuery",
        )
    return key, match.group(2).replace("''", "'")


def _select(obj: dict[str, Any], call: Call, default: tuple[str, ...]) -> dict[str, Any]:
    wanted = [p.strip() for p in call.query.get("$select", "").split(",") if p.strip()]
    keys = wanted or list(default)
    lower = {k.lower(): k for k in obj}
    return {lower[k.lower()]: obj[lower[k.lower()]] for k in keys if k.lower() in lower}


def _user_json(tenant: Tenant, user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": None,
        "jobTitle": None,
        "mail": user.upn if tenant.has_mailbox(user) else None,
        "mobilePhone": None,
        "officeLocation": user.building,
        "preferredLanguage": None,
        "surname": None,
        "userPrincipalName": user.upn,
        "accountEnabled": user.account_enabled,
        "usageLocation": user.usage_location,
        "mailNickname": user.mail_nickname,
        "userType": "Member",
        "assignedLicenses": [{"disabledPlans": [], "skuId": s} for s in user.licenses],
    }


def _insufficient() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def _require(call: Call, permissions: tuple[str, ...]) -> None:
    """Under an app's token one of `permissions`; under a person's, one of them as a delegated scope and, to write
    the directory, a directory role that may: delegated access is the intersection of both [GPERM]."""
    if not call.granted() & set(permissions):
        raise _insufficient()
    user = call.signed_in_user
    writes = all("ReadWrite" in permission for permission in permissions)
    if user is not None and writes and not set(directory_roles(user)) & DIRECTORY_WRITERS:
        raise _insufficient()


# -- endpoints ------------------------------------------------------------------------------------
def get_organization(call: Call) -> Response:
    _require(call, ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All"))
    identity = call.tenant.identity
    org = {
        "id": identity.tenant_id,
        "displayName": ORG_NAME,
        "countryLetterCode": "US",
        "tenantType": "AAD",
        "verifiedDomains": [
            {
                "name": d,
                "isDefault": d == identity.verified_domain,
                "isInitial": d == identity.domain,
                "type": "Managed",
                "capabilities": "Email, OfficeCommunicationsOnline",
            }
            for d in (identity.domain, identity.verified_domain)
        ],
    }
    return Response.json(
        200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization", "value": [org]}
    )


def get_domains(call: Call) -> Response:
    _require(call, ("Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All"))
    identity = call.tenant.identity
    domains = [
        {
            "id": identity.domain,
            "authenticationType": "Managed",
            "isDefault": False,
            "isInitial": True,
            "isRoot": True,
            "isVerified": True,
            "supportedServices": ["Email", "OfficeCommunicationsOnline"],
        },
        {
            "id": identity.verified_domain,
            "authenticationType": "Managed",
            "isDefault": True,
            "isInitial": False,
            "isRoot": True,
            "isVerified": True,
            "supportedServices": ["Email", "OfficeCommunicationsOnline"],
        },
        {
            "id": UNVERIFIED_DOMAIN,
            "authenticationType": "Managed",
            "isDefault": False,
            "isInitial": False,
            "isRoot": True,
            "isVerified": False,
            "supportedServices": [],
        },
    ]
    return Response.json(
        200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#domains", "value": domains}
    )


_ENDS_WITH = re.compile(r"^\s*endswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)
# endsWith works on users' mail, otherMails, userPrincipalName and proxyAddresses, only as an advanced query
# (aad-advanced-queries); the sandbox's users carry the first and third.
_ENDS_WITH_PROPS = ("mail", "userPrincipalName")
_ENDS_WITH_REFUSED = (
    "Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true "
    "query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for "
    "more information"
)
# assignedLicenses supports eq (through any) by default (aad-advanced-queries, filter-directory-objects).
_LICENSED = re.compile(
    r"^\s*assignedLicenses/any\(\s*(\w+)\s*:\s*(\w+)/skuId\s+eq\s+([0-9a-fA-F-]{36})\s*\)\s*$", re.IGNORECASE
)


def _user_filter(call: Call) -> Callable[[dict[str, Any]], bool] | None:
    """The rows a users $filter keeps: `<prop> eq '…'`, `endsWith(mail|userPrincipalName, '…')` (advanced query
    parameters required) or `assignedLicenses/any(x:x/skuId eq <guid>)`."""
    expr = call.query.get("$filter") or ""
    ends_with = _ENDS_WITH.match(expr)
    if ends_with:
        prop = next((k for k in _ENDS_WITH_PROPS if k.lower() == ends_with.group(1).lower()), None)
        if not call.advanced_query:
            raise _bad(_ENDS_WITH_REFUSED, "Request_UnsupportedQuery")
        if prop is None:
            raise _bad(
                f"Unsupported or invalid query filter clause specified for property '{ends_with.group(1)}' of "
                "resource 'User'.",
                "Request_UnsupportedQuery",
            )
        suffix = ends_with.group(2).replace("''", "'").lower()
        return lambda row: str(row.get(prop) or "").lower().endswith(suffix)
    licensed = _LICENSED.match(expr)
    if licensed and licensed.group(1) == licensed.group(2):
        sku = licensed.group(3).lower()
        return lambda row: any(str(x.get("skuId", "")).lower() == sku for x in row.get("assignedLicenses") or [])
    clause = _filter_eq(call, ("userPrincipalName", "mail", "mailNickname", "id", "displayName"), "User")
    if clause is None:
        return None
    prop, value = clause
    return lambda row: str(row.get(prop) or "").lower() == value.lower()


def list_users(call: Call) -> Response:
    _require(call, READ_USERS)
    tenant = call.tenant
    keep = _user_filter(call)
    users = [u for u in tenant.users.values() if tenant.visible(u)]
    rows = [_user_json(tenant, u) for u in users]
    if keep is not None:
        rows = [r for r in rows if keep(r)]
    page = _page(call, [_select(r, call, DEFAULT_USER_PROPS) for r in rows], "users")
    if call.advanced_query:
        # Without ConsistencyLevel, $count=true is silently ignored (aad-advanced-queries, error handling).
        page = {"@odata.context": page["@odata.context"], "@odata.count": len(rows), **page}
    return Response.json(200, page)


def _password_ok(password: str) -> bool:
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    return 8 <= len(password) <= 256 and classes >= 3


def create_user(call: Call) -> Response:
    _require(call, WRITE_USERS)
    body = call.body if isinstance(call.body, dict) else {}
    for prop in ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"):
        if body.get(prop) in (None, ""):
            raise _bad(f"Invalid value specified for property '{prop}' of resource 'User'.")
    upn = str(body["userPrincipalName"])
    local, _, domain = upn.partition("@")
    if not local or domain.lower() not in (call.tenant.domain, call.tenant.identity.verified_domain):
        raise _bad(
            "The domain portion of the userPrincipalName property is invalid. "
            "You must use one of the verified domain names in your organization."
        )
    if any(u.upn.lower() == upn.lower() for u in call.tenant.users.values()):
        raise _bad("Another object with the same value for property userPrincipalName already exists.")
    password = str((body.get("passwordProfile") or {}).get("password") or "")
    if not _password_ok(password):
        raise _bad(
            "The specified password does not comply with password complexity requirements. "
            "Please provide a different password."
        )
    user = User(
        id=str(uuid.uuid4()),
        upn=upn,
        display_name=str(body["displayName"]),
        mail_nickname=str(body["mailNickname"]),
        kind="user",
        created_at=call.tenant.now(),
        account_enabled=bool(body["accountEnabled"]),
        usage_location=body.get("usageLocation"),
        usage_location_at=call.tenant.now(),
        password=password,
        exchange_guid=str(uuid.uuid4()),
    )
    user.exchange_name = user.id  # MC365786: a new mailbox's Name is its Entra object id
    call.tenant.users[user.id] = user
    payload = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity"}
    payload.update({k: _user_json(call.tenant, user)[k] for k in DEFAULT_USER_PROPS})
    return Response.json(201, payload, {"Location": f"{call.base_url}/v1.0/users/{user.id}"})


def get_user(call: Call, key: str) -> Response:
    _require(call, READ_USERS)
    user = _visible_user(call, key)
    payload = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity"}
    payload.update(_select(_user_json(call.tenant, user), call, DEFAULT_USER_PROPS))
    return Response.json(200, payload)


PATCHABLE = {"displayName", "usageLocation", "accountEnabled", "passwordProfile", "mailNickname"}


def patch_user(call: Call, key: str) -> Response:
    _require(call, WRITE_USERS)
    user = _visible_user(call, key)
    body = call.body if isinstance(call.body, dict) else {}
    for prop in body:
        if prop not in PATCHABLE:
            raise _bad(f"Property '{prop}' does not exist as a declared property or extension property.")
    if "passwordProfile" in body:
        password = str((body["passwordProfile"] or {}).get("password") or "")
        if not _password_ok(password):
            raise _bad(
                "The specified password does not comply with password complexity requirements. "
                "Please provide a different password."
            )
        user.password = password
    user.display_name = body.get("displayName", user.display_name)
    if body.get("usageLocation", user.usage_location) != user.usage_location:
        user.usage_location, user.usage_location_at = body["usageLocation"], call.tenant.now()
    user.account_enabled = bool(body.get("accountEnabled", user.account_enabled))
    user.mail_nickname = body.get("mailNickname", user.mail_nickname)
    return Response(204)


def assign_license(call: Call, key: str) -> Response:
    _require(call, WRITE_USERS)
    tenant = call.tenant
    user = _visible_user(call, key)
    body = call.body if isinstance(call.body, dict) else {}
    adds = body.get("addLicenses")
    removes = body.get("removeLicenses")
    if adds is None or removes is None:
        raise _bad("Invalid value specified for property 'addLicenses' of resource 'assignLicense'.")
    if adds and not tenant.usage_location_replicated(user):
        raise _bad("License assignment cannot be done for user with invalid usage location.")
    for add in adds:
        sku_id = str(add.get("skuId", ""))
        if sku_id not in SKUS:
            raise _bad(f"License {sku_id} does not correspond to a valid company License.")
        if sku_id not in user.licenses and tenant.sku_consumed[sku_id] >= tenant.sku_enabled[sku_id]:
            raise _bad(f"Subscription with SKU {sku_id} does not have any available licenses.")
    for sku_id in removes:
        if sku_id in user.licenses:
            user.licenses.remove(sku_id)
            tenant.sku_consumed[sku_id] -= 1
    for add in adds:
        sku_id = str(add["skuId"])
        if sku_id not in user.licenses:
            user.licenses.append(sku_id)
            tenant.sku_consumed[sku_id] += 1
        disabled = {str(p) for p in add.get("disabledPlans") or ()}
        has_exchange = any(
            name in EXCHANGE_PLAN_NAMES and plan_id not in disabled for plan_id, name in SKUS[sku_id]["servicePlans"]
        )
        if has_exchange and user.mailbox_at is None:
            # Exchange Online provisions the mailbox asynchronously after licensing.
            user.mailbox_at = tenant.now() + tenant.knobs.provisioning_delay_s
    payload = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity"}
    payload.update({k: _user_json(tenant, user)[k] for k in DEFAULT_USER_PROPS})
    return Response.json(200, payload)


def get_mailbox_settings(call: Call, key: str) -> Response:
    _require(call, ("MailboxSettings.Read", "MailboxSettings.ReadWrite"))
    user = _mailbox_user(call, key)
    signed_in = call.signed_in_user
    if signed_in is not None and signed_in.id != user.id:
        # Delegated MailboxSettings.Read reads the signed-in person's own settings only [GPERM]; another mailbox
        # answers as a mailbox the caller may not open (WIRE.md).
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    purpose = {"room": "room", "equipment": "equipment"}.get(user.kind, "user")
    return Response.json(
        200,
        {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{user.id}')/mailboxSettings",
            "archiveFolder": None,
            "timeZone": "UTC",
            "dateFormat": "M/d/yyyy",
            "timeFormat": "h:mm tt",
            "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
            "userPurpose": purpose,
            "automaticRepliesSetting": {
                "status": "disabled",
                "externalAudience": "all",
                "internalReplyMessage": "",
                "externalReplyMessage": "",
            },
            "language": {"locale": "en-US", "displayName": "English (United States)"},
            "workingHours": {
                "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                "startTime": "08:00:00.0000000",
                "endTime": "17:00:00.0000000",
                "timeZone": {"name": "UTC"},
            },
        },
    )


def _calendar_user(call: Call, key: str) -> User:
    user = _mailbox_user(call, key)
    tenant = call.tenant
    # Entra app roles are tenant-wide and are added to whatever Exchange RBAC grants; a legacy application access
    # policy still restricts them (not RBAC).
    if call.granted() & CALENDAR_ROLES and tenant.access_policy_allows(call.app_id, user):
        return user
    if tenant.app_rbac_covers(call.app_id, user, CALENDAR_ROLES):
        return user
    if call.granted() & CALENDAR_ROLES:
        # The Entra grant is there but an application access policy keeps it from this mailbox (Graph's
        # auth-limit-mailbox-access and resolve-auth-errors: 403 "Access to OData is disabled."; WIRE.md [D35]).
        raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
    raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def get_calendar(call: Call, key: str) -> Response:
    user = _calendar_user(call, key)
    return Response.json(
        200,
        {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{user.id}')/calendar/$entity",
            "id": base64.urlsafe_b64encode(f"calendar:{user.id}".encode()).decode(),
            "name": "Calendar",
            "color": "auto",
            "hexColor": "",
            "isDefaultCalendar": True,
            "changeKey": "sandbox",
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": False,
            "owner": {"name": user.display_name, "address": user.upn},
        },
    )


def list_events(call: Call, key: str) -> Response:
    user = _calendar_user(call, key)
    return Response.json(
        200,
        {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{user.id}')/events",
            "value": [],
        },
    )


def list_skus(call: Call) -> Response:
    _require(call, ("Organization.Read.All", "Directory.Read.All", "LicenseAssignment.Read.All"))
    tenant = call.tenant
    skus = [
        {
            "id": f"{tenant.tenant_id}_{sku['skuId']}",
            "skuId": sku["skuId"],
            "skuPartNumber": sku["skuPartNumber"],
            "appliesTo": "User",
            "capabilityStatus": "Enabled",
            "consumedUnits": tenant.sku_consumed[sku["skuId"]],
            "prepaidUnits": {"enabled": tenant.sku_enabled[sku["skuId"]], "suspended": 0, "warning": 0, "lockedOut": 0},
            "servicePlans": [
                {"servicePlanId": pid, "servicePlanName": name, "provisioningStatus": "Success", "appliesTo": "User"}
                for pid, name in sku["servicePlans"]
            ],
        }
        for sku in SKUS.values()
    ]
    return Response.json(
        200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscribedSkus", "value": skus}
    )


def _room_json(user: User) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.room",
        "id": user.exchange_guid,
        "emailAddress": user.upn,
        "displayName": user.display_name,
        "nickname": user.display_name,
        "label": None,
        "address": None,
        "geoCoordinates": None,
        "phone": None,
        "capacity": user.capacity,
        "building": user.building,
        "floorNumber": user.floor,
        "floorLabel": None,
        "isWheelChairAccessible": False,
        "bookingType": "standard",
        "tags": [],
        "audioDeviceName": None,
        "videoDeviceName": None,
        "displayDeviceName": None,
    }


def list_rooms(call: Call) -> Response:
    _require(call, ("Place.Read.All",))
    rooms = [_room_json(u) for u in call.tenant.users.values() if u.kind == "room" and call.tenant.has_mailbox(u)]
    return Response.json(200, _page(call, rooms, "places/microsoft.graph.room"))


def _visible_room_lists(call: Call) -> list[Any]:
    tenant = call.tenant
    return [
        g
        for g in tenant.groups.values()
        if g.room_list
        and tenant.now() >= g.created_at + max(tenant.knobs.replication_lag_s, tenant.knobs.places_delay_s)
    ]


def list_room_lists(call: Call) -> Response:
    _require(call, ("Place.Read.All",))
    lists = [
        {
            "@odata.type": "#microsoft.graph.roomList",
            "id": g.guid,
            "displayName": g.name,
            "emailAddress": g.smtp,
            "address": None,
            "geoCoordinates": None,
            "phone": None,
        }
        for g in _visible_room_lists(call)
    ]
    return Response.json(200, _page(call, lists, "places/microsoft.graph.roomList"))


def list_room_list_rooms(call: Call, key: str) -> Response:
    _require(call, ("Place.Read.All",))
    # By the list's emailAddress, not its id (place-list: "you must specify the room list by its emailAddress
    # property, not by its id"); an id finds nothing.
    group = next((g for g in _visible_room_lists(call) if key.lower() == g.smtp.lower()), None)
    if group is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    users = call.tenant.users
    rooms = [_room_json(users[m]) for m in group.members if m in users and users[m].kind == "room"]
    context = f"places('{quote(key, safe='')}')/microsoft.graph.roomList/rooms"
    return Response.json(200, _page(call, rooms, context))


def _sp_json(call: Call, app_id: str) -> dict[str, Any]:
    sp = call.tenant.entra_sps[app_id]
    payload: dict[str, Any] = {
        "id": sp.id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "accountEnabled": True,
        "servicePrincipalType": "Application",
        # Apps of the sandbox's own tenant: no publisher name, no verified publisher (an empty object, as Graph sends).
        "publisherName": None,
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "appOwnerOrganizationId": call.tenant.tenant_id,
        "appRoles": [],
    }
    if app_id in RESOURCE_APP_ROLES:
        payload["appRoles"] = [
            {"id": rid, "value": name, "allowedMemberTypes": ["Application"], "isEnabled": True, "displayName": name}
            for name, rid in RESOURCE_APP_ROLES[app_id].items()
        ]
    return payload


SP_READ = ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All")


def list_service_principals(call: Call) -> Response:
    _require(call, SP_READ)
    rows = [_sp_json(call, app_id) for app_id in call.tenant.entra_sps]
    prefix = _STARTS_WITH.match(call.query.get("$filter") or "")
    if prefix:
        wanted = prefix.group(1).replace("''", "'").lower()
        rows = [r for r in rows if r["displayName"].lower().startswith(wanted)]
        return Response.json(200, _page(call, rows, "servicePrincipals"))
    clause = _filter_eq(call, ("appId", "displayName", "id"), "ServicePrincipal")
    if clause:
        prop, value = clause
        rows = [r for r in rows if str(r[prop]).lower() == value.lower()]
    return Response.json(200, _page(call, rows, "servicePrincipals"))


def _sp_by_key(call: Call, key: str) -> str:
    for app_id, sp in call.tenant.entra_sps.items():
        if key.lower() in (sp.id, f"(appid='{app_id}')"):
            return app_id
    raise _not_found(key)


def get_service_principal(call: Call, key: str) -> Response:
    _require(call, SP_READ)
    return Response.json(200, _sp_json(call, _sp_by_key(call, key)))


def list_app_role_assignments(call: Call, key: str) -> Response:
    _require(call, SP_READ)
    tenant = call.tenant
    sp = tenant.entra_sps[_sp_by_key(call, key)]
    by_object = {s.id: s for s in tenant.entra_sps.values()}
    rows = [
        {
            "id": a.id,
            "appRoleId": a.app_role_id,
            "createdDateTime": a.created,
            "deletedDateTime": None,
            "principalDisplayName": sp.display_name,
            "principalId": a.principal_id,
            "principalType": "ServicePrincipal",
            "resourceDisplayName": by_object[a.resource_id].display_name,
            "resourceId": a.resource_id,
        }
        for a in tenant.app_role_assignments
        if a.principal_id == sp.id
    ]
    return Response.json(200, _page(call, rows, f"servicePrincipals('{sp.id}')/appRoleAssignments"))


# Graph's own app id: the audience of a proof-of-possession token for addKey/removeKey.
PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"


def application_object_id(app_id: str) -> str:
    return stable_id(f"application:{app_id}")


def _app_by_key(call: Call, key: str) -> EntraServicePrincipal:
    for app_id, sp in call.tenant.entra_sps.items():
        if key.lower() in (application_object_id(app_id), f"(appid='{app_id}')"):
            return sp
    raise _not_found(key)


def _application_json(sp: EntraServicePrincipal) -> dict[str, Any]:
    return {
        "id": application_object_id(sp.app_id),
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "keyCredentials": [
            {
                "keyId": stable_id(f"key:{thumbprint}"),
                "customKeyIdentifier": thumbprint,
                "displayName": f"CN={sp.display_name}",
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "key": None,
            }
            for thumbprint in sp.certificates
        ],
        "passwordCredentials": (
            [{"keyId": stable_id(f"password:{sp.app_id}"), "hint": sp.secret[:3], "displayName": "Onramp"}]
            if sp.secret
            else []
        ),
    }


def get_application(call: Call, key: str) -> Response:
    _require(call, SP_READ)
    return Response.json(200, _application_json(_app_by_key(call, key)))


def remove_key(call: Call, key: str) -> Response:
    """application: removeKey. An app needs no permission to remove its own keys; it proves possession of one of
    them with a JWT signed by it (aud Graph's app id, iss the application's object id)."""
    sp = _app_by_key(call, key)
    if call.app_id != sp.app_id:
        _require(call, ("Application.ReadWrite.All", "Directory.ReadWrite.All"))
    body = call.body or {}
    key_ids = {stable_id(f"key:{thumbprint}"): thumbprint for thumbprint in sp.certificates}
    thumbprint = key_ids.get(str(body.get("keyId") or "").lower())
    if thumbprint is None:
        raise GraphError(404, "Request_ResourceNotFound", f"No key credential with keyId '{body.get('keyId')}'.")
    try:
        header = jwt.get_unverified_header(str(body.get("proof") or ""))
        signer = sp.certificates.get(base64.urlsafe_b64decode(header["x5t"] + "==").hex().upper())
        if signer is None:
            raise jwt.InvalidSignatureError("not a key of this application")
        jwt.decode(
            str(body["proof"]),
            signer,
            algorithms=["RS256"],
            audience=PROOF_AUDIENCE,
            issuer=application_object_id(sp.app_id),
            options={"require": ["aud", "iss", "exp", "nbf"]},
        )
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        # 400 Request_BadRequest, as a public key-rotation tool's recorded body has it (WIRE.md [C22]).
        raise GraphError(400, "Request_BadRequest", "Invalid proof of possession token.") from exc
    del sp.certificates[thumbprint]
    return Response(204)


# -- the signed-in person (delegated tokens only) ---------------------------------------------------------------------
ME_SCOPES = ("User.Read", "User.ReadWrite", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All")
# Scopes that read directoryRole objects; with fewer a membership list shows a role only by `@odata.type` and `id`
# [MEMBEROF].
ROLE_READERS = {
    "RoleManagement.Read.Directory",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
}
CHECK_MEMBER_GROUPS_MAX = 20  # "up to 20" group ids per call [CMG]


def _me(call: Call) -> User:
    user = call.signed_in_user
    if user is None:
        raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    _require(call, ME_SCOPES)
    return user


def get_me(call: Call) -> Response:
    return Response.json(200, _select(_user_json(call.tenant, _me(call)), call, DEFAULT_USER_PROPS))


def list_my_directory_roles(call: Call) -> Response:
    """`/me/memberOf/microsoft.graph.directoryRole` (and transitiveMemberOf): the person's active roles."""
    user = _me(call)
    readable = bool(call.granted() & ROLE_READERS)
    roles = []
    for template in directory_roles(user):
        role: dict[str, Any] = {"@odata.type": "#microsoft.graph.directoryRole", "id": stable_id(f"role:{template}")}
        role |= {
            "deletedDateTime": None,
            "description": None,
            "displayName": ROLE_NAMES.get(template) if readable else None,
            "roleTemplateId": template if readable else None,
        }
        roles.append(role)
    context = f"{call.base_url}/v1.0/$metadata#directoryRoles"
    return Response.json(200, {"@odata.context": context, "value": roles})


def check_my_member_groups(call: Call) -> Response:
    user = _me(call)
    asked = call.body.get("groupIds") if isinstance(call.body, dict) else None
    if not isinstance(asked, list) or not all(isinstance(g, str) for g in asked):
        raise _bad("Invalid request: groupIds must be a list of group ids.")
    if len(asked) > CHECK_MEMBER_GROUPS_MAX:
        raise _bad(f"Too many group ids: at most {CHECK_MEMBER_GROUPS_MAX}.")
    member_of = {g.lower() for g in call.tenant.entra_group_members.get(user.id, ())}
    held = [group for group in asked if group.lower() in member_of]
    return Response.json(
        200, {"@odata.context": f"{call.base_url}/v1.0/$metadata#Collection(Edm.String)", "value": held}
    )


# "List oauth2PermissionGrants" and "Delete oAuth2PermissionGrant" [GPERM]: reading needs
# DelegatedPermissionGrant.Read.All (or wider), deleting DelegatedPermissionGrant.ReadWrite.All or
# Directory.ReadWrite.All (the directory role that a person's delete needs as well is **unconfirmed**).
GRANT_READ = (
    "DelegatedPermissionGrant.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
GRANT_WRITE = ("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All")


def _permission_grants(call: Call) -> dict[str, tuple[tuple[str, str, str], dict[str, Any]]]:
    """The tenant's delegated grants as Graph's oauth2PermissionGrant objects, by id."""
    tenant = call.tenant
    resources = {GRAPH_AUDIENCE: GRAPH_APP_ID, EXCHANGE_AUDIENCE: EXCHANGE_APP_ID}
    grants = {}
    for key, scopes in tenant.delegated_grants.items():
        client_app, principal, audience = key
        client = tenant.signing_in_app(client_app)
        resource = tenant.entra_sps.get(resources.get(audience, ""))
        if client is None or resource is None or not scopes:
            continue
        grant_id = stable_id(f"grant:{client_app}:{principal}:{audience}")
        grants[grant_id] = (
            key,
            {
                "id": grant_id,
                "clientId": client.id,
                "consentType": "AllPrincipals" if principal == "AllPrincipals" else "Principal",
                "principalId": None if principal == "AllPrincipals" else principal,
                "resourceId": resource.id,
                "scope": " ".join(sorted(scopes)),
            },
        )
    return grants


def list_permission_grants(call: Call) -> Response:
    _require(call, GRANT_READ)
    rows = [grant for _, grant in _permission_grants(call).values()]
    found = re.fullmatch(r"\s*clientId eq '([^']+)'\s*", call.query.get("$filter", ""))
    if call.query.get("$filter") and not found:
        raise _bad("Invalid filter clause: only clientId eq '<id>' is supported by the sandbox.")
    if found:
        rows = [grant for grant in rows if grant["clientId"] == found[1]]
    context = f"{call.base_url}/v1.0/$metadata#oauth2PermissionGrants"
    return Response.json(200, {"@odata.context": context, "value": rows})


def delete_permission_grant(call: Call, grant_id: str) -> Response:
    _require(call, GRANT_WRITE)
    found = _permission_grants(call).get(grant_id)
    if found is None:
        raise _not_found(grant_id)
    call.tenant.delegated_grants.pop(found[0], None)
    return Response(204)


# (method, path pattern, template for call counts, handler)
ROUTES: list[tuple[str, re.Pattern[str], str, Callable[..., Response]]] = [
    (m, re.compile(p + r"/?$", re.IGNORECASE), t, h)
    for m, p, t, h in (
        ("GET", r"^/organization", "GET /organization", get_organization),
        ("GET", r"^/me", "GET /me", get_me),
        (
            "GET",
            r"^/me/(?:transitiveMemberOf|memberOf)/microsoft\.graph\.directoryRole",
            "GET /me/transitiveMemberOf/microsoft.graph.directoryRole",
            list_my_directory_roles,
        ),
        ("POST", r"^/me/checkMemberGroups", "POST /me/checkMemberGroups", check_my_member_groups),
        ("GET", r"^/oauth2PermissionGrants", "GET /oauth2PermissionGrants", list_permission_grants),
        ("DELETE", r"^/oauth2PermissionGrants/([^/]+)", "DELETE /oauth2PermissionGrants/{id}", delete_permission_grant),
        ("GET", r"^/domains", "GET /domains", get_domains),
        ("GET", r"^/users", "GET /users", list_users),
        ("POST", r"^/users", "POST /users", create_user),
        ("GET", r"^/users/([^/]+)", "GET /users/{id}", get_user),
        ("PATCH", r"^/users/([^/]+)", "PATCH /users/{id}", patch_user),
        ("POST", r"^/users/([^/]+)/assignLicense", "POST /users/{id}/assignLicense", assign_license),
        ("GET", r"^/users/([^/]+)/mailboxSettings", "GET /users/{id}/mailboxSettings", get_mailbox_settings),
        ("GET", r"^/users/([^/]+)/calendar", "GET /users/{id}/calendar", get_calendar),
        ("GET", r"^/users/([^/]+)/(?:calendar/)?events", "GET /users/{id}/events", list_events),
        ("GET", r"^/subscribedSkus", "GET /subscribedSkus", list_skus),
        ("GET", r"^/places/microsoft\.graph\.room", "GET /places/microsoft.graph.room", list_rooms),
        ("GET", r"^/places/microsoft\.graph\.roomlist", "GET /places/microsoft.graph.roomlist", list_room_lists),
        (
            "GET",
            r"^/places/([^/]+)/microsoft\.graph\.roomlist/rooms",
            "GET /places/{id}/microsoft.graph.roomlist/rooms",
            list_room_list_rooms,
        ),
        (
            "GET",
            r"^/applications(\(appId='[^']+'\)|/[^/(]+)",
            "GET /applications/{id}",
            lambda call, key: get_application(call, key.lstrip("/")),
        ),
        (
            "POST",
            r"^/applications(\(appId='[^']+'\)|/[^/(]+)/removeKey",
            "POST /applications/{id}/removeKey",
            lambda call, key: remove_key(call, key.lstrip("/")),
        ),
        ("GET", r"^/servicePrincipals", "GET /servicePrincipals", list_service_principals),
        (
            "GET",
            r"^/servicePrincipals(\(appId='[^']+'\)|/[^/(]+)",
            "GET /servicePrincipals/{id}",
            lambda call, key: get_service_principal(call, key.lstrip("/")),
        ),
        (
            "GET",
            r"^/servicePrincipals(\(appId='[^']+'\)|/[^/(]+)/appRoleAssignments",
            "GET /servicePrincipals/{id}/appRoleAssignments",
            lambda call, key: list_app_role_assignments(call, key.lstrip("/")),
        ),
    )
]
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


def _route(method: str, path: str) -> tuple[str, Callable[[Call], Response]] | None:
    for route_method, pattern, template, handler in ROUTES:
        if route_method != method:
            continue
        match = pattern.match(path)
        if match:
            args = match.groups()
            return template, lambda call, args=args, handler=handler: handler(call, *args)
    return None


def _throttled_response(kind: str, retry_after: int) -> Response:
    if kind == "throttled":
        return graph_error(
            429,
            "TooManyRequests",
            "Please retry again later.",
            {"Retry-After": str(retry_after)},
        )
    return graph_error(
        503,
        "ServiceUnavailable",
        "The service is temporarily unavailable. Please retry.",
        {"Retry-After": str(retry_after)},
    )


# Outlook resources of a mailbox (Microsoft Graph throttling limits, Outlook service limits): throttled per app per
# mailbox, not as directory calls.
_OUTLOOK = re.compile(
    r"^/users/([^/]+)/(calendar|calendars|calendarView|events|messages|mailFolders|mailboxSettings|contacts|"
    r"contactFolders|outlook|photo|people)(/|$)",
    re.IGNORECASE,
)


def _limited_response(limited: Rejection) -> Response:
    return graph_error(limited.status, limited.code, limited.message, {"Retry-After": str(limited.retry_after)})


def outlook_path(path: str) -> bool:
    """Whether a Graph path (below /v1.0) reaches a mailbox's Outlook resources."""
    return _OUTLOOK.match(path) is not None


def _mailbox_key(tenant: Tenant, path: str) -> str | None:
    """The mailbox an Outlook request reaches (its user's id, whichever name the path uses); None for a directory
    request."""
    match = _OUTLOOK.match(path)
    if match is None:
        return None
    with tenant.lock:
        user = tenant.user_by_key(match.group(1))
    return user.id if user is not None else match.group(1).lower()


def _execute(
    tenant: Tenant,
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
    base_url: str,
    app_id: str,
    headers: dict[str, str] | None = None,
    token: dict[str, Any] | None = None,
) -> Response:
    """One Graph call after authentication: admission (the per-app budget, then the service's own limits), the
    latency, counting, then the handler under the lock."""
    routed = _route(method, path)
    if routed is None:
        tenant.pause()
        segment = path.strip("/").split("/")[-1] or path
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    template, handler = routed
    rejection = tenant.admit(app_id)
    if rejection:
        return _throttled_response(*rejection)
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    call = Call(tenant, method, path, query, body, base_url, app_id, lowered, token or {})
    mailbox = _mailbox_key(tenant, path)
    if mailbox is None:
        limited = tenant.throttle.directory(tenant.knobs, app_id)
        return _limited_response(limited) if limited else _run(call, template, handler)
    with tenant.throttle.outlook(tenant.knobs, app_id, mailbox) as limited:
        return _limited_response(limited) if limited else _run(call, template, handler)


def _run(call: Call, template: str, handler: Callable[[Call], Response]) -> Response:
    call.tenant.pause()  # Microsoft's time to answer, inside the request's concurrency slot
    call.tenant.calls.record(template, write=call.method in WRITE_METHODS)
    try:
        with call.tenant.lock:
            return handler(call)
    except GraphError as err:
        return graph_error(err.status, err.code, err.message)


def _batch(tenant: Tenant, body: Any, base_url: str, token: dict[str, Any]) -> Response:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return graph_error(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > MAX_BATCH:
        return graph_error(400, "BadRequest", f"The number of batch requests exceeds the limit of {MAX_BATCH}.")
    if not all(isinstance(item, dict) and {"id", "method", "url"} <= item.keys() for item in requests):
        return graph_error(400, "BadRequest", "Invalid batch payload format.")

    def answer(item: dict[str, Any]) -> dict[str, Any]:
        parts = urlsplit(str(item["url"]))
        path = unquote(parts.path)
        path = path[len("/v1.0") :] if path.lower().startswith("/v1.0") else path
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        # Advanced query parameters inside a batch: the ConsistencyLevel header goes in the request's JSON.
        item_headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
        result = _execute(
            tenant,
            str(item["method"]).upper(),
            "/" + path.lstrip("/"),
            query,
            item.get("body"),
            base_url,
            str(token["appid"]),
            {str(k): str(v) for k, v in item_headers.items()},
            token,
        )
        entry: dict[str, Any] = {
            "id": str(item["id"]),
            "status": result.status,
            "headers": {k: v for k, v in result.headers.items() if k != "request-id"},
        }
        if result.body:
            entry["body"] = json.loads(result.body)
        return entry

    # Graph hands a batch's requests to the services a few at a time, so a batch takes a latency per few requests.
    with ThreadPoolExecutor(max_workers=BATCH_OUTLOOK_PARALLEL) as pool:
        responses = list(pool.map(answer, requests))
    return Response.json(200, {"responses": responses})


def handle(tenant: Tenant, req: Request) -> Response:
    """Serve one request whose path starts with /v1.0."""
    client_request_id = req.headers.get("client-request-id")
    try:
        claims = verify_token(req.headers.get("authorization"), GRAPH_AUDIENCE)
    except TokenError as err:
        tenant.pause()
        return graph_error(401, "InvalidAuthenticationToken", str(err), client_request_id=client_request_id)
    path = unquote(req.path)[len("/v1.0") :] or "/"
    try:
        body = req.json() if req.body else None
    except ValueError:
        tenant.pause()
        return graph_error(400, "BadRequest", "Unable to read JSON request payload.")
    if req.method == "POST" and path.rstrip("/") == "/$batch":
        tenant.calls.record("POST /$batch", write=False)
        return _batch(tenant, body, req.base_url, claims)
    response = _execute(
        tenant, req.method, path, req.query, body, req.base_url, claims["appid"], dict(req.headers), claims
    )
    if client_request_id:
        response.headers["client-request-id"] = client_request_id
    return response
