"""What the service_account step's page shows beyond its result."""

from typing import Any

from tenants.models import SecretKind, Tenant
from tenants.secrets import has_secret
from wizard import selectors
from wizard.models import StepState


def service_account_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    return {
        "password_stored": has_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD),
        "password_revealed": selectors.password_reveal(tenant),
        "may_see_password": may_change_secrets,
    }
