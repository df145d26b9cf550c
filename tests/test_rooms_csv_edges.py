"""Edges of the rooms CSV that the corpus does not reach: short rows, the exact size limit, and the per-row checks
that mutation testing showed no test would notice if they broke (scripts/mutation.py)."""

import codecs

import pytest

from wizard.rooms_csv import (
    MAX_UPLOAD_BYTES,
    CsvRow,
    PreviewRow,
    RoomsCsvError,
    RowStatus,
    classify_rows,
    parse_rooms_csv,
)

DOMAIN = "contoso.onmicrosoft.com"


def rows_of(text: str) -> list[tuple[int, RowStatus, str]]:
    return [(row.line, row.status, row.reason) for row in parse_rooms_csv(text.encode()).rows]


def test_a_row_with_fewer_cells_than_the_header_has_an_empty_cell():
    # Excel drops trailing empty cells: `Lobby` alone under `Name,ResourceAccounts`.
    assert rows_of(f"Name,ResourceAccounts\nLobby\nHall,room-001@{DOMAIN}\n") == [
        (2, RowStatus.MALFORMED, "The ResourceAccounts cell is empty."),
        (3, RowStatus.VALID, ""),
    ]


def test_a_file_of_exactly_the_size_limit_is_read():
    header = "Name,ResourceAccounts\n"
    row = f"{'n' * 1000},room-001@{DOMAIN}\n"
    rows = (MAX_UPLOAD_BYTES - len(header)) // len(row)
    last_name = "n" * (MAX_UPLOAD_BYTES - len(header) - rows * len(row) - len(f",room-002@{DOMAIN}\n"))
    data = (header + row * rows + f"{last_name},room-002@{DOMAIN}\n").encode()
    assert len(data) == MAX_UPLOAD_BYTES
    parsed = parse_rooms_csv(data)
    assert len(parsed.rows) == rows + 1 and parsed.rows[-1].status == RowStatus.VALID
    with pytest.raises(RoomsCsvError) as caught:
        parse_rooms_csv(data + b"\n")
    assert caught.value.code == "too_large"
    assert caught.value.message == (
        "The file is 5.0 MB; the limit is 5.0 MB. Split it, or keep only the ResourceAccounts column."
    )


def parse_one(cell_text: str, header: str = "ResourceAccounts") -> CsvRow:
    return parse_rooms_csv(f"{header}\n{cell_text}\n".encode()).rows[0]


def test_the_error_reads_as_code_and_message():
    error = RoomsCsvError("empty", "The file is empty.")
    assert str(error) == "empty: The file is empty." and error.args == ("empty: The file is empty.",)


def test_the_size_is_shown_in_mebibytes():
    with pytest.raises(RoomsCsvError) as caught:
        parse_rooms_csv(b"ResourceAccounts\n" + b" " * (5_400_374 - 17))  # 5.1502 MiB
    assert caught.value.message.startswith("The file is 5.2 MB; the limit is 5.0 MB.")


def test_a_quoted_cell_keeps_its_line_breaks_as_written():
    parsed = parse_rooms_csv(f'ResourceAccounts\r\n"room-001@{DOMAIN}\r\nroom-002@{DOMAIN}"\r\n'.encode())
    row = parsed.rows[0]
    assert row.raw == f"room-001@{DOMAIN}\r\nroom-002@{DOMAIN}" and row.address is None
    assert row.reason == 'Runs over several lines: a double quote (") is probably opened and never closed.'


def test_a_cell_broken_by_an_old_mac_line_ending_runs_over_lines():
    row = parse_one(f'"room-001@{DOMAIN}\rroom-002@{DOMAIN}"')
    assert row.status == RowStatus.MALFORMED and row.reason.startswith("Runs over several lines")


@pytest.mark.parametrize(("length", "shortened"), [(100, False), (101, True)])
def test_raw_cells_are_shortened_past_100_characters(length, shortened):
    cell = "=" + "a" * (length - 1)
    row = parse_one(cell)
    assert row.raw == (cell[:100] + "…" if shortened else cell)


def test_a_duplicate_keeps_its_cell_and_address():
    rows = parse_rooms_csv(f"ResourceAccounts\nroom-001@{DOMAIN}\nROOM-001@{DOMAIN} \n".encode()).rows
    assert rows[1] == CsvRow(
        3, f"ROOM-001@{DOMAIN} ", f"ROOM-001@{DOMAIN}", RowStatus.DUPLICATE, "Same address as row 2."
    )


@pytest.mark.parametrize(
    ("header", "row", "reason"),
    [
        ("ResourceAccounts", f"room-001@{DOMAIN},extra", "2 cells where the header has 1 column: "),
        ("Name;ResourceAccounts", f"Hall;room-001@{DOMAIN};extra", "3 cells where the header has 2 columns: "),
    ],
)
def test_too_many_cells_says_how_many_columns_the_header_has(header, row, reason):
    assert parse_one(row, header).reason == reason + "a value containing the delimiter must be in double quotes."


def test_a_trailing_tab_in_the_header_is_an_empty_column():
    # Excel's "Unicode text" ends a row with a tab when the last column is empty: three columns, not two.
    rows = parse_rooms_csv(f"Name\tResourceAccounts\t\r\nHall\troom-001@{DOMAIN}\tnote\r\n".encode()).rows
    assert rows[0].status == RowStatus.VALID


