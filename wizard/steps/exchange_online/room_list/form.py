"""The room_list step's form, and how its cleaned data becomes the step's inputs."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm
from wizard.outcomes import Submission
from wizard.steps.exchange_online.room_list import service as room_list


class RoomListForm(StepForm):
    """Name and address of the first room list. When the step failed with code `not_a_room_list`, show the
    `convert_existing_group` box prominently: ticking it lets Onramp convert that group."""

    name = forms.CharField(label=_("Name"), initial=room_list.DEFAULT_NAME, max_length=64)
    address = forms.EmailField(
        label=_("Address"), required=False, help_text=_("Empty: the name's alias in the organisation's default domain.")
    )
    convert_existing_group = forms.BooleanField(
        label=_("Convert the existing group to a room list"),
        required=False,
        help_text=_(
            "Only when a distribution group already has this address. Onramp runs Set-DistributionGroup "
            "-RoomList on it: it keeps its name, address and members, and Outlook then offers it to everyone in the "
            "room finder. Converting removes nothing by itself: Onramp first reads the "
            "members, and any that are not rooms (people, shared mailboxes, groups) are named here and removed only "
            "once you tick the box that asks for it."
        ),
    )
    remove_non_room_members = forms.BooleanField(
        label=_("Remove the members that are not rooms (named above) from the group"),
        required=False,
        help_text=_("Otherwise the integration could reach their calendars. Shown only when the group holds people."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.state.result.get("non_room_members"):
            del self.fields["remove_non_room_members"]


def room_list_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    return {
        "name": data["name"].strip(),
        "address": data["address"].lower(),
        "convert_existing_group": data["convert_existing_group"],
        # The confirmation that Onramp may remove the non-room members it named (room_list.REMOVE_INPUT).
        room_list.REMOVE_INPUT: bool(data.get(room_list.REMOVE_INPUT)),
    }
