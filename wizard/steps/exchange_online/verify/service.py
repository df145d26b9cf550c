"""Step 6: verify. When the integration's secret is known, the ground truth is one calendar read per room as the
integration's app (Graph, many mailboxes at once); Exchange admin calls go only to what a read cannot tell: the
room lists' members (once per list), the control mailbox, and, for each room that fails, why
(Test-ServicePrincipalAuthorization). Without the secret, a room is in scope when it is a member of a list the
management scope's filter names (one Get-ManagementScope), and the report says calendars could not be read. A control
mailbox that is not a room must be out of scope. The scoped lists must hold only
the rooms Onramp placed (a person in a list is a mailbox the integration can open), and the app must hold no grant
beyond the room scope (wizard.services.grants): those checks never need the integration's secret, and every check
that could not run is named with why. Rooms added to the tenant but in no list, and rooms that disappeared, are
reported as drift. A room list the integration cannot see in Places yet is a warning (wizard.services.places), not a
failure. Results go on the Room rows, for the per-room table."""

import contextvars
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from tenants.models import SecretKind, Tenant
from tenants.secrets import has_secret
from wizard.errors import StepError
from wizard.microsoft import (
    POOL_SIZE,
    MicrosoftClients,
    integration_clients,
    integration_ews,
    parallel,
)
from wizard.microsoft.errors import NotFound, PermissionMissing
from wizard.microsoft.graph import BATCH_LIMIT
from wizard.models import MembershipStatus, Room, StepState, VerificationStatus
from wizard.outcomes import Done, Outcome, StepContext, Wait
from wizard.services.common import poll_delay, required_result, result_of
from wizard.services.connector import connector_clients
from wizard.services.grants import describe
from wizard.services.places import lists_in_places
from wizard.steps.exchange_online.org_customization.result import OrgCustomizationResult
from wizard.steps.exchange_online.room_list.service import RESOURCE_TYPES, describe_members, member_summary
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.rooms.service import CONCURRENT_CALLS, ROOM_MAILBOX
from wizard.steps.exchange_online.scoped_access.result import ScopedAccessResult
from wizard.steps.exchange_online.scoped_access.service import (
    ROLE,
    audit_from_result,
    filter_dns,
    only_groups,
    room_list_dns,
    scope_filter,
)
from wizard.steps.exchange_online.service_account.result import ServiceAccountResult

NO_SECRET = (
    "the integration's client secret is not stored in Onramp, so Onramp cannot sign in as the integration to read "
    "calendars; its grants and role assignments were checked instead. Enter the secret in step 0 to add this check."
)

# RBAC for Applications caches permissions for 30 minutes to 2 hours after any change (a new assignment, a changed
# scope, new members of a scoped list), while Test-ServicePrincipalAuthorization already reports the change:
# calendar refusals of in-scope rooms in that window are waited out.
RBAC_PROPAGATION_SECONDS = 2 * 3600


# Graph sends up to four requests of a $batch to Outlook at a time, and Outlook allows an app four concurrent
# requests per mailbox (Microsoft Graph throttling limits, Outlook service limits): every request of a verify batch
# names a different mailbox, and this many batches are in flight at once (the HTTP pool's size). A batch is two of
# Graph's turns of four, so the batches in flight finish close together and the last round is not left half empty.
CALENDAR_BATCHES_IN_FLIGHT = POOL_SIZE
CALENDAR_BATCH = 8
# The verify step reads the calendars beside its Exchange reads (exchange_facts: five or more round trips in sequence),
# which take as long as a full batch's five turns: there, full batches cost no time and send fewer than half the
# requests, each of which the worker pays for in CPU (with fifty onboardings at once, that CPU slowed every step).
# A drift check reads the calendars after its Exchange reads, so it keeps the quicker, smaller batches.
CALENDAR_BATCH_BESIDE_EXCHANGE = BATCH_LIMIT


def _in_scope(exchange, app_id: str, mailbox: str) -> bool | None:
    """True/False as Exchange evaluates the app's role for this mailbox; None when the mailbox does not exist."""
    try:
        rows = exchange.invoke("Test-ServicePrincipalAuthorization", Identity=app_id, Resource=mailbox)
    except NotFound:
        return None
    return any(row.get("RoleName") == ROLE and row.get("InScope") is True for row in rows)


def _read_reason(answer) -> str:
    if answer.ok:
        return ""
    if isinstance(answer.error, PermissionMissing):
        return "The integration's app was refused the calendar (ErrorAccessDenied)."
    return f"Calendar read failed: {answer.error.code}: {answer.error.message}"


