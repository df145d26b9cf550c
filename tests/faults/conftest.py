"""Fixtures for the fault tests: a connected Onramp tenant, and a recorder of the sandbox's Retry-After answers."""

from collections.abc import Callable
from typing import Any

import pytest

from tenants.models import Tenant
from tests import factories
from tests.faults.helpers import ADMIN, RetryAfterRecorder


@pytest.fixture
def connected_tenant(transactional_db) -> Callable[[dict[str, Any]], Tenant]:
    """An Onramp tenant, administered by alice, pointed at a sandbox by its info (as `onramp connect` does)."""

    def connect(info: dict[str, Any]) -> Tenant:
        return factories.connected_tenant(info, admin=ADMIN)

    return connect


@pytest.fixture
def retry_after_recorder(monkeypatch) -> RetryAfterRecorder:
    recorder = RetryAfterRecorder()
    recorder.install(monkeypatch)
    return recorder
