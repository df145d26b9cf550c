"""The drift check: an activated organisation re-checked against Microsoft, read-only, on a schedule (nightly by
default) or on demand. It finds what changed since the wizard finished:

- room mailboxes in no room list: new rooms (created since, offered to be placed) and rooms Onramp placed that
  left their list (a list emptied or edited by hand);
- lists over 75 members, and members that are not rooms (a person in a list is a mailbox the integration opens);
- rooms whose calendar the integration can no longer read (read as the integration, the ground truth, through the
  verify step's calendar read);
- a scope that no longer names exactly the organisation's lists, or Onramp's role assignment gone;
- a grant wider than the room scope (wizard.services.grants).

Scheduling spreads the fleet: every organisation's check is due at the schedule's time plus a stable offset within
`ONRAMP_DRIFT_WINDOW_SECONDS` (a hash of the organisation), so checks never start together, and every call goes
through the client's rate limiter that every worker shares per Microsoft tenant. Due checks are rows, claimed once
by whichever worker's beat finds them: a worker that was down runs what fell due meanwhile, once.

A claimed check is sent with a claim token (`DriftCheck.claim`). The run that starts it (once: a second delivery of
the same message finds it started) beats while it runs; one whose worker stopped beating for
ONRAMP_HEARTBEAT_TIMEOUT_SECONDS is taken over by the watchdog with a new claim, sent again, and the old run, should
it still be alive, records nothing: the outcome is written only by the run holding the claim, compared and set in
one UPDATE. So a worker killed with -9 mid-check loses no check and none is recorded twice."""

import hashlib
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from tenants.models import ExchangeWrites, Profile, SecretKind, Tenant, TenantSecret, TenantStatus
from tenants.secrets import has_secret
from wizard.audit import SYSTEM_ACTOR, record_event
from wizard.heartbeat import Heartbeat
from wizard.microsoft.errors import NotFound
from wizard.models import DriftCheck, DriftCheckStatus, MembershipStatus, Room, StepState, StepStatus
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.services.common import result_of
from wizard.services.connector import REDUCE_ACCESS_STEP, connector_clients
from wizard.services.grants import describe
from wizard.steps.exchange_online.room_list.result import RoomListResult
from wizard.steps.exchange_online.room_list.service import RESOURCE_TYPES, member_summary
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.scoped_access.result import ScopedAccessResult
from wizard.steps.exchange_online.scoped_access.service import (
    ROLE,
    audit_from_result,
    filter_dns,
    only_groups,
    room_list_dns,
    scope_filter,
)
from wizard.steps.exchange_online.verify.service import (
    NO_SECRET,
    RBAC_PROPAGATION_SECONDS,
    calendar_reads,
    last_access_change,
    room_directory,
)

logger = logging.getLogger(__name__)

DRIFT_ACTION = "drift"
# Sent by name: wizard.tasks imports this module, never the other way round.
NEW_ROOMS = "new_rooms"
ROOMS_OUT_OF_LISTS = "rooms_out_of_lists"
OVERSIZED_LISTS = "oversized_lists"
NON_ROOM_MEMBERS = "non_room_members"
UNREADABLE_CALENDARS = "unreadable_calendars"
SCOPE_MISMATCH = "scope_mismatch"
WIDER_GRANTS = "wider_grants"
NEW_ROOMS_SUMMARY = "{n} new room(s), not in any list."
# How many addresses a finding keeps (the count is always whole): a timeline event and an email stay readable.
ADDRESSES_KEPT = 500
CALENDAR_READS_NOT_POSSIBLE = (
    "Calendar reads as the integration were not possible: no integration secret stored; listed rooms were not "
    f"checked for readability ({NO_SECRET})"
)


@dataclass(frozen=True)
class Finding:
    kind: str
    summary: str
    fix: str
    addresses: list[str] = field(default_factory=list)
    count: int = 0


def _rooms_finding(kind: str, addresses: list[str], summary: str, fix: str) -> Finding:
    return Finding(kind, summary.format(n=len(addresses)), fix, sorted(addresses)[:ADDRESSES_KEPT], len(addresses))


