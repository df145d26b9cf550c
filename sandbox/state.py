"""The simulated Microsoft 365 organisation: directory, Exchange recipients, RBAC, knobs and counters.

One `Tenant` per running sandbox. Every read or write of its data happens under `Tenant.lock`; the
server never holds the lock while it sleeps for the latency knob.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .throttling import ServiceThrottle, TokenBucket, retry_after_seconds

DOMAIN = "contoso.onmicrosoft.com"
VERIFIED_DOMAIN = "contoso.com"
UNVERIFIED_DOMAIN = "fabrikam.com"
ORG_NAME = "Contoso"
_NS = uuid.UUID("6f1c3b0e-3f8a-4d5e-9a43-0c1d2e3f4a5b")


def stable_id(key: str) -> str:
    """Deterministic object ids so two sandboxes with the same seed look the same."""
    return str(uuid.uuid5(_NS, key))


TENANT_ID = stable_id("tenant")
CONNECTOR_APP_ID = stable_id("app:onramp-connector")
CONNECTOR_SECRET = "sbx8Q~onramp-connector-" + stable_id("secret:connector")[:12]
INTEGRATION_APP_ID = stable_id("app:calendar-integration")
# Onramp's own multi-tenant app, registered in Onramp's (the publisher's) tenant: this tenant has no service principal
# for it until an administrator consents, which creates one with the application permissions the app requires.
MULTITENANT_APP_ID = stable_id("app:onramp-multitenant")
MULTITENANT_SECRET = "sbx8Q~onramp-multitenant-" + stable_id("secret:multitenant")[:12]
INTEGRATION_SECRET = "sbx8Q~calendar-integration-" + stable_id("secret:integration")[:12]
ADMIN_UPN = f"admin@{DOMAIN}"


@dataclass(frozen=True)
class TenantIdentity:
    """What tells one Microsoft tenant from another: its id, domains, its own connector app (an app registration of
    the customer's, so its id and secret are the tenant's) and the namespace of its object ids. The integration app
    and Onramp's own app are multi-tenant: one app id and one secret in every tenant."""

    tenant_id: str
    domain: str
    verified_domain: str
    connector_app_id: str
    connector_secret: str
    object_namespace: str  # prefixes every object id's seed: no two tenants share a user or service principal id

    @property
    def admin_upn(self) -> str:
        return f"admin@{self.domain}"

    @property
    def aliases(self) -> frozenset[str]:
        """The names an authority or an admin API path may give this tenant, lower-cased."""
        return frozenset(name.lower() for name in (self.tenant_id, self.domain, self.verified_domain))

    @classmethod
    def numbered(cls, number: int) -> TenantIdentity:
        """The `number`th tenant of a fleet (1-based): contoso-0001.onmicrosoft.com, …"""
        name = f"contoso-{number:04d}"
        return cls(
            tenant_id=stable_id(f"tenant:{name}"),
            domain=f"{name}.onmicrosoft.com",
            verified_domain=f"{name}.com",
            connector_app_id=stable_id(f"app:onramp-connector:{name}"),
            connector_secret=f"sbx8Q~onramp-connector-{name}-" + stable_id(f"secret:connector:{name}")[:12],
            object_namespace=f"{name}:",
        )


# The single tenant every sandbox served before fleets (and still serves alone): its ids are the ones tests know.
DEFAULT_IDENTITY = TenantIdentity(TENANT_ID, DOMAIN, VERIFIED_DOMAIN, CONNECTOR_APP_ID, CONNECTOR_SECRET, "")

# Well-known first-party application ids.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
EXCHANGE_AUDIENCE = "https://outlook.office365.com"

