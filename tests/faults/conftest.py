"""Fixtures for the fault tests: a connected Onramp tenant, and a recorder of the sandbox's Retry-After answers."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tenants.models import Tenant
from tenants.services import create_tenant
from tests.faults.helpers import ADMIN, RetryAfterRecorder
from wizard.services.connect import save_sandbox_info


@pytest.fixture
def connected_tenant(transactional_db) -> Callable[[dict[str, Any]], Tenant]:
    """An Onramp tenant, administered by alice, pointed at a sandbox by its info (as `onramp connect` does)."""

    def connect(info: dict[str, Any]) -> Tenant:
        admin = get_user_model().objects.create_user(ADMIN, password="pw-alice-1234")
        tenant = create_tenant(creator=admin, display_name="Contoso", slug="contoso")
        return save_sandbox_info(tenant, info, actor=ADMIN)

    return connect


@pytest.fixture
def retry_after_recorder(monkeypatch) -> RetryAfterRecorder:
    recorder = RetryAfterRecorder()
    recorder.install(monkeypatch)
    return recorder