def calendar_url(address: str) -> str:
    """The Graph request that opens one mailbox's calendar as the integration (Calendars.Read)."""
    return f"/users/{quote(address, safe='@')}/calendar?$select=id"


def read_calendars(
    app: MicrosoftClients,
    addresses: list[str],
    on_read: Callable[[int], None] | None = None,
    batch: int = CALENDAR_BATCH,
) -> dict[str, str]:
    """For each mailbox, '' when `app` (the integration's clients) opened its calendar, else why not: one Graph
    request per mailbox, in $batches of `batch` read in parallel. `on_read(n)` runs in the calling thread as each
    batch of n is read."""
    chunks = [addresses[start : start + batch] for start in range(0, len(addresses), batch)]
    reasons: dict[str, str] = {}

    def read(chunk: list[str]) -> list:
        return app.graph.batch([{"method": "GET", "url": calendar_url(address)} for address in chunk])

    def done(outcome) -> None:
        for address, answer in zip(outcome.item, outcome.result(), strict=True):
            reasons[address] = _read_reason(answer)
        if on_read is not None:
            on_read(len(outcome.item))

    parallel(read, chunks, max_workers=CALENDAR_BATCHES_IN_FLIGHT, on_done=done)
    return reasons


def calendar_reads(
    tenant: Tenant, addresses: list[str], on_read: Callable[[int], None] | None = None
) -> dict[str, str]:
    """`read_calendars` as the tenant's integration app."""
    with integration_clients(tenant) as app:
        return read_calendars(app, addresses, on_read)


def _ews_control_read(tenant: Tenant, control: str) -> str:
    """'' when the integration's app opened the control mailbox's calendar over EWS, else why not. EWS ignores Graph
    permissions: full_access_as_app or an Application EWS.AccessAsApp assignment is what opens a mailbox there."""
    with integration_clients(tenant) as app:
        access = integration_ews(app).calendar_access(control)
    return "" if access.opened else access.reason


def _ews_check(tenant: Tenant, control: str, secret: bool) -> tuple[dict[str, Any], bool]:
    """The EWS negative control, run where EWS is open to the integration's app: (the check, control opened)."""
    if not secret:
        return {"name": "ews_control_read", "ran": False, "detail": NO_SECRET}, False
    org = result_of(tenant, OrgCustomizationResult)
    if org is None or not org.integration_ews_now:
        detail = "EWS is blocked for the integration's app (step 1), so it cannot reach any mailbox that way."
        return {"name": "ews_control_read", "ran": False, "detail": detail}, False
    reason = _ews_control_read(tenant, control)
    return {"name": "ews_control_read", "ran": True, "detail": reason or "opened"}, reason == ""


