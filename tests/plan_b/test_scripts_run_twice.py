"""Every Exchange Online script an admin runs while Onramp makes no Exchange changes, run twice in the sandbox's shell
as generated from a plan: the second run changes nothing and reports no error. The rooms script spans two lists (the
second created by the script), and leaves out with a warning an address that is not a room."""

import pytest

from wizard.room_plan import ROOM_LIST_MAX_MEMBERS, plan_room_lists
from wizard.services import exchange_online_scripts as scripts
from wizard.services.exchange_server_scripts import render

ORGANIZATION = "contoso.onmicrosoft.com"
MANAGER = "user-001@contoso.onmicrosoft.com"
PERSON = "user-002@contoso.onmicrosoft.com"
NAME, ALIAS, ADDRESS = "Onramp Rooms", "onramp-rooms", "onramp-rooms@contoso.onmicrosoft.com"
ROOMS = ROOM_LIST_MAX_MEMBERS + 5


@pytest.fixture
def sandbox(make_sandbox):
    return make_sandbox(rooms=ROOMS, dehydrated=True)


def run_twice(control, lines) -> dict:
    script = render(lines)
    first = control.run_script(script)
    assert first["errors"] == [], first["errors"]
    again = control.run_script(script)
    assert again["errors"] == [] and again["changes"] == 0 and again["writes"] <= first["writes"], again
    return first


def test_each_script_runs_twice_and_the_second_run_changes_nothing(sandbox):
    control = sandbox.control
    assert control.invoke("Get-OrganizationConfig")[0]["IsDehydrated"] is True

    run_twice(control, scripts.org_customization_script(ORGANIZATION))
    assert control.invoke("Get-OrganizationConfig")[0]["IsDehydrated"] is False

    assert run_twice(control, scripts.room_list_script(ORGANIZATION, NAME, ALIAS, ADDRESS, MANAGER))["changes"] > 0
    assert control.invoke("Get-DistributionGroup", Identity=ADDRESS)[0]["RecipientTypeDetails"] == "RoomList"

    rooms = [f"room-{n:03d}@contoso.onmicrosoft.com" for n in range(1, ROOMS + 1)]
    plan = plan_room_lists(NAME, ALIAS, "contoso.onmicrosoft.com", [*rooms, PERSON], {NAME: set()})
    assert [len(p.members) for p in plan] == [ROOM_LIST_MAX_MEMBERS, 6] and plan[1].is_new
    ran = run_twice(control, scripts.rooms_script(ORGANIZATION, plan, MANAGER))
    assert f"WARNING: Not a room or equipment mailbox, left out: {PERSON}" in ran["host"]
    members = {
        p.address: {
            m["PrimarySmtpAddress"].lower() for m in control.invoke("Get-DistributionGroupMember", Identity=p.address)
        }
        for p in plan
    }
    assert set().union(*members.values()) == set(rooms) and len(members[plan[0].address]) == ROOM_LIST_MAX_MEMBERS

    app_id = sandbox.info["integration_app_id"]
    scoped = scripts.scoped_access_script(
        ORGANIZATION,
        app_id=app_id,
        service_principal_object_id=sandbox.tenant.entra_sps[app_id].id,
        app_name="Calendar Integration",
        scope_name="Onramp rooms of Onramp Rooms",
        assignment_name="Onramp rooms of Onramp Rooms calendars",
        role="Application Calendars.ReadWrite",
        list_addresses=[p.address for p in plan],
    )
    run_twice(control, scoped)
    scope = control.invoke("Get-ManagementScope", Identity="Onramp rooms of Onramp Rooms")[0]
    dns = [control.invoke("Get-DistributionGroup", Identity=p.address)[0]["DistinguishedName"] for p in plan]
    assert scope["RecipientFilter"] == " -or ".join(f"MemberOfGroup -eq '{dn}'" for dn in dns)
    tested = control.invoke("Test-ServicePrincipalAuthorization", Identity=app_id, Resource=rooms[-1])
    assert any(row["InScope"] is True for row in tested)
    assert not any(
        row["InScope"] is True
        for row in control.invoke("Test-ServicePrincipalAuthorization", Identity=app_id, Resource=PERSON)
    )
