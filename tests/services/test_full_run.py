"""Every step of the exchange_online profile, end to end on the worker against the sandbox tenant."""

from tests.factories import connected_tenant, state_of
from wizard.models import MembershipStatus, Room, StepStatus, VerificationStatus
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

ALL_ROOMS = {"rooms": all_rooms_inputs(confirmed=True)}


def _room_lists(state: dict) -> list[dict]:
    """The room lists by name (`Rooms`, `Rooms 02`, …): lists are written concurrently, so creation order varies."""
    return sorted(
        (group for group in state["groups"] if group["recipientTypeDetails"] == "RoomList"), key=lambda g: g["name"]
    )


def _in_scope(sandbox, app_id: str, mailbox: str) -> bool:
    rows = sandbox.control.invoke("Test-ServicePrincipalAuthorization", Identity=app_id, Resource=mailbox)
    return any(row["InScope"] for row in rows)


def test_full_run_on_200_rooms_then_a_second_run_writes_nothing(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=200, equipment=4, users=3)
    tenant = connected_tenant(sandbox.info)

    outcome = run_steps(tenant, inputs=ALL_ROOMS)

    assert outcome.finished, (outcome.stopped_at.step_id, outcome.stopped_at.error_message)
    assert {state.status for state in tenant.step_states.exclude(step_id="reduce_access")} == {StepStatus.SUCCEEDED}
    assert tenant.step_states.get(step_id="reduce_access").status == StepStatus.NOT_STARTED  # optional, not asked
    state = sandbox.control.state()
    lists = _room_lists(state)
    assert [len(group["members"]) for group in lists] == [75, 75, 50]
    assert max(len(group["members"]) for group in lists) <= ROOM_LIST_MAX_MEMBERS
    rooms = sorted(user["userPrincipalName"] for user in state["users"] if user["kind"] == "room")
    assert sorted(member for group in lists for member in group["members"]) == rooms  # each room exactly once
    service_account = state_of(tenant, "service_account").result["user_principal_name"]
    assert all(group["managedBy"] == [service_account] for group in lists)
    [scope] = state["scopes"]
    assert {value.lower() for _, value in scope["clauses"]} == {group["dn"].lower() for group in lists}
    app_id = sandbox.info["integration_app_id"]
    mailboxes = [user["userPrincipalName"] for user in state["users"] if user["hasMailbox"]]
    assert sorted(m for m in mailboxes if _in_scope(sandbox, app_id, m)) == rooms
    verified = state_of(tenant, "verify").result
    assert verified["rooms_passed"] == 200 and verified["control_mailbox"] == service_account
    assert verified["control_out_of_scope"] and verified["calendar_checked"]
    assert Room.objects.filter(tenant=tenant, membership_status=MembershipStatus.MEMBER).count() == 200
    assert Room.objects.filter(tenant=tenant, verification_status=VerificationStatus.PASS).count() == 200
    tenant.refresh_from_db()
    assert tenant.status == "active"
    rooms_calls = sandbox.control.calls()["write_calls"]
    # Three lists: the first from step 3 filled by one Update call, two created with their members.
    assert rooms_calls.get("Update-DistributionGroupMember") == 1 and rooms_calls.get("New-DistributionGroup") == 3
    assert "Add-DistributionGroupMember" not in rooms_calls

    sandbox.control.reset_calls()
    again = run_steps(tenant, start="connect", inputs=ALL_ROOMS)

    assert again.finished and again.ran[0] == "connect" and len(again.ran) == 8
    calls = sandbox.control.calls()
    assert calls["writes"] == 0, calls["write_calls"]
    assert _room_lists(sandbox.control.state()) == lists


def test_full_run_completes_with_30_percent_of_calls_throttled(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=12, equipment=0, users=2, throttle_fraction=0.3)
    tenant = connected_tenant(sandbox.info)

    outcome = run_steps(tenant, inputs=ALL_ROOMS)

    assert outcome.finished, (outcome.stopped_at.step_id, outcome.stopped_at.error_message)
    assert sandbox.control.calls()["throttled"] > 5
    [room_list] = _room_lists(sandbox.control.state())
    assert len(room_list["members"]) == 12
    assert state_of(tenant, "verify").result["rooms_passed"] == 12
