"""The service_account step's form (Exchange Server), and how its cleaned data becomes the step's inputs."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm
from wizard.outcomes import Submission
from wizard.steps.exchange_server import common


class ServiceAccountForm(StepForm):
    service_account_upn = forms.EmailField(
        label=_("Service account (user principal name)"),
        help_text=_(
            "The account the integration signs in as. Once you save it, Onramp shows the commands that create"
            " it with a mailbox."
        ),
    )
    display_name = forms.CharField(
        label=_("Display name"), initial=common.DEFAULT_DISPLAY_NAME, max_length=64, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        saved = self.state.inputs
        self.fields["service_account_upn"].initial = saved.get("service_account_upn")
        self.fields["display_name"].initial = saved.get("display_name") or common.DEFAULT_DISPLAY_NAME


def service_account_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    return {
        "service_account_upn": data["service_account_upn"].lower(),
        "display_name": data["display_name"].strip() or common.DEFAULT_DISPLAY_NAME,
    }