# App role ids as published in Microsoft's Graph permissions reference.
GRAPH_APP_ROLES = {
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "User.ReadWrite.All": "741f803b-c850-494e-b5df-cde7c675a1ca",
    "Organization.Read.All": "498476ce-e0fe-48b0-b801-37ba7e2685c6",
    "Domain.Read.All": "dbb9058a-0e50-45d7-ae91-66909b5d4664",
    "Place.Read.All": "913b9306-0ce1-42b8-9137-6a7df690a760",
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "MailboxSettings.Read": "40f97065-3a51-4ff9-9d2b-7ab3fee2e7e8",
    "Calendars.Read": "798ee544-9d2d-430c-a058-570e29e34338",
    "Calendars.ReadBasic.All": "8ba4a692-bc31-4128-9094-475872af8a53",
    "Calendars.ReadWrite": "ef54d2bf-783f-4e0f-bca1-3210c0444d99",
    "Mail.Read": "810c84a8-4a9e-49e6-bf7d-12d183f40d01",
    "Mail.ReadBasic.All": "693c5e45-0940-467d-9b8a-1022fb9d42ef",
    "Mail.ReadWrite": "e2a3a72e-5f79-4c64-b1b1-878b674786c9",
    "Mail.Send": "b633e1c5-b582-4048-a93e-9f11b44c7e96",
    "MailboxSettings.ReadWrite": "6931bccd-447a-43d1-b442-00a195474933",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    # Every other application permission that reaches mailbox content, with Microsoft's ids (WIRE.md [C19]: a dump
    # of Graph's servicePrincipal appRoles and public permission tables; Tasks.Read.All [C15]). One id was found in no
    # public source and is a sandbox stand-in (WIRE.md): MailboxItem.ReadWrite.All.
    "Mail.ReadBasic": "6be147d2-ea4f-4b5a-a3fa-3eab6f3c140a",
    "Contacts.Read": "089fe4d0-434a-44c5-8827-41ba8a0b17f5",
    "Contacts.ReadWrite": "6918b873-d17a-4dc1-b314-35f528134491",
    "Tasks.Read.All": "f10e1f91-74ed-437f-a6fd-d6ae88e26c1f",
    "Tasks.ReadWrite.All": "44e666d1-d276-445b-a5fc-8815eeb81d55",
    "MailboxFolder.Read.All": "99280d24-a782-4793-93cc-0888549957f6",
    "MailboxFolder.ReadWrite.All": "fef87b92-8391-4589-9da7-eb93dab7dc8a",
    "MailboxItem.Read.All": "7d9f353d-a7bd-4fbb-822a-26d5dd39a3ce",
    "MailboxItem.ReadWrite.All": stable_id("approle:MailboxItem.ReadWrite.All"),
    "MailboxItem.Export.All": "937550e9-33a3-494b-88ae-d9cd394b1fbb",
    "MailboxItem.ImportExport.All": "76577085-e73d-4f1d-b26a-85fb33892327",
    "MailboxConfigItem.Read": "27d9d776-f4d2-426d-80ad-5f22f2b01b0a",
    "MailboxConfigItem.ReadWrite": "aa6d92d4-b25a-4640-aefe-3e3231e5e736",
    "Mail-Advanced.ReadWrite.All": "e118f1da-5c1c-46cf-bff6-8858d786f46f",
}
# The Office 365 Exchange Online resource's application roles (its service principal's appRoles).
EXCHANGE_APP_ROLES = {
    "Exchange.ManageAsApp": "dc50a0fb-09a3-484d-be87-e023b12c6440",
    "full_access_as_app": "dc890d15-9560-4a4c-9b7f-a736ec74ec40",
    "Calendars.Read": "2dfdc6dc-2fa7-4a2c-a922-dbd4f85d17be",
    "MailboxSettings.Read": "d45fa9f8-36e5-4cd2-b601-b063c7cf9ac2",
}
RESOURCE_APP_ROLES = {GRAPH_APP_ID: GRAPH_APP_ROLES, EXCHANGE_APP_ID: EXCHANGE_APP_ROLES}
CONNECTOR_GRAPH_ROLES = (
    "User.ReadWrite.All",
    "Organization.Read.All",
    "Domain.Read.All",
    "Place.Read.All",
    "Application.Read.All",
    "MailboxSettings.Read",
)
EXCHANGE_ADMIN_ROLE = "Exchange Administrator"
# Directory role template ids, as Microsoft's "Microsoft Entra built-in roles" reference publishes them.
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
EXCHANGE_ADMINISTRATOR = "29232cdf-9323-42fd-ade2-1d097af3e4de"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
ROLE_NAMES = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    EXCHANGE_ADMINISTRATOR: "Exchange Administrator",
    USER_ADMINISTRATOR: "User Administrator",
    PRIVILEGED_ROLE_ADMINISTRATOR: "Privileged Role Administrator",
}
# The seeded people's directory roles, by mail nickname: one Global Administrator, one Exchange Administrator,
# everyone else none (the control endpoint's `people/roles` changes them).
SEEDED_DIRECTORY_ROLES = {"admin": (GLOBAL_ADMINISTRATOR,), "user-001": (EXCHANGE_ADMINISTRATOR,)}
# The delegated permissions the README's registration of Onramp's installation (multi-tenant) app lists, by resource
# audience: what tenant-wide admin consent grants it. It holds no application permission.
INSTALLATION_APP_SCOPES = {
    GRAPH_AUDIENCE: (
        "User.Read",
        "Organization.Read.All",
        "Domain.Read.All",
        "User.ReadWrite.All",
        "Application.Read.All",
        "RoleManagement.Read.Directory",
        "DelegatedPermissionGrant.ReadWrite.All",
    ),
    EXCHANGE_AUDIENCE: ("Exchange.Manage",),
}

# Exchange Online's hosted-organisation DN layout (forest names are per-region; NAMPR01A001 is one).
DN_SUFFIX = f"OU={DOMAIN},OU=Microsoft Exchange Hosted Organizations,DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM"
EXCHANGE_SERVER = "NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM"

EXCHANGE_SKU = {
    "skuId": "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
    "skuPartNumber": "O365_BUSINESS_PREMIUM",
    "servicePlans": [
        ("9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD"),
        ("5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTSTANDARD"),
        ("57ff2da0-773e-42df-b2af-ffb7a2317929", "TEAMS1"),
    ],
}
# Free and app-only SKUs real tenants hold with many free units. Their Exchange plan, EXCHANGE_S_FOUNDATION, backs
# the apps' own storage and gives the user no mailbox (Microsoft's licensing service plan reference).
EXCHANGE_FOUNDATION_PLAN = ("113feb6c-3fe4-4440-bddc-54d774bf0318", "EXCHANGE_S_FOUNDATION")
NO_EXCHANGE_SKU = {
    "skuId": "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235",
    "skuPartNumber": "POWER_BI_STANDARD",
    "servicePlans": [EXCHANGE_FOUNDATION_PLAN, ("2049e525-b859-401b-b2a0-e0a31c4b1fe4", "BI_AZURE_P0")],
}
FREE_SKUS = (
    (NO_EXCHANGE_SKU, 1000000),
    (
        {
            "skuId": "f30db892-07e9-47e9-837c-80727f46fd3d",
            "skuPartNumber": "FLOW_FREE",
            "servicePlans": [EXCHANGE_FOUNDATION_PLAN, ("50e68c76-46c6-4674-81f9-75456511b170", "FLOW_P2_VIRAL")],
        },
        10000,
    ),
    (
        {
            "skuId": "710779e8-3d4a-4c88-adb9-386c958d1fdf",
            "skuPartNumber": "TEAMS_EXPLORATORY",
            "servicePlans": [EXCHANGE_FOUNDATION_PLAN, ("57ff2da0-773e-42df-b2af-ffb7a2317929", "TEAMS1")],
        },
        100,
    ),
    (
        {
            "skuId": "cdd28e44-67e3-425e-be4c-737fab2899d3",
            "skuPartNumber": "O365_BUSINESS",
            "servicePlans": [EXCHANGE_FOUNDATION_PLAN, ("094e7854-93fc-4d55-b2c0-3ab5369ebdc1", "OFFICE_BUSINESS")],
        },
        25,
    ),
)
ALL_SKUS = (EXCHANGE_SKU, *(sku for sku, _ in FREE_SKUS))
# Service plans that give the user an Exchange Online mailbox (licensing service plan reference).
EXCHANGE_PLAN_NAMES = {
    "EXCHANGE_S_STANDARD",
    "EXCHANGE_S_ENTERPRISE",
    "EXCHANGE_S_DESKLESS",
    "EXCHANGE_S_STANDARD_GOV",
    "EXCHANGE_S_ENTERPRISE_GOV",
    "EXCHANGE_S_DESKLESS_GOV",
}

