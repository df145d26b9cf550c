"""pytest fixtures: load with `pytest_plugins = ["sandbox.pytest_plugin"]`.

`sandbox_tenant` is a fresh sandbox per test (20 rooms, 3 equipment, 5 users, no delays or faults);
`make_sandbox(**knobs)` starts one with other knobs. Both stop their servers at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .server import RunningSandbox, start_sandbox

SMALL_SEED = {"rooms": 20, "equipment": 3, "users": 5}


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    started: list[RunningSandbox] = []

    def factory(**knobs: Any) -> RunningSandbox:
        sandbox = start_sandbox(**{**SMALL_SEED, **knobs})
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox_tenant(make_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return make_sandbox()
