"""Fixtures for the wire tests: the recorded bodies, and a sandbox to compare them with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.pytest_plugin import make_sandbox, sandbox_tenant  # noqa: F401 - fixtures for this directory

BODIES = Path(__file__).parent / "bodies"


def recorded(name: str) -> tuple[int, Any]:
    """(HTTP status, body) of a recorded answer; each file names the sources it was written from."""
    data = json.loads((BODIES / f"{name}.json").read_text())
    assert data["source"], name
    return data["status"], data["body"]