# Roles the sandbox knows. ApplicationImpersonation only exists in the Exchange Server shell (it was
# removed from Exchange Online in 2025).
# RBAC for Applications roles and the permissions each grants (application-rbac); the two Full Access roles bundle
# several.
APPLICATION_ROLES = {
    # The 24 roles of application-rbac's "Supported Application Roles" table (WIRE.md [D13]), in its order.
    "Application Mail.Read": "Mail.Read",
    "Application Mail.ReadBasic": "Mail.ReadBasic",
    "Application Mail.ReadWrite": "Mail.ReadWrite",
    "Application Mail.Send": "Mail.Send",
    "Application MailboxSettings.Read": "MailboxSettings.Read",
    "Application MailboxSettings.ReadWrite": "MailboxSettings.ReadWrite",
    "Application Calendars.Read": "Calendars.Read",
    "Application Calendars.ReadWrite": "Calendars.ReadWrite",
    "Application Contacts.Read": "Contacts.Read",
    "Application Contacts.ReadWrite": "Contacts.ReadWrite",
    "Application MailboxFolder.Read": "MailboxFolder.Read.All",
    "Application MailboxFolder.ReadWrite": "MailboxFolder.ReadWrite.All",
    "Application MailboxItem.Read": "MailboxItem.Read.All",
    "Application MailboxItem.ReadWrite": "MailboxItem.ReadWrite.All",
    "Application MailboxItem.Export": "MailboxItem.Export.All",
    "Application MailboxItem.ImportExport": "MailboxItem.ImportExport.All",
    "Application Mail Full Access": "Mail.ReadWrite, Mail.Send",
    "Application Exchange Full Access": "Mail.ReadWrite, Mail.Send, MailboxSettings.ReadWrite, Calendars.ReadWrite, "
    "Contacts.ReadWrite",
    "Application EWS.AccessAsApp": "EWS.AccessAsApp",
    "Application SMTP.SendAsApp": "SMTP.SendAsApp",
    "Application MailboxConfigItem.Read": "MailboxConfigItem.Read",
    "Application MailboxConfigItem.ReadWrite": "MailboxConfigItem.ReadWrite",
    "Application MailTips.ReadBasic.All": "MailTips.ReadBasic.All",
    "Application Mail-Advanced.ReadWrite.All": "Mail-Advanced.ReadWrite.All",
}


def role_permissions(role: str) -> set[str]:
    return {permission.strip() for permission in APPLICATION_ROLES.get(role, "").split(",") if permission.strip()}


IMPERSONATION_ROLE = "ApplicationImpersonation"


@functools.cache  # a scope's memberOfGroup clause compares every group's DN for each mailbox it is asked about
def dn_escape(value: str) -> str:
    out = value
    for ch in '\\,+"<>;=':
        out = out.replace(ch, "\\" + ch)
    return out


def make_dn(name: str) -> str:
    return f"CN={dn_escape(name)},{DN_SUFFIX}"


@dataclass
class Knobs:
    rooms: int = 20
    equipment: int = 3
    users: int = 5
    latency_ms: float = 0.0
    budget_rps: float = 0.0  # one budget per app over every service; 0 = none
    # Microsoft's per-service limits (sandbox.throttling); 0 = off
    outlook_requests_per_10_minutes: int = 0
    outlook_concurrent_requests: int = 0
    directory_resource_units_per_10_seconds: int = 0
    exchange_budget_rps: float = 0.0
    ews_budget_rps: float = 0.0
    throttle_fraction: float = 0.0
    error_fraction: float = 0.0
    provisioning_delay_s: float = 0.0
    replication_lag_s: float = 0.0
    customization_delay_s: float = 0.0
    # After IsDehydrated reads False, RBAC writes still fail as dehydrated this long (public captures: ~30 minutes).
    hydration_lag_s: float = 0.0
    # After customisation finished, Get-OrganizationConfig still reads IsDehydrated True this long (a replica).
    dehydrated_read_lag_s: float = 0.0
    rbac_delay_s: float = 0.0
    places_delay_s: float = 0.0  # a new room list shows in /places only this long after it was made
    dehydrated: bool = False
    tenant_wide_calendar_grant: bool = False
    free_licenses: int = 5
    exchange_page_size: int = 1000
    consent_refused: bool = False
    # InvokeCommand refuses every app as a client (403 ErrorAccessDenied), as Microsoft could restrict the calling
    # app of an endpoint it documents for no third party (WIRE.md: the shape is unconfirmed).
    invoke_command_refused: bool = False
    # The sign-in apps' manifest `groupMembershipClaims`: "DirectoryRole" or "All" put `wids` in ID tokens; "None"
    # (a new app registration's default) leaves it out [ACT]; "SecurityGroup" or "All" put `groups` in them.
    group_membership_claims: str = "DirectoryRole"
    # Turned on, every refresh token issued until then is revoked (as a password reset or revokeSignInSessions
    # does): its next use answers AADSTS50173. Refresh tokens issued afterwards work.
    revoke_refresh_tokens: bool = False
    # Conditional access asks for multi-factor authentication: a refresh answers interaction_required AADSTS50076.
    refresh_requires_mfa: bool = False
    # Exchange Server's EWS virtual directory: Windows authentication (Negotiate/NTLM) is on, Basic off, as installed
    # (Default settings for Exchange virtual directories); this knob is Set-WebServicesVirtualDirectory
    # -BasicAuthentication $true, and ews_windows_authentication False is -WindowsAuthentication $false.
    ews_basic_authentication: bool = False
    ews_windows_authentication: bool = True
    # How a throttled EWS call is answered (EWS throttling in Exchange, tables 3 and 4): "fault" (HTTP 500
    # ErrorServerBusy with BackOffMilliseconds), "internal" (HTTP 200 ErrorInternalServerError wrapping
    # ErrorServerBusy), "connections" (ErrorExceededConnectionCount).
    ews_busy_answer: str = "fault"

    def update(self, values: dict[str, Any]) -> None:
        names = {f.name: f for f in dataclasses.fields(self)}
        for key, value in values.items():
            if key not in names:
                raise KeyError(f"unknown knob {key!r}; known: {sorted(names)}")
            kind = type(getattr(self, key))
            setattr(self, key, kind(value) if kind is not bool else _as_bool(value))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass
