"""The room list step's form offers to remove the people a group holds only when the step named them, and its
confirmation reaches the step's inputs."""

from tests.factories import inputs_from_form, set_state
from wizard.steps.exchange_online.room_list.form import RoomListForm

PEOPLE = [{"address": "user-001@contoso.com", "type": "UserMailbox"}]


def test_the_removal_box_appears_only_when_the_group_holds_people(tenant):
    plain = RoomListForm(tenant=tenant, state=set_state(tenant, "room_list"))
    assert "remove_non_room_members" not in plain.fields

    state = set_state(tenant, "room_list", result={"address": "all-staff@contoso.com", "non_room_members": PEOPLE})
    form = RoomListForm(
        {
            "name": "All Staff",
            "address": "all-staff@contoso.com",
            "convert_existing_group": "on",
            "remove_non_room_members": "on",
        },
        tenant=tenant,
        state=state,
    )

    assert form.is_valid(), form.errors
    assert inputs_from_form(tenant, "room_list", form.cleaned_data)["remove_non_room_members"] is True