# -- what drifted
def _list_members(exchange, tenant: Tenant) -> tuple[dict[str, list[dict[str, str]]], list[str]]:
    """The members of every list Onramp manages, by list name, and the lists that no longer exist."""
    listed = result_of(tenant, RoomsResult) or RoomsResult()
    first = result_of(tenant, RoomListResult) or RoomListResult()
    names = {entry.dn: entry.name for entry in listed.lists if entry.dn}
    members: dict[str, list[dict[str, str]]] = {}
    missing = []
    for dn in room_list_dns(tenant):
        name = names.get(dn) or first.name or dn
        try:
            found = exchange.invoke("Get-DistributionGroupMember", Identity=dn, ResultSize="Unlimited")
        except NotFound:
            missing.append(name)
            continue
        members[name] = [member_summary(member) for member in found]
    return members, missing


def _scope_findings(ms, tenant: Tenant, missing_lists: list[str]) -> list[Finding]:
    access = result_of(tenant, ScopedAccessResult) or ScopedAccessResult()
    found = audit_from_result(ms, access)
    findings = []
    try:
        scope = ms.exchange.invoke_one("Get-ManagementScope", Identity=access.scope_name) or {}
    except NotFound:
        scope = {}
    recipient_filter = scope_filter(scope)
    problems = []
    if not scope:
        problems.append(f"the management scope {access.scope_name} no longer exists")
    elif filter_dns(recipient_filter) != {dn.lower() for dn in room_list_dns(tenant)} or not only_groups(
        recipient_filter
    ):
        problems.append(f"the scope {access.scope_name} no longer names exactly the room lists: {recipient_filter}")
    if missing_lists:
        problems.append("room list(s) deleted: " + ", ".join(missing_lists))
    if not found["own_assignments"]:
        problems.append(f"the {ROLE} assignment of the integration's app is gone")
    if problems:
        findings.append(
            Finding(
                SCOPE_MISMATCH,
                "The scope no longer matches: " + "; ".join(problems) + ".",
                "Run “Rooms” and then “Scoped access” again: they recreate what is missing and set the scope to "
                "the room lists.",
            )
        )
    if found["widening"]:
        findings.append(
            Finding(
                WIDER_GRANTS,
                "The integration's app holds a grant wider than the rooms: " + describe(found["widening"]) + ".",
                " ".join(f["fix"] for f in found["widening"]),
                count=len(found["widening"]),
            )
        )
    return findings


def find_drift(tenant: Tenant) -> tuple[list[Finding], list[str]]:
    """Everything that drifted in the tenant since activation, read-only (Exchange Online organisations), and what
    could not be checked, with why."""
    placed = set(
        Room.objects.filter(tenant=tenant, membership_status=MembershipStatus.MEMBER).values_list("address", flat=True)
    )
    with connector_clients(tenant) as ms:
        lists, missing_lists = _list_members(ms.exchange, tenant)
        directory = room_directory(ms.exchange)
        scope_findings = _scope_findings(ms, tenant, missing_lists)
    listed = {member["address"] for members in lists.values() for member in members}
    findings = []
    # A room chosen before whose placement failed (or never ran) is in no list either: offered again.
    new = sorted(directory - listed - placed)
    if new:
        findings.append(
            _rooms_finding(
                NEW_ROOMS,
                new,
                NEW_ROOMS_SUMMARY,
                "Place them from the organisation's page (the same plan of lists of 75 as “Rooms”), or leave them out "
                "if the integration should not book them.",
            )
        )
    left = sorted((placed & directory) - listed)
    if left:
        findings.append(
            _rooms_finding(
                ROOMS_OUT_OF_LISTS,
                left,
                "{n} room(s) Onramp placed are in no list any more, so the integration has lost them.",
                "Run “Rooms” again: it puts them back in the lists without touching the others.",
            )
        )
    oversized = {name: len(members) for name, members in lists.items() if len(members) > ROOM_LIST_MAX_MEMBERS}
    if oversized:
        findings.append(
            Finding(
                OVERSIZED_LISTS,
                f"{len(oversized)} list(s) hold more than {ROOM_LIST_MAX_MEMBERS} members: "
                + ", ".join(f"{name} ({count})" for name, count in sorted(oversized.items()))
                + ".",
                f"Outlook's room finder shows at most {ROOM_LIST_MAX_MEMBERS} rooms of a list: move the extra rooms "
                "out (Remove-DistributionGroupMember), then run “Rooms” to place them in a list with room.",
                count=len(oversized),
            )
        )
    strangers = sorted(
        f"{member['address']} ({member['type']})"
        for members in lists.values()
        for member in members
        if member["type"] not in RESOURCE_TYPES
    )
    if strangers:
        findings.append(
            _rooms_finding(
                NON_ROOM_MEMBERS,
                strangers,
                "{n} member(s) of the room lists are not rooms, so the integration can open their mailboxes.",
                "Remove them: Remove-DistributionGroupMember -Identity <list> -Member <address> "
                "-BypassSecurityGroupManagerCheck.",
            )
        )
    readable = sorted((placed & directory) & listed)
    not_checked = []
    if readable and not has_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET):
        not_checked.append(CALENDAR_READS_NOT_POSSIBLE)
    elif readable:
        reasons = calendar_reads(tenant, readable)
        refused = [address for address, reason in reasons.items() if reason]
        if refused:
            summary = "The integration can no longer read the calendar of {n} room(s) that are in the lists."
            change = last_access_change(tenant)
            if change is not None and time.time() - change[1] < RBAC_PROPAGATION_SECONDS:
                summary += (
                    f" Microsoft may still be applying {change[0]}: RBAC for Applications takes 30 minutes to 2 hours."
                )
            findings.append(
                _rooms_finding(
                    UNREADABLE_CALENDARS,
                    refused,
                    summary,
                    "Open “Verify” and re-verify: each room's reason is in its table.",
                )
            )
    return findings + scope_findings, not_checked


