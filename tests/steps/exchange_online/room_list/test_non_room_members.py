"""Issue 16.1: a group that holds people never becomes a scoped room list unseen. Converting or adopting a group
names its members that are not rooms and removes them only on the admin's confirmation, and re-verifying the room
list fails while it holds a person (verify's own check: ../verify/test_scope_holds_only_rooms.py)."""

from tests.factories import connected_tenant, state_of
from tests.helpers import wait_for
from wizard import engine
from wizard.models import StepStatus

ADDRESS = "all-staff@contoso.com"
PEOPLE = ["user-001@contoso.onmicrosoft.com", "user-002@contoso.onmicrosoft.com"]
ROOM_LIST = {"address": ADDRESS, "name": "All Staff", "convert_existing_group": True}


def _all_staff(sandbox) -> None:
    sandbox.control.invoke("New-DistributionGroup", Name="All Staff", Alias="all-staff", PrimarySmtpAddress=ADDRESS)
    for person in PEOPLE:
        sandbox.control.invoke("Add-DistributionGroupMember", Identity=ADDRESS, Member=person)


def _group(sandbox) -> dict:
    return next(g for g in sandbox.control.state()["groups"] if g["primarySmtpAddress"] == ADDRESS)


def test_converting_a_group_of_people_names_them_and_removes_them_only_when_confirmed(sandbox_tenant, run_steps):
    _all_staff(sandbox_tenant)
    tenant = connected_tenant(sandbox_tenant.info)

    stopped = run_steps(tenant, until="room_list", inputs={"room_list": ROOM_LIST}).stopped_at

    assert stopped.step_id == "room_list" and stopped.status == StepStatus.NEEDS_INPUT
    for person in PEOPLE:
        assert person in stopped.progress_message
    assert [m["address"] for m in stopped.result["non_room_members"]] == PEOPLE
    group = _group(sandbox_tenant)
    assert group["recipientTypeDetails"] == "MailUniversalDistributionGroup" and group["members"] == PEOPLE

    # A person added after the admin looked is named again, never removed unseen.
    sandbox_tenant.control.invoke(
        "Add-DistributionGroupMember", Identity=ADDRESS, Member="user-003@contoso.onmicrosoft.com"
    )
    confirm = {"room_list": {**ROOM_LIST, "remove_non_room_members": True}}
    again = run_steps(tenant, start="room_list", until="room_list", inputs=confirm).stopped_at
    assert again.status == StepStatus.NEEDS_INPUT and "user-003@contoso.onmicrosoft.com" in again.progress_message
    assert len(_group(sandbox_tenant)["members"]) == 3

    assert run_steps(tenant, start="room_list", until="room_list", inputs=confirm).finished

    group = _group(sandbox_tenant)
    assert group["recipientTypeDetails"] == "RoomList" and group["members"] == []
    result = state_of(tenant, "room_list").result
    assert [m["address"] for m in result["removed_members"]] == [*PEOPLE, "user-003@contoso.onmicrosoft.com"]
    assert result["non_room_members"] == []
    assert sandbox_tenant.control.calls()["write_calls"]["Remove-DistributionGroupMember"] == 3
    assert tenant.audit_events.filter(action="remove_non_room_members", outcome="succeeded").count() == 1


def test_reverifying_the_room_list_fails_while_it_holds_a_person(sandbox_tenant, run_steps, celery_worker):
    tenant = connected_tenant(sandbox_tenant.info)
    assert run_steps(tenant, until="room_list").finished
    address = state_of(tenant, "room_list").result["address"]
    sandbox_tenant.control.invoke(
        "Add-DistributionGroupMember", Identity=address, Member=PEOPLE[0], BypassSecurityGroupManagerCheck=True
    )

    engine.enqueue_step(tenant, "room_list", "alice", action="reverify", verify_only=True)
    state = wait_for(
        lambda: (s := state_of(tenant, "room_list")).status not in (StepStatus.QUEUED, StepStatus.RUNNING) and s,
        60,
        what="the re-verification",
    )

    assert state.status == StepStatus.FAILED and state.error_code == "room_list_holds_non_rooms"
    assert PEOPLE[0] in state.error_message
