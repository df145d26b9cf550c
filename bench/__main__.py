"""`python -m bench [--only NAME ...] [--quick]`: run the benchmarks, write bench/results.json, print the table.

bench/results.json keeps each group's latest result: a run of some groups replaces theirs and keeps the others'.

Exit status 0 whether targets are met or not (the table says); 1 when a benchmark could not run at all.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import LoadMeter
from bench.report import BenchResult, table

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"
ROOT = RESULTS_PATH.parent.parent
# name → (module with `run(quick: bool) -> BenchResult`, seconds allowed for the full version)
BENCHMARKS: dict[str, tuple[str, int]] = {
    "csv": ("bench.csv_upload", 300),
    "pages": ("bench.pages", 900),
    "rooms": ("bench.steps", 1500),
    "rooms10k": ("bench.steps", 3600),
    "verify": ("bench.steps", 1500),
    "drift": ("bench.drift", 1500),
    "fleet": ("bench.fleet", 2400),
    "nightly": ("bench.fleet", 7200),
    "console": ("bench.console", 3600),
    "onboardings": ("bench.onboardings", 2400),
}


def _run_child(name: str, quick: bool, out: Path) -> None:
    """In the child: run one benchmark, always leaving a result (or the error) in `out`."""
    module = importlib.import_module(BENCHMARKS[name][0])
    try:
        with LoadMeter() as load:
            result: BenchResult = module.run(name, quick)
        result.load = load.summary()
    except Exception as error:
        traceback.print_exc()
        result = BenchResult(name, error=f"{type(error).__name__}: {error}")
    out.write_text(json.dumps(result.as_dict(), indent=2))


def _run_in_child(name: str, quick: bool) -> BenchResult:
    """Each benchmark gets its own process: its own Django settings and database, and a clean heap."""
    with tempfile.TemporaryDirectory(prefix="onramp-bench-") as scratch:
        out = Path(scratch) / "result.json"
        command = [sys.executable, "-m", "bench", "--child", name, "--out", str(out)] + (["--quick"] if quick else [])
        timeout = BENCHMARKS[name][1]
        try:
            process = subprocess.run(command, cwd=ROOT, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return BenchResult(name, error=f"did not finish within {timeout} s")
        if not out.exists():
            return BenchResult(name, error=f"exited with status {process.returncode} and no result")
        return BenchResult.from_dict(json.loads(out.read_text()))


def _commit() -> str:
    """The commit measured, marked `+changes` when the tree differs from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        return ""
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    return head.stdout.strip() + ("+changes" if changed.stdout.strip() else "")


def _merged(path: Path, measured: list[dict]) -> list[dict]:
    """The results file's benchmarks with those just measured in place of their earlier results (by name): a run of
    one group (`--only`) keeps the other groups' last figures, each with when, on which commit and at which size it
    was measured."""
    try:
        earlier = json.loads(path.read_text())["benchmarks"]
    except (OSError, ValueError, KeyError, TypeError):
        earlier = []
    fresh = {entry["name"]: entry for entry in measured}
    kept = [entry for entry in earlier if isinstance(entry, dict) and entry.get("name") not in fresh]
    order = {name: number for number, name in enumerate(BENCHMARKS)}
    return sorted(kept + measured, key=lambda entry: order.get(entry["name"], len(order)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this benchmark")
    parser.add_argument("--quick", action="store_true", help="a smaller smoke version of every benchmark")
    parser.add_argument("--child", choices=sorted(BENCHMARKS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help="where to write the JSON results")
    args = parser.parse_args(argv)
    if args.child:
        _run_child(args.child, args.quick, args.out)
        return 0

    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    started = datetime.now(UTC)
    # Read before the run: a commit made while a long benchmark runs was not what it measured.
    stamp = {"measured_at": started.isoformat(timespec="seconds"), "quick": args.quick, "commit": _commit()}
    clock = time.monotonic()
    with LoadMeter() as load:
        results = []
        for name in names:
            print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
            results.append(_run_in_child(name, args.quick))
    document = {
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - clock, 1),
        "quick": args.quick,
        "load": load.summary(),
        "benchmarks": _merged(args.results, [result.as_dict() | stamp for result in results]),
    }
    args.results.write_text(json.dumps(document, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\n{len(names)} benchmark(s) in {document['seconds']} s; results in {args.results}")
    return 1 if any(result.error for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
