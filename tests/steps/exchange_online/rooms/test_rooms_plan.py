"""Step 4's plan of room lists, seen before confirming: what the confirm button counts, the lists of at most 75 the
preview shows, and overflow lists whose planned address another recipient already holds."""

from tests.factories import connected_tenant, state_of
from wizard.models import StepStatus
from wizard.steps.exchange_online.rooms.page import rooms_preview
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.rooms.service import MAX_TAKEN_ADDRESSES, all_rooms_inputs
from wizard.steps.registry import get_step

ROOM_LIST = "onramp-rooms@contoso.com"


def lists_of(sandbox) -> dict[str, tuple[str, int]]:
    return {
        group["name"]: (group["primarySmtpAddress"], len(group["members"]))
        for group in sandbox.control.state()["groups"]
    }


def test_every_room_mailbox_counts_only_the_rooms_it_will_write(sandbox_tenant, run_steps):
    tenant = connected_tenant(sandbox_tenant.info)
    assert run_steps(tenant, until="room_list").finished
    sandbox_tenant.control.invoke(
        "Add-DistributionGroupMember",
        Identity=ROOM_LIST,
        Member="room-001@contoso.onmicrosoft.com",
        BypassSecurityGroupManagerCheck=True,
    )

    preview = run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs()}).stopped_at

    assert preview.status == StepStatus.NEEDS_INPUT
    assert "confirm to add 19 rooms" in preview.progress_message
    shown = rooms_preview(RoomsResult.from_json(preview.result), preview.inputs)
    assert (shown.to_add, shown.already_members, shown.applicable) == (19, 1, 20)
    assert [(planned.member_count, planned.adding) for planned in shown.planned_lists] == [(20, 19)]


def test_the_preview_shows_the_planned_lists_of_75_and_confirming_writes_them(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=180)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="room_list").finished
    sandbox.control.reset_calls()

    preview = run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs()}).stopped_at

    assert preview.status == StepStatus.NEEDS_INPUT
    planned = preview.result["planned_lists"]
    assert [(entry["name"], entry["address"], entry["members"], entry["created"]) for entry in planned] == [
        ("Onramp Rooms", ROOM_LIST, 75, False),
        ("Onramp Rooms 02", "onramp-rooms-02@contoso.com", 75, True),
        ("Onramp Rooms 03", "onramp-rooms-03@contoso.com", 30, True),
    ]
    assert sandbox.control.calls()["writes"] == 0
    # Each new list's address is checked once: the only calls the plan adds.
    assert sandbox.control.calls()["calls"]["Get-Recipient"] == 2

    assert run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs(confirmed=True)}).finished

    assert lists_of(sandbox) == {entry["name"]: (entry["address"], entry["members"]) for entry in planned}


def test_an_overflow_address_another_group_holds_is_skipped_for_the_next_number(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=100)
    sandbox.control.invoke(
        "New-DistributionGroup", Name="Facilities", Alias="facilities", PrimarySmtpAddress="onramp-rooms-02@contoso.com"
    )
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="room_list").finished

    preview = run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs()}).stopped_at

    assert [(entry["name"], entry["address"]) for entry in preview.result["planned_lists"]] == [
        ("Onramp Rooms", ROOM_LIST),
        ("Onramp Rooms 03", "onramp-rooms-03@contoso.com"),
    ]
    sandbox.control.reset_calls()
    assert run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs(confirmed=True)}).finished

    assert sandbox.control.calls()["calls"]["Get-Recipient"] == 2  # 02 (taken), then 03 (free)
    lists = lists_of(sandbox)
    assert lists["Onramp Rooms 03"] == ("onramp-rooms-03@contoso.com", 25)
    assert lists["Facilities"] == ("onramp-rooms-02@contoso.com", 0)  # the holder is left alone


def test_when_no_free_address_is_found_the_error_names_the_holders_and_freeing_one_works(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=80)
    for number in range(2, MAX_TAKEN_ADDRESSES + 3):
        sandbox.control.invoke(
            "New-DistributionGroup",
            Name=f"Team {number:02d}",
            Alias=f"team-{number:02d}",
            PrimarySmtpAddress=f"onramp-rooms-{number:02d}@contoso.com",
        )
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="room_list").finished
    sandbox.control.reset_calls()

    failed = run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs(confirmed=True)}).stopped_at

    assert failed.step_id == "rooms" and failed.status == StepStatus.FAILED
    assert failed.error_code == "room_list_addresses_taken"
    assert "onramp-rooms-02@contoso.com belongs to ‘Team 02’ (MailUniversalDistributionGroup)" in failed.error_message
    assert "Free these addresses" in failed.error_detail["fix"]
    assert sandbox.control.calls()["writes"] == 0

    sandbox.control.invoke("Remove-DistributionGroup", Identity="Team 05")
    assert run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs(confirmed=True)}).finished
    assert lists_of(sandbox)["Onramp Rooms 05"] == ("onramp-rooms-05@contoso.com", 5)
    assert state_of(tenant, "rooms").result["rooms_added"] == 80


def test_the_steps_powershell_follows_the_planned_lists_of_75_and_is_safe_to_run_twice(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=180)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="room_list").finished
    step = get_step(tenant.profile, "rooms")
    assert "Choose the rooms on this page first" in step.powershell(tenant, state_of(tenant, "rooms"))

    preview = run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs()}).stopped_at
    script = step.powershell(tenant, preview)

    assert "New-DistributionGroup -Name 'Onramp Rooms 02'" in script
    first = sandbox.control.run_script(script)
    assert first["errors"] == []
    planned = {entry["name"]: (entry["address"], entry["members"]) for entry in preview.result["planned_lists"]}
    assert (
        lists_of(sandbox)
        == planned
        == {
            "Onramp Rooms": (ROOM_LIST, 75),
            "Onramp Rooms 02": ("onramp-rooms-02@contoso.com", 75),
            "Onramp Rooms 03": ("onramp-rooms-03@contoso.com", 30),
        }
    )
    assert sandbox.control.run_script(script)["changes"] == 0
    # Onramp, confirming the same preview afterwards, finds every room placed and writes nothing.
    sandbox.control.reset_calls()
    assert run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs(confirmed=True)}).finished
    assert sandbox.control.calls()["writes"] == 0


def test_an_ordinary_group_bearing_an_overflow_lists_name_is_skipped_at_no_extra_call(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=100)
    sandbox.control.invoke(
        "New-DistributionGroup", Name="Onramp Rooms 02", Alias="team-two", PrimarySmtpAddress="team-two@contoso.com"
    )
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="room_list").finished
    sandbox.control.reset_calls()

    assert run_steps(tenant, until="rooms", inputs={"rooms": all_rooms_inputs(confirmed=True)}).finished

    assert sandbox.control.calls()["calls"]["Get-Recipient"] == 1  # only 03's address: 02's name was already seen
    lists = lists_of(sandbox)
    assert lists["Onramp Rooms 03"] == ("onramp-rooms-03@contoso.com", 25)
    assert lists["Onramp Rooms 02"] == ("team-two@contoso.com", 0)
