"""Edges of the rooms CSV that the corpus does not reach: short rows, the exact size limit, and the per-row checks
that mutation testing showed no test would notice if they broke (scripts/mutation.py)."""

import pytest

from wizard.rooms_csv import MAX_UPLOAD_BYTES, RoomsCsvError, RowStatus, parse_rooms_csv

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
