"""CSV: a 50,000-row rooms upload validated by wizard.rooms_csv (parse, then classify against the tenant's
directory), timed and measured for peak memory; plus every file of the bad-input corpus under tests/data/, to show
that no bad input is slow to refuse."""

from __future__ import annotations

import contextlib
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bench.djangoenv import setup_django
from bench.report import BenchResult, Target

FULL_ROWS = 50_000
QUICK_ROWS = 5_000
REPEATS = 3
TARGET_SECONDS = 5.0
TARGET_PEAK_MB = 150.0
CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"
DOMAIN = "contoso.com"


def make_upload(rows: int) -> tuple[bytes, dict[str, str]]:
    """An Excel-style upload (BOM, CRLF, an extra column) of `rows` addresses, and the tenant directory to check it
    against: most rows are rooms or equipment, one in a hundred is a user mailbox and one in a hundred unknown, so
    every branch of the classification is exercised."""
    lines = ["ResourceAccounts,Building"]
    directory: dict[str, str] = {}
    for number in range(1, rows + 1):
        address = f"room-{number:05d}@{DOMAIN}"
        lines.append(f"{address},HQ {number % 7}")
        if number % 100 == 1:
            directory[address] = "UserMailbox"
        elif number % 100 != 2:
            directory[address] = "EquipmentMailbox" if number % 10 == 0 else "RoomMailbox"
    return "\ufeff".encode() + "\r\n".join(lines).encode() + b"\r\n", directory


def _validate(data: bytes, directory: dict[str, str]) -> int:
    from wizard.rooms_csv import classify_rows, parse_rooms_csv

    preview = classify_rows(parse_rooms_csv(data), directory, current_members=set())
    return len(preview)


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _corpus_figures() -> dict[str, object]:
    """Each corpus file through the parser: how long the slowest took to accept or refuse."""
    from wizard.rooms_csv import RoomsCsvError, parse_rooms_csv

    files = sorted(path for path in CORPUS_DIR.glob("**/*") if path.is_file()) if CORPUS_DIR.is_dir() else []
    timings: dict[str, float] = {}
    for path in files:
        data = path.read_bytes()
        started = time.perf_counter()
        with contextlib.suppress(RoomsCsvError):
            parse_rooms_csv(data)
        timings[str(path.relative_to(CORPUS_DIR))] = round((time.perf_counter() - started) * 1000, 2)
    slowest = max(timings, key=timings.__getitem__) if timings else ""
    return {"corpus_files": len(timings), "corpus_slowest_file": slowest, "corpus_slowest_ms": timings.get(slowest)}


def run(name: str, quick: bool) -> BenchResult:
    setup_django()
    rows = QUICK_ROWS if quick else FULL_ROWS
    data, directory = make_upload(rows)
    assert _validate(data, directory) == rows  # and warms the imports, so they are not timed

    timings = [_seconds(lambda: _validate(data, directory)) for _ in range(REPEATS)]
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    _validate(data, directory)
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    median = statistics.median(timings)
    peak_mb = peak_bytes / 1024 / 1024
    scale = f"{rows:,} rows, {len(data) / 1024 / 1024:.1f} MB"
    return BenchResult(
        name,
        targets=[
            Target("validate upload: time", median, "<", TARGET_SECONDS, "s", f"median of {REPEATS}, {scale}"),
            Target("validate upload: peak memory", peak_mb, "<", TARGET_PEAK_MB, "MB", "tracemalloc peak"),
        ],
        figures={
            "rows": rows,
            "bytes": len(data),
            "seconds": [round(t, 3) for t in timings],
            "tracemalloc_peak_mb": round(peak_mb, 1),
            "process_max_rss_mb": round(rss_after_kb / 1024, 1),
            "process_max_rss_growth_mb": round((rss_after_kb - rss_before_kb) / 1024, 1),
            **_corpus_figures(),
        },
    )
