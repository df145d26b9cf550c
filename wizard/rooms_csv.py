"""Reading the rooms CSV an admin uploads in step 4, and the preview of what applying it would do.

The file follows Microsoft's and the integrators' how-tos: one column headed `ResourceAccounts` holding room mailbox
addresses. Admins make it in Excel, in PowerShell (`Export-Csv`) or by hand, so the parser is lenient about form and
strict about content:

- Any header case and spacing (`resourceaccounts`, ` Resource Accounts `); other columns are ignored. A file with no
  `ResourceAccounts` column is still accepted when exactly one column is headed `PrimarySmtpAddress`, `EmailAddress`
  or `Email`: that is what `Get-Mailbox | Export-Csv` and most address lists carry, and the column is unambiguous.
  A first line `#TYPE …` (Windows PowerShell's `Export-Csv` without `-NoTypeInformation`) is skipped.
- Comma, semicolon (Excel in many European locales) or tab (Excel's "Unicode text") as delimiter, chosen as the one
  that splits the header into a recognised column, then read with the `csv` module (quotes, embedded delimiters
  and line breaks, CRLF).
- UTF-8 with or without BOM, UTF-16/UTF-32 with BOM, and Windows-1252 (Excel's plain "CSV" on Windows) when the
  file holds no UTF-8 at all. NUL bytes, workbooks, and files mixing UTF-8 with another encoding are refused.

Whole-file problems raise `RoomsCsvError` with a stable `code` and a message naming the row where there is one.
Row problems become per-row results so the admin sees every bad row at once. Rows are numbered as Excel shows them:
the header is row 1. Nothing here reads the database or the network: `classify_rows` gets the tenant's directory
from the caller.
"""

import codecs
import csv
import io
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Set
from contextlib import suppress
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db.models.enums import TextChoices
from django.utils.translation import gettext_noop

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
MAX_FIELD_LENGTH = 320  # the longest valid email address (RFC 3696 erratum 1690, Django's EmailValidator)
RAW_PREVIEW_LENGTH = 100  # longer cells are shortened in results; they are refused anyway

COLUMN = "ResourceAccounts"
ALTERNATIVE_COLUMNS = ("PrimarySmtpAddress", "EmailAddress", "Email")
RESOURCE_TYPES = frozenset({"RoomMailbox", "EquipmentMailbox"})

_DELIMITERS = (",", ";", "\t")
_FORMULA_PREFIXES = ("=", "+", "-", "@")
_SAVE_AS_HINT = "In Excel, use File › Save As › “CSV UTF-8 (Comma delimited)” and upload that file."
_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
_WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # .xlsx/.ods (zip), .xls (OLE)
_validate_email = EmailValidator(allowlist=[])


class RowStatus(TextChoices):
    """What a row of the upload would become. The first four come from the file alone, the rest from the tenant.
    A label is also saved as a refused row's reason, so it stays English here; the pages translate it (gettext)."""

    VALID = "valid", gettext_noop("Valid")
    MALFORMED = "malformed", gettext_noop("Malformed address")
    DUPLICATE = "duplicate", gettext_noop("Duplicate")
    FORMULA = "formula", gettext_noop("Refused: looks like a spreadsheet formula")
    UNKNOWN_MAILBOX = "unknown_mailbox", gettext_noop("Unknown mailbox")
    NOT_A_RESOURCE_MAILBOX = "not_a_resource_mailbox", gettext_noop("Not a room or equipment mailbox")
    ALREADY_MEMBER = "already_member", gettext_noop("Already a member")


class RoomsCsvError(Exception):
    """The file as a whole cannot be used; `message` tells the admin why and how to fix it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: `line` is the Excel row number, `raw` the cell as written (shortened if very long),
    `address` the trimmed address when the row is valid, `reason` plain words when it is not."""

    line: int
    raw: str
    address: str | None
    status: RowStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """A row as the preview shows it, after the tenant checks; `recipient_type` is the mailbox's
    RecipientTypeDetails when the tenant has one at that address."""

    line: int
    raw: str
    address: str | None
    status: RowStatus
    reason: str = ""
    recipient_type: str = ""


