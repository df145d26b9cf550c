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

from django.utils.translation import gettext_noop

from tenants.models import Tenant
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.microsoft.errors import ExchangeCmdletError, NotFound
from wizard.outcomes import Done, Outcome, StepContext, Wait
from wizard.powershell import member_of_group_filter
from wizard.services import grants
from wizard.services.common import poll_delay, required_result, result_of, saved_result
from wizard.services.connector import connector_clients
from wizard.steps.exchange_online.room_list.result import RoomListResult
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.scoped_access.result import ScopedAccessResult

STEP_ID = "scoped_access"
ROLE = "Application Calendars.ReadWrite"
SCOPE_NAME = "Onramp rooms of {name}"
# Public captures show Exchange refusing scopes and assignments as "dehydrated" for about 30 minutes after
# IsDehydrated already reads False (sandbox/WIRE.md [I17]); past this, waiting longer will not help.
HYDRATION_TIMEOUT_SECONDS = 2 * 3600
_MEMBER_OF_GROUP = re.compile(r"MemberOfGroup\s+-eq\s+'((?:[^']|'')*)'", re.IGNORECASE)


def room_list_dns(tenant: Tenant) -> list[str]:
    """The distinguished names of every room list Onramp manages for this tenant, first list first."""
    rooms, room_list = result_of(tenant, RoomsResult), result_of(tenant, RoomListResult)
    dns = [entry.dn for entry in rooms.lists if entry.dn] if rooms is not None else []
    first = room_list.dn if room_list is not None else ""
    if first and first not in dns:
        dns.insert(0, first)
    if not dns:
        required_result(tenant, RoomsResult, "lists", "Rooms")
        # The lists exist, but the admin created them (Tenant.exchange_writes), so Onramp never read their DNs.
        raise StepError(
            code="room_list_dns_unknown",
            message=gettext_noop("Onramp does not know the room lists' distinguished names."),
            explanation=gettext_noop(
                "The room lists were created by your own commands while you made the Exchange changes, so"
                " Onramp never read them from Exchange."
            ),
            fix=gettext_noop(
                "Run “Room list” and “Rooms” again: Onramp adopts the lists as they are and reads their names."
            ),
        )
    return dns


def filter_dns(recipient_filter: str) -> set[str]:
    """The groups a MemberOfGroup filter names, compared without case: Exchange may rewrite the filter's text."""
    return {dn.replace("''", "'").lower() for dn in _MEMBER_OF_GROUP.findall(recipient_filter or "")}


def only_groups(recipient_filter: str) -> bool:
    """Whether the filter is nothing but MemberOfGroup clauses joined by -or: any other clause (a recipient type, an
    address) would widen the scope beyond the lists' members."""
    rest = _MEMBER_OF_GROUP.sub("", recipient_filter or "")
    return not re.sub(r"(?i)-or|[()\s]", "", rest)


def scope_name(tenant: Tenant) -> str:
    room_list = result_of(tenant, RoomListResult)
    return SCOPE_NAME.format(name=(room_list.name if room_list is not None else "") or tenant.slug)


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    app_id = tenant.integration_app_id
    if not app_id:
        raise StepError(
            code="integration_app_missing",
            message=gettext_noop("The integration's application id is not set."),
            fix=gettext_noop("Enter the integration's application (client) id in step 0, then run this step."),
        )
    try:
        return _grant_scoped_access(ctx, app_id)
    except ExchangeCmdletError as error:
        if not error.is_refused_as_dehydrated:
            raise
        return _wait_for_customisation_to_reach_rbac(ctx, error)


def _wait_for_customisation_to_reach_rbac(ctx: StepContext, error: ExchangeCmdletError) -> Outcome:
    refused_since = ctx.previous_result.get("refused_as_dehydrated_since") or time.time()
    waited = time.time() - refused_since
    if waited > HYDRATION_TIMEOUT_SECONDS:
        raise error
    return Wait(
        seconds=poll_delay(waited, longest=120),
        waiting_for="Exchange Online to let the organisation hold management scopes: it still refuses them as not"
        " customised (dehydrated), which can last about 30 minutes after customisation even though IsDehydrated"
        " already reads False",
        result={"refused_as_dehydrated_since": refused_since},
    )


