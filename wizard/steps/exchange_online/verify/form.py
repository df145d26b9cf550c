"""The verify step's form, and how its cleaned data becomes the step's inputs."""

from django import forms
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm


class VerifyForm(StepForm):
    control_mailbox = forms.EmailField(
        label=_("Control mailbox"),
        required=False,
        help_text=_(
            "A mailbox that is not a room and must stay out of the integration's reach. Empty: the service "
            "account's own mailbox."
        ),
    )