class User:
    """An Entra user; rooms and equipment are users too (disabled accounts with resource mailboxes)."""

    id: str
    upn: str
    display_name: str
    mail_nickname: str
    kind: str  # user | room | equipment | admin
    created_at: float
    account_enabled: bool = True
    usage_location: str | None = None
    usage_location_at: float = 0.0  # clock time the usage location was written (replicates like a new object)
    password: str | None = None
    licenses: list[str] = field(default_factory=list)  # sku ids
    mailbox_at: float | None = None  # clock time from which the Exchange mailbox exists
    building: str | None = None
    floor: int | None = None
    capacity: int | None = None
    exchange_guid: str = ""
    # Exchange's Name (and so the DN's CN). Since MC365786 (2022) a new mailbox is named after its Entra object id;
    # older mailboxes, like the seeded ones, keep their alias.
    exchange_name: str = ""
    # The mailbox's own EWS switch (Set-CASMailbox -EwsEnabled); a new mailbox's value is unconfirmed (WIRE.md [CAS]).
    ews_enabled: bool | None = True
    # Active directory roles (template ids) the person holds.
    directory_roles: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.exchange_name or self.mail_nickname

    @property
    def recipient_type_details(self) -> str:
        return {"room": "RoomMailbox", "equipment": "EquipmentMailbox"}.get(self.kind, "UserMailbox")

    @property
    def dn(self) -> str:
        return make_dn(self.name)


@dataclass
class Group:
    guid: str
    name: str
    alias: str
    smtp: str
    room_list: bool
    created_at: float
    managed_by: list[str] = field(default_factory=list)  # user ids
    members: list[str] = field(default_factory=list)  # user ids, in insertion order
    member_since: dict[str, float] = field(default_factory=dict)  # user id -> clock time it joined
    member_until: dict[str, float] = field(default_factory=dict)  # former member's user id -> clock time it left

    @property
    def dn(self) -> str:
        return make_dn(self.name)

    def set_members(self, members: list[str], now: float) -> None:
        before = set(self.members)
        self.members = list(dict.fromkeys(members))
        for gone in before - set(self.members):
            self.member_until[gone] = now
        for member in self.members:
            if member not in before:
                self.member_since[member] = now
                self.member_until.pop(member, None)

    def member_as_of(self, user_id: str, as_of: float | None) -> bool:
        """Whether `user_id` is a member now (as_of None), or as RBAC's permission cache saw the group at `as_of`:
        a member added later is not in it yet, a member removed later still is."""
        if as_of is None:
            return user_id in self.members
        if self.member_since.get(user_id, 0.0) > as_of:
            return False
        return user_id in self.members or self.member_until.get(user_id, 0.0) > as_of

    @property
    def recipient_type_details(self) -> str:
        return "RoomList" if self.room_list else "MailUniversalDistributionGroup"


@dataclass
class EntraServicePrincipal:
    id: str
    app_id: str
    display_name: str
    secret: str | None = None
    # Certificate credentials (keyCredentials): SHA-1 thumbprint in upper-case hex -> public key (PEM).
    certificates: dict[str, bytes] = field(default_factory=dict)
    # The app registration's "Allow public client flows": the device code grant needs no client secret then.
    public_client: bool = False


@dataclass
class RefreshGrant:
    """A refresh token the sandbox issued: whose, to which app, and when (tenant clock)."""

    client_id: str
    user_id: str
    issued_at: float


@dataclass
class AppRoleAssignment:
    id: str
    principal_id: str
    resource_id: str
    app_role_id: str
    created: str


@dataclass
class ExoServicePrincipal:
    guid: str
    app_id: str
    object_id: str
    display_name: str


@dataclass
class ManagementScope:
    guid: str
    name: str
    filter: str
    clauses: list[tuple[str, str]]  # (property, value) joined with -or
    changed_at: float = 0.0
    previous_clauses: list[tuple[str, str]] = field(default_factory=list)  # what RBAC caches until the change lands


@dataclass
class RoleAssignment:
    guid: str
    name: str
    role: str
    assignee_type: str  # ServicePrincipal | User
    assignee: str  # app id or user id
    resource_scope: str | None  # CustomResourceScope (apps)
    write_scope: str | None  # CustomRecipientWriteScope (users)
    created_at: float
    group_scope: str | None = None  # RecipientGroupScope (apps): a group's guid, its direct members only


@dataclass
class AccessPolicy:
    """New-ApplicationAccessPolicy: restricts (or denies) an app's Entra-granted mailbox access to a group's members."""

    identity: str
    app_ids: list[str]
    access_right: str  # RestrictAccess | DenyAccess
    scope_group: str  # group guid
    description: str


