"""The verify step's form (Exchange Server): the control mailbox the service account must be refused."""

from django import forms
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm


class ExchangeServerVerifyForm(StepForm):
    control_mailbox = forms.EmailField(
        label=_("Control mailbox"),
        help_text=_(
            "An existing mailbox that is neither a room nor the service account: the service account must be "
            "refused there. (Whether Exchange lets an account impersonate itself is not documented, so the service "
            "account cannot be the control.)"
        ),
        error_messages={"required": _("Enter a mailbox that is neither a room nor the service account.")},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["control_mailbox"].initial = self.state.inputs.get("control_mailbox")
