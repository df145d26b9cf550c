"""Step 5: scoped access (RBAC for Applications). The integration's app gets an Exchange service principal, one
management scope matching the members of every room list of this tenant, and one `Application
Calendars.ReadWrite` assignment limited to that scope. Access granted in Entra ID is added to RBAC grants, so a
tenant-wide Calendars grant makes the scope meaningless: the step refuses to succeed while one exists.

Why a management scope and not -RecipientGroupScope: a scope's one MemberOfGroup filter covers every room list of
the tenant (200 rooms are three lists) with one assignment to check, while -RecipientGroupScope takes one group per
assignment. Get-ManagementScope answers the filter as RecipientFilter, which is compared by the groups it names.

Assignments are found by role and matched to the app here: -RoleAssignee is documented for users, groups and
policies, not service principals. Microsoft applies any change (new assignment, changed scope) to mailbox access
30 minutes to 2 hours later; the result records when access last changed, for verification to wait on."""

import re
import time
from contextlib import suppress
from typing import Any

from tenants.models import Tenant
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.microsoft import connector_clients
from wizard.microsoft.errors import NotFound
from wizard.outcomes import Done, Outcome, StepContext
from wizard.powershell import member_of_group_filter, quote
from wizard.services.common import required_result, step_result

STEP_ID = "scoped_access"
ROLE = "Application Calendars.ReadWrite"
# Exchange application roles that open calendars: any other assignment of them to the app widens its reach.
CALENDAR_ROLES = ("Application Calendars.ReadWrite", "Application Calendars.Read")
SCOPE_NAME = "Onramp rooms of {name}"
# Microsoft Graph application roles that open every mailbox's calendar (Graph permissions reference).
TENANT_WIDE_CALENDAR_ROLES = {
    "ef54d2bf-783f-4e0f-bca1-3210c0444d99": "Calendars.ReadWrite",
    "798ee544-9d2d-430c-a058-570e29e34338": "Calendars.Read",
}
_MEMBER_OF_GROUP = re.compile(r"MemberOfGroup\s+-eq\s+'((?:[^']|'')*)'", re.IGNORECASE)


def room_list_dns(tenant: Tenant) -> list[str]:
    """The distinguished names of every room list Onramp manages for this tenant, first list first."""
    lists = step_result(tenant, "rooms").get("lists") or []
    dns = [entry["dn"] for entry in lists if entry.get("dn")]
    first = step_result(tenant, "room_list").get("dn")
    if first and first not in dns:
        dns.insert(0, first)
    if not dns:
        required_result(tenant, "rooms", "lists", "Rooms")
    return dns


def filter_dns(recipient_filter: str) -> set[str]:
    """The groups a MemberOfGroup filter names, compared without case: Exchange may rewrite the filter's text."""
    return {dn.replace("''", "'").lower() for dn in _MEMBER_OF_GROUP.findall(recipient_filter or "")}


def scope_name(tenant: Tenant) -> str:
    return SCOPE_NAME.format(name=step_result(tenant, "room_list").get("name") or tenant.slug)


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    app_id = tenant.integration_app_id
    if not app_id:
        raise StepError(
            code="integration_app_missing",
            message="The integration's application id is not set.",
            fix="Enter the integration's application (client) id in step 0, then run this step.",
        )
    dns = room_list_dns(tenant)
    name = scope_name(tenant)
    recipient_filter = member_of_group_filter(dns)
    with connector_clients(tenant) as ms:
        ctx.progress(10, "Looking up the integration's app in Entra ID")
        entra_sp = _entra_service_principal(ms.graph, app_id)
        ctx.progress(25, "Ensuring its Exchange service principal")
        exchange_sp = _ensure_exchange_service_principal(ctx, ms.exchange, app_id, entra_sp)
        ctx.progress(50, f"Ensuring the management scope over {len(dns)} room list(s)")
        scope_written = _ensure_scope(ctx, ms.exchange, name, recipient_filter, dns)
        ctx.progress(75, f"Ensuring the {ROLE} assignment")
        app_identities = _app_identities(app_id, entra_sp, exchange_sp)
        assignment, assignment_created = _ensure_assignment(ctx, ms.exchange, app_identities, app_id, name)
        ctx.progress(90, "Checking the app's permissions in Entra ID")
        tenant_wide = tenant_wide_calendar_roles(ms.graph, entra_sp["id"])
    result = {
        "app_id": app_id,
        "service_principal_object_id": entra_sp["id"],
        "exchange_service_principal": exchange_sp.get("Identity") or exchange_sp.get("ObjectId", ""),
        "scope_name": name,
        "filter": recipient_filter,
        "room_list_dns": dns,
        "role": ROLE,
        "role_assignment": assignment.get("Name", ""),
        "tenant_wide_calendar_roles": tenant_wide,
        "access_changed_at": time.time()
        if scope_written or assignment_created
        else ctx.previous_result.get("access_changed_at"),
    }
    if tenant_wide:
        raise tenant_wide_grant_error(app_id, entra_sp.get("displayName") or app_id, tenant_wide, result)
    return Done(result)