# -- running a check
# A claimed check to send to the worker: its id and the claim its run must hold.
Claim = tuple[int, str]
# A message that no worker started for this many heartbeat timeouts is sent again (the same claim, so only one of
# the two ever starts): it was lost with a broker restarted without persistence, or held by a worker that died.
LOST_MESSAGE_TIMEOUTS = 4
GAVE_UP = "The worker running the check stopped {n} times before it ended; the next check runs as scheduled."


def _new_claim() -> str:
    return str(uuid.uuid4())


def take_over_lost_checks(now: datetime | None = None) -> list[Claim]:
    """The watchdog's round for drift checks: a running check whose worker stopped beating (killed, its machine
    lost) gets a new claim, for the caller to send, so that another worker runs it, once; one taken over
    ONRAMP_AUTO_RESUMES times already is failed, with why. A claimed check that no worker started for
    LOST_MESSAGE_TIMEOUTS heartbeat timeouts is sent again with the same claim."""
    now = now or timezone.now()
    timeout = timedelta(seconds=settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS)
    running = DriftCheck.objects.filter(status=DriftCheckStatus.RUNNING)
    stopped = running.filter(heartbeat_at__lt=now - timeout)
    unstarted = running.filter(heartbeat_at__isnull=True, started_at__lt=now - timeout * LOST_MESSAGE_TIMEOUTS)
    send = []
    with transaction.atomic():
        for check in stopped.select_for_update(skip_locked=True, of=("self",)).select_related("tenant"):
            if check.takeovers >= settings.ONRAMP_AUTO_RESUMES:
                message = GAVE_UP.format(n=check.takeovers + 1)
                check.status, check.finished_at, check.error_message = DriftCheckStatus.FAILED, now, message
                check.save(update_fields=["status", "finished_at", "error_message"])
                record_event(check.tenant, SYSTEM_ACTOR, DRIFT_ACTION, "check_failed", "verify", {"message": message})
                continue
            check.claim, check.heartbeat_at, check.started_at = _new_claim(), None, now
            check.takeovers += 1
            check.save(update_fields=["claim", "heartbeat_at", "started_at", "takeovers"])
            detail = {"drift_check": check.pk, "takeover": check.takeovers}
            record_event(check.tenant, SYSTEM_ACTOR, "heartbeat", "taken_over", "verify", detail)
            send.append((check.pk, check.claim))
        for check in unstarted.select_for_update(skip_locked=True):
            # A check claimed before claims existed has none: it gets one, as its message carried none.
            check.claim, check.started_at = check.claim or _new_claim(), now
            check.save(update_fields=["claim", "started_at"])
            send.append((check.pk, check.claim))
    return send


