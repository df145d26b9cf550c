"""An Exchange Server organisation taken to activation headless: the admin's values saved as the page saves them,
each manual step's script run in the sandbox's Exchange Management Shell, then `onramp confirm --yes --wait`;
verify and activate through `onramp run`. A confirmation without --yes and without a terminal changes nothing."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from tenants.models import TenantStatus
from tests.factories import inputs_from_form, set_state, state_of
from wizard.engine import ensure_states
from wizard.models import AuditEvent, StepStatus
from wizard.steps.registry import get_step

from .conftest import ADMIN, CONTROL_MAILBOX, SERVICE_ACCOUNT, SERVICE_PASSWORD, exchange_server_tenant, run_script

ROOMS = 12


def onramp(*args: str) -> str:
    out = io.StringIO()
    call_command("onramp", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def save_values(tenant, step_id: str, data=None, files=None) -> None:
    """What the step page's "Save and update the commands" stores."""
    form = get_step(tenant.profile, step_id).form(data or {}, files, tenant=tenant, state=state_of(tenant, step_id))
    assert form.is_valid(), form.errors
    set_state(tenant, step_id, inputs=inputs_from_form(tenant, step_id, form.cleaned_data, actor=ADMIN))


def ran_and_confirmed(control, tenant, step_id: str, typed=None) -> str:
    shell = run_script(control, tenant, step_id, typed)
    assert shell["errors"] == [], shell["errors"]
    out = onramp("confirm", "--slug", tenant.slug, "--step", step_id, "--yes", "--wait", "--actor", ADMIN)
    assert state_of(tenant, step_id).status == StepStatus.SUCCEEDED, state_of(tenant, step_id).error_message
    return out


def test_onramp_confirm_takes_an_exchange_server_organisation_to_activation(celery_worker, make_sandbox):
    sandbox = make_sandbox(rooms=ROOMS, rbac_delay_s=0)
    control = sandbox.control
    tenant = exchange_server_tenant(sandbox.info)
    ensure_states(tenant)

    save_values(tenant, "service_account", {"service_account_upn": SERVICE_ACCOUNT})
    with pytest.raises(SystemExit) as asked:  # no terminal to ask at, no --yes: nothing is recorded
        onramp("confirm", "--slug", tenant.slug, "--step", "service_account")
    assert asked.value.code == 2 and not AuditEvent.objects.filter(tenant=tenant, action="confirm_manual").exists()
    out = ran_and_confirmed(control, tenant, "service_account", [SERVICE_PASSWORD])
    assert "New-Mailbox" in out and SERVICE_PASSWORD not in out

    save_values(
        tenant,
        "connect",
        {"service_account_upn": SERVICE_ACCOUNT, "password": SERVICE_PASSWORD, "ews_url": sandbox.info["ews_url"]},
    )
    onramp("run", "--slug", tenant.slug, "--until", "connect", "--wait", "--actor", ADMIN)
    assert state_of(tenant, "connect").status == StepStatus.SUCCEEDED

    save_values(tenant, "room_list", {"name": "Onramp Rooms", "address": ""})
    ran_and_confirmed(control, tenant, "room_list")
    addresses = "\n".join(f"room-{n:03d}@contoso.onmicrosoft.com" for n in range(1, ROOMS + 1))
    upload = SimpleUploadedFile("rooms.csv", f"ResourceAccounts\n{addresses}\n".encode())
    save_values(tenant, "rooms", files={"csv_file": upload})
    ran_and_confirmed(control, tenant, "rooms")
    dns = [group["dn"] for group in control.state()["groups"] if group["recipientTypeDetails"] == "RoomList"]
    save_values(tenant, "scoped_access", {"room_list_dns": "\n".join(dns)})
    ran_and_confirmed(control, tenant, "scoped_access")

    out = onramp("run", "--slug", tenant.slug, "--wait", "--actor", ADMIN, "--control-mailbox", CONTROL_MAILBOX)

    assert "[verify] succeeded" in out and "[activate] succeeded" in out
    tenant.refresh_from_db()
    assert tenant.status == TenantStatus.ACTIVE
    assert AuditEvent.objects.filter(tenant=tenant, action="confirm_manual", actor=ADMIN).count() == 4