def list_members(exchange, dns: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """The members of each room list in `dns`, by list and then by address: one Get-DistributionGroupMember per list,
    a few lists at once."""
    outcomes = parallel(
        lambda dn: exchange.invoke("Get-DistributionGroupMember", Identity=dn, ResultSize="Unlimited"),
        dns,
        max_workers=CONCURRENT_CALLS,
    )
    return {
        outcome.item: {summary["address"]: summary for summary in map(member_summary, outcome.result())}
        for outcome in outcomes
    }


def all_members(by_list: dict[str, dict[str, dict[str, str]]]) -> dict[str, dict[str, str]]:
    """Every member of the lists, by address: exactly what the scope's MemberOfGroup clauses reach."""
    return {address: member for members in by_list.values() for address, member in members.items()}


def room_directory(exchange) -> set[str]:
    """The addresses of every room mailbox in the tenant (one call per thousand rooms)."""
    return {
        mailbox["PrimarySmtpAddress"].lower()
        for mailbox in exchange.invoke("Get-Mailbox", RecipientTypeDetails=ROOM_MAILBOX, ResultSize="Unlimited")
    }


def scoped_list_dns(exchange, scope_name: str) -> set[str] | None:
    """The lists (DNs, lower case) the room scope's filter names, in one call; None when the scope is gone or its
    filter holds any clause beyond MemberOfGroup (then list membership alone does not say who is in scope)."""
    try:
        scope = exchange.invoke_one("Get-ManagementScope", Identity=scope_name)
    except NotFound:
        return None
    recipient_filter = scope_filter(scope or {})
    return filter_dns(recipient_filter) if only_groups(recipient_filter) else None


def _explain_failures(exchange, app_id: str, addresses: list[str]) -> dict[str, bool | None]:
    """Exchange's own answer for the rooms that failed, one Test-ServicePrincipalAuthorization each."""
    outcomes = parallel(lambda address: _in_scope(exchange, app_id, address), addresses, max_workers=CONCURRENT_CALLS)
    return {outcome.item: outcome.result() for outcome in outcomes}


def scope_problems(members: dict[str, dict[str, str]], placed: set[str]) -> dict[str, list]:
    """What the scoped lists hold beyond the rooms Onramp placed: people (or any recipient that is not a room or
    equipment mailbox), and rooms nobody chose."""
    return {
        "non_room_members": [m for address, m in sorted(members.items()) if m["type"] not in RESOURCE_TYPES],
        "unplaced_rooms": sorted(
            address for address, m in members.items() if m["type"] in RESOURCE_TYPES and address not in placed
        ),
    }


def _control_must_exist(control: str, scope: bool | None) -> None:
    if scope is None:
        raise StepError(
            code="control_mailbox_missing",
            message=f"The control mailbox {control} does not exist.",
            explanation=gettext_noop(
                "Verification proves the scope by showing that a mailbox which is not a room stays out of "
                "reach; it needs an existing mailbox for that."
            ),
            fix=gettext_noop(
                "Enter the address of an existing user mailbox as the control mailbox, or leave it empty to use "
                "the service account's."
            ),
        )


@dataclass
class ExchangeFacts:
    """What the Exchange admin API says, read while the calendars are: the lists' members, the grant audit, the
    tenant's rooms, the control mailbox's scope, and (without the integration's secret) the lists the scope names."""

    by_list: dict[str, dict[str, dict[str, str]]]
    audit: dict[str, Any]
    directory: set[str]
    control_scope: bool | None
    scoped_lists: set[str] | None
    # Mailboxes whose own EWS switch is off (Set-CASMailbox -EwsEnabled $false).
    ews_off: set[str]


def exchange_facts(
    ms, dns: list[str], scoped: ScopedAccessResult, control: str, *, scope_filter: bool
) -> ExchangeFacts:
    """Microsoft calls only (no database), so it may run beside the calendar reads."""
    return ExchangeFacts(
        by_list=list_members(ms.exchange, dns),
        audit=audit_from_result(ms, scoped),
        directory=room_directory(ms.exchange),
        control_scope=_in_scope(ms.exchange, scoped.app_id, control),
        scoped_lists=scoped_list_dns(ms.exchange, scoped.scope_name) if scope_filter else None,
        ews_off=mailboxes_with_ews_off(ms.exchange),
    )


def mailboxes_with_ews_off(exchange) -> set[str]:
    """Every mailbox whose own EWS switch is off: EWS is blocked for it whatever the organisation allows
    (Set-CASMailbox -EwsEnabled). One listing of every mailbox's client access settings, as CIPP-API's
    ListCASMailboxes reads them, rather than a call per room."""
    return {
        str(settings.get("PrimarySmtpAddress") or "").lower()
        for settings in exchange.invoke("Get-CASMailbox", ResultSize="Unlimited")
        if settings.get("EwsEnabled") is False
    }


def ews_off_warning(rooms_ews_off: list[str]) -> str:
    shown = ", ".join(rooms_ews_off[:20]) + (" …" if len(rooms_ews_off) > 20 else "")
    return (
        f"EWS is switched off on {len(rooms_ews_off)} room mailbox{'es' if len(rooms_ews_off) != 1 else ''} ({shown}):"
        " an integration that books over EWS cannot reach them, whatever the organisation allows; Microsoft Graph is"
        " not affected. If the integration uses EWS, run Set-CASMailbox -Identity <room> -EwsEnabled $null for each"
        " (the organisation's setting then applies)."
    )


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    app_id = required_result(tenant, ScopedAccessResult, "app_id", "Scoped access")
    control = (ctx.inputs.get("control_mailbox") or "").lower() or required_result(
        tenant, ServiceAccountResult, "user_principal_name", "Service account"
    )
    # By address alone: the model's ordering starts with the tenant, which sorts by its name through a join.
    rooms = list(
        Room.objects.filter(tenant=tenant).exclude(membership_status=MembershipStatus.PENDING).order_by("address")
    )
    addresses = [room.address for room in rooms]
    secret = has_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET)
    calendar: dict[str, str] = {}
    dns, scoped = room_list_dns(tenant), result_of(tenant, ScopedAccessResult) or ScopedAccessResult(app_id=app_id)
    lists = [entry.to_json() for entry in (result_of(tenant, RoomsResult) or RoomsResult()).lists]
    places = {"checked": False, "detail": NO_SECRET, "lists": [], "warnings": []}
    with connector_clients(tenant) as ms, ThreadPoolExecutor(2, thread_name_prefix="onramp-verify") as side:
        ctx.progress(2, "Reading the room lists, the integration's grants and the tenant's rooms from Exchange")
        # In a copy of this context, so that its waits on a busy Microsoft are reported like this thread's.
        pending = side.submit(
            contextvars.copy_context().run, exchange_facts, ms, dns, scoped, control, scope_filter=not secret
        )
        if secret:
            total, read, shown = len(addresses) + 1, 0, 0

            def progress(count: int) -> None:
                nonlocal read, shown
                read += count
                percent = 5 + int(75 * read / total)
                if percent != shown:
                    shown = percent
                    ctx.progress(percent, f"Read the calendars of {read} of {total} mailboxes")

            with integration_clients(tenant) as app:
                seen = side.submit(lists_in_places, app.graph, lists)
                calendar = read_calendars(app, [*addresses, control], progress, CALENDAR_BATCH_BESIDE_EXCHANGE)
                places = seen.result()
        facts = pending.result()
        _control_must_exist(control, facts.control_scope)
        members = all_members(facts.by_list)
        if secret:
            scope: dict[str, bool | None] = {
                address: address in members for address in addresses if calendar[address] == ""
            }
            ctx.progress(85, "Asking Exchange why the rooms that failed were refused")
            scope |= _explain_failures(ms.exchange, app_id, [a for a in addresses if calendar[a] != ""])
        else:
            named = facts.scoped_lists or set()
            reach = {address for dn, listed in facts.by_list.items() if dn.lower() in named for address in listed}
            scope = {address: (address in reach if address in facts.directory else None) for address in addresses}
    scope[control] = facts.control_scope
    in_scope = scope_problems(members, set(addresses))
    checks = list(facts.audit["checks"])
    ews_check, ews_opened = _ews_check(tenant, control, secret)
    checks.append(ews_check)
    checks.append(
        {"name": "calendar_read", "ran": True, "detail": ""}
        if secret
        else {"name": "calendar_read", "ran": False, "detail": NO_SECRET}
    )
    grants = {
        "findings": facts.audit["findings"],
        "widening": facts.audit["widening"],
        "checks": checks,
        "ews": ews_opened,
    }
    rooms_ews_off = sorted(facts.ews_off & set(addresses))
    return report(
        ctx, rooms, scope, calendar, control, facts.directory, in_scope, grants, places, rooms_ews_off=rooms_ews_off
    )


