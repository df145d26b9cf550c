"""Step 6: verify. For every room: Exchange says the integration's app is in scope for it
(Test-ServicePrincipalAuthorization), and, when the integration's secret is known, the app really opens its
calendar through Graph. A control mailbox that is not a room must be out of scope. The scoped lists must hold only
the rooms Onramp placed (a person in a list is a mailbox the integration can open), and the app must hold no grant
beyond the room scope (wizard.services.grants): those checks never need the integration's secret, and every check
that could not run is named with why. Rooms added to the tenant but in no list, and rooms that disappeared, are
reported as drift. A room list the integration cannot see in Places yet is a warning (wizard.services.places), not a
failure. Results go on the Room rows, for the per-room table."""

import datetime as dt
import time
from typing import Any
from urllib.parse import quote

from django.db import transaction

from tenants.models import SecretKind, Tenant
from tenants.secrets import has_secret
from wizard.errors import StepError
from wizard.microsoft import connector_clients, integration_clients, parallel
from wizard.microsoft.errors import NotFound, PermissionMissing
from wizard.microsoft.ews import BearerAuth, EwsClient
from wizard.models import MembershipStatus, Room, StepState, VerificationStatus
from wizard.outcomes import Done, Outcome, StepContext, Wait
from wizard.services.common import poll_delay, required_result, step_result
from wizard.services.grants import describe
from wizard.services.places import room_lists_in_places
from wizard.services.room_list import RESOURCE_TYPES, describe_members, member_summary
from wizard.services.rooms import CONCURRENT_CALLS, ROOM_MAILBOX
from wizard.services.scoped_access import ROLE, audit_from_result, room_list_dns

NO_SECRET = (
    "the integration's client secret is not stored in Onramp, so Onramp cannot sign in as the integration to read "
    "calendars; its grants and role assignments were checked instead. Enter the secret in step 0 to add this check."
)

# RBAC for Applications caches permissions for 30 minutes to 2 hours after any change (a new assignment, a changed
# scope, new members of a scoped list), while Test-ServicePrincipalAuthorization already reports the change:
# calendar refusals of in-scope rooms in that window are waited out.
RBAC_PROPAGATION_SECONDS = 2 * 3600


def _in_scope(exchange, app_id: str, mailbox: str) -> bool | None:
    """True/False as Exchange evaluates the app's role for this mailbox; None when the mailbox does not exist."""
    try:
        rows = exchange.invoke("Test-ServicePrincipalAuthorization", Identity=app_id, Resource=mailbox)
    except NotFound:
        return None
    return any(row.get("RoleName") == ROLE and row.get("InScope") is True for row in rows)


def _calendar_reads(tenant: Tenant, addresses: list[str]) -> dict[str, str]:
    """For each mailbox, '' when the integration's app opened its calendar, else why not."""
    with integration_clients(tenant) as app:
        answers = app.graph.batch(
            [
                {"method": "GET", "url": f"/users/{quote(address, safe='@')}/calendar?$select=id"}
                for address in addresses
            ]
        )
    reasons = {}
    for address, answer in zip(addresses, answers, strict=True):
        if answer.ok:
            reasons[address] = ""
        elif isinstance(answer.error, PermissionMissing):
            reasons[address] = "The integration's app was refused the calendar (ErrorAccessDenied)."
        else:
            reasons[address] = f"Calendar read failed: {answer.error.code}: {answer.error.message}"
    return reasons


def _ews_control_read(tenant: Tenant, control: str) -> str:
    """'' when the integration's app opened the control mailbox's calendar over EWS, else why not. EWS ignores Graph
    permissions: full_access_as_app or an Application EWS.AccessAsApp assignment is what opens a mailbox there."""
    with integration_clients(tenant) as app:
        client = EwsClient(
            app.endpoints.ews_url,
            app.session,
            BearerAuth(lambda: app.credentials.token(app.endpoints.exchange_scope)),
            tenant.microsoft_tenant_id or f"onramp:{tenant.slug}",
        )
        access = client.calendar_access(control)
    return "" if access.opened else access.reason


def _ews_check(tenant: Tenant, control: str, secret: bool) -> tuple[dict[str, Any], bool]:
    """The EWS negative control, run where EWS is open to the integration's app: (the check, control opened)."""
    if not secret:
        return {"name": "ews_control_read", "ran": False, "detail": NO_SECRET}, False
    if not step_result(tenant, "org_customization").get("integration_ews_now"):
        detail = "EWS is blocked for the integration's app (step 1), so it cannot reach any mailbox that way."
        return {"name": "ews_control_read", "ran": False, "detail": detail}, False
    reason = _ews_control_read(tenant, control)
    return {"name": "ews_control_read", "ran": True, "detail": reason or "opened"}, reason == ""


def scoped_members(exchange, dns: list[str]) -> dict[str, dict[str, str]]:
    """Every member of the scoped room lists, by address: exactly what the scope's MemberOfGroup clauses reach."""
    members: dict[str, dict[str, str]] = {}
    for dn in dns:
        for member in exchange.invoke("Get-DistributionGroupMember", Identity=dn, ResultSize="Unlimited"):
            summary = member_summary(member)
            members[summary["address"]] = summary
    return members


