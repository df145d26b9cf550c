"""An exchange_server tenant pointed at the sandbox, and helpers that play the admin's part."""

from collections.abc import Callable

import pytest

from tenants.models import Cloud, Profile, SecretKind, Tenant
from tenants.secrets import store_secret
from tests.helpers import wait_for
from wizard.engine import enqueue_step
from wizard.microsoft import connector_clients
from wizard.models import StepState, StepStatus
from wizard.powershell import Command
from wizard.services.exchange_server import room_list_csv, room_plan, script_lines
from wizard.services.exchange_server_scripts import Check, ImportCsvPipeline

SERVICE_ACCOUNT = "svc-rooms@contoso.onmicrosoft.com"
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
    """A licensed user with a mailbox and a password: what New-Mailbox makes on Exchange Server."""
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


def apply_script(control, tenant: Tenant, step_id: str) -> list[list[dict]]:
    """Run the step's generated script in the sandbox as the admin's shell would: each cmdlet line as written,
    each Import-Csv pipeline once per row of the CSV Onramp offers for download. Returns the checks' output."""
    csv_files = dict(room_list_csv(tenant, planned.number) for planned in room_plan(tenant))
    checks = []
    for line in script_lines(tenant, step_id):
        if isinstance(line, Command):
            control.invoke(line.cmdlet, **line.arguments())
        elif isinstance(line, ImportCsvPipeline):
            for call in line.commands_for(csv_files[line.csv_file]):
                control.invoke(call.cmdlet, **call.arguments())
        elif isinstance(line, Check):
            checks.append(control.invoke(line.command.cmdlet, **line.command.arguments()))
    return checks


@pytest.fixture
def run_step() -> Callable[..., StepState]:
    def run(tenant: Tenant, step_id: str, inputs: dict | None = None) -> StepState:
        enqueue_step(tenant, step_id, ADMIN, inputs)

        def settled() -> StepState | None:
            state = StepState.objects.get(tenant=tenant, step_id=step_id)
            return state if state.status in SETTLED else None

        return wait_for(settled, timeout=60, what=f"step {step_id} to settle")

    return run
