"""The reduce_access step's form, and how its cleaned data becomes the step's inputs."""

from django import forms
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm


class ReduceAccessForm(StepForm):
    """The admin's go-ahead: Onramp deletes its own credential, so nothing after this can sign in as it."""

    confirm = forms.BooleanField(
        label=_("Hand back Onramp's access: verify and re-verify will need access granted again"),
        error_messages={"required": _("Tick the box to confirm that Onramp may delete its own credential.")},
    )
