"""What the reduce_access step's page shows beyond its result."""

from typing import Any

from tenants.models import Tenant
from wizard.models import StepState
from wizard.steps.exchange_online.reduce_access import service as reduce_access


def reduce_access_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    return {
        "hand_back_plan": reduce_access.plan(tenant),
        # The role and User.ReadWrite.All are always left to the admin (see the service).
        "still_can": reduce_access.still_can(reduce_access.credential_kind(tenant), left_to_admin=True),
    }
