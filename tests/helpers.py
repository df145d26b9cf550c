"""Helpers shared by test modules (fixtures live in conftest.py files)."""

import time
from collections.abc import Callable

import pytest


def wait_for(condition: Callable[[], object], timeout: float = 30, interval: float = 0.1, what: str = "") -> object:
    """Poll until `condition()` is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)
