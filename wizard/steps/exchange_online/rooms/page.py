"""What the rooms step's page shows beyond its result."""

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext, ngettext

from tenants.models import Tenant
from wizard.models import StepState, StepStatus
from wizard.results import RoomListEntry
from wizard.rooms_csv import COLUMN as CSV_COLUMN
from wizard.rooms_csv import RowStatus
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.rooms.service import NEW_ROOMS_COLUMN, SOURCE_CSV

PREVIEW_ROWS_SHOWN = 500


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
    """New rooms placed from the drift panel travel as CSV-shaped inputs (the service's `new_rooms_inputs`) though
    no file was uploaded: their column names them."""
    if result.source != SOURCE_CSV:
        return gettext("Every room mailbox of the organisation")
    if is_new_rooms_choice(inputs):
        return ngettext(
            "The {rows} new room chosen on the organisation's page after a drift check",
            "The {rows} new rooms chosen on the organisation's page after a drift check",
            rows,
        ).format(rows=rows)
    return ngettext("From {rows} row of your CSV file", "From {rows} rows of your CSV file", rows).format(rows=rows)


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
            (status.value, gettext(status.label), counts[status.value])
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
    return gettext("Read addresses from the column ‘{column}’; the article's column is ‘{expected}’.").format(
        column=column, expected=CSV_COLUMN
    )


def rooms_preview(result: RoomsResult, inputs: dict | None = None) -> RoomsPreview:
    """The rooms step's preview (saved in its result while it waits for confirmation), problems first, capped so
    a 50,000-row upload still renders a usable page."""
    rows = result.preview
    applicable_statuses = {RowStatus.VALID, RowStatus.ALREADY_MEMBER}
    ordered = sorted(rows, key=lambda row: (row.get("status") in applicable_statuses, row.get("line", 0)))
    shown = [
        {
            **row,
            "status_label": gettext(RowStatus(row["status"]).label)
            if row.get("status") in RowStatus.values
            else row.get("status", ""),
        }
        for row in ordered[:PREVIEW_ROWS_SHOWN]
    ]
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row.get("status", "")] = by_status.get(row.get("status", ""), 0) + 1
    counts = [
        (status.value, gettext(status.label), by_status[status.value])
        for status in RowStatus
        if by_status.get(status.value)
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


def rooms_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    result = RoomsResult.from_json(state.result)
    context: dict[str, Any] = {"rooms_outcome": rooms_outcome(result, state.inputs)}
    if state.status == StepStatus.NEEDS_INPUT and "preview" in state.result:
        context["preview"] = rooms_preview(result, state.inputs)
    return context
