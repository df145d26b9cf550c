"""The room_list step's form (Exchange Server), and how its cleaned data becomes the step's inputs."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm
from wizard.outcomes import Submission
from wizard.steps.exchange_online.room_list.service import DEFAULT_NAME, alias_for


class RoomListForm(StepForm):
    name = forms.CharField(label=_("Name"), initial=DEFAULT_NAME, max_length=64)
    address = forms.EmailField(
        label=_("Address"), required=False, help_text=_("Empty: the name's alias in the service account's domain.")
    )


def room_list_inputs(submission: Submission) -> dict[str, Any]:
    name = submission.cleaned_data["name"].strip()
    return {"name": name, "alias": alias_for(name), "address": submission.cleaned_data["address"].lower()}