def _entra_service_principal(graph, app_id: str) -> dict[str, Any]:
    odata_literal = app_id.replace("'", "''")
    found = graph.get(
        "/servicePrincipals", {"$filter": f"appId eq '{odata_literal}'", "$select": "id,appId,displayName"}
    )
    principals = found.get("value", [])
    if not principals:
        raise StepError(
            code="integration_app_not_in_tenant",
            message=f"The app {app_id} has no service principal (enterprise application) in this tenant.",
            explanation="The integration's app must be consented to in this organisation before Exchange can "
            "grant it access.",
            fix="Complete the integration's own admin-consent link (its vendor provides it), or check the app id "
            "entered in step 0; then run this step again.",
        )
    return principals[0]


def _ensure_exchange_service_principal(ctx: StepContext, exchange, app_id: str, entra_sp: dict) -> dict[str, Any]:
    with suppress(NotFound):
        return exchange.invoke_one("Get-ServicePrincipal", Identity=app_id) or {}
    created = exchange.invoke_one(
        "New-ServicePrincipal",
        AppId=app_id,
        ObjectId=entra_sp["id"],
        DisplayName=entra_sp.get("displayName") or app_id,
    )
    record_event(ctx.tenant, ctx.actor, "new_service_principal", "succeeded", STEP_ID, {"app_id": app_id})
    return created or {}


def scope_filter(scope: dict[str, Any]) -> str:
    """The scope's filter as Get-ManagementScope answers it: in RecipientFilter (set with -RecipientRestrictionFilter,
    Get-ManagementScope reference)."""
    return str(scope.get("RecipientFilter") or scope.get("RecipientRestrictionFilter") or "")


def _ensure_scope(ctx: StepContext, exchange, name: str, recipient_filter: str, dns: list[str]) -> bool:
    """Create or update the scope; True when it was written."""
    try:
        scope = exchange.invoke_one("Get-ManagementScope", Identity=name)
    except NotFound:
        exchange.invoke("New-ManagementScope", Name=name, RecipientRestrictionFilter=recipient_filter)
        record_event(ctx.tenant, ctx.actor, "new_management_scope", "succeeded", STEP_ID, {"lists": len(dns)})
        return True
    if filter_dns(scope_filter(scope or {})) == {dn.lower() for dn in dns}:
        return False
    # The tenant's lists changed since the scope was written: one scope always covers all of them.
    exchange.invoke("Set-ManagementScope", Identity=name, RecipientRestrictionFilter=recipient_filter)
    record_event(ctx.tenant, ctx.actor, "set_management_scope", "succeeded", STEP_ID, {"lists": len(dns)})
    return True


def _app_identities(app_id: str, entra_sp: dict[str, Any], exchange_sp: dict[str, Any]) -> set[str]:
    """The names an assignment may carry for the app: its app id, its Entra object id, its Exchange service
    principal's identity and name. Which one Exchange puts in RoleAssigneeName is unconfirmed, so display names count
    too: a namesake app can only make the step stop and report, never grant more."""
    values = [app_id, entra_sp.get("id"), entra_sp.get("displayName")]
    values += [exchange_sp.get(key) for key in ("Identity", "ObjectId", "Name", "AppId", "DisplayName", "Id")]
    return {str(value).lower() for value in values if value}


def assignments_of_app(exchange, app_identities: set[str]) -> list[dict[str, Any]]:
    """Every assignment of a calendar role to the app, read by role and matched by the assignee's identity."""
    found = []
    for role in CALENDAR_ROLES:
        found += assigned_to(exchange.invoke("Get-ManagementRoleAssignment", Role=role), app_identities)
    return found


def assigned_to(assignments: list[dict[str, Any]], app_identities: set[str]) -> list[dict[str, Any]]:
    """The assignments whose assignee (App, RoleAssigneeName or RoleAssignee) is one of the app's identities."""
    return [
        assignment
        for assignment in assignments
        if {str(assignment.get(key) or "").lower() for key in ("App", "RoleAssigneeName", "RoleAssignee")}
        & app_identities
    ]