def test_an_invisible_character_is_named_with_its_position():
    assert parse_one(f"room\u200b-001@{DOMAIN}").reason == (
        "Contains an invisible character (U+200B ZERO WIDTH SPACE) at character 5: "
        "delete the address and type it again."
    )


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (f"Room 1 <room-001@{DOMAIN}>", "Write the address alone, without a display name or angle brackets."),
        (f"<room-001@{DOMAIN}", "Write the address alone, without a display name or angle brackets."),
        (f"room-001@{DOMAIN}>", "Write the address alone, without a display name or angle brackets."),
        ("room-001", "No “@”: this is not an email address."),
        ("room@001@contoso.com", "More than one “@”."),
        ("room 001@contoso.com", "Contains a space."),
        (
            "salle-réunion@contoso.com",
            "Contains accented, look-alike or invisible characters that an address cannot have.",
        ),
        ("room.001@localhost", "The domain after “@” has no dot (expected e.g. contoso.onmicrosoft.com)."),
        ("room..001@contoso.com", "Not a valid email address."),
    ],
)
def test_each_malformed_address_gets_its_likeliest_mistake(cell, reason):
    row = parse_one(cell)
    assert (row.status, row.reason, row.address) == (RowStatus.MALFORMED, reason, None)


@pytest.mark.parametrize(
    ("cells", "shown"),
    [
        (10, "“c1”, “c2”, “c3”, “c4”, “c5”, “c6”, “c7”, “c8”, “c9”, “c10”. "),
        (11, "“c1”, “c2”, “c3”, “c4”, “c5”, “c6”, “c7”, “c8”, “c9”, “c10” and 1 more. "),
        (12, "“c1”, “c2”, “c3”, “c4”, “c5”, “c6”, “c7”, “c8”, “c9”, “c10” and 2 more. "),
    ],
)
def test_a_missing_column_names_the_first_ten_headers(cells, shown):
    header = ",".join(f"c{i}" for i in range(1, cells + 1))
    with pytest.raises(RoomsCsvError) as caught:
        parse_rooms_csv(f"{header}\nx\n".encode())
    assert caught.value.message == (
        f"No ResourceAccounts column: row 1 has {shown}Head the column of room addresses ResourceAccounts."
    )


@pytest.mark.parametrize(
    ("data", "code", "row"),
    [
        (codecs.BOM_UTF8 + b"\nResourceAccounts\nsalle-r\xe9union@contoso.com\n", "mixed_encoding", 3),
        (b"\nResourceAccounts\nroom\x81@contoso.com\n", "undecodable", 3),
    ],
)
def test_a_bad_byte_is_placed_on_its_row_counting_a_leading_blank_line(data, code, row):
    with pytest.raises(RoomsCsvError) as caught:
        parse_rooms_csv(data)
    assert caught.value.code == code and caught.value.message.startswith(f"Row {row} ")


def test_the_preview_keeps_each_rows_cell_address_and_type():
    parsed = parse_rooms_csv(
        f"ResourceAccounts\nroom-001@{DOMAIN}\nroom-002@{DOMAIN}\nghost@{DOMAIN}\nbad\nuser-001@{DOMAIN}\n".encode()
    )
    directory = {f"room-001@{DOMAIN}": "RoomMailbox", f"room-002@{DOMAIN}": "RoomMailbox"}
    directory[f"user-001@{DOMAIN}"] = "UserMailbox"
    preview = classify_rows(parsed, directory, {f"ROOM-002@{DOMAIN}"})
    assert preview == [
        PreviewRow(2, f"room-001@{DOMAIN}", f"room-001@{DOMAIN}", RowStatus.VALID, "", "RoomMailbox"),
        PreviewRow(
            3,
            f"room-002@{DOMAIN}",
            f"room-002@{DOMAIN}",
            RowStatus.ALREADY_MEMBER,
            "Already in a room list; nothing to do.",
            "RoomMailbox",
        ),
        PreviewRow(
            4,
            f"ghost@{DOMAIN}",
            f"ghost@{DOMAIN}",
            RowStatus.UNKNOWN_MAILBOX,
            "The tenant has no mailbox with this address; check the spelling.",
            "",
        ),
        PreviewRow(5, "bad", None, RowStatus.MALFORMED, "No “@”: this is not an email address.", ""),
        PreviewRow(
            6,
            f"user-001@{DOMAIN}",
            f"user-001@{DOMAIN}",
            RowStatus.NOT_A_RESOURCE_MAILBOX,
            "This is a UserMailbox; only room and equipment mailboxes can join a room list.",
            "UserMailbox",
        ),
    ]


def test_the_preview_keeps_a_duplicates_address():
    parsed = parse_rooms_csv(f"ResourceAccounts\nroom-001@{DOMAIN}\nRoom-001@{DOMAIN}\n".encode())
    duplicate = classify_rows(parsed, {f"room-001@{DOMAIN}": "RoomMailbox"}, set())[1]
    assert (duplicate.status, duplicate.address) == (RowStatus.DUPLICATE, f"Room-001@{DOMAIN}")