@dataclass(frozen=True, slots=True)
class ParsedRooms:
    """The rows of a readable file, with how it was read (shown to the admin when something looks off)."""

    rows: list[CsvRow]
    column: str
    delimiter: str
    encoding: str


def parse_rooms_csv(data: bytes) -> ParsedRooms:
    """Decode and parse an upload, checking each row on its own (form, formula, length, duplicates).

    Raises `RoomsCsvError` when the file cannot be used at all: too large, empty, not text, mixed encodings, no
    usable column, no rows, too many rows.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise RoomsCsvError(
            "too_large",
            f"The file is {_megabytes(len(data))}; the limit is {_megabytes(MAX_UPLOAD_BYTES)}. "
            f"Split it, or keep only the {COLUMN} column.",
        )
    text, encoding = _decode(data)
    if not text:
        raise RoomsCsvError("empty", f"The file is empty. Upload a CSV whose first row reads {COLUMN}.")
    header_line, header_text = _header(text)
    delimiter, header, column_index = _choose_dialect(header_text, header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = _read_rows(reader, header_line, len(header), column_index, header[column_index].strip())
    if not rows:
        raise RoomsCsvError(
            "no_rows", f"The file has a header but no rooms: add one address per row under {COLUMN}, from row 2 on."
        )
    return ParsedRooms(rows=rows, column=header[column_index].strip(), delimiter=delimiter, encoding=encoding)


def classify_rows(parsed: ParsedRooms, directory: Mapping[str, str], current_members: Set[str]) -> list[PreviewRow]:
    """Add the tenant's view to each valid row: does the mailbox exist, is it a room or equipment mailbox, is it
    already in the room lists.

    `directory` maps lowercased addresses to RecipientTypeDetails and should hold every recipient type the
    tenant has at those addresses (not only resource mailboxes), so that a user mailbox is named as such instead
    of reported unknown. `current_members` are the addresses already in this tenant's room lists, in any case.
    """
    members = {address.lower() for address in current_members}
    return [_classify(row, directory, members) for row in parsed.rows]


def summary(preview: list[PreviewRow]) -> dict[str, int]:
    """Rows per status, every status present (zero when none), plus `total`, for the preview's header."""
    counts = Counter(row.status for row in preview)
    return {status.value: counts[status] for status in RowStatus} | {"total": len(preview)}


def _classify(row: CsvRow, directory: Mapping[str, str], members: set[str]) -> PreviewRow:
    if row.status != RowStatus.VALID or row.address is None:
        return PreviewRow(row.line, row.raw, row.address, row.status, row.reason)
    key = row.address.lower()
    recipient_type = directory.get(key)
    if recipient_type is None:
        status, reason = RowStatus.UNKNOWN_MAILBOX, "The tenant has no mailbox with this address; check the spelling."
    elif recipient_type not in RESOURCE_TYPES:
        status = RowStatus.NOT_A_RESOURCE_MAILBOX
        reason = f"This is a {recipient_type}; only room and equipment mailboxes can join a room list."
    elif key in members:
        status, reason = RowStatus.ALREADY_MEMBER, "Already in a room list; nothing to do."
    else:
        status, reason = RowStatus.VALID, ""
    return PreviewRow(row.line, row.raw, row.address, status, reason, recipient_type or "")