def _ours(assignment: dict[str, Any], name: str) -> bool:
    return assignment.get("Role") == ROLE and (assignment.get("CustomResourceScope") or "").lower() == name.lower()


def wider_assignments_error(others: list[dict[str, Any]]) -> StepError:
    names = ", ".join(
        f"{a.get('Name', '?')} ({a.get('Role', '?')}, scope {a.get('CustomResourceScope') or 'none'})" for a in others
    )
    return StepError(
        code="other_role_assignment",
        message=f"The app also holds calendar access through {names}.",
        explanation="Exchange adds every assignment's scope together, so another calendar assignment widens the "
        "app's reach beyond the room lists.",
        fix="Remove it with Remove-ManagementRoleAssignment -Identity "
        f"{quote(others[0].get('Name', ''))}, then run this step again.",
        extra={"other_assignments": [a.get("Name", "") for a in others]},
    )


def _ensure_assignment(
    ctx: StepContext, exchange, app_identities: set[str], app_id: str, name: str
) -> tuple[dict[str, Any], bool]:
    """Our assignment, and whether it was created now."""
    assignments = assignments_of_app(exchange, app_identities)
    others = [assignment for assignment in assignments if not _ours(assignment, name)]
    if others:
        raise wider_assignments_error(others)
    if assignments:
        return assignments[0], False
    created = exchange.invoke_one("New-ManagementRoleAssignment", App=app_id, Role=ROLE, CustomResourceScope=name)
    record_event(ctx.tenant, ctx.actor, "new_role_assignment", "succeeded", STEP_ID, {"role": ROLE})
    return created or {}, True


def tenant_wide_calendar_roles(graph, service_principal_id: str) -> list[str]:
    """The Graph calendar roles the app holds tenant-wide (granted in Entra ID, not limited by any scope)."""
    assignments = graph.get_all(f"/servicePrincipals/{service_principal_id}/appRoleAssignments")
    return sorted(
        {
            TENANT_WIDE_CALENDAR_ROLES[a["appRoleId"]]
            for a in assignments
            if a.get("appRoleId") in TENANT_WIDE_CALENDAR_ROLES
        }
    )


def tenant_wide_grant_error(app_id: str, app_name: str, roles: list[str], result: dict[str, Any]) -> StepError:
    return StepError(
        code="tenant_wide_calendar_access",
        message=f"{app_name} has tenant-wide {', '.join(roles)} in Entra ID, so the room scope does not limit it.",
        explanation="Permissions granted in Entra ID are added to Exchange RBAC grants: with a tenant-wide "
        "Calendars permission the app can open every mailbox's calendar, whatever the management scope says. "
        "The scope and the role assignment are in place; they take effect alone once the grant is removed.",
        fix=f"In the Microsoft Entra admin center open Enterprise applications → {app_name} ({app_id}) → "
        f"Permissions, and revoke the Microsoft Graph application permission(s) {', '.join(roles)} (or run "
        "Remove-MgServicePrincipalAppRoleAssignment for them). Then run this step again.",
        extra={"tenant_wide_calendar_roles": roles, "result": result},
    )


def verify(ctx: StepContext) -> dict[str, Any]:
    """The scope still names every list, the assignment still uses it, and no tenant-wide grant appeared."""
    result = ctx.state.result
    identities = {
        str(value).lower()
        for value in (result["app_id"], result["service_principal_object_id"], result["exchange_service_principal"])
        if value
    }
    with connector_clients(ctx.tenant) as ms:
        scope = ms.exchange.invoke_one("Get-ManagementScope", Identity=result["scope_name"]) or {}
        assignments = assignments_of_app(ms.exchange, identities)
        tenant_wide = tenant_wide_calendar_roles(ms.graph, result["service_principal_object_id"])
    if filter_dns(scope_filter(scope)) != {dn.lower() for dn in room_list_dns(ctx.tenant)}:
        raise StepError(
            code="scope_out_of_date",
            message=f"The scope {result['scope_name']} does not cover exactly the tenant's room lists.",
            fix="Run this step again to update it.",
        )
    if not any(_ours(a, result["scope_name"]) for a in assignments):
        raise StepError(
            code="role_assignment_missing", message=f"The {ROLE} assignment is missing.", fix="Run this step again."
        )
    others = [a for a in assignments if not _ours(a, result["scope_name"])]
    if others:
        raise wider_assignments_error(others)
    if tenant_wide:
        raise tenant_wide_grant_error(result["app_id"], result["app_id"], tenant_wide, result)
    return {"scope_verified": True}
