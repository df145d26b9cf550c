"""Fixtures for the sandbox's own tests."""

from __future__ import annotations

import pytest
from sandbox_client import MsClient

from sandbox.pytest_plugin import make_sandbox, sandbox_tenant  # noqa: F401 - fixtures for this directory
from sandbox.server import RunningSandbox


@pytest.fixture
def ms(sandbox_tenant: RunningSandbox) -> MsClient:  # noqa: F811 - the imported fixture
    return MsClient(sandbox_tenant.info)


@pytest.fixture
def integration(sandbox_tenant: RunningSandbox) -> MsClient:  # noqa: F811
    info = sandbox_tenant.info
    return MsClient(info, info["integration_app_id"], info["integration_client_secret"])