def _decode(data: bytes) -> tuple[str, str]:
    """Bytes to text and the name of the encoding used, or a `RoomsCsvError` saying why the bytes are not text."""
    if data.startswith(_WORKBOOK_SIGNATURES):
        raise RoomsCsvError(
            "spreadsheet", f"This is a spreadsheet workbook (.xlsx, .xls or .ods), not a CSV file. {_SAVE_AS_HINT}"
        )
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                raise RoomsCsvError(
                    "undecodable",
                    f"The file starts as {label} text but is not valid {label} further on. {_SAVE_AS_HINT}",
                ) from None
            if "\x00" in text:
                raise _binary()
            return text, label
    if b"\x00" in data:
        raise _binary()
    has_bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8) :] if has_bom else data
    try:
        return body.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError as exc:
        row = body.count(b"\n", 0, exc.start) + 1
        if has_bom or not body.decode("utf-8", "replace").replace("\ufffd", "").isascii():
            raise RoomsCsvError(
                "mixed_encoding",
                f"Row {row} is not in the same encoding as the rest of the file (UTF-8): the file mixes text "
                f"encodings, often from rows pasted from another file. {_SAVE_AS_HINT}",
            ) from None
    try:
        return body.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError as exc:
        row = body.count(b"\n", 0, exc.start) + 1
        raise RoomsCsvError(
            "undecodable", f"Row {row} holds bytes that are not text in any encoding Onramp reads. {_SAVE_AS_HINT}"
        ) from None


def _binary() -> RoomsCsvError:
    return RoomsCsvError("binary", f"This is not a text file (it contains NUL bytes). {_SAVE_AS_HINT}")


def _header(text: str) -> tuple[int, str]:
    """The header's row number and text: the first line that is neither blank nor PowerShell's `#TYPE` line."""
    lines = io.StringIO(text, newline=None)  # \n, \r\n and \r end a line, as they do for the csv module
    for number, line in enumerate(lines, start=1):
        if line.strip() and not line.startswith("#TYPE"):
            return number, line.rstrip("\r\n")
    raise RoomsCsvError("empty", f"The file holds only blank lines. Upload a CSV whose first row reads {COLUMN}.")


def _choose_dialect(header_text: str, header_line: int) -> tuple[str, list[str], int]:
    """The delimiter that makes the header hold a usable column, the header cells, and that column's index."""
    try:
        candidates = [(d, next(csv.reader([header_text], delimiter=d))) for d in _DELIMITERS]
    except csv.Error as exc:
        raise RoomsCsvError("unreadable", f"Row {header_line}, the header, cannot be read as CSV: {exc}.") from None
    for wanted in ((COLUMN,), ALTERNATIVE_COLUMNS):
        names = {_normalise(name) for name in wanted}
        for delimiter, cells in candidates:
            found = [index for index, cell in enumerate(cells) if _normalise(cell) in names]
            if len(found) == 1:
                return delimiter, cells, found[0]
            if found:
                raise RoomsCsvError(
                    "ambiguous_column",
                    f"Row {header_line} has {len(found)} address columns ({_quoted(cells[i] for i in found)}); "
                    f"keep one, headed {COLUMN}.",
                )
    _, cells = max(candidates, key=lambda candidate: len(candidate[1]))
    addresses = [cell.strip() for cell in cells if _malformed_reason(cell.strip()) is None]
    if addresses:
        raise RoomsCsvError(
            "missing_header",
            f"Row {header_line} is an address ({addresses[0]}), not a header: insert a first row that reads {COLUMN}.",
        )
    shown = _quoted(cells[:10]) + (f" and {len(cells) - 10} more" if len(cells) > 10 else "")
    raise RoomsCsvError(
        "missing_column",
        f"No {COLUMN} column: row {header_line} has {shown}. Head the column of room addresses {COLUMN}.",
    )


def _read_rows(reader: Iterator[list[str]], header_line: int, width: int, column: int, name: str) -> list[CsvRow]:
    rows: list[CsvRow] = []
    first_seen: dict[str, int] = {}
    line = 0
    try:
        for record in reader:
            line += 1
            if line <= header_line or not any(cell.strip() for cell in record):
                continue
            if len(rows) == MAX_ROWS:
                raise RoomsCsvError(
                    "too_many_rows",
                    f"Row {line} is past the limit of {MAX_ROWS:,} rooms per file; split the file and upload the "
                    f"parts one after the other.",
                )
            rows.append(_check_row(line, record, width, column, name, first_seen))
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise RoomsCsvError(
                "cell_too_large",
                f"Row {line + 1} has a cell of more than {csv.field_size_limit():,} characters, usually a double "
                f'quote (") opened and never closed.',
            ) from None
        raise RoomsCsvError("unreadable", f"Row {line + 1} cannot be read as CSV: {exc}.") from None
    return rows


