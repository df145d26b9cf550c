"""What the reduce_access step's page shows beyond its result."""

from typing import Any

from tenants.models import Tenant
from wizard.models import StepState
from wizard.steps.exchange_online.reduce_access import service as reduce_access


def reduce_access_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    kind = reduce_access.credential_kind(tenant)
    return {
        "hand_back_plan": reduce_access.plan(tenant),
        # With its own app registration the role and User.ReadWrite.All are left to the admin (see the service);
        # connected with Microsoft, the step removes Onramp's only grant itself.
        "still_can": reduce_access.still_can(kind, left_to_admin=bool(kind)),
    }
