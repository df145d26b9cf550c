"""How busy the machine was while a benchmark ran, so a figure taken on a shared machine says so.

The machine's busy time comes from /proc/stat; this benchmark's own share is the CPU time of the processes in this
process's session (the benchmark, its gunicorn, its worker, and children they reaped), read from /proc/<pid>/stat.
Whatever is left was spent by other processes, competing with the benchmark for the same cores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies summed over every CPU since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user time
    return total - idle, total


def _session_ticks(session_id: int) -> dict[int, int]:
    """CPU jiffies (own and reaped children's) of every live process in the session."""
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # The command name is in parentheses and may hold spaces: split after its closing one.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session_id:  # field 6 of stat: session id
            ticks[int(entry.name)] = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks


@dataclass
class _Sample:
    busy: int
    total: int
    session: dict[int, int]
    loadavg: float


def _sample(session_id: int) -> _Sample:
    busy, total = _machine_ticks()
    return _Sample(busy, total, _session_ticks(session_id), os.getloadavg()[0])


class LoadMeter:
    """`with LoadMeter() as load: ...` then `load.summary()`: machine and other processes' busy percentages."""

    def __init__(self) -> None:
        self.session_id = os.getsid(0)
        self._start: _Sample | None = None
        self._end: _Sample | None = None

    def __enter__(self) -> LoadMeter:
        self._start = _sample(self.session_id)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._end = _sample(self.session_id)

    def summary(self) -> dict[str, Any]:
        assert self._start is not None and self._end is not None, "use LoadMeter as a context manager first"
        start, end = self._start, self._end
        elapsed_ticks = max(1, end.total - start.total)
        busy = end.busy - start.busy
        ours = sum(max(0, ticks - start.session.get(pid, 0)) for pid, ticks in end.session.items())
        cpus = os.cpu_count() or 1
        return {
            "cpus": cpus,
            "seconds": round(elapsed_ticks / cpus / _CLOCK_TICKS, 2),
            "machine_busy_percent": round(100 * busy / elapsed_ticks, 1),
            "others_busy_percent": round(100 * max(0, busy - ours) / elapsed_ticks, 1),
            "loadavg_start": round(start.loadavg, 2),
            "loadavg_end": round(end.loadavg, 2),
        }
