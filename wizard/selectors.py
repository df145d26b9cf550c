"""Read-only queries for the pages. Views ask here; nothing here writes, and nothing here formats (wizard.presenters
does)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import Profile, SecretKind, Tenant, TenantSecret
from wizard.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    PAYLOAD_FIELDS,
    AuditEvent,
    DriftCheck,
    DriftCheckStatus,
    MembershipStatus,
    Room,
    StepState,
    StepStatus,
    VerificationStatus,
)
from wizard.steps.registry import RoomsTable, Step, prerequisites, steps_for

STUCK_AFTER = timedelta(hours=1)
# Step 0 of every profile: where the organisation's domains are found.
CONNECT_STEP_ID = "connect"
# The audit action wizard.steps.exchange_online.service_account.service records when it shows the password.
PASSWORD_REVEAL_ACTION = "reveal_service_account_password"
DASHBOARD_PAGE_SIZE = 50
ROOMS_PAGE_SIZE = 100
TIMELINE_PAGE_SIZE = 100


class DashboardFilter:
    ALL = ""
    FAILED = "failed"
    STUCK = "stuck"
    WAITING = "waiting"
    ACTIVE = "active"
    DRIFTED = "drifted"
    CHOICES = (
        (ALL, _("All")),
        (FAILED, _("Failed")),
        (STUCK, _("Stuck over 1 h")),
        (WAITING, _("Waiting on Microsoft")),
        (ACTIVE, _("Running now")),
        (DRIFTED, _("Drifted")),
    )


def _current_state(field: str) -> Subquery:
    """The step that says where the tenant stands: the first one that has started without finishing (failed,
    running, waiting, needing input), else the first not started, as resume lands on it. A failed step after one
    not started (run before the ordering rule existed) is what the Failed filter found, so it is what the row
    shows. An optional step not started (handing access back, after activation) is no step the tenant is on."""
    optional_not_started = Q(status=StepStatus.NOT_STARTED) & Q(
        step_id__in={step.id for profile in Profile.values for step in steps_for(profile) if step.optional}
    )
    states = (
        StepState.objects.filter(tenant=OuterRef("pk"))
        .exclude(status__in=FINISHED_STATUSES)
        .exclude(optional_not_started)
        .annotate(not_started=Case(When(status=StepStatus.NOT_STARTED, then=1), default=0))
        .order_by("not_started", "position")
        .values(field)[:1]
    )
    return Subquery(states)


def _stuck(states: QuerySet[StepState], now) -> QuerySet[StepState]:
    """Steps queued, running, waiting or interrupted for over an hour."""
    return states.annotate(since=Coalesce("waiting_since", "started_at", "updated_at")).filter(
        status__in=(*ACTIVE_STATUSES, StepStatus.INTERRUPTED), since__lt=now - STUCK_AFTER
    )


def _latest_drift_check(field: str) -> QuerySet[DriftCheck]:
    """The tenant's latest drift check that ran (one that could not run says nothing about drift)."""
    return (
        DriftCheck.objects.filter(tenant=OuterRef("pk"), status=DriftCheckStatus.DONE)
        .order_by("-due_at", "-id")
        .values(field)[:1]
    )