def scope_problems(members: dict[str, dict[str, str]], placed: set[str]) -> dict[str, list]:
    """What the scoped lists hold beyond the rooms Onramp placed: people (or any recipient that is not a room or
    equipment mailbox), and rooms nobody chose."""
    return {
        "non_room_members": [m for address, m in sorted(members.items()) if m["type"] not in RESOURCE_TYPES],
        "unplaced_rooms": sorted(
            address for address, m in members.items() if m["type"] in RESOURCE_TYPES and address not in placed
        ),
    }


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    app_id = required_result(tenant, "scoped_access", "app_id", "Scoped access")
    control = (ctx.inputs.get("control_mailbox") or "").lower() or required_result(
        tenant, "service_account", "user_principal_name", "Service account"
    )
    rooms = list(Room.objects.filter(tenant=tenant).exclude(membership_status=MembershipStatus.PENDING))
    addresses = [room.address for room in rooms]
    total = len(addresses) + 1
    checked = 0
    scope: dict[str, bool | None] = {}
    with connector_clients(tenant) as ms:
        ctx.progress(2, "Reading the members of the scoped room lists")
        in_scope = scope_problems(scoped_members(ms.exchange, room_list_dns(tenant)), set(addresses))
        ctx.progress(3, "Checking every grant the integration's app holds in Entra ID and Exchange")
        found = audit_from_result(ms, step_result(tenant, "scoped_access"))
        ctx.progress(4, "Reading the tenant's room mailboxes")
        directory = {
            mailbox["PrimarySmtpAddress"].lower()
            for mailbox in ms.exchange.invoke("Get-Mailbox", RecipientTypeDetails=ROOM_MAILBOX, ResultSize="Unlimited")
        }

        def done(outcome) -> None:
            nonlocal checked
            scope[outcome.item] = outcome.result()
            checked += 1
            if checked % 10 == 0 or checked == total:
                ctx.progress(5 + int(75 * checked / total), f"Checked the scope of {checked} of {total} mailboxes")

        parallel(
            lambda address: _in_scope(ms.exchange, app_id, address),
            [*addresses, control],
            max_workers=CONCURRENT_CALLS,
            on_done=done,
        )
    calendar: dict[str, str] = {}
    checks = list(found["checks"])
    secret = has_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET)
    ews_check, ews_opened = _ews_check(tenant, control, secret)
    checks.append(ews_check)
    if secret:
        ctx.progress(85, "Reading calendars as the integration")
        calendar = _calendar_reads(tenant, [*addresses, control])
        checks.append({"name": "calendar_read", "ran": True, "detail": ""})
        ctx.progress(95, "Looking for the room lists in Places, as the integration")
        places = room_lists_in_places(tenant, step_result(tenant, "rooms").get("lists") or [])
    else:
        checks.append({"name": "calendar_read", "ran": False, "detail": NO_SECRET})
        places = {"checked": False, "detail": NO_SECRET, "lists": [], "warnings": []}
    if scope[control] is None:
        raise StepError(
            code="control_mailbox_missing",
            message=f"The control mailbox {control} does not exist.",
            explanation="Verification proves the scope by showing that a mailbox which is not a room stays out of "
            "reach; it needs an existing mailbox for that.",
            fix="Enter the address of an existing user mailbox as the control mailbox, or leave it empty to use "
            "the service account's.",
        )
    grants = {"findings": found["findings"], "widening": found["widening"], "checks": checks, "ews": ews_opened}
    return _report(ctx, rooms, scope, calendar, control, directory, in_scope, grants, places)


def _room_verdict(address: str, scope: bool | None, calendar_reason: str | None) -> str:
    """'' when the room passes, else the reason it fails."""
    if scope is None:
        return "The mailbox no longer exists in the tenant."
    if not scope:
        return f"Not in the scope of {ROLE}: the room is not a member of any room list the scope names."
    return calendar_reason or ""


