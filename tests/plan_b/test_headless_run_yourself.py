"""Issue 26's headless "done when": with InvokeCommand refused to Onramp's app, `onramp run` and `onramp confirm`
take a new Exchange Online organisation to activation. Each Exchange step stops with its Exchange Online PowerShell;
the test runs it in the sandbox's shell (the admin's part) twice, the second run changing nothing, and confirms;
Onramp checks what it can through Graph, and verify reads the rooms' calendars as the integration."""

import io
import json

import pytest
from django.core.management import call_command

from tenants.models import Tenant
from tests.factories import sandbox_connect_arguments, state_of
from wizard.errors import INVOKE_COMMAND_REFUSED
from wizard.management.commands.onramp import EXIT_FAILED, EXIT_NEEDS_INPUT
from wizard.models import AuditEvent, MembershipStatus, Room, StepStatus
from wizard.steps.registry import step_of

EXCHANGE_STEPS = ("org_customization", "room_list", "rooms", "scoped_access")


def onramp(*args: str) -> str:
    out = io.StringIO()
    call_command("onramp", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def onramp_exits(code: int, *args: str) -> str:
    """What the command said on stderr before it exited with `code`."""
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("onramp", *args, stdout=io.StringIO(), stderr=err)
    assert exited.value.code == code
    return err.getvalue()


@pytest.fixture
def sandbox_tenant(make_sandbox):
    """A new organisation: Exchange Online still dehydrated."""
    return make_sandbox(dehydrated=True)


@pytest.fixture
def info_file(sandbox_tenant, tmp_path):
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(sandbox_tenant.info))
    return path


def run_as_the_admin(control, tenant: Tenant, step_id: str) -> None:
    """The step's script, as its page and `onramp confirm` show it, run twice in the sandbox's shell."""
    script = step_of(tenant, step_id).powershell(tenant, state_of(tenant, step_id))
    assert script.splitlines()[1:3] == [
        "# Signs in to Exchange Online: sign in as an Exchange administrator of this organisation.",
        f"Connect-ExchangeOnline -Organization {script.split('-Organization ', 1)[1].splitlines()[0]}",
    ]
    first = control.run_script(script)
    assert first["errors"] == [], (step_id, first["errors"])
    assert first["writes"] > 0, step_id
    again = control.run_script(script)
    assert again["errors"] == [] and again["changes"] == 0, (step_id, again)
    if step_id == "org_customization":  # enabled once, while dehydrated; the organisation's state is not fingerprinted
        assert again["writes"] == 0 and control.invoke("Get-OrganizationConfig")[0]["IsDehydrated"] is False
    else:
        assert first["changes"] > 0, step_id


def test_onramp_run_and_confirm_reach_activation_with_invoke_command_refused(
    sandbox_tenant, info_file, celery_worker, tmp_path
):
    control = sandbox_tenant.control
    control.refuse_invoke_command()
    rooms = sorted(u.upn.lower() for u in sandbox_tenant.tenant.users.values() if u.kind == "room")
    csv = tmp_path / "rooms.csv"
    csv.write_text("ResourceAccounts\n" + "\n".join(rooms) + "\n")

    onramp_exits(EXIT_FAILED, "connect", "--slug", "contoso", *sandbox_connect_arguments(info_file))
    tenant = Tenant.objects.get(slug="contoso")
    assert state_of(tenant, "connect").error_code == INVOKE_COMMAND_REFUSED

    assert "the admin makes the Exchange changes" in onramp("exchange-writes", "--slug", "contoso", "--by", "admin")
    tenant.refresh_from_db()
    for step_id in EXCHANGE_STEPS:
        extra = ("--rooms-csv", str(csv)) if step_id == "rooms" else ()
        asked = onramp_exits(EXIT_NEEDS_INPUT, "run", "--slug", "contoso", "--wait", *extra)
        assert f"onramp confirm --slug contoso --step {step_id}" in asked
        stopped = state_of(tenant, step_id)
        assert stopped.status == StepStatus.NEEDS_INPUT, (step_id, stopped.status, stopped.error_message)
        run_as_the_admin(control, tenant, step_id)
        printed = onramp("confirm", "--slug", "contoso", "--step", step_id, "--yes", "--wait")
        assert "Exchange Online PowerShell" in printed
        assert state_of(tenant, step_id).status == StepStatus.SUCCEEDED, state_of(tenant, step_id).error_message

    out = onramp("run", "--slug", "contoso", "--wait")

    assert "[verify] succeeded" in out and "[activate] succeeded" in out
    tenant.refresh_from_db()
    assert tenant.status == "active"
    verify = state_of(tenant, "verify").result
    assert verify["rooms_passed"] == len(rooms) and verify["rooms_failed"] == 0 and verify["control_out_of_scope"]
    assert verify["calendar_checked"] and any("room_list_members" in line for line in verify["checks_not_run"])
    assert Room.objects.filter(tenant=tenant, membership_status=MembershipStatus.MEMBER).count() == len(rooms)
    room_list_checks = state_of(tenant, "room_list").result["checked_without_invoke_command"]
    assert room_list_checks[0]["checked"] and room_list_checks[0]["passed"]  # found in Places by its address
    assert AuditEvent.objects.filter(tenant=tenant, action="confirm_manual").count() == len(EXCHANGE_STEPS)
    # InvokeCommand ran nothing for Onramp's app (cmdlets are counted by name, Graph calls as "METHOD path"): every
    # Exchange change was the admin's, in the shell.
    assert [name for name in control.calls()["calls"] if " " not in name] == []
