"""Step 5: scoped access (RBAC for Applications). The integration's app gets an Exchange service principal, one
management scope matching the members of every room list of this tenant, and one `Application
Calendars.ReadWrite` assignment limited to that scope. Access granted in Entra ID is added to RBAC grants, so a
tenant-wide Calendars grant makes the scope meaningless: the step refuses to succeed while one exists."""

import re
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
        _ensure_scope(ctx, ms.exchange, name, recipient_filter, dns)
        ctx.progress(75, f"Ensuring the {ROLE} assignment")
        assignment = _ensure_assignment(ctx, ms.exchange, app_id, name)
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


def _ensure_scope(ctx: StepContext, exchange, name: str, recipient_filter: str, dns: list[str]) -> None:
    try:
        scope = exchange.invoke_one("Get-ManagementScope", Identity=name)
    except NotFound:
        exchange.invoke("New-ManagementScope", Name=name, RecipientRestrictionFilter=recipient_filter)
        record_event(ctx.tenant, ctx.actor, "new_management_scope", "succeeded", STEP_ID, {"lists": len(dns)})
        return
    if filter_dns((scope or {}).get("RecipientRestrictionFilter", "")) != {dn.lower() for dn in dns}:
        # The tenant's lists changed since the scope was written: one scope always covers all of them.
        exchange.invoke("Set-ManagementScope", Identity=name, RecipientRestrictionFilter=recipient_filter)
        record_event(ctx.tenant, ctx.actor, "set_management_scope", "succeeded", STEP_ID, {"lists": len(dns)})


def _ensure_assignment(ctx: StepContext, exchange, app_id: str, name: str) -> dict[str, Any]:
    assignments = exchange.invoke("Get-ManagementRoleAssignment", RoleAssignee=app_id, Role=ROLE)
    for assignment in assignments:
        if (assignment.get("CustomResourceScope") or "").lower() == name.lower():
            return assignment
    if assignments:
        # The app holds the role with another scope (or none): that scope would be added to ours.
        raise StepError(
            code="other_role_assignment",
            message=f"The app already holds {ROLE} through {', '.join(a.get('Name', '?') for a in assignments)}, "
            "with another scope.",
            explanation="Exchange adds every assignment's scope together, so the other one widens the app's reach "
            "beyond the room lists.",
            fix="Remove it with Remove-ManagementRoleAssignment -Identity "
            f"{quote(assignments[0].get('Name', ''))}, then run this step again.",
        )
    created = exchange.invoke_one("New-ManagementRoleAssignment", App=app_id, Role=ROLE, CustomResourceScope=name)
    record_event(ctx.tenant, ctx.actor, "new_role_assignment", "succeeded", STEP_ID, {"role": ROLE})
    return created or {}


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
    with connector_clients(ctx.tenant) as ms:
        scope = ms.exchange.invoke_one("Get-ManagementScope", Identity=result["scope_name"]) or {}
        assignments = ms.exchange.invoke("Get-ManagementRoleAssignment", RoleAssignee=result["app_id"], Role=ROLE)
        tenant_wide = tenant_wide_calendar_roles(ms.graph, result["service_principal_object_id"])
    if filter_dns(scope.get("RecipientRestrictionFilter", "")) != {dn.lower() for dn in room_list_dns(ctx.tenant)}:
        raise StepError(
            code="scope_out_of_date",
            message=f"The scope {result['scope_name']} does not cover exactly the tenant's room lists.",
            fix="Run this step again to update it.",
        )
    if not any((a.get("CustomResourceScope") or "").lower() == result["scope_name"].lower() for a in assignments):
        raise StepError(
            code="role_assignment_missing", message=f"The {ROLE} assignment is missing.", fix="Run this step again."
        )
    if tenant_wide:
        raise tenant_wide_grant_error(result["app_id"], result["app_id"], tenant_wide, result)
    return {"scope_verified": True}
