"""How the pages present what the services saved: results in plain words, the rooms step's outcome and preview,
and each step's extra page context (a Step's `page_context`). Formatting only: queries live in wizard.selectors."""

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant, TenantStatus
from wizard import drift
from wizard.errors import support_case_ids
from wizard.models import DriftCheckStatus, StepState, StepStatus
from wizard.results import StepResult
from wizard.steps.exchange_online.connect import presets
from wizard.steps.exchange_online.connect import service as connect
from wizard.steps.exchange_server import common as exchange_server
from wizard.steps.registry import Step

# Result keys a page never shows, whoever looks: the services keep secrets in TenantSecret, and this is the
# second fence in case one ever lands in a step's result.
_SECRET_WORDS = ("password", "secret", "token", "credential", "private_key")
# Any of them anywhere in a key, in any case: one regular expression (the timeline export asks a million times).
_SECRET_KEY = re.compile("|".join(_SECRET_WORDS), re.IGNORECASE)


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


def in_pieces(lines: Iterable[str], size: int = 1 << 16) -> Iterator[str]:
    """Lines joined into pieces of about `size` characters for a streaming response: the server writes each piece
    it is given with a system call of its own, and a million one-line writes cost more than the lines."""
    piece: list[str] = []
    length = 0
    for line in lines:
        piece.append(line)
        length += len(line)
        if length >= size:
            yield "".join(piece)
            piece, length = [], 0
    if piece:
        yield "".join(piece)


class TimelineEvent(Protocol):
    """What the timeline export reads of an audit event: an AuditEvent, or a row of just these fields."""

    created_at: datetime
    actor: str
    action: str
    step_id: str
    outcome: str
    detail: dict[str, Any]


def timeline_record(event: TimelineEvent, step_titles: dict[str, str]) -> dict[str, Any]:
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


def timeline_json_lines(head: dict[str, Any], records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The timeline export's JSON document a line at a time: `head`'s keys, then "events", one event a line, as the
    records come (the export streams; a million events never sit in memory as one list or one string)."""
    yield "{\n"
    for key, value in head.items():
        yield f"  {json.dumps(key)}: {json.dumps(value, default=str)},\n"
    yield '  "events": ['
    separator = "\n    "
    for record in records:
        yield separator + json.dumps(record, default=str)
        separator = ",\n    "
    yield "\n  ]\n}\n"


def tenant_status_label(tenant: Tenant) -> str:
    """The status column: the current step's status, or the tenant's own once every step is done."""
    if tenant.current_status is None:
        return TenantStatus(tenant.status).label
    return StepStatus(tenant.current_status).label


def is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


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
        return _("Yes") if value else _("No")
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


@dataclass(frozen=True)
class StatusView:
    """What a step's status means for a page, one flag per status and the groups pages ask about, so that no
    template compares status strings."""

    value: str
    label: str

    @classmethod
    def of(cls, state: StepState) -> "StatusView":
        return cls(state.status, state.get_status_display())

    not_started = property(lambda self: self.value == StepStatus.NOT_STARTED)
    queued = property(lambda self: self.value == StepStatus.QUEUED)
    running = property(lambda self: self.value == StepStatus.RUNNING)
    waiting = property(lambda self: self.value == StepStatus.WAITING)
    needs_input = property(lambda self: self.value == StepStatus.NEEDS_INPUT)
    succeeded = property(lambda self: self.value == StepStatus.SUCCEEDED)
    failed = property(lambda self: self.value == StepStatus.FAILED)
    skipped = property(lambda self: self.value == StepStatus.SKIPPED)
    interrupted = property(lambda self: self.value == StepStatus.INTERRUPTED)
    # What the step found so far is worth showing: it is done, or it waits on Microsoft with a partial result.
    shows_result = property(lambda self: self.value in (StepStatus.SUCCEEDED, StepStatus.WAITING))
    # Something the admin must look at: it failed, or its worker was lost.
    went_wrong = property(lambda self: self.value in (StepStatus.FAILED, StepStatus.INTERRUPTED))


def nav_of(steps: Iterable[Step], states: Iterable[StepState]) -> list[tuple[Step, StepState, StatusView]]:
    """The wizard's side navigation: each step with its state and what that state means."""
    by_id = {state.step_id: state for state in states}
    return [(step, by_id[step.id], StatusView.of(by_id[step.id])) for step in steps]


def support_case_text(tenant: Tenant, step_title: str, state: StepState) -> str:
    """What to paste into a Microsoft support case about a step's failed call: Microsoft's request-id, the
    client-request-id Onramp sent and the answer's date, with which organisation and step; "" when Microsoft's
    answer gave none of them (the failure was not a Microsoft call's)."""
    ids = support_case_ids(state.error_detail)
    if not ids:
        return ""
    return "\n".join(
        [
            f"Microsoft request-id: {ids.get('request_id', '(not given)')}",
            f"client-request-id: {ids.get('client_request_id', '(not given)')}",
            f"Date: {ids.get('date', '(not given)')}",
            f"Microsoft tenant: {tenant.microsoft_tenant_id or '(not known yet)'}",
            f"What failed: {step_title} — {state.error_code}: {state.error_message}",
        ]
    )


def shown_result(result_type: type[StepResult], state: StepState) -> StepResult:
    """What a step's page presents as its result: the saved result once it succeeded (or while it waits), and
    for a failed step what the failing run found, which the services keep in the error's detail."""
    if state.status == StepStatus.FAILED:
        found = state.error_detail.get("result")
        return result_type.from_json(found if isinstance(found, dict) else state.error_detail)
    return result_type.from_json(state.result)


def drift_checked(tenant: Tenant) -> bool:
    """Whether the drift check can look at this organisation (Exchange Online only): else nothing offers it."""
    return drift.checks_drift(tenant)


def drift_panel(tenant: Tenant) -> dict[str, Any]:
    """What the organisation's page and the support console show of drift: the latest check, the findings still
    standing (less the new rooms placed since), whether a check runs now, and room lists outside the scope; for
    an organisation the check cannot look at, only that (`drift_checked` False)."""
    if not drift.checks_drift(tenant):
        nothing: dict[str, Any] = {
            "drift_check": None,
            "drift_running": False,
            "drift_check_failed": False,
            "drift_check_done": False,
        }
        lists = ("drift_findings", "rooms_placed_since_check", "new_rooms", "lists_outside_scope")
        return {"drift_checked": False, **nothing, **dict.fromkeys(lists, ())}
    check = drift.latest_check(tenant)
    standing = drift.standing(tenant, check)
    return {
        "drift_checked": True,
        "drift_check": check,
        "drift_check_failed": check is not None and check.status == DriftCheckStatus.FAILED,
        "drift_check_done": check is not None and check.status == DriftCheckStatus.DONE,
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
    """The enterprise apps an admin may pick as the integration's (wizard.steps.exchange_online.connect.service)."""
    return connect.integration_candidates(tenant, name)


@dataclass(frozen=True)
class PresetChoice:
    """A known calendar product offered on the integration picker, and whether its app is already in the tenant."""

    preset: presets.IntegrationPreset
    in_tenant: bool


def integration_presets(tenant: Tenant, connected: bool) -> list[PresetChoice]:
    """The known products' apps (wizard.steps.exchange_online.connect.presets), each marked when it already has a
    service principal in the tenant: read only once step 0 has connected."""
    present = presets.presets_in_tenant(tenant) if connected else frozenset()
    return [PresetChoice(preset, preset.app_id in present) for preset in presets.PRESETS]
