"""Verify after the tenant changes: rooms gone or in no list, rooms whose own EWS switch is off, and waiting while
Microsoft applies new access (a new list added to the one scope, new members of a scoped list)."""

from tests.factories import connected_tenant, state_of
from wizard.models import Room, StepStatus, VerificationStatus
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

ALL_ROOMS = {"rooms": all_rooms_inputs(confirmed=True)}


def test_verify_reports_rooms_gone_and_rooms_in_no_list(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=6, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, inputs=ALL_ROOMS).finished
    sandbox.control.remove_mailbox("room-001@contoso.onmicrosoft.com")
    sandbox.control.add_mailbox("room", alias="room-new")

    failed = run_steps(tenant, start="verify", until="verify").stopped_at

    assert failed.status == StepStatus.FAILED and failed.error_code == "verification_failed"
    result = failed.error_detail["result"]
    assert result["drift"] == {
        "unlisted_rooms": ["room-new@contoso.onmicrosoft.com"],
        "gone_rooms": ["room-001@contoso.onmicrosoft.com"],
    }
    assert result["rooms_passed"] == 5 and result["control_out_of_scope"]
    gone = Room.objects.get(tenant=tenant, address="room-001@contoso.onmicrosoft.com")
    assert gone.verification_status == VerificationStatus.FAIL and "no longer exists" in gone.reason


def test_verify_names_the_rooms_whose_own_ews_switch_is_off(make_sandbox, run_steps):
    """A room's own EwsEnabled False (Set-CASMailbox) blocks EWS for it whatever the organisation allows: verify
    reads every mailbox's switch in one listing and says which rooms, and what to run (issue 25 point 4)."""
    sandbox = make_sandbox(rooms=4, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)
    sandbox.control.invoke("Set-CASMailbox", Identity="room-002@contoso.onmicrosoft.com", EwsEnabled=False)
    sandbox.control.invoke("Set-CASMailbox", Identity="user-001@contoso.onmicrosoft.com", EwsEnabled=False)

    assert run_steps(tenant, inputs=ALL_ROOMS).finished

    result = state_of(tenant, "verify").result
    assert result["rooms_ews_off"] == ["room-002@contoso.onmicrosoft.com"]
    warning = next(w for w in result["warnings"] if "EWS is switched off" in w)
    assert "room-002@contoso.onmicrosoft.com" in warning and "Set-CASMailbox" in warning
    sandbox.control.invoke("Set-CASMailbox", Identity="room-002@contoso.onmicrosoft.com", EwsEnabled=None)
    assert run_steps(tenant, start="verify", until="verify").finished
    assert state_of(tenant, "verify").result["rooms_ews_off"] == []


def test_verify_waits_while_microsoft_applies_the_new_access(make_sandbox, run_steps):
    """Right after scoped access, Exchange reports the rooms in scope but refuses their calendars for a while
    (Microsoft applies RBAC for Applications within up to 2 hours): verify waits instead of failing."""
    sandbox = make_sandbox(rooms=4, equipment=0, users=1, rbac_delay_s=6)
    tenant = connected_tenant(sandbox.info)

    assert run_steps(tenant, inputs=ALL_ROOMS).finished

    verify = state_of(tenant, "verify")
    assert verify.status == StepStatus.SUCCEEDED
    assert verify.result["rooms_passed"] == 4
    waited = tenant.audit_events.filter(step_id="verify", outcome="waiting").get()
    assert "4 of 4 room(s) are in scope but still refused" in waited.detail["waiting_for"]
    assert "(made at " in waited.detail["waiting_for"]


def test_a_new_list_is_added_to_the_one_scope(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=75, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="scoped_access", inputs=ALL_ROOMS).finished
    sandbox.control.add_mailbox("room", alias="room-076")
    sandbox.control.reset_calls()

    again = run_steps(tenant, until="scoped_access", inputs=ALL_ROOMS)

    assert again.ran == ["rooms", "scoped_access"]  # new room choices re-run the rooms step and those after it

    state = sandbox.control.state()
    lists = {group["name"]: group for group in state["groups"]}
    assert lists["Onramp Rooms 02"]["members"] == ["room-076@contoso.onmicrosoft.com"]
    [scope] = state["scopes"]
    assert {value.lower() for _, value in scope["clauses"]} == {group["dn"].lower() for group in lists.values()}
    assert sandbox.control.calls()["write_calls"] == {"New-DistributionGroup": 1, "Set-ManagementScope": 1}
    [check] = sandbox.control.invoke(
        "Test-ServicePrincipalAuthorization",
        Identity=sandbox.info["integration_app_id"],
        Resource="room-076@contoso.onmicrosoft.com",
    )
    assert check["InScope"] is True

    # Microsoft's RBAC cache has not seen the changed scope yet: verify waits, naming the change and its time.
    sandbox.control.set_knobs(rbac_delay_s=15)
    assert run_steps(tenant, start="verify", until="verify").finished
    assert "the new role assignment or scope (made at " in _waits(tenant)


def _waits(tenant) -> str:
    return " | ".join(e.detail["waiting_for"] for e in tenant.audit_events.filter(step_id="verify", outcome="waiting"))


def test_verify_waits_for_new_members_of_a_scoped_list(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=3, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="verify", inputs=ALL_ROOMS).finished
    sandbox.control.add_mailbox("room", alias="room-004")
    sandbox.control.set_knobs(rbac_delay_s=15)
    sandbox.control.reset_calls()

    again = run_steps(tenant, start="rooms", until="verify", inputs=ALL_ROOMS)

    assert again.finished and again.ran == ["rooms", "scoped_access", "verify"]
    writes = sandbox.control.calls()["write_calls"]
    assert writes == {"Add-DistributionGroupMember": 1}  # no new assignment, no scope change: only a member
    assert "the room lists' new members (made at " in _waits(tenant)
    assert state_of(tenant, "verify").result["rooms_passed"] == 4
