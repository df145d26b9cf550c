"""Fixtures for the step services: a tenant's steps run through the real Celery worker the way `onramp run` runs
them (tenants come from tests.factories)."""

from collections.abc import Callable
from typing import Any

import pytest

from tenants.models import Tenant
from wizard import headless

STEP_TIMEOUT_SECONDS = 120


RunSteps = Callable[..., headless.RunOutcome]


@pytest.fixture
def run_steps(celery_worker) -> RunSteps:
    """Run a tenant's steps on the worker, from `start` (default: the first unfinished) to `until` (default: the
    last), waiting through Microsoft's delays; stops at a step that fails or needs input."""

    def run(
        tenant: Tenant, *, start: str | None = None, until: str | None = None, inputs: dict[str, Any] | None = None
    ) -> headless.RunOutcome:
        return headless.run_steps(
            tenant,
            actor="test",
            start=headless.first_step_to_run(tenant, start, inputs),
            until=until,
            inputs=inputs or {},
            wait_on_microsoft=True,
            on_update=lambda state: None,
            timeout=STEP_TIMEOUT_SECONDS,
        )

    return run