def _grant_scoped_access(ctx: StepContext, app_id: str) -> Outcome:
    tenant = ctx.tenant
    dns = room_list_dns(tenant)
    name = scope_name(tenant)
    recipient_filter = member_of_group_filter(dns)
    with connector_clients(tenant) as ms:
        ctx.progress(10, "Looking up the integration's app in Entra ID")
        entra_sp = entra_service_principal(ms.graph, app_id)
        ctx.progress(25, "Ensuring its Exchange service principal")
        exchange_sp = _ensure_exchange_service_principal(ctx, ms.exchange, app_id, entra_sp)
        ctx.progress(50, f"Ensuring the management scope over {len(dns)} room list(s)")
        scope_written = _ensure_scope(ctx, ms.exchange, name, recipient_filter, dns)
        app_identities = _app_identities(app_id, entra_sp, exchange_sp)
        assignees = _role_assignees(app_id, entra_sp["id"], exchange_sp.get("Identity") or exchange_sp.get("ObjectId"))
        ctx.progress(65, "Checking every grant the app holds in Entra ID and Exchange")
        found = audit_grants(
            ms, app_id, entra_sp["id"], entra_sp.get("displayName") or app_id, app_identities, assignees, name
        )
        others = [f for f in found["widening"] if f["kind"] == "rbac_assignment"]
        if others:
            raise wider_access_error("other_role_assignment", others, {})
        ctx.progress(80, f"Ensuring the {ROLE} assignment")
        assignment, assignment_created = _ensure_assignment(ctx, ms.exchange, found["own_assignments"], app_id, name)
    entra_roles = sorted({f["permission"] for f in found["widening"] if f["kind"] == "entra_app_role"})
    result = {
        "app_id": app_id,
        "service_principal_object_id": entra_sp["id"],
        "exchange_service_principal": exchange_sp.get("Identity") or exchange_sp.get("ObjectId", ""),
        "scope_name": name,
        "filter": recipient_filter,
        "room_list_dns": dns,
        "role": ROLE,
        "role_assignment": assignment.get("Name", ""),
        "tenant_wide_calendar_roles": entra_roles,
        "grants": {key: found[key] for key in ("findings", "checks")},
        "access_changed_at": time.time()
        if scope_written or assignment_created
        else ctx.previous_result.get("access_changed_at"),
    }
    if found["widening"]:
        raise wider_access_error("tenant_wide_calendar_access", found["widening"], result)
    return Done(result)


def audit_grants(
    ms,
    app_id: str,
    service_principal_id: str,
    app_name: str,
    app_identities: set[str],
    role_assignees: list[str],
    scope: str,
) -> dict[str, Any]:
    """Every grant of the app beyond Onramp's own scoped assignment (wizard.services.grants)."""
    return grants.audit(
        ms.graph,
        ms.exchange,
        app_id=app_id,
        service_principal_id=service_principal_id,
        app_name=app_name,
        app_identities=app_identities,
        role_assignees=role_assignees,
        scope_name=scope,
        is_ours=lambda assignment: _ours(assignment, scope),
    )


def audit_from_result(ms, result: ScopedAccessResult) -> dict[str, Any]:
    """The same audit for a finished step, from the identities it recorded."""
    identities = {
        str(value).lower()
        for value in (result.app_id, result.service_principal_object_id, result.exchange_service_principal)
        if value
    }
    assignees = _role_assignees(result.app_id, result.service_principal_object_id, result.exchange_service_principal)
    return audit_grants(
        ms, result.app_id, result.service_principal_object_id, result.app_id, identities, assignees, result.scope_name
    )


def _role_assignees(app_id: str, entra_object_id: str | None, exchange_identity: str | None) -> list[str]:
    """What `Get-ManagementRoleAssignment -RoleAssignee` is given for the app, in order: its Exchange service
    principal's identity, then the Entra object id it points to (the ObjectId public scripts pass), then the app id."""
    return [value for value in (exchange_identity, entra_object_id, app_id) if value]