class CallLog:
    """Calls that reached the service logic, per endpoint template or cmdlet; plus writes and rejections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: Counter[str] = Counter()
            self.writes = 0
            self.write_calls: Counter[str] = Counter()
            self.throttled = 0
            self.throttled_by_service: Counter[str] = Counter()
            self.faults = 0
            # EWS requests by their X-AnchorMailbox: "matched" (the impersonated or named mailbox, else the account
            # itself), "missing", "other".
            self.ews_anchor: Counter[str] = Counter()

    def record(self, key: str, write: bool) -> None:
        with self._lock:
            self.calls[key] += 1
            if write:
                self.writes += 1
                self.write_calls[key] += 1

    def rejected(self, throttled: bool, service: str = "") -> None:
        """A refused call; `service` names the per-service limit that refused it (sandbox.throttling)."""
        with self._lock:
            if throttled:
                self.throttled += 1
                if service:
                    self.throttled_by_service[service] += 1
            else:
                self.faults += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "total": sum(self.calls.values()),
                "writes": self.writes,
                "write_calls": dict(self.write_calls),
                "throttled": self.throttled,
                "throttled_by_service": dict(self.throttled_by_service),
                "faults": self.faults,
                "ews_anchor": dict(self.ews_anchor),
            }

    def anchored(self, how: str) -> None:
        with self._lock:
            self.ews_anchor[how] += 1


class Tenant:
    def __init__(
        self,
        knobs: Knobs,
        connector_certificate: tuple[str, bytes] | None = None,
        identity: TenantIdentity = DEFAULT_IDENTITY,
    ) -> None:
        self.identity = identity
        self.lock = threading.RLock()
        self.knobs = knobs
        self.connector_certificate = connector_certificate  # (thumbprint, public key PEM) registered on the app
        self.bucket = TokenBucket()
        self.calls = CallLog()
        self.throttle = ServiceThrottle(lambda service: self.calls.rejected(throttled=True, service=service))
        self.clock_offset = 0.0
        self.random = random.Random(20260401)
        self.seed()

    @property
    def tenant_id(self) -> str:
        return self.identity.tenant_id

    @property
    def domain(self) -> str:
        return self.identity.domain

    def object_id(self, key: str) -> str:
        """A deterministic object id of this tenant's (another tenant's object of the same name has another id)."""
        return stable_id(self.identity.object_namespace + key)

    def admit(self, key: str) -> tuple[str, int] | None:
        """Throttling and fault injection for one call by `key` (an app id or a user).

        Returns None when the call may proceed, else ("throttled" | "fault", Retry-After seconds).
        """
        knobs = self.knobs
        wait = self.bucket.take(key, knobs.budget_rps)
        if wait > 0:
            self.calls.rejected(throttled=True)
            return "throttled", retry_after_seconds(wait)
        if knobs.throttle_fraction and self.random.random() < knobs.throttle_fraction:
            self.calls.rejected(throttled=True)
            return "throttled", 1
        if knobs.error_fraction and self.random.random() < knobs.error_fraction:
            self.calls.rejected(throttled=False)
            return "fault", 1
        return None

    def pause(self) -> None:
        """Microsoft's time to answer one request (the latency knob); never under the tenant lock."""
        if self.knobs.latency_ms > 0:
            time.sleep(self.knobs.latency_ms / 1000.0)

    # -- time ------------------------------------------------------------------------------------
    def now(self) -> float:
        """Clock for provisioning/replication/customisation delays; `advance()` moves it forward."""
        return time.monotonic() + self.clock_offset

    # -- seed ------------------------------------------------------------------------------------
    def seed(self) -> None:
        with self.lock:
            start = self.now()
            self.users: dict[str, User] = {}
            self._user_ids_by_upn: dict[str, str] = {}
            self.groups: dict[str, Group] = {}
            self._group_ids_by_dn: dict[str, list[str]] = {}
            self.exo_sps: dict[str, ExoServicePrincipal] = {}
            self.scopes: dict[str, ManagementScope] = {}
            self.assignments: dict[str, RoleAssignment] = {}
            self.access_policies: list[AccessPolicy] = []
            self.org = {
                "dehydrated": self.knobs.dehydrated,
                "customization_requested_at": None,
                "hydrated_at": None,
                "EwsEnabled": None,
                "EwsApplicationAccessPolicy": None,
                "EwsAllowList": None,
                "EwsAllowedAppIDs": [],
            }
            self.sku_consumed = {sku["skuId"]: 0 for sku in ALL_SKUS}
            for i in range(1, self.knobs.rooms + 1):
                self._seed_resource("room", i, start)
            for i in range(1, self.knobs.equipment + 1):
                self._seed_resource("equipment", i, start)
            for i in range(1, self.knobs.users + 1):
                self._seed_user(f"user-{i:03d}", f"User {i:03d}", "user", start)
            self._seed_user("admin", "MOD Administrator", "admin", start)
            self._seed_apps()
            self.sku_enabled = {
                EXCHANGE_SKU["skuId"]: self.sku_consumed[EXCHANGE_SKU["skuId"]] + self.knobs.free_licenses,
                **{sku["skuId"]: units for sku, units in FREE_SKUS},
            }
            self.bucket.clear()
            self.throttle.clear()

    def set_knobs(self, values: dict[str, Any]) -> None:
        """Change knobs at run time; seed knobs (rooms, equipment, users) take effect on the next reset."""
        with self.lock:
            self.knobs.update(values)
            if "dehydrated" in values:
                self.org["dehydrated"] = self.knobs.dehydrated
                self.org["customization_requested_at"] = None
                self.org["hydrated_at"] = None
            if "tenant_wide_calendar_grant" in values:
                self.set_tenant_wide_grant(self.knobs.tenant_wide_calendar_grant)
            if self.knobs.revoke_refresh_tokens and _as_bool(values.get("revoke_refresh_tokens", False)):
                self.refresh_tokens_valid_from = self.now()
            if "free_licenses" in values:
                sku = EXCHANGE_SKU["skuId"]
                self.sku_enabled[sku] = self.sku_consumed[sku] + self.knobs.free_licenses

    def _seed_resource(self, kind: str, i: int, start: float) -> None:
        nick = f"{kind}-{i:03d}"
        user = User(
            id=self.object_id(f"user:{nick}"),
            upn=f"{nick}@{self.domain}",
            display_name=f"{kind.capitalize()} {i:03d}",
            mail_nickname=nick,
            kind=kind,
            created_at=start - 86400,
            account_enabled=False,
            usage_location="US",
            usage_location_at=start - 86400,
            mailbox_at=start - 86400,
            exchange_guid=self.object_id(f"mailbox:{nick}"),
        )
        if kind == "room":
            user.building = f"Building {chr(ord('A') + (i - 1) // 50)}"
            user.floor = (i - 1) // 10 % 5 + 1
            user.capacity = (4, 6, 8, 10, 12, 20)[(i - 1) % 6]
        self.users[user.id] = user

    def _seed_user(self, nick: str, display: str, kind: str, start: float) -> None:
        user = User(
            id=self.object_id(f"user:{nick}"),
            upn=f"{nick}@{self.domain}",
            display_name=display,
            mail_nickname=nick,
            kind=kind,
            created_at=start - 86400,
            usage_location="US",
            usage_location_at=start - 86400,
            licenses=[EXCHANGE_SKU["skuId"]],
            mailbox_at=start - 86400,
            exchange_guid=self.object_id(f"mailbox:{nick}"),
            directory_roles=list(SEEDED_DIRECTORY_ROLES.get(nick, ())),
        )
        self.sku_consumed[EXCHANGE_SKU["skuId"]] += 1
        self.users[user.id] = user

    def _seed_apps(self) -> None:
        connector = self.identity.connector_app_id
        self.entra_sps = {
            sp.app_id: sp
            for sp in (
                EntraServicePrincipal(self.object_id("sp:graph"), GRAPH_APP_ID, "Microsoft Graph"),
                EntraServicePrincipal(self.object_id("sp:exchange"), EXCHANGE_APP_ID, "Office 365 Exchange Online"),
                EntraServicePrincipal(
                    self.object_id("sp:connector"), connector, "Onramp", self.identity.connector_secret
                ),
                EntraServicePrincipal(
                    self.object_id("sp:integration"), INTEGRATION_APP_ID, "Calendar Integration", INTEGRATION_SECRET
                ),
            )
        }
        if self.connector_certificate:
            thumbprint, public_key = self.connector_certificate
            self.entra_sps[connector].certificates[thumbprint.upper()] = public_key
        # Multi-tenant apps published elsewhere that people of this tenant may sign in to (by app id).
        self.published_elsewhere = {
            MULTITENANT_APP_ID: EntraServicePrincipal(
                self.object_id("sp:onramp-multitenant"),
                MULTITENANT_APP_ID,
                "Onramp",
                MULTITENANT_SECRET,
                public_client=True,
            )
        }
        self.app_role_assignments: list[AppRoleAssignment] = []
        for role in CONNECTOR_GRAPH_ROLES:
            self.grant_app_role(connector, role)
        self.grant_app_role(connector, "Exchange.ManageAsApp")
        # Directory roles held by service principals, by app id.
        self.directory_roles: dict[str, set[str]] = {connector: {EXCHANGE_ADMIN_ROLE}}
        self.set_tenant_wide_grant(self.knobs.tenant_wide_calendar_grant)
        # Delegated permission grants (Graph's oauth2PermissionGrants): (client app id, a user id or "AllPrincipals",
        # resource audience) -> the scopes consented.
        self.delegated_grants: dict[tuple[str, str, str], set[str]] = {}
        self.refresh_grants: dict[str, RefreshGrant] = {}
        self.refresh_tokens_valid_from = 0.0  # tenant clock; refresh tokens issued before it are revoked
        self.entra_group_members: dict[str, set[str]] = {}  # user id -> the Entra groups they are a member of

    def signing_in_app(self, app_id: str) -> EntraServicePrincipal | None:
        """The app a person may sign in to here: one of this tenant's, or a multi-tenant app published elsewhere."""
        return self.entra_sps.get(app_id) or self.published_elsewhere.get(app_id)

    def grant_admin_consent(self, app_id: str) -> None:
        """Tenant-wide admin consent: the app gets a service principal here (if it had none) and every permission
        its registration lists, for the whole organisation [CONSENT-STATIC]. Onramp's installation app lists only
        delegated permissions (INSTALLATION_APP_SCOPES): it acts as the signed-in administrator, never as itself.
        A directory role is never given by consent."""
        if app_id not in self.entra_sps:
            self.entra_sps[app_id] = self.published_elsewhere[app_id]
        for audience, scopes in INSTALLATION_APP_SCOPES.items():
            self.consent(app_id, "AllPrincipals", audience, set(scopes))

    def consented_scopes(self, client_id: str, user_id: str, audience: str) -> set[str]:
        """The delegated scopes on `audience` that `client_id` may use for this person: their own consent and the
        organisation's."""
        grants = self.delegated_grants
        return grants.get((client_id, user_id, audience), set()) | grants.get(
            (client_id, "AllPrincipals", audience), set()
        )

    def consent(self, client_id: str, principal: str, audience: str, scopes: set[str]) -> None:
        """Record consent to `scopes` for one person (a user id) or the whole organisation ("AllPrincipals")."""
        self.delegated_grants.setdefault((client_id, principal, audience), set()).update(scopes)

    def remove_delegated_consent(self, client_id: str) -> None:
        self.delegated_grants = {key: scopes for key, scopes in self.delegated_grants.items() if key[0] != client_id}

    # -- Entra app permissions -------------------------------------------------------------------
    @staticmethod
    def _role_resource(role: str, resource: str | None = None) -> tuple[str, str]:
        """The resource app and app role id of `role`: on `resource` (an app id), else Graph first."""
        for resource_app in (resource,) if resource else (GRAPH_APP_ID, EXCHANGE_APP_ID):
            roles = RESOURCE_APP_ROLES.get(resource_app, {})
            if role in roles:
                return resource_app, roles[role]
        raise KeyError(f"unknown app role {role!r}")

    def grant_app_role(self, app_id: str, role: str, resource: str | None = None) -> None:
        resource_app, role_id = self._role_resource(role, resource)
        if role in self.app_roles(app_id, resource_app):
            return
        self.app_role_assignments.append(
            AppRoleAssignment(
                id=stable_id(f"ara:{app_id}:{resource_app}:{role}"),
                principal_id=self.entra_sps[app_id].id,
                resource_id=self.entra_sps[resource_app].id,
                app_role_id=role_id,
                created="2025-01-01T00:00:00Z",
            )
        )

    def revoke_app_role(self, app_id: str, role: str, resource: str | None = None) -> None:
        resource_app, role_id = self._role_resource(role, resource)
        principal = self.entra_sps[app_id].id
        resource_id = self.entra_sps[resource_app].id
        self.app_role_assignments = [
            a
            for a in self.app_role_assignments
            if not (a.principal_id == principal and a.app_role_id == role_id and a.resource_id == resource_id)
        ]

    def app_roles(self, app_id: str, resource: str | None = None) -> set[str]:
        """The app's application permissions by name: on one resource app, or on any."""
        sp = self.entra_sps.get(app_id)
        if sp is None:
            return set()
        names = set()
        for resource_app, roles in RESOURCE_APP_ROLES.items():
            if resource is not None and resource_app != resource:
                continue
            by_id = {v: k for k, v in roles.items()}
            resource_id = self.entra_sps[resource_app].id
            names |= {
                by_id[a.app_role_id]
                for a in self.app_role_assignments
                if a.principal_id == sp.id and a.resource_id == resource_id and a.app_role_id in by_id
            }
        return names

    def access_policy_allows(self, app_id: str, mailbox: User) -> bool:
        """Whether the app's application access policies let its Entra-granted permissions reach `mailbox`: with no
        policy, yes; RestrictAccess only to its group's members; DenyAccess never to them."""
        policies = [p for p in self.access_policies if app_id.lower() in (a.lower() for a in p.app_ids)]
        for policy in policies:
            group = self.groups.get(policy.scope_group)
            member = group is not None and mailbox.id in group.members
            if (policy.access_right == "RestrictAccess") != member:
                return False
        return True

    def set_tenant_wide_grant(self, on: bool) -> None:
        """The integration app holding Calendars.ReadWrite in Entra: adds to (and defeats) RBAC scopes."""
        if on:
            self.grant_app_role(INTEGRATION_APP_ID, "Calendars.ReadWrite")
        else:
            self.revoke_app_role(INTEGRATION_APP_ID, "Calendars.ReadWrite")

    # -- users and mailboxes ---------------------------------------------------------------------
    def visible(self, user: User) -> bool:
        """Directory replication: a new object is 'not found' for replication_lag_s after creation."""
        return self.now() >= user.created_at + self.knobs.replication_lag_s

    def usage_location_replicated(self, user: User) -> bool:
        """Licensing reads the usage location from a replica: a newly written one counts replication_lag_s later."""
        return bool(user.usage_location) and self.now() >= user.usage_location_at + self.knobs.replication_lag_s

    def has_mailbox(self, user: User) -> bool:
        return user.mailbox_at is not None and self.now() >= user.mailbox_at

    def user_by_key(self, key: str) -> User | None:
        """An Entra user by object id or UPN (case-insensitive), ignoring replication lag."""
        user = self.users.get(key)
        if user is not None:
            return user
        low = key.lower()
        # An index rebuilt whenever it misses or is stale: a check reads every room's calendar by UPN, and a scan of
        # the directory for each made the sandbox's own CPU, not the tenant's limits, the bound of a fleet's round.
        user = self.users.get(self._user_ids_by_upn.get(low, ""))
        if user is None or user.upn.lower() != low:
            self._user_ids_by_upn = {}
            for candidate in self.users.values():
                self._user_ids_by_upn.setdefault(candidate.upn.lower(), candidate.id)
            user = self.users.get(self._user_ids_by_upn.get(low, ""))
        return user

    def mailboxes(self) -> list[User]:
        return [u for u in self.users.values() if self.has_mailbox(u)]

    # -- organisation ----------------------------------------------------------------------------
    def is_dehydrated(self) -> bool:
        if not self.org["dehydrated"]:
            return False
        requested = self.org["customization_requested_at"]
        if requested is not None and self.now() >= requested + self.knobs.customization_delay_s:
            self.org["dehydrated"] = False
            self.org["hydrated_at"] = requested + self.knobs.customization_delay_s
            return False
        return True

    def reads_dehydrated(self) -> bool:
        """IsDehydrated as Get-OrganizationConfig reads it: from a replica that may lag the flip by
        dehydrated_read_lag_s, while Enable-OrganizationCustomization already answers "not required"."""
        if self.is_dehydrated():
            return True
        hydrated_at = self.org["hydrated_at"]
        return hydrated_at is not None and self.now() < hydrated_at + self.knobs.dehydrated_read_lag_s

    def refuses_rbac_writes_as_dehydrated(self) -> bool:
        """Dehydrated, or hydrated so recently that RBAC writes have not caught up with IsDehydrated yet."""
        if self.is_dehydrated():
            return True
        hydrated_at = self.org["hydrated_at"]
        return hydrated_at is not None and self.now() < hydrated_at + self.knobs.hydration_lag_s

    # -- RBAC ------------------------------------------------------------------------------------
    def scope_covers(self, scope_name: str | None, mailbox: User, as_of: float | None = None) -> bool:
        """Whether the scope covers `mailbox`: now (as_of None), or as RBAC's permission cache saw the tenant at
        `as_of` (a scope change or a membership made later has not reached the cache yet)."""
        if scope_name is None:
            return True  # no custom scope: the whole organisation
        scope = self.scopes.get(scope_name.lower())
        if scope is None:
            return False
        clauses = scope.clauses if as_of is None or scope.changed_at <= as_of else scope.previous_clauses
        for prop, value in clauses:
            low = value.lower()
            if prop == "memberofgroup":
                if any(g.member_as_of(mailbox.id, as_of) for g in self._groups_with_dn(low)):
                    return True
            elif prop == "recipienttypedetails":
                if mailbox.recipient_type_details.lower() == low:
                    return True
            elif prop == "primarysmtpaddress" and mailbox.upn.lower() == low:
                return True
        return False

    def _groups_with_dn(self, low: str) -> list[Group]:
        """The groups whose DN, lowercased, is `low`. From an index rebuilt whenever it misses or is stale: a scope
        is asked about every room a check reads, and comparing every group's DN each time made the sandbox's own CPU,
        not the tenant's limits, the bound of a fleet's round."""
        indexed = [self.groups[i] for i in self._group_ids_by_dn.get(low, ()) if i in self.groups]
        if indexed and all(group.dn.lower() == low for group in indexed):
            return indexed
        self._group_ids_by_dn = {}
        for group_id, group in self.groups.items():
            self._group_ids_by_dn.setdefault(group.dn.lower(), []).append(group_id)
        return [self.groups[i] for i in self._group_ids_by_dn.get(low, ())]

    def app_rbac_covers(self, app_id: str, mailbox: User, permissions: set[str]) -> bool:
        """Whether an effective Exchange RBAC assignment gives `app_id` one of `permissions` on `mailbox`.

        RBAC for Applications caches permissions: a new assignment, a scope change and a new or removed member of a
        scoped group reach mailbox access only `rbac_delay_s` after they were made."""
        as_of = self.now() - self.knobs.rbac_delay_s
        return any(
            a.assignee_type == "ServicePrincipal"
            and a.assignee == app_id
            and role_permissions(a.role) & permissions
            and a.created_at <= as_of
            and self.assignment_covers(a, mailbox, as_of)
            for a in self.assignments.values()
        )

    def assignment_covers(self, a: RoleAssignment, mailbox: User, as_of: float | None = None) -> bool:
        """An app's assignment covers the mailbox: its RecipientGroupScope's direct members (application-rbac: "only
        direct group membership"), else its CustomResourceScope, else the whole organisation."""
        if a.group_scope is not None:
            group = self.groups.get(a.group_scope)
            return group is not None and group.member_as_of(mailbox.id, as_of)
        return self.scope_covers(a.resource_scope, mailbox, as_of)

    def can_impersonate(self, user_id: str, mailbox: User) -> bool:
        """Exchange Server's EWS honours a new ApplicationImpersonation assignment only once its RBAC cache holds it:
        `rbac_delay_s` after the assignment (unconfirmed, see WIRE.md)."""
        now = self.now()
        return any(
            a.assignee_type == "User"
            and a.assignee == user_id
            and a.role == IMPERSONATION_ROLE
            and now >= a.created_at + self.knobs.rbac_delay_s
            and self.scope_covers(a.write_scope, mailbox)
            for a in self.assignments.values()
        )

    # -- control ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            by_id = self.users
            return {
                "knobs": self.knobs.as_dict(),
                "organization": {
                    "IsDehydrated": self.is_dehydrated(),
                    **{k: v for k, v in self.org.items() if k.startswith("Ews")},
                },
                "application_access_policies": [dataclasses.asdict(p) for p in self.access_policies],
                "users": [
                    {
                        "id": u.id,
                        "userPrincipalName": u.upn,
                        "displayName": u.display_name,
                        "kind": u.kind,
                        "usageLocation": u.usage_location,
                        "licenses": list(u.licenses),
                        "hasMailbox": self.has_mailbox(u),
                        "visible": self.visible(u),
                    }
                    for u in by_id.values()
                ],
                "licenses": [
                    {
                        "skuId": sku["skuId"],
                        "skuPartNumber": sku["skuPartNumber"],
                        "enabled": self.sku_enabled[sku["skuId"]],
                        "consumed": self.sku_consumed[sku["skuId"]],
                    }
                    for sku in ALL_SKUS
                ],
                "groups": [
                    {
                        "name": g.name,
                        "alias": g.alias,
                        "primarySmtpAddress": g.smtp,
                        "dn": g.dn,
                        "recipientTypeDetails": g.recipient_type_details,
                        "managedBy": [by_id[m].upn for m in g.managed_by if m in by_id],
                        "members": [by_id[m].upn for m in g.members if m in by_id],
                    }
                    for g in self.groups.values()
                ],
                "scopes": [
                    {"name": s.name, "filter": s.filter, "clauses": [list(c) for c in s.clauses]}
                    for s in self.scopes.values()
                ],
                "role_assignments": [dataclasses.asdict(a) for a in self.assignments.values()],
                "exchange_service_principals": [dataclasses.asdict(s) for s in self.exo_sps.values()],
                "entra_service_principals": [
                    {
                        "id": s.id,
                        "appId": s.app_id,
                        "displayName": s.display_name,
                        "appRoles": sorted(self.app_roles(s.app_id, GRAPH_APP_ID)),
                        "exchangeAppRoles": sorted(self.app_roles(s.app_id, EXCHANGE_APP_ID)),
                        "directoryRoles": sorted(self.directory_roles.get(s.app_id, ())),
                    }
                    for s in self.entra_sps.values()
                ],
            }
