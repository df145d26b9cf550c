"""Mutation scores of Onramp's core pure modules (`make mutation`): how many planted bugs their tests catch.

Each module is mutated on its own with mutmut, against only the tests that exercise it, in a scratch directory under
var/mutation/<module>/ (mutmut's `mutants/` copy lives there, so the work tree and `ruff` never see it). The project's
pyproject.toml is copied there with a `[tool.mutmut]` section added for that module, so nothing in the work tree
changes. At the end a table gives each module's mutants, killed, survived and score; the survivors' names are written
to var/mutation/<module>/survivors.txt (`cd var/mutation/<module> && mutmut show <name>` shows one).

Score = (killed + timed out) / all mutants: a timeout is a mutant that made the code loop forever, which a test
stopped; a mutant no test reaches counts as survived. Wording-only survivors (a changed message) count as survived.

    .venv/bin/python scripts/mutation.py                    # every module
    .venv/bin/python scripts/mutation.py errors rooms_csv   # some of them
    MUTATION_CHILDREN=2 .venv/bin/python scripts/mutation.py   # more parallel workers (default 1: shared cores)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "var" / "mutation"
MUTMUT = Path(sys.executable).parent / "mutmut"
# What the tests import besides the mutated package: Django's settings, the tenants app, the sandbox (fixtures),
# the templates Django's checks look for. `tests/` and pyproject.toml are copied by mutmut itself.
ALSO_COPY = ["config", "tenants", "sandbox", "templates", "static", "manage.py"]
KILLED = {"killed", "timeout", "caught by type check"}


@dataclass(frozen=True)
class Module:
    """A module to mutate, the tests that exercise it, and the score the project holds it to (issue 30), if any."""

    path: str
    tests: tuple[str, ...]
    target: float | None
    deselect: str = ""  # a pytest -k expression for tests in those files that need services (a sandbox tenant)

    @property
    def name(self) -> str:
        return Path(self.path).stem


MODULES = [
    Module(
        "wizard/microsoft/errors.py",
        (
            "tests/microsoft/test_errors_mapping.py",
            "tests/microsoft/test_clouds_and_errors.py",
            "tests/wire/test_recorded_bodies.py",
        ),
        target=85.0,
        deselect="not sandbox",
    ),
    Module("wizard/rooms_csv.py", ("tests/test_rooms_csv.py", "tests/test_rooms_csv_edges.py"), target=90.0),
    Module("wizard/room_plan.py", ("tests/test_room_plan.py", "tests/test_room_plan_edges.py"), target=97.0),
    Module("wizard/powershell.py", ("tests/exchange_server/test_powershell_quoting.py",), target=None),
]


@dataclass(frozen=True)
class Score:
    module: Module
    statuses: Counter[str]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def killed(self) -> int:
        return sum(count for status, count in self.statuses.items() if status in KILLED)

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0

    @property
    def below_target(self) -> bool:
        return self.module.target is not None and self.percent < self.module.target


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def _prepare(module: Module) -> Path:
    """A fresh scratch directory that looks like the project to mutmut, configured for `module` alone."""
    workdir = SCRATCH / module.name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    for name in ["wizard", "tests", *ALSO_COPY]:
        if (ROOT / name).exists():
            (workdir / name).symlink_to(ROOT / name)
    selection = [test for test in module.tests if (ROOT / test).exists()]
    if module.deselect:
        selection += ["-k", module.deselect]
    config = (
        "\n[tool.mutmut]\n"
        'source_paths = ["wizard"]\n'
        f'only_mutate = ["{module.path}"]\n'
        f"also_copy = {_toml_list(ALSO_COPY)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(selection)}\n"
        # A mutant that makes the code loop forever is stopped at 5 times its tests' clean duration plus 10 s
        # (mutmut's default, 15 times, spends minutes on each such mutant of room_plan.py).
        "timeout_multiplier = 5.0\n"
        "timeout_constant = 10.0\n"
    )
    (workdir / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + config)
    return workdir


def _run(module: Module, children: int) -> Score:
    workdir = _prepare(module)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "ONRAMP_VAR_DIR": str(workdir / "var")}
    started = time.monotonic()
    log = workdir / "mutmut.log"
    with log.open("w") as output:
        subprocess.run(
            [str(MUTMUT), "run", "--max-children", str(children)],
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    results = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"], cwd=workdir, env=env, capture_output=True, text=True, check=False
    )
    statuses: Counter[str] = Counter()
    survivors = []
    for line in results.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            statuses[status] += 1
            if status not in KILLED:
                survivors.append(f"{name}: {status}")
    (workdir / "survivors.txt").write_text("".join(f"{line}\n" for line in survivors))
    if not statuses:
        print(f"{module.path}: mutmut produced no results; see {log.relative_to(ROOT)}", file=sys.stderr)
    return Score(module, statuses, time.monotonic() - started)


def _table(scores: list[Score]) -> str:
    header = f"{'module':<28} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8} {'score':>7} {'target':>7}"
    lines = [header, "-" * len(header)]
    for score in scores:
        no_tests = score.statuses["no tests"]
        survived = score.total - score.killed - no_tests
        target = "-" if score.module.target is None else f"{score.module.target:.0f}%"
        lines.append(
            f"{score.module.path.removeprefix('wizard/'):<28} {score.total:>7} {score.killed:>7} {survived:>8}"
            f" {no_tests:>8} {score.percent:>6.1f}% {target:>7}{'  below target' if score.below_target else ''}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="module names (e.g. errors, rooms_csv); all when none")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a module is below its target")
    args = parser.parse_args()
    known = {module.name: module for module in MODULES}
    unknown = [name for name in args.modules if name not in known]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; choose from {', '.join(known)}")
    children = int(os.environ.get("MUTATION_CHILDREN", "1"))
    scores = []
    for module in [known[name] for name in args.modules] or MODULES:
        print(f"Mutating {module.path} against {len(module.tests)} test file(s)…", flush=True)
        score = _run(module, children)
        print(f"  {score.killed}/{score.total} killed in {score.seconds:.0f} s", flush=True)
        scores.append(score)
    print()
    print(_table(scores))
    print(f"\nSurvivors: var/mutation/<module>/survivors.txt; show one: cd var/mutation/<module> && {MUTMUT} show NAME")
    return 1 if args.strict and any(score.below_target for score in scores) else 0


if __name__ == "__main__":
    sys.exit(main())
