"""What each step saves as its result, one frozen dataclass per step of each profile.

A result is stored as JSON in StepState.result. `from_json` reads any row ever saved: a missing key takes the
field's default and an unknown key is ignored, so an old row (or one a newer release wrote) still reads. Imports
only the standard library, so every layer may use it (tests/test_architecture.py checks that).
"""

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

JsonObject = Mapping[str, Any]


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value or ())


def _objects(value: object) -> tuple[JsonObject, ...]:
    return tuple(dict(item) for item in value or () if isinstance(item, Mapping))


def _object(value: object) -> JsonObject:
    return dict(value) if isinstance(value, Mapping) else {}


def _json(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _json(item) for key, item in value.items()}
    return value


def _load(load: Callable[[object], object]) -> dict[str, Any]:
    return {"load": load}


@dataclass(frozen=True)
class Record:
    """Reads itself from a stored JSON object and writes itself back. A field's metadata may name a `load`
    function for values that need more than the stored value (tuples, nested records)."""

    @classmethod
    def from_json(cls, data: JsonObject | None) -> Self:
        stored = data if isinstance(data, Mapping) else {}
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            if spec.name not in stored or not spec.init:
                continue
            load = spec.metadata.get("load")
            values[spec.name] = load(stored[spec.name]) if load is not None else stored[spec.name]
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return _json(self)  # type: ignore[return-value]


@dataclass(frozen=True)
class RoomListEntry(Record):
    """One room list, in either profile: as the rooms step left it, or as its preview plans it (`rooms_to_add`,
    `adding`). `member_count` is len(members), except where only the count is saved (Exchange Online's lists
    before the members were kept, and the preview's planned lists)."""

    name: str = ""
    address: str = ""
    members: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    member_count: int = 0
    dn: str = ""
    alias: str = ""
    number: int = 0
    created: bool = False
    rooms_to_add: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    adding: int = 0

    @classmethod
    def from_json(cls, data: JsonObject | None) -> Self:
        stored = dict(data) if isinstance(data, Mapping) else {}
        members = stored.get("members")
        if isinstance(members, int):
            stored["members"], stored["member_count"] = (), members
        elif "member_count" not in stored:
            stored["member_count"] = len(members or ())
        return super().from_json(stored)

    @classmethod
    def of(cls, name: str, address: str, members: tuple[str, ...] | list[str], **more: Any) -> Self:
        return cls(name=name, address=address, members=tuple(members), member_count=len(members), **more)


def _room_lists(value: object) -> tuple[RoomListEntry, ...]:
    return tuple(RoomListEntry.from_json(item) for item in value or () if isinstance(item, Mapping))


@dataclass(frozen=True)
class StepResult(Record):
    """A step's result. STEP_ID names the step that saves it (the profile's Step.result_type points back here)."""

    STEP_ID: ClassVar[str]


@dataclass(frozen=True)
class Confirmed(StepResult):
    """What a manual (Exchange Server) step keeps of the admin's "I ran it"."""

    script_sha256: str = ""
    confirmed_by: str = ""
    confirmed_at: str = ""


# -- exchange_online -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConnectResult(StepResult):
    STEP_ID = "connect"

    organization_name: str = ""
    microsoft_tenant_id: str = ""
    country: str = ""
    domains: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    verified_domains: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    default_domain: str = ""
    licences: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    exchange_organization: str = ""
    permissions_probed: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    connection_verified: bool = False
    # The other organisations on this Microsoft tenant, when the admin agreed to share it (wizard.services.connect).
    shared_microsoft_tenant: JsonObject | None = None
    # Whether the integration's app has a service principal in the tenant (someone consented to it): scoped access
    # (step 5) is granted to it, so an app not there yet is said at step 0. None when no app id is given.
    integration_in_tenant: bool | None = None

    @property
    def address_domain(self) -> str:
        """The domain new addresses (service account, room list) default to: the default domain, else the first
        verified one."""
        return self.default_domain or next(iter(self.verified_domains), "")


@dataclass(frozen=True)
class OrgCustomizationResult(StepResult):
    STEP_ID = "org_customization"

    is_dehydrated: bool | None = None
    customization_requested_at: float | None = None
    # When Exchange answered that customisation was already done while IsDehydrated still read True (a replica).
    customization_confirmed_at: float | None = None
    ews_enabled: bool | None = None
    ews_application_access_policy: str | None = None
    ews_allow_list: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    ews_allowed_app_ids: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    ews_summary: str = ""
    ews_note: str = ""
    integration_ews_now: bool = False
    integration_ews_after_shutdown: bool = False
    integration_ews_summary: str = ""
    integration_ews_fix: str = ""


@dataclass(frozen=True)
class ServiceAccountResult(StepResult):
    STEP_ID = "service_account"

    user_principal_name: str = ""
    user_id: str = ""
    display_name: str = ""
    usage_location: str = ""
    # None while the account is being created: not yet known whether Onramp created it or adopted an existing one.
    created: bool | None = None
    created_at: float | None = None
    sku_id: str = ""
    sku_part_number: str = ""
    mailbox_ready: bool = False
    mailbox_wait_started: float | None = None
    verified_user_principal_name: str = ""