def _check_row(line: int, record: list[str], width: int, column: int, name: str, first_seen: dict[str, int]) -> CsvRow:
    """The row-local verdict; `first_seen` (lowercased address -> row) is updated with each new valid address."""
    cell = record[column] if column < len(record) else ""
    value = cell.strip()
    raw = cell if len(cell) <= RAW_PREVIEW_LENGTH else cell[:RAW_PREVIEW_LENGTH] + "…"
    problem = _row_problem(value, record, width, name)
    if problem:
        return CsvRow(line, raw, None, *problem)
    key = value.lower()
    if key in first_seen:
        return CsvRow(line, raw, value, RowStatus.DUPLICATE, f"Same address as row {first_seen[key]}.")
    first_seen[key] = line
    return CsvRow(line, raw, value, RowStatus.VALID)


def _row_problem(value: str, record: list[str], width: int, name: str) -> tuple[RowStatus, str] | None:
    if not value:
        return RowStatus.MALFORMED, f"The {name} cell is empty."
    if value.startswith(_FORMULA_PREFIXES):
        return (
            RowStatus.FORMULA,
            f"Starts with “{value[0]}”, which a spreadsheet runs as a formula; refused for safety. "
            f"Enter the address alone.",
        )
    if "\n" in value or "\r" in value:
        return RowStatus.MALFORMED, 'Runs over several lines: a double quote (") is probably opened and never closed.'
    if len(value) > MAX_FIELD_LENGTH:
        return RowStatus.MALFORMED, f"{len(value):,} characters long; an email address has at most {MAX_FIELD_LENGTH}."
    if any(cell.strip() for cell in record[width:]):
        return (
            RowStatus.MALFORMED,
            f"{len(record)} cells where the header has {width} column{'s' if width > 1 else ''}: "
            f"a value containing the delimiter must be in double quotes.",
        )
    invisible = _invisible_character(value)
    if invisible:
        return RowStatus.MALFORMED, invisible
    reason = _malformed_reason(value)
    return (RowStatus.MALFORMED, reason) if reason else None


def _invisible_character(value: str) -> str | None:
    """Zero-width and other format characters (Unicode category Cf) come with addresses copied from web pages and
    chat. They must be named here: the address validator maps them away in the domain (IDNA), and Exchange would
    then answer "no such mailbox" for an address that looks right."""
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) == "Cf":
            name = unicodedata.name(char, "FORMAT CHARACTER")
            return (
                f"Contains an invisible character (U+{ord(char):04X} {name}) at character {position}: "
                "delete the address and type it again."
            )
    return None


def _malformed_reason(value: str) -> str | None:
    """None for a valid address (Django's EmailValidator decides), else the likeliest mistake in plain words."""
    with suppress(ValidationError):
        _validate_email(value)
        return None
    if "<" in value or ">" in value:
        return "Write the address alone, without a display name or angle brackets."
    if "@" not in value:
        return "No “@”: this is not an email address."
    if value.count("@") > 1:
        return "More than one “@”."
    if any(char.isspace() for char in value):
        return "Contains a space."
    if not value.isascii():
        return "Contains accented, look-alike or invisible characters that an address cannot have."
    if "." not in value.rpartition("@")[2]:
        return "The domain after “@” has no dot (expected e.g. contoso.onmicrosoft.com)."
    return "Not a valid email address."


def _normalise(header: str) -> str:
    """Header names compare without case, spaces, `_`, `-` or a stray BOM: `Resource Accounts` is `ResourceAccounts`."""
    return "".join(char for char in header.casefold() if char not in " _-\t\ufeff")


def _quoted(cells: Iterable[str]) -> str:
    return ", ".join(f"“{cell.strip()}”" for cell in cells)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
