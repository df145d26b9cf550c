"""How the pages present what the services saved: results in plain words, the rooms step's outcome and preview,
and each step's extra page context (a Step's `page_context`). Formatting only: queries live in wizard.selectors."""

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

from tenants.models import SecretKind, Tenant, TenantStatus
from tenants.secrets import has_secret
from wizard import selectors
from wizard.models import AuditEvent, StepState, StepStatus
from wizard.results import ExchangeServerRoomsResult, RoomListEntry, RoomsResult, StepResult
from wizard.rooms_csv import COLUMN as CSV_COLUMN
from wizard.rooms_csv import RowStatus
from wizard.services import connect, connector, drift, exchange_server, reduce_access
from wizard.services.rooms import NEW_ROOMS_COLUMN, SOURCE_CSV

PREVIEW_ROWS_SHOWN = 500

# Result keys a page never shows, whoever looks: the services keep secrets in TenantSecret, and this is the
# second fence in case one ever lands in a step's result.
_SECRET_WORDS = ("password", "secret", "token", "credential", "private_key")


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
TIMELINE_COLUMNS = ("when", "who", "what", "step", "step_id", "outcome", "detail")


def spreadsheet_safe(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula is prefixed with a quote."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_PREFIXES) else text


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Each row as one line of CSV, as it is needed (the exports stream)."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def timeline_record(event: AuditEvent, step_titles: dict[str, str]) -> dict[str, Any]:
    """One audit event as the timeline export shows it: who, what, when, which step, the outcome, and the detail
    without secrets."""
    return {
        "when": event.created_at.isoformat(),
        "who": event.actor,
        "what": event.action,
        "step": step_titles.get(event.step_id, event.step_id),
        "step_id": event.step_id,
        "outcome": event.outcome,
        "detail": dict(public_items(event.detail)),
    }


def timeline_csv_row(record: dict[str, Any]) -> list[str]:
    cells = {**record, "detail": json.dumps(record["detail"], sort_keys=True, default=str) if record["detail"] else ""}
    return [spreadsheet_safe(cells[column]) for column in TIMELINE_COLUMNS]


def tenant_status_label(tenant: Tenant) -> str:
    """The status column: the current step's status, or the tenant's own once every step is done."""
    if tenant.current_status is None:
        return TenantStatus(tenant.status).label
    return StepStatus(tenant.current_status).label


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
            f"{label(str(name))}: {_display(item, str(name))}"
            for name, item in value.items()
            if not is_secret_key(str(name))
        )
    if isinstance(value, list | tuple):
        if any(isinstance(item, dict | list) for item in value):
            return f"{len(value)} item{'s' if len(value) != 1 else ''}"
        return ", ".join(str(item) for item in value) or "—"
    return "—" if value in (None, "") else str(value)


# Words of a result key that a person reads as initials ("ews_url" is "EWS URL", not "Ews url").
_INITIALISMS = {
    "api": "API",
    "csv": "CSV",
    "dn": "DN",
    "dns": "DNs",
    "ews": "EWS",
    "id": "ID",
    "ids": "IDs",
    "sku": "SKU",
    "smtp": "SMTP",
    "upn": "UPN",
    "url": "URL",
    "urls": "URLs",
}


def label(key: str) -> str:
    """A result key as a label: words separated, the first capitalised, initialisms in capitals."""
    words = [_INITIALISMS.get(word.lower(), word.lower()) for word in str(key).split("_") if word]
    if words and words[0] == words[0].lower():
        words[0] = words[0].capitalize()
    return " ".join(words)


def display_items(data: dict) -> list[tuple[str, str]]:
    """A result as (label, text) rows for a definition list: plain words, no secrets, nested lists counted,
    times as dates."""
    return [(label(key), _display(value, key)) for key, value in public_items(data)]


def shown_result(result_type: type[StepResult], state: StepState) -> StepResult:
    """What a step's page presents as its result: the saved result once it succeeded (or while it waits), and
    for a failed step what the failing run found, which the services keep in the error's detail."""
    if state.status == StepStatus.FAILED:
        found = state.error_detail.get("result")
        return result_type.from_json(found if isinstance(found, dict) else state.error_detail)
    return result_type.from_json(state.result)


@dataclass(frozen=True)
class RoomsOutcome:
    """The rooms step at a glance: what happened to each row, and the room lists that hold the rooms."""

    added: int
    already_members: int
    not_applied: list[tuple[str, str, int]]
    rows: int
    lists: tuple[RoomListEntry, ...]
    # Where the rooms came from, in words: an upload, the new rooms chosen after a drift check, or every room.
    source: str


def rooms_source(result: RoomsResult, inputs: dict, rows: int) -> str:
    """New rooms placed from the drift panel travel as CSV-shaped inputs (wizard.services.rooms.new_rooms_inputs)
    though no file was uploaded: their column names them."""
    if result.source != SOURCE_CSV:
        return "Every room mailbox of the organisation"
    if is_new_rooms_choice(inputs):
        return f"The {rows} new room{'' if rows == 1 else 's'} chosen on the organisation's page after a drift check"
    return f"From {rows} row{'' if rows == 1 else 's'} of your CSV file"


def is_new_rooms_choice(inputs: dict) -> bool:
    return (inputs.get("csv") or {}).get("column") == NEW_ROOMS_COLUMN


def rooms_outcome(result: RoomsResult, inputs: dict | None = None) -> RoomsOutcome:
    counts = result.preview_summary
    rows = int(counts.get("total") or 0)
    applied = {RowStatus.VALID, RowStatus.ALREADY_MEMBER}
    return RoomsOutcome(
        added=result.rooms_added,
        already_members=result.rooms_already_members,
        not_applied=[
            (status.value, status.label, counts[status.value])
            for status in RowStatus
            if status not in applied and counts.get(status.value)
        ],
        rows=rows,
        lists=result.lists,
        source=rooms_source(result, inputs or {}, rows),
    )


