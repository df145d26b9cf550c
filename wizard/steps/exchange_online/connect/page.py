"""What the connect step's page shows beyond its result."""

from typing import Any

from django.conf import settings

from tenants.models import Tenant
from wizard.models import StepState
from wizard.outcomes import SIGN_IN_AGAIN
from wizard.services import connector
from wizard.steps.exchange_online.connect import service as connect


def connect_page(tenant: Tenant, state: StepState, may_change_secrets: bool) -> dict[str, Any]:
    """ "Connect with Microsoft" is offered only when the installation has its own connector app; the permissions
    listed come from the one list of what Onramp's app needs (the connect step's service)."""
    return {
        "may_connect": may_change_secrets,
        "consent_available": bool(settings.ONRAMP_CONNECTOR_CLIENT_ID),
        "bound_by_proof": tenant.get_binding_proof_display() if tenant.binding_proof else "",
        "access_handed_back": connector.access_handed_back(tenant),
        "required_graph_permissions": [name for name, _ in connect.REQUIRED_GRAPH_PERMISSIONS],
        "required_exchange_access": list(connect.REQUIRED_EXCHANGE_ACCESS),
    }


def consent_link_if_not_consented(tenant: Tenant, state: StepState) -> str:
    """Where an administrator consents to Onramp's app, when step 0 stopped because nobody has yet (failed, or
    waiting because Microsoft refused the sign-in's tokens for want of consent); else ""."""
    refused = (state.result or {}).get(SIGN_IN_AGAIN) or {}
    codes = {state.error_code, refused.get("code")}
    return connect.consent_link(tenant) if codes & set(connect.NOT_CONSENTED_CODES) else ""