class _CheckHeartbeat(Heartbeat):
    """Beats while its claim holds: once the check is taken over, the old run's beat no longer counts."""

    def __init__(self, check_id: int, claim: str) -> None:
        super().__init__(f"drift-heartbeat-{check_id}")
        self.check_id, self.claim = check_id, claim

    def beat(self) -> None:
        DriftCheck.objects.filter(pk=self.check_id, claim=self.claim, status=DriftCheckStatus.RUNNING).update(
            heartbeat_at=timezone.now()
        )


def check_now(tenant: Tenant, actor: str) -> DriftCheck:
    """Run one check in this process (the command, a page's button runs it on the worker instead)."""
    now = timezone.now()
    check = DriftCheck.objects.create(
        tenant=tenant,
        requested_by=actor,
        due_at=now,
        status=DriftCheckStatus.RUNNING,
        started_at=now,
        claim=_new_claim(),
    )
    return run_check(check.pk, check.claim) or DriftCheck.objects.get(pk=check.pk)


def request_check(tenant: Tenant, actor: str) -> DriftCheck | None:
    """A check for the worker to run now, claimed for the caller to send; None while one is already running."""
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        if DriftCheck.objects.filter(tenant=tenant, status=DriftCheckStatus.RUNNING).exists():
            return None
        now = timezone.now()
        waiting = DriftCheck.objects.filter(tenant=tenant, status=DriftCheckStatus.SCHEDULED).first()
        check = waiting or DriftCheck(tenant=tenant, requested_by=actor, due_at=now)
        check.status, check.started_at, check.claim = DriftCheckStatus.RUNNING, now, _new_claim()
        check.save()
        record_event(tenant, actor, DRIFT_ACTION, "queued", "verify")
        return check


def startable(check_id: int, claim: str) -> Tenant | None:
    """The organisation of a check that `claim` may still start; None for a claim started or taken over already."""
    check = (
        DriftCheck.objects.filter(pk=check_id, claim=claim, status=DriftCheckStatus.RUNNING, heartbeat_at__isnull=True)
        .select_related("tenant")
        .first()
    )
    if check is None or not claim:
        logger.info("drift check %s: claim %s is not this run's to start", check_id, claim or "(none)")
        return None
    return check.tenant


def postpone(check_id: int, claim: str) -> None:
    """The check's message is sent again later (its tenant's work slots are full): counted as sent now, so that the
    watchdog does not take it for lost and send it a second time."""
    DriftCheck.objects.filter(pk=check_id, claim=claim, heartbeat_at__isnull=True).update(started_at=timezone.now())


def run_check(check_id: int, claim: str) -> DriftCheck | None:
    """Run a claimed check, once per claim: each finding becomes a timeline event (the caller tells the admins about
    `new_findings`). A check that could not reach Microsoft is recorded as such, never as clean. None when this run
    recorded nothing: its claim was already started (a message delivered again) or taken over, before or while it
    ran."""
    mine = DriftCheck.objects.filter(pk=check_id, claim=claim, status=DriftCheckStatus.RUNNING)
    now = timezone.now()
    if not claim or not mine.filter(heartbeat_at__isnull=True).update(heartbeat_at=now, started_at=now):
        logger.info("drift check %s: claim %s is not this run's to start", check_id, claim or "(none)")
        return None
    check = DriftCheck.objects.select_related("tenant").get(pk=check_id)
    tenant = check.tenant
    # Every log line of this check says whose it is (the task id is bound by django-structlog, cleared per task).
    structlog.contextvars.bind_contextvars(organisation=tenant.slug, drift_check=check.pk)
    try:
        with _CheckHeartbeat(check_id, claim):
            found, not_checked = find_drift(tenant)
        findings = [asdict(finding) for finding in found]
    except Exception as error:  # any failure: the check did not happen, and says why
        message = str(getattr(error, "message", "") or error)[:2000]
        with transaction.atomic():
            if not mine.update(status=DriftCheckStatus.FAILED, finished_at=timezone.now(), error_message=message):
                return None
            record_event(tenant, SYSTEM_ACTOR, DRIFT_ACTION, "check_failed", "verify", {"message": message})
        check.refresh_from_db()
        return check
    with transaction.atomic():
        recorded = mine.update(
            status=DriftCheckStatus.DONE,
            finished_at=timezone.now(),
            findings=findings,
            drifted=bool(findings),
            not_checked=not_checked,
        )
        if not recorded:
            logger.warning(
                "drift check %s was taken over while this run went on: its outcome is not recorded", check_id
            )
            return None
        check.refresh_from_db()
        for finding in findings:
            record_event(tenant, SYSTEM_ACTOR, DRIFT_ACTION, finding["kind"], "verify", finding)
        for reason in not_checked:
            record_event(tenant, SYSTEM_ACTOR, DRIFT_ACTION, "not_checked", "verify", {"message": reason})
        if not findings:
            record_event(tenant, SYSTEM_ACTOR, DRIFT_ACTION, "none", "verify")
    return check


