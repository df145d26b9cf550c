"""Read-only queries for the pages. Views ask here; nothing here writes."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Count, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

from tenants.models import Profile, SecretKind, Tenant, TenantSecret, TenantStatus
from wizard.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    AuditEvent,
    MembershipStatus,
    Room,
    StepState,
    StepStatus,
    VerificationStatus,
)
from wizard.rooms_csv import RowStatus
from wizard.services.rooms import SOURCE_CSV
from wizard.steps.registry import steps_for

STUCK_AFTER = timedelta(hours=1)
# The audit action wizard.services.service_account records when it shows the password.
PASSWORD_REVEAL_ACTION = "reveal_service_account_password"
PREVIEW_ROWS_SHOWN = 500
DASHBOARD_PAGE_SIZE = 50
ROOMS_PAGE_SIZE = 100
TIMELINE_PAGE_SIZE = 100

# Result keys a page never shows, whoever looks: the services keep secrets in TenantSecret, and this is the
# second fence in case one ever lands in a step's result.
_SECRET_WORDS = ("password", "secret", "token", "credential", "private_key")


class DashboardFilter:
    ALL = ""
    FAILED = "failed"
    STUCK = "stuck"
    WAITING = "waiting"
    ACTIVE = "active"
    CHOICES = (
        (ALL, "All"),
        (FAILED, "Failed"),
        (STUCK, "Stuck over 1 h"),
        (WAITING, "Waiting on Microsoft"),
        (ACTIVE, "Running now"),
    )


def _current_state(field: str) -> Subquery:
    """The first unfinished step of the tenant, as resume lands on it."""
    states = (
        StepState.objects.filter(tenant=OuterRef("pk"))
        .exclude(status__in=FINISHED_STATUSES)
        .order_by("position")
        .values(field)[:1]
    )
    return Subquery(states)


def _stuck(states: QuerySet[StepState], now) -> QuerySet[StepState]:
    """Steps queued, running, waiting or interrupted for over an hour."""
    return states.annotate(since=Coalesce("waiting_since", "started_at", "updated_at")).filter(
        status__in=(*ACTIVE_STATUSES, StepStatus.INTERRUPTED), since__lt=now - STUCK_AFTER
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
    elif filter_name == DashboardFilter.ACTIVE:
        tenants = tenants.filter(Exists(states.filter(status__in=(StepStatus.QUEUED, StepStatus.RUNNING))))
    search = search.strip()
    if search:
        tenants = tenants.filter(
            Q(display_name__icontains=search) | Q(slug__icontains=search) | Q(microsoft_tenant_id__iexact=search)
        )
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


def tenant_status_label(tenant: Tenant) -> str:
    """The status column: the current step's status, or the tenant's own once every step is done."""
    if tenant.current_status is None:
        return TenantStatus(tenant.status).label
    return StepStatus(tenant.current_status).label


@dataclass(frozen=True)
class RoomFilter:
    name: str
    label: str


ROOM_FILTERS = (
    RoomFilter("", "All"),
    RoomFilter("pass", "Pass"),
    RoomFilter("fail", "Fail"),
    RoomFilter("pending", "Pending"),
)


def rooms_for(tenant: Tenant, step_id: str, filter_name: str = "") -> QuerySet[Room]:
    """The tenant's rooms as the step sees them: the rooms step judges membership, the others verification."""
    rooms = Room.objects.filter(tenant=tenant)
    if step_id == "rooms":
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


def room_counts(tenant: Tenant, step_id: str) -> dict[str, int]:
    """How many rooms pass, fail and wait, in one query."""
    field = "membership_status" if step_id == "rooms" else "verification_status"
    passed = MembershipStatus.MEMBER if step_id == "rooms" else VerificationStatus.PASS
    failed = MembershipStatus.FAILED if step_id == "rooms" else VerificationStatus.FAIL
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


def rooms_page(tenant: Tenant, step_id: str, filter_name: str, page_number: str | int | None) -> Page:
    return Paginator(rooms_for(tenant, step_id, filter_name), ROOMS_PAGE_SIZE).get_page(page_number)


def timeline_page(tenant: Tenant, page_number: str | int | None) -> Page:
    events = AuditEvent.objects.filter(tenant=tenant).order_by("-created_at", "-id")
    return Paginator(events, TIMELINE_PAGE_SIZE).get_page(page_number)


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def public_items(data: dict) -> list[tuple[str, object]]:
    """The (key, value) pairs of a result or detail that a page may show: no secrets, no nested bulk."""
    return [(key, value) for key, value in data.items() if not is_secret_key(key)]


DATE_FORMAT = "j M Y, H:i e"


