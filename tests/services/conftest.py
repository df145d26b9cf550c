"""Fixtures for the step services: an Onramp tenant connected to a sandbox tenant, and its steps run through the
real Celery worker the way `onramp run` runs them."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from sandbox.server import RunningSandbox
from tenants.models import Tenant
from tenants.services import create_tenant
from wizard.models import StepState
from wizard.services import connect, headless

STEP_TIMEOUT_SECONDS = 120


def connected_tenant(sandbox: RunningSandbox, slug: str = "contoso") -> Tenant:
    admin, _ = get_user_model().objects.get_or_create(username=f"admin-{slug}")
    tenant = create_tenant(creator=admin, display_name="Contoso", slug=slug)
    return connect.save_sandbox_info(tenant, sandbox.info, actor="test")


def state_of(tenant: Tenant, step_id: str) -> StepState:
    return StepState.objects.get(tenant=tenant, step_id=step_id)


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