def new_findings(check: DriftCheck) -> list[dict[str, Any]]:
    """The findings of `check` that the organisation's previous check did not report as they are now (a new kind,
    other addresses): what its admins are told about, so a drift left alone is not emailed every night."""
    previous = (
        DriftCheck.objects.filter(tenant=check.tenant, status=DriftCheckStatus.DONE, due_at__lte=check.due_at)
        .exclude(pk=check.pk)
        .first()
    )
    seen = {(f["kind"], tuple(f["addresses"]), f["summary"]) for f in previous.findings} if previous else set()
    return [f for f in check.findings if (f["kind"], tuple(f["addresses"]), f["summary"]) not in seen]


def latest_check(tenant: Tenant) -> DriftCheck | None:
    return DriftCheck.objects.filter(tenant=tenant, status__in=(DriftCheckStatus.DONE, DriftCheckStatus.FAILED)).first()


def lists_outside_scope(tenant: Tenant) -> list[str]:
    """Room lists the rooms step opened since “Scoped access” last ran (placing new rooms once the lists were
    full): their rooms reach the integration only once that step adds them to the scope."""
    access = result_of(tenant, ScopedAccessResult)
    scoped = {dn.lower() for dn in access.room_list_dns} if access else set()
    placed = result_of(tenant, RoomsResult)
    if not scoped or placed is None:
        return []
    return [entry.name for entry in placed.lists if entry.dn and entry.dn.lower() not in scoped]


def check_running(tenant: Tenant) -> bool:
    return DriftCheck.objects.filter(tenant=tenant, status=DriftCheckStatus.RUNNING).exists()


