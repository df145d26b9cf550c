"""Onramp's connector app in an organisation's tenant, as the step services get it. The client layer only says that a
credential is missing; here that is explained when the organisation handed Onramp's access back (the optional last
step), which the client layer knows nothing of."""

from django.conf import settings
from django.utils.translation import gettext_noop

from tenants.models import Tenant
from wizard.errors import StepError
from wizard.microsoft import CredentialsMissing, MicrosoftClients
from wizard.microsoft import connector_clients as microsoft_connector_clients
from wizard.models import StepState, StepStatus
from wizard.services import admin_sign_in

# The optional last step, "Reduce Onramp's access" (wizard/steps/exchange_online/reduce_access), which deletes
# Onramp's credential.
REDUCE_ACCESS_STEP = "reduce_access"


def access_handed_back(tenant: Tenant) -> bool:
    return StepState.objects.filter(tenant=tenant, step_id=REDUCE_ACCESS_STEP, status=StepStatus.SUCCEEDED).exists()


def _handed_back() -> StepError:
    return StepError(
        code="access_handed_back",
        message=gettext_noop(
            "Re-verify needs access granted again: Onramp handed back its access to this organisation "
            "(“Reduce Onramp's access”) and holds no credential for it any more."
        ),
        explanation=gettext_noop(
            "Verify and re-verify sign in as Onramp's connector app and read Exchange's role assignments and "
            "scopes, which needs Exchange.ManageAsApp with the Exchange Administrator role, and Application.Read.All."
        ),
        fix=gettext_noop(
            "Give the connector app those grants again, add a new client secret or certificate to it, enter it on "
            "step 0 (Connect the tenant), then re-verify."
        ),
    )


def is_installation_app(client_id: str) -> bool:
    """Whether `client_id` is Onramp's own multi-tenant connector app, whose secret is the installation's."""
    installation = settings.ONRAMP_CONNECTOR_CLIENT_ID
    return bool(installation) and client_id.strip().lower() == installation.lower()


def connector_clients(tenant: Tenant) -> MicrosoftClients:
    """Clients that act in the organisation's Microsoft tenant for the steps. Connected with Microsoft (Onramp's own
    app): as the administrator whose sign-in Onramp keeps, with the delegated permissions the organisation consented
    to, so Onramp's app holds no power of its own there. With the organisation's own app registration: as that app
    (wizard.microsoft.connector_clients). A credential missing because the organisation handed Onramp's access back
    is said so, with how to grant it again."""
    if is_installation_app(tenant.client_id):
        if access_handed_back(tenant):
            raise _handed_back()
        return admin_sign_in.clients_as_administrator(tenant)
    try:
        return microsoft_connector_clients(tenant)
    except CredentialsMissing as missing:
        if missing.code == "credentials_missing" and access_handed_back(tenant):
            raise _handed_back() from missing
        raise