def dashboard_tenants(
    filter_name: str = "", search: str = "", tenants: QuerySet[Tenant] | None = None
) -> QuerySet[Tenant]:
    """Every tenant (or those of `tenants`) with its current step, that step's status and its last activity, in
    a fixed number of queries: the columns are correlated subqueries, the filters semi-joins."""
    now = timezone.now()
    last_event = AuditEvent.objects.filter(tenant=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    tenants = (Tenant.objects.all() if tenants is None else tenants).annotate(
        current_step_id=_current_state("step_id"),
        current_status=_current_state("status"),
        current_position=_current_state("position"),
        last_activity=Greatest(
            Coalesce(Subquery(last_event, output_field=DateTimeField()), F("updated_at")), F("updated_at")
        ),
    )
    states = StepState.objects.filter(tenant=OuterRef("pk"))
    if filter_name == DashboardFilter.FAILED:
        tenants = tenants.filter(Exists(states.filter(status=StepStatus.FAILED)))
    elif filter_name == DashboardFilter.STUCK:
        tenants = tenants.filter(Exists(_stuck(states, now)))
    elif filter_name == DashboardFilter.WAITING:
        tenants = tenants.filter(Exists(states.filter(status=StepStatus.WAITING)))
    elif filter_name == DashboardFilter.DRIFTED:
        # Only an organisation that ever drifted can have drifted at its latest check: the semi-join narrows
        # 100,000 organisations to those before each one's latest check is looked up.
        ever_drifted = DriftCheck.objects.filter(tenant=OuterRef("pk"), drifted=True)
        tenants = (
            tenants.filter(Exists(ever_drifted))
            .annotate(drifted=Subquery(_latest_drift_check("drifted")))
            .filter(drifted=True)
        )
    elif filter_name == DashboardFilter.ACTIVE:
        tenants = tenants.filter(Exists(states.filter(status__in=(StepStatus.QUEUED, StepStatus.RUNNING))))
    search = search.strip()
    if search:
        # A domain is what step 0 found: Exchange Online's verified domains, Exchange Server's service account.
        # The two kinds of match as one union of ids, each side answered from its own trigram index on PostgreSQL
        # (migration 0010): an OR across the tenants and a correlated EXISTS would read every organisation.
        by_name = (
            Tenant.objects.filter(
                Q(display_name__icontains=search) | Q(slug__icontains=search) | Q(microsoft_tenant_id__icontains=search)
            )
            .values("pk")
            .order_by()
        )
        by_domain = (
            StepState.objects.filter(step_id=CONNECT_STEP_ID)
            .filter(Q(result__verified_domains__icontains=search) | Q(result__service_account_upn__icontains=search))
            .values("tenant_id")
            .order_by()
        )
        tenants = tenants.filter(pk__in=by_name.union(by_domain))
    return tenants.order_by("display_name", "pk")


def dashboard_page(filter_name: str, search: str, page_number: str | int | None) -> Page:
    return Paginator(dashboard_tenants(filter_name, search), DASHBOARD_PAGE_SIZE).get_page(page_number)


def step_titles() -> dict[tuple[str, str], str]:
    """(profile, step id) → title, for every profile that has steps registered."""
    titles = {}
    for profile in Profile.values:
        try:
            titles.update({(profile, step.id): step.title for step in steps_for(profile)})
        except LookupError:
            continue
    return titles


@dataclass(frozen=True)
class RoomFilter:
    name: str
    label: str


ROOM_FILTERS = (
    RoomFilter("", _("All")),
    RoomFilter("pass", _("Pass")),
    RoomFilter("fail", _("Fail")),
    RoomFilter("pending", _("Pending")),
)


def rooms_for(tenant: Tenant, table: str, filter_name: str = "") -> QuerySet[Room]:
    """The tenant's rooms as a step's rooms table (RoomsTable) judges them: by membership or by verification."""
    rooms = Room.objects.filter(tenant=tenant)
    if table == RoomsTable.MEMBERSHIP:
        by_filter = {
            "pass": Q(membership_status=MembershipStatus.MEMBER),
            "fail": Q(membership_status=MembershipStatus.FAILED),
            "pending": Q(membership_status=MembershipStatus.PENDING),
        }
    else:
        by_filter = {
            "pass": Q(verification_status=VerificationStatus.PASS),
            "fail": Q(verification_status=VerificationStatus.FAIL),
            "pending": Q(verification_status=VerificationStatus.UNKNOWN),
        }
    if filter_name in by_filter:
        rooms = rooms.filter(by_filter[filter_name])
    return rooms.order_by("room_list", "address")


def room_counts(tenant: Tenant, table: str) -> dict[str, int]:
    """How many rooms pass, fail and wait, in one query."""
    by_membership = table == RoomsTable.MEMBERSHIP
    field = "membership_status" if by_membership else "verification_status"
    passed = MembershipStatus.MEMBER if by_membership else VerificationStatus.PASS
    failed = MembershipStatus.FAILED if by_membership else VerificationStatus.FAIL
    counts = Room.objects.filter(tenant=tenant).aggregate(
        all=Count("pk"),
        passed=Count("pk", filter=Q(**{field: passed})),
        failed=Count("pk", filter=Q(**{field: failed})),
    )
    return {
        "": counts["all"],
        "pass": counts["passed"],
        "fail": counts["failed"],
        "pending": counts["all"] - counts["passed"] - counts["failed"],
    }


def rooms_page(tenant: Tenant, table: str, filter_name: str, page_number: str | int | None) -> Page:
    return Paginator(rooms_for(tenant, table, filter_name), ROOMS_PAGE_SIZE).get_page(page_number)


@dataclass(frozen=True)
class TimelinePage:
    """Up to TIMELINE_PAGE_SIZE events of a tenant's timeline, newest first, and the events the links to the newer
    and the older page start after (None: there is none). Keyset pages: no count and no offset, so a page half way
    down a million events reads what the first one reads (a page number would count them all on every view)."""

    events: list[AuditEvent]
    newer_than: int | None
    older_than: int | None


def _timeline_anchor(events: QuerySet[AuditEvent], event_id: str | None) -> AuditEvent | None:
    """The event a page link starts after, if it is one of these events (another tenant's is no anchor)."""
    # Digits a bigint holds: "²" is a digit to Python and no number to int(); twenty nines overflow the column.
    if not (event_id and event_id.isascii() and event_id.isdigit() and len(event_id) <= 18):
        return None
    return events.filter(pk=int(event_id)).only("pk", "created_at").first()


def timeline_page(tenant: Tenant, before: str | None = None, after: str | None = None) -> TimelinePage:
    """The newest events, or those just older than event `before`, or just newer than event `after` (the newest
    when there are none: a link kept from before the trail grew, or typed by hand)."""
    events = AuditEvent.objects.filter(tenant=tenant)
    anchor = _timeline_anchor(events, after or before)
    size = TIMELINE_PAGE_SIZE
    # The redundant created_at bound is what lets the (tenant, -created_at) index start at the anchor; the Q settles
    # events recorded in the same microsecond by id.
    if anchor is not None and after:
        newer = list(
            events.filter(created_at__gte=anchor.created_at)
            .filter(Q(created_at__gt=anchor.created_at) | Q(pk__gt=anchor.pk))
            .order_by("created_at", "id")[: size + 1]
        )
        if newer:
            page = newer[:size][::-1]
            return TimelinePage(page, page[0].pk if len(newer) > size else None, page[-1].pk)
    if anchor is not None and before:
        older = list(
            events.filter(created_at__lte=anchor.created_at)
            .filter(Q(created_at__lt=anchor.created_at) | Q(pk__lt=anchor.pk))
            .order_by("-created_at", "-id")[: size + 1]
        )
        if older:
            return TimelinePage(older[:size], older[0].pk, older[size - 1].pk if len(older) > size else None)
    newest = list(events.order_by("-created_at", "-id")[: size + 1])
    return TimelinePage(newest[:size], None, newest[size - 1].pk if len(newest) > size else None)


# What the timeline export shows of each event (wizard.presenters.TimelineEvent).
TIMELINE_FIELDS = ("created_at", "actor", "action", "step_id", "outcome", "detail")


def timeline_events(tenant: Tenant) -> QuerySet:
    """Every audit event of the tenant, oldest first (the export reads the timeline the way it happened), as named
    rows of TIMELINE_FIELDS: a million model instances take twice as long to build as the rows."""
    events = AuditEvent.objects.filter(tenant=tenant).order_by("created_at", "id")
    return events.values_list(*TIMELINE_FIELDS, named=True)


def password_reveal(tenant: Tenant) -> AuditEvent | None:
    """When and to whom the service account's current password was shown, if it was."""
    secret = TenantSecret.objects.filter(tenant=tenant, kind=SecretKind.SERVICE_ACCOUNT_PASSWORD).first()
    events = AuditEvent.objects.filter(tenant=tenant, action=PASSWORD_REVEAL_ACTION)
    if secret is not None:
        events = events.filter(created_at__gte=secret.updated_at)
    return events.order_by("-created_at").first()


# The progress poll's one read of the step (every admin with a running step asks every second): hand-written, since
# the ORM takes about three times as long to build it as the database takes to answer; the payloads (a 50,000-row
# upload, its preview) stay in the database.
_POLLED_STATE_COLUMNS = ", ".join(
    f'"{field.column}"' for field in StepState._meta.concrete_fields if field.name not in PAYLOAD_FIELDS
)
# Names from the model; the tenant and the step are parameters.
_POLLED_STATE_SQL = (
    f'SELECT {_POLLED_STATE_COLUMNS} FROM "{StepState._meta.db_table}" WHERE tenant_id = %s AND step_id = %s'  # noqa: S608
)


def polled_step_state(tenant: Tenant, step_id: str) -> StepState | None:
    return next(iter(StepState.objects.raw(_POLLED_STATE_SQL, [tenant.pk, step_id])), None)


def resume_state(states: Iterable[StepState]) -> StepState | None:
    """Resume lands on the first step that is neither succeeded nor skipped."""
    return next((state for state in states if state.status not in FINISHED_STATUSES), None)


def states_of_every_step(tenant: Tenant) -> list[StepState]:
    """One state per step of the tenant's profile, in order, for pages: the saved rows (payload deferred: a page loads
    its own step's payload when it reads it), and an unsaved not-started state for a step that has no row yet (a
    step added to the profile after the organisation was created; `migrate` creates its rows). Never writes."""
    saved = {state.step_id: state for state in tenant.step_states.defer(*PAYLOAD_FIELDS)}
    return [
        saved.get(step.id) or StepState(tenant=tenant, step_id=step.id, position=index)
        for index, step in enumerate(steps_for(tenant.profile))
    ]


def step_succeeded(tenant: Tenant, step_id: str) -> bool:
    return StepState.objects.filter(tenant=tenant, step_id=step_id, status=StepStatus.SUCCEEDED).exists()


def step_states(tenant: Tenant) -> list[StepState]:
    return list(StepState.objects.filter(tenant=tenant).order_by("position"))


def stuck_since(state: StepState) -> timedelta | None:
    if state.status not in (*ACTIVE_STATUSES, StepStatus.INTERRUPTED):
        return None
    since = state.waiting_since or state.started_at or state.updated_at
    age = timezone.now() - since
    return age if age > STUCK_AFTER else None


def unmet_prerequisite(tenant: Tenant, step_id: str, states: list[StepState] | None = None) -> Step | None:
    """The first step (in the profile's order) that `step_id` builds on and that has neither succeeded nor been
    skipped: the one to finish first. None when the step may run. `states`, when the caller has them, saves a
    query."""
    required = prerequisites(tenant.profile, step_id)
    if not required:
        return None
    if states is None:
        states = list(StepState.objects.filter(tenant=tenant, step_id__in=[step.id for step in required]))
    done = {state.step_id for state in states if state.status in FINISHED_STATUSES}
    return next((step for step in required if step.id not in done), None)
