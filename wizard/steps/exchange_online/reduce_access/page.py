"""What the reduce_access step's page shows beyond its result."""

from typing import Any

from tenants.models import Tenant
from wizard.models import StepState
from wizard.steps.exchange_online.reduce_access import service as reduce_access


def reduce_access_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    return {"hand_back_plan": reduce_access.plan(tenant)}
