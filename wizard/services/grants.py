"""Every way the integration's app can reach mailboxes beyond the rooms, found and explained with its exact fix.

Four routes add up (RBAC for Applications: "permissions granted in Entra ID are added to RBAC grants"):
- application permissions granted in Entra ID on Microsoft Graph that reach mailbox content (Calendars.*, Mail.*,
  Mail-Advanced.*, MailboxSettings.*, MailboxFolder.*, MailboxItem.*, MailboxConfigItem.*, Contacts.*, Tasks.*): read
  from the app's service principal `appRoleAssignments`, named through the resource service principal's `appRoles`;
- the same on Office 365 Exchange Online, where `full_access_as_app` opens every mailbox through EWS (and IMAP, POP
  and SMTP as the app reach every mailbox too);
- every Exchange RBAC for Applications assignment the app holds other than Onramp's one scoped to the rooms, whatever
  its role (listed with `Get-ManagementRoleAssignment -RoleAssignee <the app's Exchange service principal>`, not
  from a fixed list of roles: Microsoft adds application roles, 24 by application-rbac's table today);
- a leftover application access policy (New-ApplicationAccessPolicy), the mechanism RBAC for Applications replaces.
  It only restricts an Entra grant, so on its own it widens nothing; it is explained so it is removed in the safe
  order (the Entra grant first, then the policy).

Each read that Onramp's own permissions refuse is reported as a check not run, with why: a check that could not run
never counts as passed."""

import re
from dataclasses import asdict, dataclass
from typing import Any

from wizard.microsoft.errors import ExchangeCmdletError, NotFound, PermissionMissing
from wizard.powershell import quote

GRAPH_RESOURCE_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_RESOURCE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# The families of application permission values that reach mailbox content, matched against the names the resource's
# appRoles publish (Graph permissions reference; application-rbac's table names the RBAC-scopable ones: Mail.*,
# Mail-Advanced.*, MailboxSettings.*, Calendars.*, Contacts.*, MailboxFolder.*, MailboxItem.*, MailboxConfigItem.*;
# Tasks.* reads every user's tasks). The Exchange resource publishes some of the same names plus the protocols an
# app can open every mailbox with: full_access_as_app (EWS), IMAP.AccessAsApp, POP.AccessAsApp, SMTP.SendAsApp.
MAILBOX_PERMISSION_PREFIXES = (
    "Calendars.",
    "Contacts.",
    "Mail.",
    "Mail-Advanced.",
    "MailboxSettings.",
    "MailboxFolder.",
    "MailboxItem.",
    "MailboxConfigItem.",
    "Tasks.",
)
EWS_FULL_ACCESS = "full_access_as_app"
MAILBOX_PROTOCOL_PERMISSIONS = {EWS_FULL_ACCESS, "IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"}
# App role ids of the mailbox permissions, for a resource whose appRoles cannot be read (Graph permissions
# reference; Exchange Online's Calendars.Read as published on its service principal).
KNOWN_APP_ROLES = {
    "798ee544-9d2d-430c-a058-570e29e34338": "Calendars.Read",
    "8ba4a692-bc31-4128-9094-475872af8a53": "Calendars.ReadBasic.All",
    "ef54d2bf-783f-4e0f-bca1-3210c0444d99": "Calendars.ReadWrite",
    "810c84a8-4a9e-49e6-bf7d-12d183f40d01": "Mail.Read",
    "693c5e45-0940-467d-9b8a-1022fb9d42ef": "Mail.ReadBasic.All",
    "b633e1c5-b582-4048-a93e-9f11b44c7e96": "Mail.Send",
    "40f97065-3a51-4ff9-9d2b-7ab3fee2e7e8": "MailboxSettings.Read",
    "dc890d15-9560-4a4c-9b7f-a736ec74ec40": EWS_FULL_ACCESS,
    "2dfdc6dc-2fa7-4a2c-a922-dbd4f85d17be": "Calendars.Read",
}


@dataclass(frozen=True)
class Finding:
    """One grant beyond the room scope. `widens` is False for what restricts rather than grants (a policy)."""

    kind: str
    what: str
    why: str
    fix: str
    permission: str = ""
    widens: bool = True


@dataclass(frozen=True)
class Check:
    name: str
    ran: bool
    detail: str = ""


def is_mailbox_permission(value: str) -> bool:
    return value in MAILBOX_PROTOCOL_PERMISSIONS or value.startswith(MAILBOX_PERMISSION_PREFIXES)


def _refused(name: str, error: PermissionMissing, needs: str) -> Check:
    return Check(name, False, f"Onramp's connector app was refused ({error.code}): it needs {needs}.")