def result_time(value: object) -> datetime | None:
    """A result's time (a Unix timestamp or an ISO string, as the services save them) as an aware datetime."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        return parsed
    return None


def _display(value: object, key: str = "") -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if key.endswith(("_at", "_started", "_since")) and (moment := result_time(value)) is not None:
        return date_format(timezone.localtime(moment), DATE_FORMAT)
    if isinstance(value, dict):
        return "; ".join(
            f"{str(name).replace('_', ' ')}: {_display(item, str(name))}"
            for name, item in value.items()
            if not is_secret_key(str(name))
        )
    if isinstance(value, list | tuple):
        if any(isinstance(item, dict | list) for item in value):
            return f"{len(value)} item{'s' if len(value) != 1 else ''}"
        return ", ".join(str(item) for item in value) or "—"
    return "—" if value in (None, "") else str(value)


def display_items(data: dict) -> list[tuple[str, str]]:
    """A result as (label, text) rows for a definition list: plain words, no secrets, nested lists counted,
    times as dates."""
    return [(key.replace("_", " ").capitalize(), _display(value, key)) for key, value in public_items(data)]


def shown_result(state: StepState) -> dict:
    """What a step's page presents as its result: the saved result once it succeeded (or while it waits), and
    for a failed step what the failing run found, which the services keep in the error's detail."""
    if state.status == StepStatus.FAILED:
        found = state.error_detail.get("result")
        return found if isinstance(found, dict) else dict(state.error_detail)
    return dict(state.result)


@dataclass(frozen=True)
class RoomsOutcome:
    """The rooms step at a glance: what happened to each row, and the room lists that hold the rooms."""

    added: int
    already_members: int
    not_applied: list[tuple[str, str, int]]
    rows: int
    from_csv: bool
    lists: list[dict]


def rooms_outcome(result: dict) -> RoomsOutcome:
    counts = result.get("preview_summary") or {}
    applied = {RowStatus.VALID, RowStatus.ALREADY_MEMBER}
    return RoomsOutcome(
        added=int(result.get("rooms_added") or 0),
        already_members=int(result.get("rooms_already_members") or 0),
        not_applied=[
            (status.value, status.label, counts[status.value])
            for status in RowStatus
            if status not in applied and counts.get(status.value)
        ],
        rows=int(counts.get("total") or 0),
        from_csv=result.get("source") == SOURCE_CSV,
        lists=room_lists(result),
    )


def room_lists(result: dict) -> list[dict]:
    """The rooms step's lists with a member count: Exchange Online's result counts the members ("lists"),
    Exchange Server's lists them ("room_lists")."""
    found = result.get("lists") or result.get("room_lists") or []
    return [
        {
            "name": entry.get("name", ""),
            "address": entry.get("address", ""),
            "members": len(entry["members"]) if isinstance(entry.get("members"), list) else entry.get("members", 0),
            "created": bool(entry.get("created")),
        }
        for entry in found
    ]


def password_reveal(tenant: Tenant) -> AuditEvent | None:
    """When and to whom the service account's current password was shown, if it was."""
    secret = TenantSecret.objects.filter(tenant=tenant, kind=SecretKind.SERVICE_ACCOUNT_PASSWORD).first()
    events = AuditEvent.objects.filter(tenant=tenant, action=PASSWORD_REVEAL_ACTION)
    if secret is not None:
        events = events.filter(created_at__gte=secret.updated_at)
    return events.order_by("-created_at").first()


@dataclass(frozen=True)
class RoomsPreview:
    rows: list[dict]
    counts: list[tuple[str, str, int]]
    total: int
    applicable: int
    hidden: int


def rooms_preview(result: dict) -> RoomsPreview:
    """The rooms step's preview (saved in its result while it waits for confirmation), problems first, capped so
    a 50,000-row upload still renders a usable page."""
    rows = result.get("preview") or []
    applicable_statuses = {RowStatus.VALID, RowStatus.ALREADY_MEMBER}
    ordered = sorted(rows, key=lambda row: (row.get("status") in applicable_statuses, row.get("line", 0)))
    shown = [
        {
            **row,
            "status_label": RowStatus(row["status"]).label
            if row.get("status") in RowStatus.values
            else row.get("status", ""),
        }
        for row in ordered[:PREVIEW_ROWS_SHOWN]
    ]
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row.get("status", "")] = by_status.get(row.get("status", ""), 0) + 1
    counts = [
        (status.value, status.label, by_status[status.value]) for status in RowStatus if by_status.get(status.value)
    ]
    return RoomsPreview(
        rows=shown,
        counts=counts,
        total=len(rows),
        applicable=sum(by_status.get(status, 0) for status in applicable_statuses),
        hidden=max(0, len(rows) - len(shown)),
    )


def step_states(tenant: Tenant) -> list[StepState]:
    return list(StepState.objects.filter(tenant=tenant).order_by("position"))


def stuck_since(state: StepState) -> timedelta | None:
    if state.status not in (*ACTIVE_STATUSES, StepStatus.INTERRUPTED):
        return None
    since = state.waiting_since or state.started_at or state.updated_at
    age = timezone.now() - since
    return age if age > STUCK_AFTER else None