@dataclass(frozen=True)
class DriftStanding:
    """The latest check's findings as they stand now. A new room placed since the check is in a list, so the page
    stops counting it as new at once instead of until the next check reads the tenant again."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    # The check's new rooms that are in a list now.
    placed_since: list[str] = field(default_factory=list)

    @property
    def new_rooms(self) -> list[str]:
        found = next((f for f in self.findings if f["kind"] == NEW_ROOMS), None)
        return list(found["addresses"]) if found else []


def standing(tenant: Tenant, check: DriftCheck | None) -> DriftStanding:
    if check is None or check.status != DriftCheckStatus.DONE:
        return DriftStanding()
    found = next((f for f in check.findings if f["kind"] == NEW_ROOMS), None)
    if not found:
        return DriftStanding(list(check.findings))
    placed = set(
        Room.objects.filter(
            tenant=tenant, address__in=found["addresses"], membership_status=MembershipStatus.MEMBER
        ).values_list("address", flat=True)
    )
    left = [address for address in found["addresses"] if address not in placed]
    # The count can exceed the addresses kept (ADDRESSES_KEPT); only the placed ones are known to be gone.
    count = max(int(found.get("count") or len(found["addresses"])) - len(placed), len(left))
    findings = []
    for finding in check.findings:
        if finding is not found:
            findings.append(finding)
        elif count:
            findings.append({**found, "summary": NEW_ROOMS_SUMMARY.format(n=count), "addresses": left, "count": count})
    return DriftStanding(findings, sorted(placed))


def new_rooms(tenant: Tenant) -> list[str]:
    """The new rooms the latest check found that have not been placed since."""
    return standing(tenant, latest_check(tenant)).new_rooms


# -- the schedule
def offset_seconds(tenant: Tenant, window_seconds: int) -> int:
    """Where in the window this organisation's check falls: a stable hash, so each keeps its slot night after
    night and the fleet spreads evenly."""
    if window_seconds <= 0:
        return 0
    digest = hashlib.sha256(f"onramp-drift:{tenant.pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % window_seconds


# The check reads the tenant through Onramp's connector app, which only Exchange Online has: an Exchange Server
# organisation is checked by its admin's scripts, and activation erased the one password Onramp held for it.
CHECKED_PROFILE = Profile.EXCHANGE_ONLINE


def checks_drift(tenant: Tenant) -> bool:
    """Whether the drift check can look at this organisation at all: its profile, and Onramp reading Exchange (the
    check reads the lists, the scope and the assignments through InvokeCommand, which an organisation whose admin
    makes the Exchange changes does not use)."""
    return tenant.profile == CHECKED_PROFILE and not tenant.admin_runs_exchange_writes


# Credentials of an organisation's own app registration; Onramp's own app has none stored (its secret is the
# installation's), and the hand-back erases them.
OWN_APP_CREDENTIALS = (SecretKind.CLIENT_SECRET, SecretKind.CLIENT_CERTIFICATE)


def checked_tenants():
    """Organisations the schedule re-checks: activated Exchange Online ones (CHECKED_PROFILE), less those that
    handed Onramp's access back and gave no credential since, and those whose admin makes the Exchange changes
    (`checks_drift`)."""
    handed_back = StepState.objects.filter(step_id=REDUCE_ACCESS_STEP, status=StepStatus.SUCCEEDED)
    # The drift check's choice after a hand-back: none (the default), or a connection the organisation gave again,
    # its own app registration's credentials entered on step 0 (read-only grants suffice: the check only reads).
    connected_again = TenantSecret.objects.filter(kind__in=OWN_APP_CREDENTIALS).values("tenant_id")
    return (
        Tenant.objects.filter(status=TenantStatus.ACTIVE, profile=CHECKED_PROFILE)
        .exclude(exchange_writes=ExchangeWrites.BY_ADMIN)
        .exclude(Q(pk__in=handed_back.values("tenant_id")) & ~Q(pk__in=connected_again))
    )


def schedule_fleet(now: datetime | None = None, window_seconds: int | None = None) -> list[DriftCheck]:
    """One check per activated organisation, due at `now` plus its offset; an organisation whose check is still
    waiting or running gets no second one."""
    now = now or timezone.now()
    window = settings.ONRAMP_DRIFT_WINDOW_SECONDS if window_seconds is None else window_seconds
    pending = set(
        DriftCheck.objects.filter(status__in=(DriftCheckStatus.SCHEDULED, DriftCheckStatus.RUNNING)).values_list(
            "tenant_id", flat=True
        )
    )
    checks = [
        DriftCheck(
            tenant=tenant,
            requested_by=SYSTEM_ACTOR,
            due_at=now + timedelta(seconds=offset_seconds(tenant, window)),
        )
        for tenant in checked_tenants().exclude(pk__in=pending)
    ]
    return DriftCheck.objects.bulk_create(checks)


def claim_due(now: datetime | None = None) -> list[Claim]:
    """The checks now due, marked running with a claim each so that no other beat sends them again; the caller
    sends each with its claim, in this order: the organisations with the most rooms first."""
    now = now or timezone.now()
    with transaction.atomic():
        due = dict(
            DriftCheck.objects.select_for_update(skip_locked=True)
            .filter(status=DriftCheckStatus.SCHEDULED, due_at__lte=now)
            .values_list("pk", "tenant_id")
        )
        rooms = dict(
            Room.objects.filter(tenant_id__in=set(due.values()))
            .values("tenant_id")
            .annotate(count=Count("pk"))
            .values_list("tenant_id", "count")
        )
        # A check's length grows with its rooms. When many fall due together (a catch-up after an outage, a fleet
        # due at once), the longest started last would end the round on its own while the other slots idle; longest
        # first keeps the round's end near its bound (every slot busy until the last short checks).
        longest_first = sorted(due, key=lambda check_id: (-rooms.get(due[check_id], 0), check_id))
        claims = [(check_id, _new_claim()) for check_id in longest_first]
        for check_id, claim in claims:
            DriftCheck.objects.filter(pk=check_id).update(
                status=DriftCheckStatus.RUNNING, started_at=now, claim=claim, heartbeat_at=None
            )
    return claims