@dataclass(frozen=True)
class RoomListResult(StepResult):
    STEP_ID = "room_list"

    name: str = ""
    alias: str = ""
    address: str = ""
    dn: str = ""
    guid: str = ""
    manager: str = ""
    manager_identities: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    adopted: bool = False
    removed_members: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    non_room_members: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))


@dataclass(frozen=True)
class RoomsResult(StepResult):
    STEP_ID = "rooms"

    lists: tuple[RoomListEntry, ...] = field(default=(), metadata=_load(_room_lists))
    source: str = ""
    rooms_selected: int = 0
    rooms_added: int = 0
    rooms_already_members: int = 0
    write_calls: int = 0
    members_changed_at: float | None = None
    preview: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    preview_summary: JsonObject = field(default_factory=dict, metadata=_load(_object))
    planned_lists: tuple[RoomListEntry, ...] = field(default=(), metadata=_load(_room_lists))


@dataclass(frozen=True)
class ScopedAccessResult(StepResult):
    STEP_ID = "scoped_access"

    app_id: str = ""
    service_principal_object_id: str = ""
    exchange_service_principal: str = ""
    scope_name: str = ""
    filter: str = ""
    room_list_dns: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    role: str = ""
    role_assignment: str = ""
    tenant_wide_calendar_roles: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    grants: JsonObject = field(default_factory=dict, metadata=_load(_object))
    access_changed_at: float | None = None
    scope_verified: bool = False


@dataclass(frozen=True)
class Drift(Record):
    """Rooms Exchange and Onramp disagree about since the rooms step: unlisted (in Exchange, in no list) and gone."""

    unlisted_rooms: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    gone_rooms: tuple[str, ...] = field(default=(), metadata=_load(_strings))


@dataclass(frozen=True)
class VerifyResult(StepResult):
    STEP_ID = "verify"

    # None until a run got as far as checking the rooms.
    rooms_checked: int | None = None
    rooms_passed: int | None = None
    rooms_failed: int = 0
    failures: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    control_mailbox: str = ""
    control_out_of_scope: bool = False
    control_opened_over_ews: bool = False
    calendar_checked: bool = False
    grants: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    checks: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    checks_not_run: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    scope_holds_only_rooms: bool = False
    non_room_members: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    unplaced_rooms: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    drift: Drift = field(default_factory=Drift, metadata=_load(Drift.from_json))
    places: JsonObject = field(default_factory=dict, metadata=_load(_object))
    warnings: tuple[str, ...] = field(default=(), metadata=_load(_strings))
    waiting_since: float | None = None


@dataclass(frozen=True)
class ActivateResult(StepResult):
    STEP_ID = "activate"

    summary: JsonObject = field(default_factory=dict, metadata=_load(_object))
    password_erased: bool = False
    webhook: JsonObject = field(default_factory=dict, metadata=_load(_object))
    active: bool = False


@dataclass(frozen=True)
class ReduceAccessResult(StepResult):
    STEP_ID = "reduce_access"

    credential: str = ""
    # What Onramp handed back itself, and what is left to the admin ({"what", ...} each).
    done: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    manual: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    reverify: str = ""


# -- exchange_server ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExchangeServerServiceAccountResult(Confirmed):
    STEP_ID = "service_account"

    service_account_upn: str = ""
    display_name: str = ""


@dataclass(frozen=True)
class ExchangeServerConnectResult(StepResult):
    STEP_ID = "connect"

    ews_url: str = ""
    ews_url_source: str = ""
    service_account_upn: str = ""


@dataclass(frozen=True)
class ExchangeServerRoomListResult(Confirmed):
    STEP_ID = "room_list"

    name: str = ""
    alias: str = ""
    address: str = ""
    manager: str = ""


@dataclass(frozen=True)
class ExchangeServerRoomsResult(Confirmed):
    STEP_ID = "rooms"

    lists: tuple[RoomListEntry, ...] = field(default=(), metadata=_load(_room_lists))
    rooms: int = 0
    left_out: int = 0

    @classmethod
    def from_json(cls, data: JsonObject | None) -> Self:
        stored = dict(data) if isinstance(data, Mapping) else {}
        # Rows saved before the two profiles shared RoomListEntry named the lists "room_lists".
        if "lists" not in stored and "room_lists" in stored:
            stored["lists"] = stored["room_lists"]
        return super().from_json(stored)


@dataclass(frozen=True)
class ExchangeServerScopedAccessResult(Confirmed):
    STEP_ID = "scoped_access"

    scope_name: str = ""
    room_list_dns: tuple[str, ...] = field(default=(), metadata=_load(_strings))


@dataclass(frozen=True)
class ExchangeServerVerifyResult(StepResult):
    STEP_ID = "verify"

    rooms_passed: int | None = None
    rooms_failed: int = 0
    control_mailbox: str = ""
    control_code: str = ""
    control_reason: str = ""
    failures: tuple[JsonObject, ...] = field(default=(), metadata=_load(_objects))
    passed: bool = False


@dataclass(frozen=True)
class ExchangeServerActivateResult(StepResult):
    STEP_ID = "activate"

    summary: JsonObject = field(default_factory=dict, metadata=_load(_object))
    password_erased: bool = False
