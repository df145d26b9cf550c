"""Issue 26: when Microsoft refuses InvokeCommand to Onramp's app, the step says so (a refusal, not a missing role),
retries nothing, and the organisation can switch to running the Exchange changes itself, in the timeline, and back."""

import pytest

from tenants.models import ExchangeWrites, Profile
from tests.factories import connected_tenant, make_tenant, run_inline, set_state, state_of
from wizard import actions
from wizard.errors import INVOKE_COMMAND_REFUSED, IllegalTransition, StepError
from wizard.microsoft import connector_clients
from wizard.microsoft.errors import ExchangeRoleMissing, InvokeCommandRefused
from wizard.models import AuditEvent, StepStatus
from wizard.steps.registry import step_of

pytestmark = pytest.mark.django_db(transaction=True)

EXCHANGE_STEPS = ("org_customization", "room_list", "rooms", "scoped_access")


def test_a_refused_invoke_command_fails_the_step_as_a_refusal_not_as_a_missing_role(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info)
    sandbox_tenant.control.refuse_invoke_command()

    state = run_inline(tenant, "connect")

    assert state.status == StepStatus.FAILED and state.error_code == INVOKE_COMMAND_REFUSED
    assert "switch" in state.error_detail["fix"].lower() and "not retry" in state.error_detail["explanation"]
    assert state.attempts == 1
    with connector_clients(tenant) as ms, pytest.raises(InvokeCommandRefused):
        ms.exchange.invoke("Get-OrganizationConfig")


def test_a_missing_exchange_role_is_still_a_missing_role(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info)
    sandbox_tenant.control.remove_connector_permission("Exchange Administrator")

    with connector_clients(tenant) as ms, pytest.raises(ExchangeRoleMissing) as refused:
        ms.exchange.invoke("Get-OrganizationConfig")

    assert not isinstance(refused.value, InvokeCommandRefused) and refused.value.code != INVOKE_COMMAND_REFUSED


def test_the_switch_is_in_the_timeline_turns_exchange_steps_manual_and_goes_back(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info)
    sandbox_tenant.control.refuse_invoke_command()
    assert run_inline(tenant, "connect").error_code == INVOKE_COMMAND_REFUSED

    actions.set_exchange_writes(tenant, "alice", ExchangeWrites.BY_ADMIN)

    event = AuditEvent.objects.get(tenant=tenant, action=actions.SWITCH_EXCHANGE_WRITES)
    assert event.actor == "alice" and event.detail == {"from": "by_onramp", "to": "by_admin"}
    assert all(step_of(tenant, step_id).manual for step_id in EXCHANGE_STEPS)
    assert "Connect-ExchangeOnline -Organization" in step_of(tenant, "org_customization").powershell(
        tenant, state_of(tenant, "org_customization")
    )
    # Connect no longer needs Exchange: it succeeds with InvokeCommand still refused.
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED

    actions.set_exchange_writes(tenant, "support-bob", ExchangeWrites.BY_ONRAMP)

    back = AuditEvent.objects.filter(tenant=tenant, action=actions.SWITCH_EXCHANGE_WRITES).latest("created_at")
    assert back.actor == "support-bob" and back.detail == {"from": "by_admin", "to": "by_onramp"}
    assert not any(step_of(tenant, step_id).manual for step_id in EXCHANGE_STEPS)


def test_no_switch_while_an_exchange_step_runs_nor_for_exchange_server():
    tenant = make_tenant("contoso")
    state_of(tenant, "room_list").__class__.objects.filter(tenant=tenant, step_id="room_list").update(
        status=StepStatus.RUNNING
    )
    with pytest.raises(IllegalTransition):
        actions.set_exchange_writes(tenant, "alice", ExchangeWrites.BY_ADMIN)
    onprem = make_tenant("onprem", profile=Profile.EXCHANGE_SERVER)
    with pytest.raises(StepError) as refused:
        actions.set_exchange_writes(onprem, "alice", ExchangeWrites.BY_ADMIN)
    assert refused.value.code == "not_exchange_online"
    assert not AuditEvent.objects.filter(action=actions.SWITCH_EXCHANGE_WRITES).exists()


def test_back_to_onramp_after_the_admin_made_the_lists_scoped_access_asks_to_adopt_them(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info)
    for step_id in ("connect", "org_customization", "service_account"):
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED)
    # What the run-it-yourself room list and rooms steps save: no distinguished name, which only Exchange tells.
    lists = [{"name": "Onramp Rooms", "address": "onramp-rooms@contoso.onmicrosoft.com", "members": ["room-001@x"]}]
    set_state(
        tenant,
        "room_list",
        status=StepStatus.SUCCEEDED,
        result={"name": "Onramp Rooms", "address": lists[0]["address"]},
    )
    set_state(tenant, "rooms", status=StepStatus.SUCCEEDED, result={"lists": lists})

    state = run_inline(tenant, "scoped_access")

    assert state.status == StepStatus.FAILED and state.error_code == "room_list_dns_unknown"
    assert "Room list" in state.error_detail["fix"]