# -- Entra application permissions
def _resource_roles(graph, resource_id: str) -> tuple[str, dict[str, str]]:
    """The resource service principal's app id and its app roles by id (value), or ('', {}) when unreadable."""
    try:
        resource = graph.get(f"/servicePrincipals/{resource_id}", {"$select": "id,appId,displayName,appRoles"})
    except NotFound:
        return "", {}
    roles = {role["id"]: role.get("value") or "" for role in resource.get("appRoles") or []}
    return resource.get("appId", ""), roles


def entra_grants(graph, service_principal_id: str, app_id: str, app_name: str) -> list[Finding]:
    """The app's application permissions that open mailbox content, each with how to revoke it."""
    assignments = graph.get_all(f"/servicePrincipals/{service_principal_id}/appRoleAssignments")
    resources = {rid: _resource_roles(graph, rid) for rid in {a.get("resourceId", "") for a in assignments}}
    findings = []
    for assignment in assignments:
        resource_app, roles = resources.get(assignment.get("resourceId", ""), ("", {}))
        role_id = assignment.get("appRoleId", "")
        value = roles.get(role_id) or KNOWN_APP_ROLES.get(role_id, "")
        if not is_mailbox_permission(value):
            continue
        resource = assignment.get("resourceDisplayName") or (
            "Office 365 Exchange Online" if resource_app == EXCHANGE_RESOURCE_APP_ID else "Microsoft Graph"
        )
        findings.append(_entra_finding(value, resource, assignment, service_principal_id, app_id, app_name))
    return findings


def _entra_finding(
    value: str, resource: str, assignment: dict[str, Any], service_principal_id: str, app_id: str, app_name: str
) -> Finding:
    if value == EWS_FULL_ACCESS:
        why = (
            "full_access_as_app lets the app open every mailbox in the organisation through EWS; no management "
            "scope limits it. If the integration needs EWS for the rooms, Exchange's “Application EWS.AccessAsApp” "
            "role assigned with the room scope replaces it."
        )
    else:
        why = (
            f"An application permission granted in Entra ID applies to every mailbox: {value} is added to whatever "
            "the room scope allows, so the scope no longer limits the app."
        )
    return Finding(
        kind="entra_app_role",
        what=f"{resource} application permission {value} granted to {app_name}",
        why=why,
        fix=f"In the Microsoft Entra admin center open Enterprise applications → {app_name} ({app_id}) → "
        f"Permissions and revoke {value} ({resource}); or run Remove-MgServicePrincipalAppRoleAssignment "
        f"-ServicePrincipalId {quote(service_principal_id)} -AppRoleAssignmentId {quote(assignment.get('id', ''))}. "
        "Also remove it from the app registration's API permissions, or the next admin consent grants it again.",
        permission=value,
    )


# -- Exchange RBAC for Applications
def assigned_to(assignments: list[dict[str, Any]], app_identities: set[str]) -> list[dict[str, Any]]:
    """The assignments whose assignee (App, RoleAssigneeName or RoleAssignee) is one of the app's identities."""
    return [
        assignment
        for assignment in assignments
        if {str(assignment.get(key) or "").lower() for key in ("App", "RoleAssigneeName", "RoleAssignee")}
        & app_identities
    ]


def app_assignments(exchange, role_assignees: list[str], app_identities: set[str]) -> list[dict[str, Any]]:
    """Every role assignment the app holds, whatever the role: `Get-ManagementRoleAssignment -RoleAssignee` with the
    app's Exchange service principal (its identity, object id or app id, the first that Exchange resolves), as
    public RBAC-for-Applications scripts list an app's assignments. No service principal under any of them: the app
    can hold no assignment. Should Exchange refuse the parameter itself, every assignment is listed and matched to
    the app's identities here."""
    for assignee in dict.fromkeys(a for a in role_assignees if a):
        try:
            found = exchange.invoke("Get-ManagementRoleAssignment", RoleAssignee=assignee)
        except NotFound:
            continue
        except ExchangeCmdletError as error:
            # InvokeCommand refuses an unknown parameter as AmbiguousParameterSetException (sandbox/WIRE.md [G2O]);
            # PowerShell itself as ParameterBindingException.
            if error.short_type not in ("AmbiguousParameterSetException", "ParameterBindingException"):
                raise
            found = assigned_to(
                exchange.invoke("Get-ManagementRoleAssignment", RoleAssigneeType="ServicePrincipal"), app_identities
            )
        return sorted(found, key=lambda a: (a.get("Role", ""), a.get("Name", "")))
    return []


