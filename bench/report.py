"""Figures, targets and the table `python -m bench` prints."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">=": operator.ge}
_SYMBOLS = {"<": "<", "<=": "≤", ">=": "≥"}


@dataclass(frozen=True)
class Target:
    """One line of DESIGN section 8: `measured <op> limit`. `measured` is None when it could not be measured."""

    name: str
    measured: float | None
    op: str
    limit: float
    unit: str
    detail: str = ""

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        return _COMPARISONS[self.op](self.measured, self.limit)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


@dataclass
class BenchResult:
    """What one benchmark measured: its targets, the raw figures behind them, and the machine's load meanwhile."""

    name: str
    targets: list[Target] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "targets": [target.as_dict() for target in self.targets],
            "figures": self.figures,
            "load": self.load,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchResult:
        targets = [Target(**{k: v for k, v in t.items() if k != "met"}) for t in data.get("targets", [])]
        return cls(data["name"], targets, data.get("figures", {}), data.get("load", {}), data.get("error", ""))


def _number(value: float, unit: str) -> str:
    if unit in ("×", "calls a room"):
        return f"{value:.2f} {unit}"
    if unit in ("s", "ms"):
        return f"{value:,.1f} {unit}" if value >= 10 else f"{value:,.2f} {unit}"
    if float(value).is_integer():
        return f"{int(value):,} {unit}".rstrip()
    return f"{value:,.1f} {unit}".rstrip()


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "not measured"}[met]


def _load_line(result: BenchResult) -> str:
    load = result.load
    if not load:
        return ""
    return (
        f"  load during {result.name}: machine {load['machine_busy_percent']:.0f}% busy over {load['cpus']} CPUs, "
        f"{load['others_busy_percent']:.0f}% of it by other processes; 1-min load average "
        f"{load['loadavg_start']:.2f} → {load['loadavg_end']:.2f}"
    )


def table(results: list[BenchResult]) -> str:
    """One row per target: what was measured (with how), the target, met or not; then the load per benchmark."""
    rows = [("benchmark", "target", "measured", "target", "result")]
    for result in results:
        if result.error and not result.targets:
            rows.append((result.name, "(benchmark could not run)", "—", "—", "not measured"))
        for target in result.targets:
            measured = "—" if target.measured is None else _number(target.measured, target.unit)
            if target.detail:
                measured = f"{measured} ({target.detail})"
            limit = f"{_SYMBOLS[target.op]} {_number(target.limit, target.unit)}"
            rows.append((result.name, target.name, measured, limit, _verdict(target.met)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    notes = [line for line in (_load_line(result) for result in results) if line]
    errors = [f"  {result.name}: {result.error}" for result in results if result.error]
    if errors:
        notes += ["errors:", *errors]
    return "\n".join(lines + ([""] if notes else []) + notes)
