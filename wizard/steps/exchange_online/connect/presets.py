"""Known calendar products whose Microsoft Entra application id their vendor publishes (issue 23 point 3): step 0's
integration picker offers each as a preset, so the admin picks the product instead of pasting its app id.

Only an id the vendor itself states in public documentation is listed here, each with the page that states it. Most
room-booking vendors searched (Robin, Joan, Skedda, Condeco, Envoy, Logitech, Crestron, Poly, Webex, Evoko, AskCody)
state no id for their room-calendar app: their setup pages say to consent from their own portal, or to register an
app of one's own. Those are found by name among the enterprise apps instead."""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant
from wizard.microsoft.errors import MicrosoftError
from wizard.services.connector import connector_clients


@dataclass(frozen=True)
class IntegrationPreset:
    """A calendar product's multi-tenant app: what the admin sees, its application (client) id, and where its
    vendor publishes that id."""

    name: str | Promise
    app_id: str
    source: str


PRESETS: tuple[IntegrationPreset, ...] = (
    # Zoom Rooms with Microsoft Graph application permissions (no service account), Zoom's recommended method. Zoom's
    # technical library, "Zoom Calendaring Integration Explainer" > "Provider-Specific Details" ("How can I identify
    # the official Zoom application used for conference rooms?") and "Microsoft 365 Calendaring Field Guide" >
    # "Validating the Entra ID Permissions and Scopes".
    IntegrationPreset(
        name=_("Zoom Rooms (application permissions)"),
        app_id="f56e91e5-5a82-452f-b435-d4d78aeaf064",
        source="https://library.zoom.com/admin-corner/third-party-integrations/zoom-calendaring-integration-explainer"
        "/provider-specific-details",
    ),
    # Zoom Rooms with Microsoft Graph "Full Delegate Access" (a service account); same two Zoom pages as above.
    IntegrationPreset(
        name=_("Zoom Rooms (full delegate access)"),
        app_id="a651cfda-cbdd-4a39-bd03-fa829c3c1b29",
        source="https://library.zoom.com/admin-corner/third-party-integrations/zoom-calendaring-integration-explainer"
        "/provider-specific-details",
    ),
    # Meeting Room 365 (room displays), its "Meeting Room 365 Production App": the vendor's own RBAC for Applications
    # guide, "Configuring Role-Based Access Control via Powershell (Microsoft 365)", `$AppId = "…"  # Meeting Room
    # 365 Production App (should not change)`.
    IntegrationPreset(
        name="Meeting Room 365",
        app_id="2a636d8a-e912-4095-9dea-4b3e23776acc",
        source="https://www.meetingroom365.com/support/en/article/"
        "configuring-role-based-access-control-via-powershell-microsoft-365-1dc5k5b",
    ),
)


def presets_in_tenant(tenant: Tenant) -> frozenset[str]:
    """The app ids of the presets that already have a service principal (an enterprise app) in the tenant, so the
    picker can say which product is already there: one Graph read per preset, as step 0 checks the chosen app."""
    present = set()
    with connector_clients(tenant) as ms:
        for preset in PRESETS:
            try:
                ms.graph.get(f"/servicePrincipals(appId='{preset.app_id}')?$select=id")
            except MicrosoftError:
                # Not there (NotFound), or unknown because Onramp may not read service principals: left unmarked.
                continue
            present.add(preset.app_id)
    return frozenset(present)
