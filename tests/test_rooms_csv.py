"""The rooms CSV: every file of the bad-input corpus (tests/data/csv/manifest.json) gets its own outcome, plus the
limits, which are generated here rather than committed."""

import codecs
import json
from pathlib import Path

import pytest

from wizard.rooms_csv import (
    MAX_FIELD_LENGTH,
    MAX_ROWS,
    MAX_UPLOAD_BYTES,
    CsvRow,
    ParsedRooms,
    RoomsCsvError,
    RowStatus,
    classify_rows,
    parse_rooms_csv,
    summary,
)

CORPUS = Path(__file__).parent / "data" / "csv"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
FILES = MANIFEST["files"]
ERROR_FILES = sorted(name for name, expected in FILES.items() if "error" in expected)
ROW_FILES = sorted(name for name, expected in FILES.items() if isinstance(expected.get("rows"), list))
DOMAIN = MANIFEST["tenant"]["domain"]


def sandbox_directory() -> dict[str, str]:
    """The sandbox's default seed as `classify_rows` expects it: lowercased address -> RecipientTypeDetails."""
    tenant = MANIFEST["tenant"]
    directory = {f"room-{i:03d}@{DOMAIN}": "RoomMailbox" for i in range(1, tenant["rooms"] + 1)}
    directory |= {f"equipment-{i:03d}@{DOMAIN}": "EquipmentMailbox" for i in range(1, tenant["equipment"] + 1)}
    directory |= {f"user-{i:03d}@{DOMAIN}": "UserMailbox" for i in range(1, tenant["users"] + 1)}
    return directory | {f"admin@{DOMAIN}": "UserMailbox"}


def refused(data: bytes) -> RoomsCsvError:
    with pytest.raises(RoomsCsvError) as caught:
        parse_rooms_csv(data)
    return caught.value


def test_manifest_covers_the_corpus_and_the_corpus_is_big_enough():
    on_disk = {path.name for path in CORPUS.iterdir() if path.name not in {"manifest.json", ".gitattributes"}}
    assert on_disk == set(FILES)
    assert len(FILES) - 1 >= 15  # every file but the valid sample is a bad or awkward input
    assert all(path.stat().st_size < 200_000 for path in CORPUS.iterdir())


@pytest.mark.parametrize("name", ERROR_FILES)
def test_refused_files_get_their_code_and_message(name):
    error = refused((CORPUS / name).read_bytes())
    assert error.code == FILES[name]["error"]
    for mention in FILES[name]["mentions"]:
        assert mention in error.message


def test_each_refused_file_has_its_own_message():
    messages = [refused((CORPUS / name).read_bytes()).message for name in ERROR_FILES]
    assert len(set(messages)) == len(messages)


@pytest.mark.parametrize("name", ROW_FILES)
def test_row_files_get_per_row_statuses_and_reasons(name):
    expected = FILES[name]
    parsed = parse_rooms_csv((CORPUS / name).read_bytes())
    preview = classify_rows(parsed, sandbox_directory(), set(MANIFEST["tenant"]["members"]))

    assert [(row.line, row.status.value) for row in parsed.rows] == [
        (line, status) for line, status, _, _ in expected["rows"]
    ]
    assert [(row.line, row.status.value) for row in preview] == [
        (line, status) for line, _, status, _ in expected["rows"]
    ]
    for row, (_, _, _, mention) in zip(preview, expected["rows"], strict=True):
        if mention is None:
            assert row.reason == ""
        else:
            assert mention in row.reason
    for key in ("column", "delimiter", "encoding"):
        if key in expected:
            assert getattr(parsed, key) == expected[key]


def test_the_valid_sample_parses_whole():
    parsed = parse_rooms_csv((CORPUS / "valid_sample.csv").read_bytes())
    assert [row.status for row in parsed.rows] == [RowStatus.VALID] * FILES["valid_sample.csv"]["count"]
    assert parsed.rows[0] == CsvRow(2, f"room-001@{DOMAIN}", f"room-001@{DOMAIN}", RowStatus.VALID)


def test_valid_addresses_are_trimmed_and_keep_their_case():
    parsed = parse_rooms_csv(f"ResourceAccounts\n  Room-001@{DOMAIN}\t\n".encode())
    assert parsed.rows[0].address == f"Room-001@{DOMAIN}"