def _room_verdict(address: str, scope: bool | None, calendar_reason: str | None) -> str:
    """'' when the room passes, else the reason it fails."""
    if scope is None:
        return "The mailbox no longer exists in the tenant."
    if not scope:
        return f"Not in the scope of {ROLE}: the room is not a member of any room list the scope names."
    return calendar_reason or ""


def report(
    ctx: StepContext,
    rooms: list[Room],
    scope: dict[str, bool | None],
    calendar: dict[str, str],
    control: str,
    directory: set[str],
    in_scope: dict[str, list],
    grants: dict[str, Any],
    places: dict[str, Any],
    *,
    rooms_ews_off: list[str] | None = None,
) -> Outcome:
    """The verdict on every room, the control mailbox and the grants. `rooms_ews_off` is None when the rooms' own
    EWS switches could not be read (without InvokeCommand)."""
    failed = []
    verdicts: dict[str, list[int]] = defaultdict(list)
    for room in rooms:
        reason = _room_verdict(room.address, scope[room.address], calendar.get(room.address))
        verdicts[reason[:500]].append(room.pk)
        if reason:
            failed.append({"address": room.address, "reason": reason})
    # One UPDATE per distinct verdict (every passing room shares one), not a row each: 2,000 rooms in a few queries.
    with transaction.atomic():
        now = timezone.now()
        for reason, pks in verdicts.items():
            status = VerificationStatus.FAIL if reason else VerificationStatus.PASS
            for start in range(0, len(pks), 500):  # SQLite caps the parameters of one statement
                Room.objects.filter(pk__in=pks[start : start + 500]).update(
                    verification_status=status, reason=reason, updated_at=now
                )
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
        "warnings": [*places["warnings"], *([ews_off_warning(rooms_ews_off)] if rooms_ews_off else [])],
        "rooms_ews_off": rooms_ews_off or [],
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
    scoped, rooms = result_of(tenant, ScopedAccessResult), result_of(tenant, RoomsResult)
    changes = [
        ("the new role assignment or scope", scoped.access_changed_at if scoped is not None else None),
        ("the room lists' new members", rooms.members_changed_at if rooms is not None else None),
    ]
    known = [(what, float(when)) for what, when in changes if when]
    if not known:
        granted = StepState.objects.filter(tenant=tenant, step_id="scoped_access").values_list("finished_at", flat=True)
        granted_at = granted.first()
        return ("the scoped access", granted_at.timestamp()) if granted_at else None
    return max(known, key=lambda change: change[1])
