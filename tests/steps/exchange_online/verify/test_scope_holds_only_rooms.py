"""Issue 16.1 at verify: verify fails while any scoped list holds a member that is not a room, or a room nobody
chose."""

from tests.factories import connected_tenant, state_of
from wizard.models import StepStatus
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

PERSON = "user-001@contoso.onmicrosoft.com"


def test_verify_fails_when_a_scoped_list_holds_a_person_or_an_unchosen_room(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=4, equipment=0, users=3)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, inputs={"rooms": all_rooms_inputs(confirmed=True)}).finished
    address = state_of(tenant, "room_list").result["address"]
    sandbox.control.invoke(
        "Add-DistributionGroupMember", Identity=address, Member=PERSON, BypassSecurityGroupManagerCheck=True
    )

    failed = run_steps(tenant, start="verify", until="verify").stopped_at

    assert failed.status == StepStatus.FAILED and failed.error_code == "verification_failed"
    assert PERSON in failed.error_message and "not rooms" in failed.error_message
    result = failed.error_detail["result"]
    assert result["scope_holds_only_rooms"] is False
    assert result["non_room_members"] == [{"address": PERSON, "type": "UserMailbox"}]

    sandbox.control.invoke(
        "Remove-DistributionGroupMember", Identity=address, Member=PERSON, BypassSecurityGroupManagerCheck=True
    )
    sandbox.control.add_mailbox("room", alias="room-extra")
    sandbox.control.invoke(
        "Add-DistributionGroupMember",
        Identity=address,
        Member="room-extra@contoso.onmicrosoft.com",
        BypassSecurityGroupManagerCheck=True,
    )

    failed = run_steps(tenant, start="verify", until="verify").stopped_at

    assert failed.error_code == "verification_failed"
    assert failed.error_detail["result"]["unplaced_rooms"] == ["room-extra@contoso.onmicrosoft.com"]
    assert "were not chosen" in failed.error_message