def _report(
    ctx: StepContext,
    rooms: list[Room],
    scope: dict[str, bool | None],
    calendar: dict[str, str],
    control: str,
    directory: set[str],
    in_scope: dict[str, list],
    grants: dict[str, Any],
    places: dict[str, Any],
) -> Outcome:
    failed = []
    for room in rooms:
        reason = _room_verdict(room.address, scope[room.address], calendar.get(room.address))
        room.verification_status = VerificationStatus.FAIL if reason else VerificationStatus.PASS
        room.reason = reason[:500]
        if reason:
            failed.append({"address": room.address, "reason": reason})
    with transaction.atomic():
        Room.objects.bulk_update(rooms, ["verification_status", "reason", "updated_at"], batch_size=500)
    listed = {room.address for room in rooms}
    control_in_scope = bool(scope.get(control))
    control_calendar_opened = calendar.get(control) == ""
    result = {
        "rooms_checked": len(rooms),
        "rooms_passed": len(rooms) - len(failed),
        "rooms_failed": len(failed),
        "failures": failed[:200],
        "control_mailbox": control,
        "control_out_of_scope": not control_in_scope and not control_calendar_opened and not grants["ews"],
        "control_opened_over_ews": grants["ews"],
        "calendar_checked": bool(calendar),
        "grants": grants["findings"],
        "checks": grants["checks"],
        "checks_not_run": [f"{c['name']}: {c['detail']}" for c in grants["checks"] if not c["ran"]],
        "scope_holds_only_rooms": not in_scope["non_room_members"],
        "places": places,
        "warnings": places["warnings"],
        **in_scope,
        "drift": {
            "unlisted_rooms": sorted(directory - listed),
            "gone_rooms": sorted(address for address in listed if scope.get(address) is None),
        },
    }
    propagation = _waiting_for_propagation(ctx.tenant, rooms, scope, calendar, failed, result)
    if propagation is not None:
        return propagation
    widening = grants["widening"]
    if (
        failed
        or not result["control_out_of_scope"]
        or in_scope["non_room_members"]
        or in_scope["unplaced_rooms"]
        or widening
    ):
        problems = []
        if widening:
            problems.append("the integration's app holds wider grants: " + describe(widening))
        if in_scope["non_room_members"]:
            problems.append(
                "the room lists hold members that are not rooms, so the integration can open their calendars: "
                + describe_members(in_scope["non_room_members"])
            )
        if in_scope["unplaced_rooms"]:
            problems.append(
                f"{len(in_scope['unplaced_rooms'])} room(s) in the room lists were not chosen: "
                + ", ".join(in_scope["unplaced_rooms"][:20])
            )
        if failed:
            problems.append(f"{len(failed)} of {len(rooms)} room(s) failed")
        if control_in_scope:
            problems.append(f"the control mailbox {control} is in scope")
        elif control_calendar_opened:
            problems.append(f"the integration opened the calendar of the control mailbox {control}")
        if grants["ews"]:
            problems.append(f"the integration opened the calendar of the control mailbox {control} over EWS")
        raise StepError(
            code="verification_failed",
            message="Verification failed: " + "; ".join(problems) + ".",
            explanation=" ".join(f["why"] for f in widening)
            + " Each failing room has its reason in the room table. A control mailbox within reach means "
            "the integration can open mailboxes that are not rooms.",
            fix="".join(f"{f['fix']} " for f in widening)
            + "Run “Rooms” and “Scoped access” again for rooms outside the scope; for a control mailbox within "
            "reach, check the app's permissions in Entra ID and its other Exchange role assignments; remove members "
            "that are not rooms with Remove-DistributionGroupMember -Identity <list> -Member <address> "
            "-BypassSecurityGroupManagerCheck, and rooms nobody chose the same way or by choosing them in “Rooms”.",
            extra={"result": result},
        )
    return Done(result)


def _waiting_for_propagation(
    tenant: Tenant,
    rooms: list[Room],
    scope: dict[str, bool | None],
    calendar: dict[str, str],
    failed: list[dict[str, str]],
    result: dict,
) -> Wait | None:
    """A Wait when the only failures are calendar refusals of rooms Exchange already reports in scope, and the
    access was granted recently enough that Microsoft may still be applying it."""
    if (
        not failed
        or not result["control_out_of_scope"]
        or result["non_room_members"]
        or result["unplaced_rooms"]
        or any(f["widens"] for f in result["grants"])
    ):
        return None
    if any(scope.get(entry["address"]) is not True or not calendar.get(entry["address"]) for entry in failed):
        return None
    change = last_access_change(tenant)
    if change is None:
        return None
    what, changed_at = change
    age = time.time() - changed_at
    if age > RBAC_PROPAGATION_SECONDS:
        return None
    since = dt.datetime.fromtimestamp(changed_at, dt.UTC).strftime("%H:%M UTC")
    return Wait(
        seconds=poll_delay(age, first=5, longest=300),
        waiting_for=f"Microsoft to apply {what} (made at {since}) to the integration's access: {len(failed)} of "
        f"{len(rooms)} room(s) are in scope but still refused; RBAC for Applications takes 30 minutes to 2 hours",
        result={**result, "waiting_since": changed_at},
    )


def last_access_change(tenant: Tenant) -> tuple[str, float] | None:
    """The latest change Microsoft's RBAC cache may not have applied yet, as (what, when): the scoped-access step's
    assignment or scope, or new members of the room lists."""
    changes = [
        ("the new role assignment or scope", step_result(tenant, "scoped_access").get("access_changed_at")),
        ("the room lists' new members", step_result(tenant, "rooms").get("members_changed_at")),
    ]
    known = [(what, float(when)) for what, when in changes if when]
    if not known:
        granted = StepState.objects.filter(tenant=tenant, step_id="scoped_access").values_list("finished_at", flat=True)
        granted_at = granted.first()
        return ("the scoped access", granted_at.timestamp()) if granted_at else None
    return max(known, key=lambda change: change[1])
