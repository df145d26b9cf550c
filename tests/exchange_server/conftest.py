"""An exchange_server tenant pointed at the sandbox, and helpers that play the admin's part."""

from collections.abc import Callable

import pytest

from tenants.models import Cloud, Profile, SecretKind, Tenant
from tenants.secrets import store_secret
from tests.helpers import wait_for
from wizard.engine import enqueue_step
from wizard.microsoft import connector_clients
from wizard.models import StepState, StepStatus
from wizard.steps.exchange_server.common import PROFILE, room_list_csv, room_plan
from wizard.steps.registry import get_step

SERVICE_ACCOUNT = "svc-rooms@contoso.onmicrosoft.com"
# A mailbox that is neither a room nor the service account: verify's negative control.
CONTROL_MAILBOX = "user-001@contoso.onmicrosoft.com"
SERVICE_PASSWORD = "Sandbox-Svc-Passw0rd!"
ADMIN = "admin@onramp.test"
SETTLED = {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.NEEDS_INPUT}


def exchange_server_tenant(info: dict, slug: str = "contoso-onprem") -> Tenant:
    endpoints = {key: info[key] for key in ("authority", "graph_url", "exchange_admin_url", "ews_url", "ca_bundle")}
    tenant = Tenant.objects.create(
        slug=slug,
        display_name="Contoso (Exchange Server)",
        profile=Profile.EXCHANGE_SERVER,
        cloud=Cloud.CUSTOM,
        custom_endpoints=endpoints,
        microsoft_tenant_id=info["tenant_id"],
        client_id=info["client_id"],
    )
    # Only to create the service account in the sandbox's directory (on premises the admin runs New-Mailbox).
    store_secret(tenant, SecretKind.CLIENT_SECRET, info["client_secret"])
    return tenant


def create_service_account(tenant: Tenant) -> str:
    """A licensed user with a mailbox and a password, made through Graph: for the EWS tests, which start from an
    existing account (the flow test creates it with the service account step's New-Mailbox script)."""
    with connector_clients(tenant) as ms:
        user = ms.graph.post(
            "/users",
            {
                "accountEnabled": True,
                "displayName": "Room booking service",
                "mailNickname": "svc-rooms",
                "userPrincipalName": SERVICE_ACCOUNT,
                "usageLocation": "US",
                "passwordProfile": {"password": SERVICE_PASSWORD, "forceChangePasswordNextSignIn": False},
            },
        )
        skus = ms.graph.get("/subscribedSkus")["value"]
        sku = next(s for s in skus if any(p["servicePlanName"].startswith("EXCHANGE_S") for p in s["servicePlans"]))
        ms.graph.post(
            f"/users/{user['id']}/assignLicense",
            {"addLicenses": [{"skuId": sku["skuId"], "disabledPlans": []}], "removeLicenses": []},
        )
    return SERVICE_ACCOUNT


def shown_script(tenant: Tenant, step_id: str) -> str:
    """The commands the step's page shows now, from the step's own declaration."""
    state = StepState.objects.get(tenant=tenant, step_id=step_id)
    return get_step(PROFILE, step_id).powershell(tenant, state)


def shown_digest(tenant: Tenant, step_id: str) -> str:
    """The digest the step's page posts back with "I ran these commands"."""
    state = StepState.objects.get(tenant=tenant, step_id=step_id)
    return get_step(PROFILE, step_id).confirmation.digest(tenant, state)


def confirm(tenant: Tenant, step_id: str, script: str | None = None, *, digest: str | None = None):
    """The admin confirms they ran the step's commands, through the step's own confirmation."""
    return get_step(PROFILE, step_id).confirmation.record(tenant, step_id, ADMIN, script, digest=digest)


def run_script(control, tenant: Tenant, step_id: str, typed: list[str] | None = None) -> dict:
    """The admin pastes the step's script, as the page shows it, into the Exchange Management Shell (the sandbox's
    control shell), with the room lists' CSV files Onramp offers for download in the folder, typing `typed` at any
    Read-Host prompt. Returns what the shell reports: output, host lines, errors, writes and changes."""
    files = dict(room_list_csv(tenant, planned.number) for planned in room_plan(tenant))
    return control.run_script(shown_script(tenant, step_id), files, typed)


def run_twice(control, tenant: Tenant, step_id: str, typed: list[str] | None = None) -> dict:
    """Run the step's script, then run it again: the second run must change nothing and report no error."""
    first = run_script(control, tenant, step_id, typed)
    assert first["errors"] == [], first["errors"]
    before = control.state()
    again = run_script(control, tenant, step_id, typed)
    assert again["errors"] == [], again["errors"]
    assert again["changes"] == 0, again
    assert control.state() == before
    return first


@pytest.fixture
def run_step() -> Callable[..., StepState]:
    def run(tenant: Tenant, step_id: str, inputs: dict | None = None) -> StepState:
        enqueue_step(tenant, step_id, ADMIN, inputs)

        def settled() -> StepState | None:
            state = StepState.objects.get(tenant=tenant, step_id=step_id)
            return state if state.status in SETTLED else None

        return wait_for(settled, timeout=60, what=f"step {step_id} to settle")

    return run