@dataclass(frozen=True)
class RoomsPreview:
    rows: list[dict]
    counts: list[tuple[str, str, int]]
    total: int
    applicable: int
    hidden: int
    # What confirming writes: the rooms not yet in a list (`applicable` also counts those already in one).
    to_add: int = 0
    already_members: int = 0
    # The room lists once confirmed, each at most 75 rooms: name, address, members, adding, created.
    planned_lists: tuple[RoomListEntry, ...] = ()
    # Said when the upload's addresses came from a column other than the article's ResourceAccounts.
    column_note: str = ""
    # `rows` split for the page: the rows that will not be added are shown; the others are folded, since a
    # tenant's every room (thousands) would push the rest of the page out of reach.
    problem_rows: list[dict] = field(default_factory=list)
    ready_rows: list[dict] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return self.total - self.applicable


def column_note(inputs: dict) -> str:
    """Which column of the upload the addresses were read from, when it is not the article's own."""
    if is_new_rooms_choice(inputs):
        return ""
    column = str((inputs.get("csv") or {}).get("column") or "")
    if not column or "".join(char for char in column.casefold() if char.isalnum()) == CSV_COLUMN.casefold():
        return ""
    return f"Read addresses from the column ‘{column}’; the article's column is ‘{CSV_COLUMN}’."


def rooms_preview(result: RoomsResult, inputs: dict | None = None) -> RoomsPreview:
    """The rooms step's preview (saved in its result while it waits for confirmation), problems first, capped so
    a 50,000-row upload still renders a usable page."""
    rows = result.preview
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
        problem_rows=[row for row in shown if row.get("status") not in applicable_statuses],
        ready_rows=[row for row in shown if row.get("status") in applicable_statuses],
        counts=counts,
        total=len(rows),
        applicable=sum(by_status.get(status, 0) for status in applicable_statuses),
        hidden=max(0, len(rows) - len(shown)),
        to_add=by_status.get(RowStatus.VALID, 0),
        already_members=by_status.get(RowStatus.ALREADY_MEMBER, 0),
        planned_lists=result.planned_lists,
        column_note=column_note(inputs or {}),
    )


def connect_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    """ "Connect with Microsoft" is offered only when the installation has its own connector app; the permissions
    listed come from the one list of what Onramp's app needs (wizard/services/connect.py)."""
    return {
        "may_connect": may_change_secrets,
        "consent_available": bool(settings.ONRAMP_CONNECTOR_CLIENT_ID),
        "bound_by_proof": tenant.get_binding_proof_display() if tenant.binding_proof else "",
        "access_handed_back": connector.access_handed_back(tenant),
        "required_graph_permissions": [name for name, _ in connect.REQUIRED_GRAPH_PERMISSIONS],
        "required_exchange_access": list(connect.REQUIRED_EXCHANGE_ACCESS),
    }


def service_account_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    return {
        "password_stored": has_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD),
        "password_revealed": selectors.password_reveal(tenant),
        "may_see_password": may_change_secrets,
    }


def reduce_access_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    return {"hand_back_plan": reduce_access.plan(tenant)}


def rooms_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    result = RoomsResult.from_json(state.result)
    context: dict[str, Any] = {"rooms_outcome": rooms_outcome(result, state.inputs)}
    if state.status == StepStatus.NEEDS_INPUT and "preview" in state.result:
        context["preview"] = rooms_preview(result, state.inputs)
    return context


def exchange_server_rooms_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    """The rooms outcome and one CSV download per planned room list (the files the script imports)."""
    return {
        "room_lists": ExchangeServerRoomsResult.from_json(state.result).lists,
        "room_list_downloads": exchange_server.room_plan(tenant),
    }


def drift_checked(tenant: Tenant) -> bool:
    """Whether the drift check can look at this organisation (Exchange Online only): else nothing offers it."""
    return drift.checks_drift(tenant)


def drift_panel(tenant: Tenant) -> dict[str, Any]:
    """What the organisation's page and the support console show of drift: the latest check, the findings still
    standing (less the new rooms placed since), whether a check runs now, and room lists outside the scope; for
    an organisation the check cannot look at, only that (`drift_checked` False)."""
    if not drift.checks_drift(tenant):
        nothing: dict[str, Any] = {"drift_check": None, "drift_running": False}
        lists = ("drift_findings", "rooms_placed_since_check", "new_rooms", "lists_outside_scope")
        return {"drift_checked": False, **nothing, **dict.fromkeys(lists, ())}
    check = drift.latest_check(tenant)
    standing = drift.standing(tenant, check)
    return {
        "drift_checked": True,
        "drift_check": check,
        "drift_findings": standing.findings,
        "rooms_placed_since_check": standing.placed_since,
        "drift_running": drift.check_running(tenant),
        "new_rooms": standing.new_rooms,
        "lists_outside_scope": drift.lists_outside_scope(tenant),
    }


def room_list_csv(tenant: Tenant, number: int) -> tuple[str, str]:
    """The file name and text of one planned room list's CSV (Exchange Server); LookupError for no such list."""
    return exchange_server.room_list_csv(tenant, number)


def integration_candidates(tenant: Tenant, name: str) -> list[connect.IntegrationCandidate]:
    """The enterprise apps an admin may pick as the integration's (wizard.services.connect)."""
    return connect.integration_candidates(tenant, name)