def entra_service_principal(graph, app_id: str) -> dict[str, Any]:
    odata_literal = app_id.replace("'", "''")
    found = graph.get(
        "/servicePrincipals", {"$filter": f"appId eq '{odata_literal}'", "$select": "id,appId,displayName"}
    )
    principals = found.get("value", [])
    if not principals:
        raise StepError(
            code="integration_app_not_in_tenant",
            message=f"The app {app_id} has no service principal (enterprise application) in this tenant.",
            explanation=gettext_noop(
                "The integration's app must be consented to in this organisation before Exchange can grant it access."
            ),
            fix=gettext_noop(
                "Complete the integration's own admin-consent link (its vendor provides it), or check the app id "
                "entered in step 0; then run this step again."
            ),
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


def _ours(assignment: dict[str, Any], name: str) -> bool:
    return assignment.get("Role") == ROLE and (assignment.get("CustomResourceScope") or "").lower() == name.lower()


def wider_access_error(code: str, findings: list[dict[str, Any]], result: dict[str, Any]) -> StepError:
    """Every grant beyond the room scope, each with its own fix. Entra grants come first: they defeat any scope."""
    if code == "tenant_wide_calendar_access":
        explanation = (
            "Permissions granted in Entra ID are added to Exchange RBAC grants: with a tenant-wide mailbox permission "
            "the app can open every mailbox, whatever the management scope says. The scope and the role assignment "
            "are in place; they take effect alone once the wider grants are removed."
        )
    else:
        explanation = (
            "Exchange adds every assignment's scope together, so another assignment widens the app's reach beyond "
            "the room lists."
        )
    return StepError(
        code=code,
        message=f"The integration's app can reach more than the rooms: {grants.describe(findings)}.",
        explanation=explanation + " " + " ".join(f["why"] for f in findings),
        fix=" ".join(f"{index}. {f['fix']}" for index, f in enumerate(findings, start=1))
        + " Then run this step again.",
        extra={
            "findings": findings,
            "other_assignments": [f["what"] for f in findings if f["kind"] == "rbac_assignment"],
            "tenant_wide_calendar_roles": sorted({f["permission"] for f in findings if f["kind"] == "entra_app_role"}),
            "result": result,
        },
    )


def _ensure_assignment(
    ctx: StepContext, exchange, ours: list[dict[str, Any]], app_id: str, name: str
) -> tuple[dict[str, Any], bool]:
    """Our assignment, and whether it was created now."""
    if ours:
        return ours[0], False
    created = exchange.invoke_one("New-ManagementRoleAssignment", App=app_id, Role=ROLE, CustomResourceScope=name)
    record_event(ctx.tenant, ctx.actor, "new_role_assignment", "succeeded", STEP_ID, {"role": ROLE})
    return created or {}, True


def verify(ctx: StepContext) -> dict[str, Any]:
    """The scope still names exactly the tenant's lists, the assignment still uses it, and no wider grant appeared."""
    result = saved_result(ctx.state, ScopedAccessResult, "scope_name")
    with connector_clients(ctx.tenant) as ms:
        scope = ms.exchange.invoke_one("Get-ManagementScope", Identity=result.scope_name) or {}
        found = audit_from_result(ms, result)
    recipient_filter = scope_filter(scope)
    if filter_dns(recipient_filter) != {dn.lower() for dn in room_list_dns(ctx.tenant)} or not only_groups(
        recipient_filter
    ):
        raise StepError(
            code="scope_out_of_date",
            message=f"The scope {result.scope_name} does not cover exactly the tenant's room lists: "
            f"{recipient_filter or 'no filter'}.",
            fix=gettext_noop("Run this step again to update it."),
        )
    if not found["own_assignments"]:
        raise StepError(
            code="role_assignment_missing",
            message=f"The {ROLE} assignment is missing.",
            fix=gettext_noop("Run this step again."),
        )
    if found["widening"]:
        entra = any(f["kind"] == "entra_app_role" for f in found["widening"])
        code = "tenant_wide_calendar_access" if entra else "other_role_assignment"
        raise wider_access_error(code, found["widening"], ctx.state.result)
    return {"scope_verified": True, "grants": {key: found[key] for key in ("findings", "checks")}}