# The management scope Exchange makes for a -RecipientGroupScope assignment may be named "<group name>_<guid>".
_GROUP_SCOPE_SUFFIX = re.compile(r"_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def rbac_finding(assignment: dict[str, Any], scope_name: str) -> Finding:
    scope = assignment.get("CustomResourceScope") or ""
    group = assignment.get("RecipientGroupScope") or ""
    # Exchange reads a -RecipientGroupScope assignment back as RecipientWriteScope "Group" with the group in
    # CustomResourceScope, and no RecipientGroupScope property (sandbox/WIRE.md [GROUPSCOPE]).
    if not group and assignment.get("RecipientWriteScope") == "Group" and scope:
        group, scope = _GROUP_SCOPE_SUFFIX.sub("", scope), ""
    unit = assignment.get("RecipientAdministrativeUnitScope") or ""
    name = assignment.get("Name", "")
    role = assignment.get("Role", "")
    if group:
        reach = f"the direct members of the group {group}"
    elif unit:
        reach = f"the mailboxes of the administrative unit {unit}"
    elif not scope:
        reach = "every mailbox in the organisation (no scope)"
    elif scope.lower() == scope_name.lower():
        reach = f"the rooms (scope {scope}), with more than calendar access"
    else:
        reach = f"the mailboxes of the scope {scope}"
    return Finding(
        kind="rbac_assignment",
        what=f"Exchange role assignment {name}: {role} over {reach}",
        why="Exchange adds every assignment of an app together, so this one widens what the app can open beyond "
        "the room calendars.",
        fix=f"Run Remove-ManagementRoleAssignment -Identity {quote(name)} in Exchange Online PowerShell (check "
        "first that the integration does not need it).",
        permission=role,
    )


# -- Application access policies
def _policy_app_ids(policy: dict[str, Any]) -> set[str]:
    value = policy.get("AppId") or policy.get("AppID") or ""
    values = value if isinstance(value, list) else str(value).split(",")
    return {str(v).strip().lower() for v in values if str(v).strip()}


def access_policies(exchange, app_id: str, has_entra_grant: bool) -> list[Finding]:
    """The application access policies that name the app, explained as superseded and removable in a safe order."""
    policies = [p for p in exchange.invoke("Get-ApplicationAccessPolicy") if app_id.lower() in _policy_app_ids(p)]
    findings = []
    for policy in policies:
        identity = policy.get("Identity", "")
        scope = policy.get("ScopeName") or policy.get("ScopeIdentity") or "?"
        order = (
            "The app still holds an Entra ID mailbox permission that this policy restricts: revoke that permission "
            "first (see the finding above), and only then remove the policy, or for a while the app reaches every "
            "mailbox. "
            if has_entra_grant
            else "The app holds no Entra ID mailbox permission for this policy to restrict, so removing it changes "
            "nothing the app can open. "
        )
        findings.append(
            Finding(
                kind="application_access_policy",
                what=f"Application access policy {policy.get('AccessRight', '?')} on {scope} for this app",
                why="Application access policies are the mechanism RBAC for Applications replaces: they only "
                "restrict permissions granted in Entra ID and are superseded by the room scope's role assignment.",
                fix=order + f"Run Remove-ApplicationAccessPolicy -Identity {quote(identity)} in Exchange Online "
                "PowerShell; then confirm the rooms with Test-ServicePrincipalAuthorization.",
                widens=False,
            )
        )
    return findings


# -- all of it
def audit(
    graph,
    exchange,
    *,
    app_id: str,
    service_principal_id: str,
    app_name: str,
    app_identities: set[str],
    role_assignees: list[str],
    scope_name: str,
    is_ours,
) -> dict[str, Any]:
    """Run every check; `is_ours(assignment)` tells Onramp's own scoped assignment. Returns the findings (as dicts),
    the checks with whether each ran, and whether anything widens the app's reach."""
    findings: list[Finding] = []
    checks: list[Check] = []
    ours: list[dict[str, Any]] = []
    entra: list[Finding] = []
    try:
        entra = entra_grants(graph, service_principal_id, app_id, app_name)
        checks.append(Check("entra_app_permissions", True))
    except PermissionMissing as error:
        checks.append(_refused("entra_app_permissions", error, "Microsoft Graph Application.Read.All"))
    findings += entra
    try:
        assignments = app_assignments(exchange, role_assignees, app_identities)
        ours = [a for a in assignments if is_ours(a)]
        findings += [rbac_finding(a, scope_name) for a in assignments if not is_ours(a)]
        checks.append(Check("exchange_role_assignments", True))
    except PermissionMissing as error:
        checks.append(_refused("exchange_role_assignments", error, "the Exchange Administrator role"))
    try:
        findings += access_policies(exchange, app_id, has_entra_grant=bool(entra))
        checks.append(Check("application_access_policies", True))
    except (PermissionMissing, ExchangeCmdletError) as error:
        checks.append(Check("application_access_policies", False, f"Get-ApplicationAccessPolicy failed: {error}"))
    return {
        "findings": [asdict(f) for f in findings],
        "checks": [asdict(c) for c in checks],
        "widening": [asdict(f) for f in findings if f.widens],
        "own_assignments": ours,
    }


def describe(findings: list[dict[str, Any]]) -> str:
    return "; ".join(f["what"] for f in findings)
