"""Issue 11.6: verify says, as a warning and never a failure, whether each room list is visible to the integration
through the Places API yet (a new list can take hours to appear there)."""

from tests.factories import connected_tenant, state_of
from wizard.models import StepStatus
from wizard.services.places import NOT_USED
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

ALL_ROOMS = {"rooms": all_rooms_inputs(confirmed=True)}
HOURS = 3600


def test_a_room_list_not_yet_in_places_is_a_warning_until_places_shows_it(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=3, equipment=0, users=1, places_delay_s=4 * HOURS)
    sandbox.control.grant_permission("Place.Read.All", app_id=sandbox.info["integration_app_id"])
    tenant = connected_tenant(sandbox.info)

    assert run_steps(tenant, inputs=ALL_ROOMS).finished

    verify = state_of(tenant, "verify")
    assert verify.status == StepStatus.SUCCEEDED and verify.result["rooms_passed"] == 3
    places = verify.result["places"]
    assert places["checked"] and places["detail"] == "0 of 1 room list(s) visible in Places"
    [entry] = places["lists"]
    assert entry["name"] == "Onramp Rooms" and entry["visible"] is False
    [warning] = verify.result["warnings"]
    assert f"The room list Onramp Rooms ({entry['address']}) is not visible in Places yet" in warning
    assert state_of(tenant, "activate").status == StepStatus.SUCCEEDED  # a warning does not stop activation

    sandbox.control.advance(4 * HOURS)
    assert run_steps(tenant, start="verify", until="verify").finished

    again = state_of(tenant, "verify").result
    assert again["warnings"] == [] and again["places"]["lists"][0]["visible"] is True


def test_an_integration_that_does_not_use_places_gets_no_places_warning(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=2, equipment=0, users=1, places_delay_s=4 * HOURS)
    tenant = connected_tenant(sandbox.info)

    assert run_steps(tenant, inputs=ALL_ROOMS).finished

    result = state_of(tenant, "verify").result
    assert result["places"] == {"checked": False, "detail": NOT_USED, "lists": [], "warnings": []}
    assert result["warnings"] == []