@pytest.mark.parametrize("size", [MAX_UPLOAD_BYTES + 1, 10 * 1024 * 1024])
def test_over_the_size_limit(size):
    data = b"ResourceAccounts\n" + b"room-001@contoso.onmicrosoft.com\n" * (size // 33 + 1)
    error = refused(data[:size])
    assert error.code == "too_large"
    assert "limit is 5.0 MB" in error.message


def test_too_many_rows_names_the_first_row_past_the_limit():
    data = "ResourceAccounts\n" + "".join(f"r{i}@{DOMAIN}\n" for i in range(MAX_ROWS + 1))
    error = refused(data.encode())
    assert error.code == "too_many_rows"
    assert f"Row {MAX_ROWS + 2} is past the limit of {MAX_ROWS:,}" in error.message


def test_exactly_the_row_limit_is_accepted():
    data = "ResourceAccounts\n" + "".join(f"r{i}@{DOMAIN}\n" for i in range(MAX_ROWS))
    assert len(parse_rooms_csv(data.encode()).rows) == MAX_ROWS


def test_a_cell_past_the_csv_field_limit_is_refused_with_its_row():
    data = f'ResourceAccounts\nroom-001@{DOMAIN}\n"room-002@{DOMAIN}\n'.encode() + b"x" * 200_000
    error = refused(data)
    assert error.code == "cell_too_large"
    assert error.message.startswith("Row 3 has a cell of more than")


def test_the_longest_valid_address_is_accepted_and_one_more_character_is_not():
    local = "a" * 64
    domain = ".".join(["b" * 63] * 3 + ["c" * (MAX_FIELD_LENGTH - 64 - 1 - 3 * 64)])
    longest = f"{local}@{domain}"
    assert len(longest) == MAX_FIELD_LENGTH
    parsed = parse_rooms_csv(f"ResourceAccounts\n{longest}\n{longest}x\n".encode())
    assert [row.status for row in parsed.rows] == [RowStatus.VALID, RowStatus.MALFORMED]
    assert parsed.rows[1].reason.startswith("321 characters long")
    assert parsed.rows[1].raw.endswith("…") and len(parsed.rows[1].raw) == 101


@pytest.mark.parametrize(
    ("data", "code", "mention"),
    [
        (codecs.BOM_UTF8, "empty", "The file is empty"),
        (codecs.BOM_UTF8 + "ResourceAccounts\nSalle Réunion\n".encode("cp1252"), "mixed_encoding", "Row 2"),
        (codecs.BOM_UTF16_LE + "ResourceAccounts\n".encode("utf-16-le") + b"\x00", "undecodable", "UTF-16"),
        ("ResourceAccounts\n\x00\n".encode("utf-16"), "binary", "NUL"),
        (b"ResourceAccounts\nroom\x81\x8d@x.com\n", "undecodable", "Row 2"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 32, "spreadsheet", ".xls"),
        (b"Email,EmailAddress\nroom-001@x.com,room-001@x.com\n", "ambiguous_column", "“Email”, “EmailAddress”"),
        (b"#TYPE Selected.Microsoft.Exchange\nName\nRoom 1\n", "missing_column", "row 2 has “Name”"),
    ],
    ids=[
        "bom-only",
        "bom-then-cp1252",
        "utf16-odd-bytes",
        "utf16-nul",
        "undefined-cp1252",
        "xls",
        "two-alternatives",
        "type-line",
    ],
)
def test_more_refusals(data, code, mention):
    error = refused(data)
    assert (error.code, mention in error.message) == (code, True)


def test_old_mac_line_endings_are_read_and_rows_keep_their_numbers():
    parsed = parse_rooms_csv(f"\rResourceAccounts\rroom-001@{DOMAIN}\r\rroom-002@{DOMAIN}\r".encode())
    assert [(row.line, row.status) for row in parsed.rows] == [(3, RowStatus.VALID), (5, RowStatus.VALID)]


def test_a_header_past_the_csv_field_limit_is_refused():
    error = refused(b"ResourceAccounts" + b"x" * 200_000 + b"\nroom-001@x.com\n")
    assert error.code == "unreadable"
    assert error.message.startswith("Row 1, the header, cannot be read as CSV")


def test_utf32_with_bom_and_a_single_alternative_column_are_read():
    parsed = parse_rooms_csv(f" e-mail \nroom-001@{DOMAIN}\n".encode("utf-32"))
    assert (parsed.encoding, parsed.column, parsed.rows[0].status) == ("UTF-32", "e-mail", RowStatus.VALID)


def test_members_and_directory_compare_without_case_and_preview_names_the_type():
    parsed = parse_rooms_csv(
        f"ResourceAccounts\nRoom-001@{DOMAIN}\nEquipment-002@{DOMAIN}\nUSER-003@{DOMAIN}\n".encode()
    )
    preview = classify_rows(parsed, sandbox_directory(), {f"ROOM-001@{DOMAIN}"})
    assert [(row.status, row.recipient_type) for row in preview] == [
        (RowStatus.ALREADY_MEMBER, "RoomMailbox"),
        (RowStatus.VALID, "EquipmentMailbox"),
        (RowStatus.NOT_A_RESOURCE_MAILBOX, "UserMailbox"),
    ]


def test_summary_counts_every_status():
    rows = [
        CsvRow(2, "a", "room-001@x.com", RowStatus.VALID),
        CsvRow(3, "=1", None, RowStatus.FORMULA, "formula"),
        CsvRow(4, "b", "room-002@x.com", RowStatus.VALID),
        CsvRow(5, "c", "room-003@x.com", RowStatus.VALID),
    ]
    directory = {"room-001@x.com": "RoomMailbox", "room-002@x.com": "RoomMailbox"}
    preview = classify_rows(ParsedRooms(rows, "ResourceAccounts", ",", "UTF-8"), directory, {"room-002@x.com"})
    counts = summary(preview)
    assert counts == {
        "valid": 1,
        "malformed": 0,
        "duplicate": 0,
        "formula": 1,
        "unknown_mailbox": 1,
        "not_a_resource_mailbox": 0,
        "already_member": 1,
        "total": 4,
    }
    assert set(counts) - {"total"} == set(RowStatus.values)


def test_every_status_has_a_human_label():
    assert all(status.label and status.label != status.value for status in RowStatus)


@pytest.mark.parametrize(
    ("address", "code_point"),
    [
        ("room-001@conto\u200bso.onmicrosoft.com", "U+200B"),  # in the domain, which IDNA would map away
        ("room\u200d-001@contoso.onmicrosoft.com", "U+200D"),
        ("\ufeffroom-001@contoso.onmicrosoft.com", "U+FEFF"),  # a BOM inside the data, not at the file's start
    ],
)
def test_an_invisible_character_is_named_at_preview(address, code_point):
    parsed = parse_rooms_csv(f"ResourceAccounts\nroom-002@contoso.onmicrosoft.com\n{address}\n".encode())

    row = parsed.rows[1]
    assert row.status == RowStatus.MALFORMED
    assert "invisible character" in row.reason and code_point in row.reason
    assert parsed.rows[0].status == RowStatus.VALID
