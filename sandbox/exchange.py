"""Exchange cmdlets, served by the Exchange Online admin API (InvokeCommand) and the control shell.

`InvokeCommand` runs a cmdlet as the calling app (Exchange Online). The control endpoint's `/invoke`
runs one as the organisation's admin in the Exchange Management Shell (Exchange Server): there the
ApplicationImpersonation role still exists and organisation dehydration does not apply.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .oidc import directory_roles
from .opath import FilterError, parse_scope_filter
from .responses import Request, Response
from .state import (
    APPLICATION_ROLES,
    DN_SUFFIX,
    EXCHANGE_ADMIN_ROLE,
    EXCHANGE_ADMINISTRATOR,
    EXCHANGE_APP_ID,
    EXCHANGE_AUDIENCE,
    EXCHANGE_SERVER,
    GLOBAL_ADMINISTRATOR,
    IMPERSONATION_ROLE,
    ORG_NAME,
    AccessPolicy,
    ExoServicePrincipal,
    Group,
    ManagementScope,
    RoleAssignment,
    Tenant,
    User,
    make_dn,
)
from .tokens import TokenError, verify_token

NOT_FOUND = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
AMBIGUOUS = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException"
ALREADY_EXISTS = "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException"
PROXY_EXISTS = "Microsoft.Exchange.Data.Directory.ProxyAddressExistsException"
MEMBER_EXISTS = "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException"
MEMBER_NOT_FOUND = "Microsoft.Exchange.Management.Tasks.MemberNotFoundException"
NOT_MANAGER = "Microsoft.Exchange.Configuration.Tasks.OperationRequiresGroupManagerException"
BINDING = "System.Management.Automation.ParameterBindingException"
# A parameter the cmdlet does not have, as InvokeCommand answers it (a live capture, WIRE.md [G2O]); its typed text
# carries no error id ("|<type>|<text>").
UNKNOWN_PARAMETER = "Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException"
DEHYDRATED = "Microsoft.Exchange.Configuration.Tasks.InvalidOperationInDehydratedContextException"
# Enable-OrganizationCustomization on a customised organisation: a plain InvalidOperationException (WIRE.md [I19]).
NOT_REQUIRED = "System.InvalidOperationException"
NO_CHANGE_WARNING = "The command completed successfully but no settings of '{}' have been modified."
WRITE_VERBS = ("New-", "Set-", "Add-", "Update-", "Remove-", "Enable-")
TRUNCATED_WARNING = (
    "There are more results available than are currently displayed. To view them, increase the value for the "
    "ResultSize parameter."
)
# The error ids Exchange puts before the exception type; only the not-found ones are seen in public captures: an
# object named by -Identity, and a recipient named by another parameter (WIRE.md [I2], [I16]).
ERROR_IDS = {NOT_FOUND: "Ex6F9304", UNKNOWN_PARAMETER: ""}
PARAMETER_NOT_FOUND_ID = "Ex94914C"
HASHTABLE_TYPE = "#Exchange.GenericHashTable"
COMMON_PARAMS = {"confirm", "erroraction", "warningaction", "verbose", "whatif"}


class ExchangeError(Exception):
    def __init__(self, exc_type: str, text: str, error_id: str = "") -> None:
        super().__init__(text)
        self.exc_type, self.text, self.error_id = exc_type, text, error_id


def _not_found(identity: str) -> ExchangeError:
    return ExchangeError(
        NOT_FOUND,
        f"The operation couldn't be performed because object '{identity}' couldn't be found on '{EXCHANGE_SERVER}'.",
    )


def _param_not_found(identity: str) -> ExchangeError:
    return ExchangeError(
        NOT_FOUND,
        f'Couldn\'t find object "{identity}". Please make sure that it was spelled correctly or '
        "specify a different object.",
        PARAMETER_NOT_FOUND_ID,
    )


def _already_exists(dn: str) -> ExchangeError:
    return ExchangeError(
        ALREADY_EXISTS, f"Active Directory operation failed on {EXCHANGE_SERVER}. The object '{dn}' already exists."
    )


class Params:
    """Cmdlet parameters, matched case-insensitively as PowerShell does."""

    def __init__(self, raw: dict[str, Any], allowed: set[str]) -> None:
        self._values = {k.lower(): v for k, v in (raw or {}).items()}
        unknown = [key for key in raw or {} if key.lower() not in allowed | COMMON_PARAMS]
        if unknown:
            raise ExchangeError(
                UNKNOWN_PARAMETER,
                "Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters "
                f"specified. {', '.join(unknown)}",
            )

    def get(self, name: str) -> Any:
        return self._values.get(name.lower())

    def has(self, name: str) -> bool:
        return name.lower() in self._values

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else str(value)

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise ExchangeError(
                BINDING, f"Cannot process command because of one or more missing mandatory parameters: {name}."
            )
        return value

    def values(self, name: str) -> list[str]:
        value = self.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return [str(v) for v in value]
        return [str(value)]

    def switch(self, name: str) -> bool:
        value = self.get(name)
        return value is True or (isinstance(value, str) and value.lower() in ("true", "$true"))

    def result_size(self) -> int | None:
        value = self.text("ResultSize")
        if value is None:
            return 1000
        if value.lower() == "unlimited":
            return None
        return int(value)


@dataclass
class Shell:
    tenant: Tenant
    caller: str  # an app id, or "admin"
    online: bool  # Exchange Online (InvokeCommand) vs Exchange Server (control shell)
    warnings: list[str] = field(default_factory=list)
    # The signed-in person under a delegated token (Exchange.Manage): cmdlets run as them.
    user: User | None = None

    def acting_person(self) -> User | None:
        """Who a cmdlet runs as when it is a person: the signed-in user, or the organisation's admin in the control
        shell; None for an app."""
        if self.user is not None:
            return self.user
        return self.tenant.user_by_key(self.tenant.identity.admin_upn) if self.caller == "admin" else None


# -- object views ---------------------------------------------------------------------------------
def recipient_json(user: User) -> dict[str, Any]:
    return {
        "Name": user.name,
        "Alias": user.mail_nickname,
        "DisplayName": user.display_name,
        "Identity": user.name,
        "Id": user.name,
        "PrimarySmtpAddress": user.upn,
        "UserPrincipalName": user.upn,
        "WindowsEmailAddress": user.upn,
        "EmailAddresses": [f"SMTP:{user.upn}"],
        "RecipientType": "UserMailbox",
        "RecipientTypeDetails": user.recipient_type_details,
        "DistinguishedName": user.dn,
        "Guid": user.exchange_guid,
        "ExchangeGuid": user.exchange_guid,
        "ExternalDirectoryObjectId": user.id,
        "ResourceCapacity": user.capacity,
        "Office": user.building,
        "IsResource": user.kind in ("room", "equipment"),
        "OrganizationalUnit": DN_SUFFIX.split(",", 1)[0][3:],
    }


def group_json(tenant: Tenant, group: Group) -> dict[str, Any]:
    users = tenant.users
    return {
        "Name": group.name,
        "DisplayName": group.name,
        "Alias": group.alias,
        "Identity": group.name,
        "Id": group.name,
        "PrimarySmtpAddress": group.smtp,
        "WindowsEmailAddress": group.smtp,
        "EmailAddresses": [f"SMTP:{group.smtp}"],
        "DistinguishedName": group.dn,
        "Guid": group.guid,
        "ExternalDirectoryObjectId": group.guid,
        "RecipientType": "MailUniversalDistributionGroup",
        "RecipientTypeDetails": group.recipient_type_details,
        "GroupType": "Universal",
        "ManagedBy": [users[m].name for m in group.managed_by if m in users],
        "MemberJoinRestriction": "Closed",
        "MemberDepartRestriction": "Closed",
        "RequireSenderAuthenticationEnabled": True,
    }


def sp_json(sp: ExoServicePrincipal) -> dict[str, Any]:
    return {
        "DisplayName": sp.display_name,
        "AppId": sp.app_id,
        "ObjectId": sp.object_id,
        "Identity": sp.object_id,
        "Name": sp.object_id,
        "Id": sp.object_id,
        "Guid": sp.guid,
    }


def scope_json(scope: ManagementScope) -> dict[str, Any]:
    return {
        "Name": scope.name,
        "Identity": scope.name,
        "Id": scope.name,
        "Guid": scope.guid,
        # Set with -RecipientRestrictionFilter, read back as RecipientFilter (Get-ManagementScope reference).
        "RecipientFilter": scope.filter,
        "RecipientRoot": None,
        "ScopeRestrictionType": "RecipientScope",
        "Exclusive": False,
        "DistinguishedName": f"CN={scope.name},CN=Scopes,CN=RBAC,{DN_SUFFIX}",
    }


def _assignee_name(tenant: Tenant, a: RoleAssignment) -> str:
    if a.assignee_type == "ServicePrincipal":
        sp = next((s for s in tenant.exo_sps.values() if s.app_id == a.assignee), None)
        return sp.object_id if sp else a.assignee
    user = tenant.users.get(a.assignee)
    return user.name if user else a.assignee


def assignment_json(tenant: Tenant, a: RoleAssignment) -> dict[str, Any]:
    scope = a.resource_scope or a.write_scope
    group = tenant.groups.get(a.group_scope) if a.group_scope else None
    return {
        "Name": a.name,
        "Identity": a.name,
        "Id": a.name,
        "Guid": a.guid,
        "Role": a.role,
        "RoleAssignee": _assignee_name(tenant, a),
        "RoleAssigneeName": _assignee_name(tenant, a),
        "RoleAssigneeType": a.assignee_type,
        "AssignmentMethod": "Direct",
        "Enabled": True,
        # A -RecipientGroupScope assignment reads back as RecipientWriteScope Group with the group's Name in
        # CustomResourceScope; Exchange has no RecipientGroupScope property to read (WIRE.md [GROUPSCOPE]).
        "CustomResourceScope": group.name if group else a.resource_scope,
        "CustomRecipientWriteScope": a.write_scope,
        "RecipientWriteScope": "Group" if a.group_scope else "CustomRecipientScope" if scope else "Organization",
        "App": a.assignee if a.assignee_type == "ServicePrincipal" else None,
    }


# -- resolution -----------------------------------------------------------------------------------
def _user_keys(user: User) -> tuple[str, ...]:
    """Every identity Exchange resolves a mailbox by, lowercased."""
    return (
        user.name.lower(),
        user.mail_nickname.lower(),
        user.upn.lower(),
        user.dn.lower(),
        user.exchange_guid,
        user.id,
    )


def _one_mailbox(identity: str, hits: list[User]) -> User | None:
    if len(hits) > 1:
        raise ExchangeError(
            AMBIGUOUS, f"The operation couldn't be performed because '{identity}' matches multiple entries."
        )
    return hits[0] if hits else None


def find_mailbox(tenant: Tenant, identity: str) -> User | None:
    key = identity.strip().lower()
    return _one_mailbox(identity, [u for u in tenant.mailboxes() if key in _user_keys(u)])


def find_group(tenant: Tenant, identity: str) -> Group | None:
    key = identity.strip().lower()
    return next(
        (
            g
            for g in tenant.groups.values()
            if key in (g.name.lower(), g.alias.lower(), g.smtp.lower(), g.dn.lower(), g.guid)
        ),
        None,
    )


def _group(shell: Shell, identity: str) -> Group:
    group = find_group(shell.tenant, identity)
    if group is None:
        raise _not_found(identity)
    return group


def _member(shell: Shell, identity: str) -> User:
    user = find_mailbox(shell.tenant, identity)
    if user is None:
        raise _param_not_found(identity)
    return user


def _members(shell: Shell, identities: list[str]) -> list[User]:
    """Each identity's mailbox as `_member` finds it, reading the tenant's mailboxes once for the whole list: a list
    of 75 members looked up one by one scans a 2,000-room tenant 75 times under the tenant lock, which made the
    sandbox, not Microsoft's latency or limits, the rooms benchmark's bottleneck."""
    by_key: dict[str, list[User]] = {}
    for user in shell.tenant.mailboxes():
        for key in set(_user_keys(user)):
            by_key.setdefault(key, []).append(user)
    found = []
    for identity in identities:
        user = _one_mailbox(identity, by_key.get(identity.strip().lower(), []))
        if user is None:
            raise _param_not_found(identity)
        found.append(user)
    return found


def _exo_sp(shell: Shell, identity: str) -> ExoServicePrincipal | None:
    key = identity.strip().lower()
    return next(
        (
            s
            for s in shell.tenant.exo_sps.values()
            if key in (s.app_id.lower(), s.object_id.lower(), s.display_name.lower(), s.guid)
        ),
        None,
    )


def _require_hydrated(shell: Shell) -> None:
    if shell.online and shell.tenant.refuses_rbac_writes_as_dehydrated():
        raise ExchangeError(
            DEHYDRATED,
            "The command you tried to run isn't currently allowed in your organization. To run this command, you "
            "first need to run the command: Enable-OrganizationCustomization.",
        )


def _filter_types(items: list[dict[str, Any]], params: Params) -> list[dict[str, Any]]:
    wanted = {v.lower() for v in params.values("RecipientTypeDetails")}
    return [i for i in items if i["RecipientTypeDetails"].lower() in wanted] if wanted else items


def _limit(shell: Shell, items: list[dict[str, Any]], params: Params) -> list[dict[str, Any]]:
    size = params.result_size()
    if size is not None and len(items) > size:
        shell.warnings.append(TRUNCATED_WARNING)
        return items[:size]
    return items


# -- cmdlets --------------------------------------------------------------------------------------
def get_organization_config(shell: Shell, params: Params) -> list[dict[str, Any]]:
    org = shell.tenant.org
    domain = shell.tenant.domain
    return [
        {
            "Name": domain,
            "DisplayName": ORG_NAME,
            "Identity": domain,
            "Guid": shell.tenant.tenant_id,
            "IsDehydrated": shell.tenant.reads_dehydrated(),
            "EwsEnabled": org["EwsEnabled"],
            "EwsApplicationAccessPolicy": org["EwsApplicationAccessPolicy"],
            "EwsAllowList": org["EwsAllowList"],
            # Read only with -RetrieveEwsOperationAccessPolicy (Microsoft's "Control access to EWS in Exchange",
            # WIRE.md [EWSACCESS]); a plain read leaves it empty.
            "EwsAllowedAppIDs": list(org["EwsAllowedAppIDs"]) if params.get("RetrieveEwsOperationAccessPolicy") else [],
            "OrganizationId": f"NAMPR01A001.PROD.OUTLOOK.COM/Microsoft Exchange Hosted Organizations/{domain} - "
            f"NAMPR01A001.PROD.OUTLOOK.COM/ConfigurationUnits/{domain}/Configuration",
        }
    ]


def set_organization_config(shell: Shell, params: Params) -> list[dict[str, Any]]:
    org = shell.tenant.org
    for name in ("EwsEnabled", "EwsApplicationAccessPolicy", "EwsAllowList", "EwsAllowedAppIDs"):
        if params.has(name):
            org[name] = params.values(name) if name in ("EwsAllowList", "EwsAllowedAppIDs") else params.get(name)
    return []


def enable_organization_customization(shell: Shell, params: Params) -> list[dict[str, Any]]:
    tenant = shell.tenant
    if not tenant.is_dehydrated():
        raise ExchangeError(
            NOT_REQUIRED, "This operation is not required. Organization is already enabled for customization."
        )
    if tenant.org["customization_requested_at"] is None:
        tenant.org["customization_requested_at"] = tenant.now()
    return []


def cas_mailbox_json(user: User) -> dict[str, Any]:
    """Get-CASMailbox's client access settings of one mailbox (the properties CIPP-API's ListCASMailboxes selects)."""
    return {
        "Identity": user.name,
        "PrimarySmtpAddress": user.upn,
        "EwsEnabled": user.ews_enabled,
        "OWAEnabled": True,
        "MAPIEnabled": True,
        "ActiveSyncEnabled": True,
        "ImapEnabled": True,
        "PopEnabled": True,
    }


def get_cas_mailbox(shell: Shell, params: Params) -> list[dict[str, Any]]:
    identity = params.text("Identity")
    if identity:
        user = find_mailbox(shell.tenant, identity)
        if user is None:
            raise _not_found(identity)
        return [cas_mailbox_json(user)]
    return _limit(shell, [cas_mailbox_json(u) for u in shell.tenant.mailboxes()], params)


def set_cas_mailbox(shell: Shell, params: Params) -> list[dict[str, Any]]:
    identity = params.text("Identity")
    user = find_mailbox(shell.tenant, identity)
    if user is None:
        raise _not_found(identity)
    if params.has("EwsEnabled"):
        user.ews_enabled = params.get("EwsEnabled")
    return []


def get_mailbox(shell: Shell, params: Params) -> list[dict[str, Any]]:
    identity = params.text("Identity")
    if identity:
        user = find_mailbox(shell.tenant, identity)
        if user is None:
            raise _not_found(identity)
        return [recipient_json(user)]
    items = _filter_types([recipient_json(u) for u in shell.tenant.mailboxes()], params)
    return _limit(shell, items, params)


def get_recipient(shell: Shell, params: Params) -> list[dict[str, Any]]:
    tenant = shell.tenant
    identity = params.text("Identity")
    if identity:
        user = find_mailbox(tenant, identity)
        if user is not None:
            return [recipient_json(user)]
        group = find_group(tenant, identity)
        if group is None:
            raise _not_found(identity)
        return [group_json(tenant, group)]
    items = [recipient_json(u) for u in tenant.mailboxes()] + [group_json(tenant, g) for g in tenant.groups.values()]
    return _limit(shell, _filter_types(items, params), params)


def _check_unique(tenant: Tenant, name: str, alias: str, smtp: str) -> None:
    for user in tenant.users.values():
        if user.upn.lower() == smtp.lower():
            raise ExchangeError(
                PROXY_EXISTS,
                f'The proxy address "SMTP:{smtp}" is already being used by the proxy addresses or '
                f'LegacyExchangeDN of "{user.mail_nickname}". Please choose another proxy address.',
            )
    for group in tenant.groups.values():
        if group.smtp.lower() == smtp.lower():
            raise ExchangeError(
                PROXY_EXISTS,
                f'The proxy address "SMTP:{smtp}" is already being used by the proxy addresses or '
                f'LegacyExchangeDN of "{group.name}". Please choose another proxy address.',
            )
    owners = [(u.mail_nickname, u.mail_nickname) for u in tenant.users.values()]
    owners += [(g.alias, g.name) for g in tenant.groups.values()]
    for taken, owner in owners:
        if taken.lower() == alias.lower():
            raise ExchangeError(
                PROXY_EXISTS,
                f'The alias "{alias}" is already being used by "{owner}". Please choose another alias.',
            )
    if any(
        n.lower() == name.lower()
        for n in [g.name for g in tenant.groups.values()] + [u.mail_nickname for u in tenant.users.values()]
    ):
        raise _already_exists(make_dn(name))


def new_distribution_group(shell: Shell, params: Params) -> list[dict[str, Any]]:
    tenant = shell.tenant
    name = params.required("Name")
    alias = params.text("Alias") or "".join(ch for ch in name if ch.isalnum() or ch in "-_.")
    smtp = params.text("PrimarySmtpAddress") or f"{alias}@{tenant.domain}"
    _check_unique(tenant, name, alias, smtp)
    managers = [_member(shell, m).id for m in params.values("ManagedBy")]
    members = [user.id for user in _members(shell, params.values("Members"))]
    if not managers:
        # A person who creates a group without -ManagedBy becomes its manager (New-DistributionGroup reference).
        person = shell.acting_person()
        managers = [person.id] if person else []
    group = Group(
        guid=str(uuid.uuid4()),
        name=name,
        alias=alias,
        smtp=smtp,
        room_list=params.switch("RoomList"),
        created_at=tenant.now(),
        managed_by=managers,
    )
    group.set_members(members, tenant.now())
    tenant.groups[group.guid] = group
    return [group_json(tenant, group)]


def get_distribution_group(shell: Shell, params: Params) -> list[dict[str, Any]]:
    identity = params.text("Identity")
    if identity:
        return [group_json(shell.tenant, _group(shell, identity))]
    items = [group_json(shell.tenant, g) for g in shell.tenant.groups.values()]
    return _limit(shell, _filter_types(items, params), params)


def _apply_multi(current: list[str], value: Any, resolve: Callable[[str], str]) -> list[str]:
    """A multi-valued parameter: a list replaces; {"Add": [...], "Remove": [...]} edits."""
    if isinstance(value, dict):
        # A hashtable parameter, as clients send it: {"@odata.type": "#Exchange.GenericHashTable", "Add": [...]}.
        lowered = {k.lower(): v for k, v in value.items() if not k.startswith("@")}
        result = list(current)
        for item in _as_list(lowered.get("add")):
            rid = resolve(item)
            if rid not in result:
                result.append(rid)
        removed = {resolve(item) for item in _as_list(lowered.get("remove"))}
        return [r for r in result if r not in removed]
    return list(dict.fromkeys(resolve(v) for v in _as_list(value)))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _require_manager(shell: Shell, group: Group, params: Params) -> None:
    """Changing a group or its members takes a manager (in ManagedBy) or -BypassSecurityGroupManagerCheck; an app
    is never in ManagedBy, which holds mailboxes (Add-DistributionGroupMember reference; the "You don't have
    sufficient permissions" support article)."""
    if params.switch("BypassSecurityGroupManagerCheck"):
        return
    caller = shell.acting_person()
    if caller is None or caller.id not in group.managed_by:
        raise ExchangeError(
            NOT_MANAGER,
            "You don't have sufficient permissions. This operation can only be performed by a manager of the group.",
        )


def set_distribution_group(shell: Shell, params: Params) -> list[dict[str, Any]]:
    group = _group(shell, params.required("Identity"))
    _require_manager(shell, group, params)
    before = (list(group.managed_by), group.room_list, group.name)
    if params.has("ManagedBy"):
        group.managed_by = _apply_multi(group.managed_by, params.get("ManagedBy"), lambda i: _member(shell, i).id)
    if params.switch("RoomList"):
        group.room_list = True
    if params.text("DisplayName"):
        group.name = params.text("DisplayName") or group.name
    if (list(group.managed_by), group.room_list, group.name) == before:
        shell.warnings.append(NO_CHANGE_WARNING.format(group.name))
    return []


def remove_distribution_group(shell: Shell, params: Params) -> list[dict[str, Any]]:
    group = _group(shell, params.required("Identity"))
    _require_manager(shell, group, params)
    del shell.tenant.groups[group.guid]
    return []


def get_distribution_group_member(shell: Shell, params: Params) -> list[dict[str, Any]]:
    tenant = shell.tenant
    group = _group(shell, params.required("Identity"))
    items = [recipient_json(tenant.users[m]) for m in group.members if m in tenant.users]
    return _limit(shell, items, params)


def add_distribution_group_member(shell: Shell, params: Params) -> list[dict[str, Any]]:
    group = _group(shell, params.required("Identity"))
    _require_manager(shell, group, params)
    member_id = params.required("Member")
    user = _member(shell, member_id)
    if user.id in group.members:
        raise ExchangeError(
            MEMBER_EXISTS, f'The recipient "{member_id}" is already a member of the group "{group.name}".'
        )
    group.set_members([*group.members, user.id], shell.tenant.now())
    return []


def remove_distribution_group_member(shell: Shell, params: Params) -> list[dict[str, Any]]:
    group = _group(shell, params.required("Identity"))
    _require_manager(shell, group, params)
    member_id = params.required("Member")
    user = _member(shell, member_id)
    if user.id not in group.members:
        raise ExchangeError(
            MEMBER_NOT_FOUND, f'The recipient "{member_id}" isn\'t a member of the group "{group.name}".'
        )
    group.set_members([m for m in group.members if m != user.id], shell.tenant.now())
    return []


def update_distribution_group_member(shell: Shell, params: Params) -> list[dict[str, Any]]:
    group = _group(shell, params.required("Identity"))
    _require_manager(shell, group, params)
    members = [user.id for user in _members(shell, params.values("Members"))]
    group.set_members(members, shell.tenant.now())
    return []


def new_service_principal(shell: Shell, params: Params) -> list[dict[str, Any]]:
    app_id = params.required("AppId")
    object_id = params.text("ObjectId") or params.text("ServiceId")
    if not object_id:
        raise ExchangeError(
            BINDING, "Cannot process command because of one or more missing mandatory parameters: ObjectId."
        )
    tenant = shell.tenant
    if any(
        s.app_id.lower() == app_id.lower() or s.object_id.lower() == object_id.lower() for s in tenant.exo_sps.values()
    ):
        raise _already_exists(f"CN={object_id},CN=ServicePrincipals,{DN_SUFFIX}")
    sp = ExoServicePrincipal(
        guid=str(uuid.uuid4()), app_id=app_id, object_id=object_id, display_name=params.text("DisplayName") or app_id
    )
    tenant.exo_sps[sp.guid] = sp
    return [sp_json(sp)]


def get_service_principal(shell: Shell, params: Params) -> list[dict[str, Any]]:
    identity = params.text("Identity")
    if identity:
        sp = _exo_sp(shell, identity)
        if sp is None:
            raise _not_found(identity)
        return [sp_json(sp)]
    return [sp_json(s) for s in shell.tenant.exo_sps.values()]


def remove_service_principal(shell: Shell, params: Params) -> list[dict[str, Any]]:
    identity = params.required("Identity")
    sp = _exo_sp(shell, identity)
    if sp is None:
        raise _not_found(identity)
    del shell.tenant.exo_sps[sp.guid]
    return []


def _parse_filter(text: str) -> list[tuple[str, str]]:
    try:
        return parse_scope_filter(text)
    except FilterError as err:
        raise ExchangeError(
            BINDING,
            "Cannot bind parameter 'RecipientRestrictionFilter' to the target. Exception setting "
            f'"RecipientRestrictionFilter": "{err}"',
        ) from err


def new_management_scope(shell: Shell, params: Params) -> list[dict[str, Any]]:
    _require_hydrated(shell)
    name = params.required("Name")
    text = params.required("RecipientRestrictionFilter")
    clauses = _parse_filter(text)
    if name.lower() in shell.tenant.scopes:
        raise _already_exists(f"CN={name},CN=Scopes,CN=RBAC,{DN_SUFFIX}")
    scope = ManagementScope(
        guid=str(uuid.uuid4()), name=name, filter=text, clauses=clauses, changed_at=shell.tenant.now()
    )
    shell.tenant.scopes[name.lower()] = scope
    return [scope_json(scope)]


def _scope(shell: Shell, identity: str, as_parameter: bool = False) -> ManagementScope:
    scope = shell.tenant.scopes.get(identity.lower()) or next(
        (s for s in shell.tenant.scopes.values() if s.guid == identity.lower()), None
    )
    if scope is None:
        raise _param_not_found(identity) if as_parameter else _not_found(identity)
    return scope


def get_management_scope(shell: Shell, params: Params) -> list[dict[str, Any]]:
    identity = params.text("Identity")
    if identity:
        return [scope_json(_scope(shell, identity))]
    return [scope_json(s) for s in shell.tenant.scopes.values()]


def set_management_scope(shell: Shell, params: Params) -> list[dict[str, Any]]:
    _require_hydrated(shell)
    scope = _scope(shell, params.required("Identity"))
    if params.has("RecipientRestrictionFilter"):
        text = params.required("RecipientRestrictionFilter")
        clauses = _parse_filter(text)
        if text == scope.filter:
            shell.warnings.append(NO_CHANGE_WARNING.format(scope.name))
        else:
            scope.previous_clauses, scope.changed_at = scope.clauses, shell.tenant.now()
        scope.filter, scope.clauses = text, clauses
    return []


def remove_management_scope(shell: Shell, params: Params) -> list[dict[str, Any]]:
    scope = _scope(shell, params.required("Identity"))
    if any(scope.name in (a.resource_scope, a.write_scope) for a in shell.tenant.assignments.values()):
        raise ExchangeError(
            "Microsoft.Exchange.Management.RbacTasks.CannotDeleteScopeInUseException",
            f"Management scope \"{scope.name}\" can't be deleted because it's referenced by role assignments.",
        )
    del shell.tenant.scopes[scope.name.lower()]
    return []


def _role_name(shell: Shell, role: str) -> str:
    known = list(APPLICATION_ROLES) + ([] if shell.online else [IMPERSONATION_ROLE])
    match = next((r for r in known if r.lower() == role.strip().lower()), None)
    if match is None:
        # ApplicationImpersonation was removed from Exchange Online, so it is "not found" there.
        raise _param_not_found(role)
    return match


def new_management_role_assignment(shell: Shell, params: Params) -> list[dict[str, Any]]:
    _require_hydrated(shell)
    tenant = shell.tenant
    role = _role_name(shell, params.required("Role"))
    app, user_key = params.text("App"), params.text("User")
    if bool(app) == bool(user_key):
        raise ExchangeError(BINDING, "Parameter set cannot be resolved using the specified named parameters.")
    resource_scope = params.text("CustomResourceScope")
    write_scope = params.text("CustomRecipientWriteScope")
    # -RecipientGroupScope: the group's direct members (New-ManagementRoleAssignment reference; WIRE.md [D25]).
    group_key = params.text("RecipientGroupScope")
    group_scope = _group(shell, group_key).guid if group_key else None
    if group_scope and (resource_scope or not app):
        raise ExchangeError(BINDING, "Parameter set cannot be resolved using the specified named parameters.")
    if app:
        sp = _exo_sp(shell, app)
        if sp is None:
            raise _param_not_found(app)
        if role not in APPLICATION_ROLES or write_scope:
            raise ExchangeError(
                "Microsoft.Exchange.Management.RbacTasks.InvalidServicePrincipalRoleAssignmentException",
                f'The role "{role}" can\'t be assigned to a service principal with these scope parameters.',
            )
        assignee_type, assignee, display = "ServicePrincipal", sp.app_id, sp.object_id
    else:
        user = tenant.user_by_key(user_key or "")
        if user is None or not tenant.visible(user):
            raise _param_not_found(user_key or "")
        if resource_scope:
            raise ExchangeError(
                BINDING, "A parameter cannot be found that matches parameter name 'CustomResourceScope'."
            )
        assignee_type, assignee, display = "User", user.id, user.mail_nickname
    scope_name = resource_scope or write_scope
    if scope_name:
        scope_name = _scope(shell, scope_name, as_parameter=True).name
    # Unnamed: "<role>-<assignee>", cut at the 64 characters a name may hold (New-ManagementRoleAssignment reference;
    # public captures of app assignments name the service principal's object id: WIRE.md [C25]).
    name = params.text("Name") or f"{role}-{display}"[:64]
    if any(a.name.lower() == name.lower() for a in tenant.assignments.values()):
        raise _already_exists(f"CN={name},CN=Role Assignments,CN=RBAC,{DN_SUFFIX}")
    assignment = RoleAssignment(
        guid=str(uuid.uuid4()),
        name=name,
        role=role,
        assignee_type=assignee_type,
        assignee=assignee,
        resource_scope=scope_name if app else None,
        write_scope=None if app else scope_name,
        created_at=tenant.now(),
        group_scope=group_scope,
    )
    tenant.assignments[assignment.guid] = assignment
    return [assignment_json(tenant, assignment)]


def _role_assignee(shell: Shell, key: str) -> tuple[str, str]:
    """-RoleAssignee names a user, or a service principal by its object id, app id, display name or identity, as
    public RBAC-for-Applications scripts list an app's assignments (WIRE.md [C20]): (assignee type, assignee)."""
    user = find_mailbox(shell.tenant, key)
    if user is not None:
        return "User", user.id
    sp = _exo_sp(shell, key)
    if sp is None:
        raise _param_not_found(key)
    return "ServicePrincipal", sp.app_id


def get_management_role_assignment(shell: Shell, params: Params) -> list[dict[str, Any]]:
    tenant = shell.tenant
    items = list(tenant.assignments.values())
    identity = params.text("Identity")
    if identity:
        items = [a for a in items if identity.lower() in (a.name.lower(), a.guid)]
        if not items:
            raise _not_found(identity)
    if params.text("Role"):
        items = [a for a in items if a.role.lower() == (params.text("Role") or "").lower()]
    if params.text("RoleAssigneeType"):
        items = [a for a in items if a.assignee_type.lower() == (params.text("RoleAssigneeType") or "").lower()]
    assignee = params.text("RoleAssignee")
    if assignee:
        kind, key = _role_assignee(shell, assignee)
        items = [a for a in items if a.assignee_type == kind and a.assignee == key]
    return [assignment_json(tenant, a) for a in items]


def remove_management_role_assignment(shell: Shell, params: Params) -> list[dict[str, Any]]:
    identity = params.required("Identity")
    tenant = shell.tenant
    match = next((a for a in tenant.assignments.values() if identity.lower() in (a.name.lower(), a.guid)), None)
    if match is None:
        raise _not_found(identity)
    del tenant.assignments[match.guid]
    return []


def test_service_principal_authorization(shell: Shell, params: Params) -> list[dict[str, Any]]:
    tenant = shell.tenant
    identity = params.required("Identity")
    sp = _exo_sp(shell, identity)
    if sp is None:
        raise _not_found(identity)
    resource_key = params.text("Resource")
    resource = None
    if resource_key:
        resource = find_mailbox(tenant, resource_key)
        if resource is None:
            raise _param_not_found(resource_key)
    rows = []
    # Unlike real access, this test reads RBAC directly (no permission cache), as Microsoft documents.
    for a in tenant.assignments.values():
        if a.assignee_type != "ServicePrincipal" or a.assignee != sp.app_id:
            continue
        group = tenant.groups.get(a.group_scope) if a.group_scope else None
        rows.append(
            {
                "RoleName": a.role,
                "GrantedPermissions": APPLICATION_ROLES[a.role],
                "AllowedResourceScope": group.name if group else a.resource_scope or "Organization",
                "ScopeType": "Group" if group else "CustomRecipientScope" if a.resource_scope else "Organization",
                # Without -Resource, "Not Run" (application-rbac; Test-ServicePrincipalAuthorization example 2).
                "InScope": tenant.assignment_covers(a, resource) if resource else "Not Run",
            }
        )
    return rows


def access_policy_json(tenant: Tenant, policy: AccessPolicy) -> dict[str, Any]:
    group = tenant.groups.get(policy.scope_group)
    return {
        "Identity": policy.identity,
        "AppId": ",".join(policy.app_ids),
        "ScopeName": group.name if group else "",
        "ScopeIdentity": group.name if group else "",
        # "<SID>;<guid>" of the scope group, as in Identity (public captures of Get-ApplicationAccessPolicy, WIRE.md).
        "ScopeIdentityRaw": policy.identity.split(":", 1)[1],
        "Description": policy.description,
        "AccessRight": policy.access_right,
        "ShardType": "All",
        "IsValid": group is not None,
    }


def new_application_access_policy(shell: Shell, params: Params) -> list[dict[str, Any]]:
    tenant = shell.tenant
    access_right = params.required("AccessRight")
    if access_right not in ("RestrictAccess", "DenyAccess"):
        raise ExchangeError(BINDING, f"Cannot bind parameter 'AccessRight' to the value \"{access_right}\".")
    group = _group(shell, params.required("PolicyScopeGroupId"))
    app_ids = [a.strip() for value in params.values("AppId") for a in value.split(",") if a.strip()]
    policy = AccessPolicy(
        # "<tenant id>\\<app id>:<scope group SID>;<scope group guid>" (Get-ApplicationAccessPolicy example).
        identity=f"{shell.tenant.tenant_id}\\{app_ids[0] if app_ids else ''}:"
        f"S-1-5-21-{uuid.uuid4().int % 10**10};{group.guid}",
        app_ids=app_ids,
        access_right=access_right,
        scope_group=group.guid,
        description=params.text("Description") or "",
    )
    tenant.access_policies.append(policy)
    return [access_policy_json(tenant, policy)]


def get_application_access_policy(shell: Shell, params: Params) -> list[dict[str, Any]]:
    tenant = shell.tenant
    identity = params.text("Identity")
    policies = [p for p in tenant.access_policies if not identity or p.identity.lower() == identity.lower()]
    if identity and not policies:
        raise _not_found(identity)
    return [access_policy_json(tenant, p) for p in policies]


def remove_application_access_policy(shell: Shell, params: Params) -> list[dict[str, Any]]:
    tenant = shell.tenant
    identity = params.required("Identity")
    kept = [p for p in tenant.access_policies if p.identity.lower() != identity.lower()]
    if len(kept) == len(tenant.access_policies):
        raise _not_found(identity)
    tenant.access_policies = kept
    return []


CmdletFn = Callable[[Shell, Params], list[dict[str, Any]]]
_GROUP_BYPASS = {"bypasssecuritygroupmanagercheck"}
CMDLETS: dict[str, tuple[CmdletFn, set[str]]] = {
    "Get-OrganizationConfig": (get_organization_config, {"identity", "retrieveewsoperationaccesspolicy"}),
    "Set-OrganizationConfig": (
        set_organization_config,
        {"ewsenabled", "ewsapplicationaccesspolicy", "ewsallowlist", "ewsallowedappids"},
    ),
    "New-ApplicationAccessPolicy": (
        new_application_access_policy,
        {"appid", "policyscopegroupid", "accessright", "description"},
    ),
    "Get-ApplicationAccessPolicy": (get_application_access_policy, {"identity"}),
    "Remove-ApplicationAccessPolicy": (remove_application_access_policy, {"identity"}),
    "Enable-OrganizationCustomization": (enable_organization_customization, set()),
    "Get-Mailbox": (get_mailbox, {"identity", "recipienttypedetails", "resultsize"}),
    "Get-CASMailbox": (get_cas_mailbox, {"identity", "resultsize"}),
    "Set-CASMailbox": (set_cas_mailbox, {"identity", "ewsenabled"}),
    "Get-Recipient": (get_recipient, {"identity", "recipienttypedetails", "resultsize"}),
    "New-DistributionGroup": (
        new_distribution_group,
        {"name", "alias", "primarysmtpaddress", "roomlist", "managedby", "members", "displayname", "type"},
    ),
    "Get-DistributionGroup": (get_distribution_group, {"identity", "recipienttypedetails", "resultsize"}),
    "Set-DistributionGroup": (
        set_distribution_group,
        {"identity", "managedby", "roomlist", "displayname"} | _GROUP_BYPASS,
    ),
    "Remove-DistributionGroup": (remove_distribution_group, {"identity"} | _GROUP_BYPASS),
    "Get-DistributionGroupMember": (get_distribution_group_member, {"identity", "resultsize"}),
    "Add-DistributionGroupMember": (add_distribution_group_member, {"identity", "member"} | _GROUP_BYPASS),
    "Remove-DistributionGroupMember": (remove_distribution_group_member, {"identity", "member"} | _GROUP_BYPASS),
    "Update-DistributionGroupMember": (update_distribution_group_member, {"identity", "members"} | _GROUP_BYPASS),
    "New-ServicePrincipal": (new_service_principal, {"appid", "objectid", "serviceid", "displayname"}),
    "Get-ServicePrincipal": (get_service_principal, {"identity"}),
    "Remove-ServicePrincipal": (remove_service_principal, {"identity"}),
    "New-ManagementScope": (new_management_scope, {"name", "recipientrestrictionfilter"}),
    "Get-ManagementScope": (get_management_scope, {"identity"}),
    "Set-ManagementScope": (set_management_scope, {"identity", "recipientrestrictionfilter"}),
    "Remove-ManagementScope": (remove_management_scope, {"identity"}),
    "New-ManagementRoleAssignment": (
        new_management_role_assignment,
        {"name", "role", "app", "user", "customresourcescope", "customrecipientwritescope", "recipientgroupscope"},
    ),
    "Get-ManagementRoleAssignment": (
        get_management_role_assignment,
        {"identity", "role", "roleassignee", "roleassigneetype"},
    ),
    "Remove-ManagementRoleAssignment": (remove_management_role_assignment, {"identity"}),
    "Test-ServicePrincipalAuthorization": (test_service_principal_authorization, {"identity", "resource"}),
}
_BY_LOWER = {name.lower(): name for name in CMDLETS}


def canonical_cmdlet(name: str) -> str | None:
    return _BY_LOWER.get(name.strip().lower())


def is_write(cmdlet: str) -> bool:
    return cmdlet.startswith(WRITE_VERBS)


def run_cmdlet(shell: Shell, name: str, raw_params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one cmdlet; the caller holds the tenant lock."""
    canonical = canonical_cmdlet(name)
    if canonical is None:
        raise ExchangeError(
            "System.Management.Automation.CommandNotFoundException",
            f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
            "program. Check the spelling of the name, or if a path was included, verify that the path is "
            "correct and try again.",
        )
    fn, allowed = CMDLETS[canonical]
    return fn(shell, Params(raw_params, allowed))


# -- HTTP -----------------------------------------------------------------------------------------
def error_status(exc_type: str) -> int:
    """Not found answers 404 (public captures); other cmdlet errors 400 (unconfirmed)."""
    return 404 if exc_type == NOT_FOUND else 400


def error_body(exc_type: str, text: str, error_id: str = "") -> dict[str, Any]:
    """InvokeCommand's error envelope: the typed text in error.details[].message, the exception again in
    innererror.internalexception (CIPP-API's New-ExoRequest reads them in that order)."""
    if not error_id:
        error_id = (
            ERROR_IDS[exc_type]
            if exc_type in ERROR_IDS
            else "Ex" + hashlib.sha1(exc_type.encode()).hexdigest()[:6].upper()  # noqa: S324
        )
    typed = f"{error_id}|{exc_type}|{text}"
    return {
        "error": {
            "code": "NotFound" if error_status(exc_type) == 404 else "BadRequest",
            "message": "Error executing cmdlet",
            # `Client`, as the one raw capture of this envelope has it (WIRE.md [C5]); clients read only `message`.
            "details": [{"code": "Client", "target": "", "message": typed}],
            "innererror": {
                "message": "Error executing cmdlet",
                "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                "stacktrace": "",
                "internalexception": {"message": typed, "type": exc_type, "stacktrace": ""},
            },
        }
    }


def _simple_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json(status, {"error": {"code": code, "message": message}}, headers)


def success_body(
    context: str, warnings: list[str], value: list[dict[str, Any]], next_link: str | None = None
) -> dict[str, Any]:
    # The warnings are an instance annotation, with its "@" (CIPP-API's New-ExoRequest reads '@adminapi.warnings').
    body: dict[str, Any] = {"@odata.context": context, "@adminapi.warnings": warnings, "value": value}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body


def not_allowed_to_call(cmdlet: str) -> Response:
    """An accepted token whose app holds no Exchange role allowing the cmdlet: HTTP 401, not 403, with the body of
    the public capture MicrosoftDocs/office-docs-powershell#7970 (WIRE.md)."""
    text = f"User is not allowed to call {cmdlet}"
    inner = {"message": text, "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"}
    return Response.json(401, {"error": {"code": "Unauthorized", "message": text, "innererror": inner}})


# Directory roles whose holders Exchange Online gives the Organization Management role group ("Permissions in
# Exchange Online": Global Administrator and Exchange Administrator are members of Organization Management).
EXCHANGE_MANAGING_DIRECTORY_ROLES = {GLOBAL_ADMINISTRATOR, EXCHANGE_ADMINISTRATOR}


def not_assigned_to_management_roles(tenant: Tenant, person: User | None, upn: str) -> Response:
    """A person's token accepted, but the person holds no Exchange role: the text of the public capture
    MicrosoftDocs/office-docs-powershell#6271 (remote PowerShell); over InvokeCommand the status and body shape of
    #7970's 401 (WIRE.md: the pairing is unconfirmed)."""
    text = f'The user "{tenant.domain}\\{person.upn if person else upn}" isn\'t assigned to any management roles.'
    inner = {"message": text, "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"}
    return Response.json(401, {"error": {"code": "Unauthorized", "message": text, "innererror": inner}})


def refused_as_client() -> Response:
    """InvokeCommand refusing the calling app itself (the `invoke_command_refused` knob): 403 ErrorAccessDenied, the
    shape Exchange's REST endpoints refuse a client by policy with (OfficeDev/office-js-docs-pr#2808); for
    InvokeCommand unconfirmed (WIRE.md)."""
    text = "Access to InvokeCommand is denied for this application."
    return Response.json(403, {"error": {"code": "ErrorAccessDenied", "message": text}})


def _unauthorized(text: str) -> Response:
    challenge = (
        'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
        'trusted_issuers="00000001-0000-0000-c000-000000000000@*", '
        'token_types="app_asserted_user_v1 service_asserted_app_v1", error="invalid_token"'
    )
    return _simple_error(401, "Unauthorized", text, {"WWW-Authenticate": challenge})


def handle(tenant: Tenant, req: Request) -> Response:
    """Serve POST /adminapi/beta/<tenant>/InvokeCommand."""
    segments = [s for s in req.path.split("/") if s]
    if len(segments) != 4 or segments[3].lower() != "invokecommand" or req.method != "POST":
        return _simple_error(404, "NotFound", f"The resource '{req.path}' was not found.")
    if segments[2].lower() not in tenant.identity.aliases:
        return _unauthorized(f"The tenant '{segments[2]}' does not match the token's tenant.")
    try:
        claims = verify_token(req.headers.get("authorization"), EXCHANGE_AUDIENCE)
    except TokenError as err:
        return _unauthorized(str(err))
    if claims.get("tid") != tenant.tenant_id:
        # A genuine token of another tenant: the path names this one (WIRE.md, "Many tenants").
        return _unauthorized(f"The tenant '{segments[2]}' does not match the token's tenant.")
    app_id = claims["appid"]
    person: User | None = None
    if claims.get("idtyp") == "user":
        # A person's token: the app's delegated Exchange.Manage, and Exchange runs the cmdlet with the person's own
        # Exchange roles (WIRE.md, "InvokeCommand as a signed-in administrator").
        if "Exchange.Manage" not in str(claims.get("scp", "")).split():
            return _unauthorized(
                "The token does not carry the Exchange.Manage delegated permission of Office 365 Exchange Online."
            )
        with tenant.lock:
            person = tenant.users.get(str(claims.get("oid", "")))
        if person is None or not set(directory_roles(person)) & EXCHANGE_MANAGING_DIRECTORY_ROLES:
            return not_assigned_to_management_roles(tenant, person, str(claims.get("upn", "")))
    else:
        with tenant.lock:
            has_role = "Exchange.ManageAsApp" in tenant.app_roles(app_id, EXCHANGE_APP_ID)
            app_directory_roles = tenant.directory_roles.get(app_id, set())
        if not has_role:
            return _unauthorized(
                "The token does not carry the Exchange.ManageAsApp application permission of Office 365 Exchange "
                "Online."
            )
    if tenant.knobs.invoke_command_refused:
        return refused_as_client()
    try:
        cmdlet_input = (req.json() or {})["CmdletInput"]
        name = str(cmdlet_input["CmdletName"])
        raw_params = cmdlet_input.get("Parameters") or {}
    except (ValueError, KeyError, TypeError):
        return _simple_error(
            400, "BadRequest", 'The request body must be {"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}.'
        )
    if person is None and not app_directory_roles & {EXCHANGE_ADMIN_ROLE, "Global Administrator"}:
        return not_allowed_to_call(canonical_cmdlet(name) or name)
    rejection = tenant.admit(app_id)
    if rejection:
        kind, retry_after = rejection
        if kind == "throttled":
            return _simple_error(
                429,
                "TooManyRequests",
                f"The request was throttled. Retry after {retry_after} seconds.",
                {"Retry-After": str(retry_after)},
            )
        return _simple_error(
            503, "ServiceUnavailable", "The service is temporarily unavailable.", {"Retry-After": str(retry_after)}
        )
    limited = tenant.throttle.exchange(tenant.knobs)
    if limited:
        return _simple_error(
            429,
            "TooManyRequests",
            f"The request was throttled. Retry after {limited.retry_after} seconds.",
            {"Retry-After": str(limited.retry_after)},
        )
    canonical = canonical_cmdlet(name) or name
    tenant.calls.record(canonical, write=is_write(canonical))
    shell = Shell(tenant, app_id, online=True, user=person)
    try:
        with tenant.lock:
            value = run_cmdlet(shell, name, raw_params)
            page_size = max(1, tenant.knobs.exchange_page_size)
    except ExchangeError as err:
        return Response.json(error_status(err.exc_type), error_body(err.exc_type, err.text, err.error_id))
    base = f"{req.base_url}/adminapi/beta/{segments[2]}"
    offset = int(req.query.get("$skiptoken", "0") or 0)
    next_link = f"{base}/InvokeCommand?$skiptoken={offset + page_size}" if offset + page_size < len(value) else None
    body = success_body(
        f"{base}/$metadata#Collection(Exchange.GenericHashTable)",
        shell.warnings,
        value[offset : offset + page_size],
        next_link,
    )
    return Response.json(200, body)


def run_as_admin(tenant: Tenant, name: str, raw_params: dict[str, Any]) -> Response:
    """The control shell: a cmdlet run by the organisation's admin, unthrottled and uncounted."""
    shell = Shell(tenant, "admin", online=False)
    try:
        with tenant.lock:
            value = run_cmdlet(shell, name, raw_params)
    except ExchangeError as err:
        # The control shell is the sandbox's own contract: every cmdlet error is a 400 there.
        return Response.json(400, error_body(err.exc_type, err.text, err.error_id))
    return Response.json(200, success_body("shell", shell.warnings, value))
