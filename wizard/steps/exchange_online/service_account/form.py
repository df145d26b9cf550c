"""The service_account step's form, and how its cleaned data becomes the step's inputs."""

from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm
from wizard.outcomes import Submission
from wizard.services.common import result_of
from wizard.steps.exchange_online.connect.result import ConnectResult
from wizard.steps.exchange_online.service_account import service as service_account

_USAGE_LOCATION = RegexValidator(r"^[A-Za-z]{2}$", "Two letters, the ISO country code (e.g. US, GB, DE).")


_LOCAL_PART = RegexValidator(r"^[A-Za-z0-9._-]+$", "Letters, digits, dots, dashes and underscores only.")


class ServiceAccountForm(StepForm):
    """The account's name in one of the verified domains that step 0 read, its usage location, and a licence
    (automatic = the Exchange licence with the most free units). Step 0's result fills the choices."""

    local_part = forms.CharField(
        label=_("User name"), initial=service_account.DEFAULT_LOCAL_PART, validators=[_LOCAL_PART]
    )
    domain = forms.ChoiceField(label=_("Domain"))
    display_name = forms.CharField(
        label=_("Display name"), initial=service_account.DEFAULT_DISPLAY_NAME, max_length=256
    )
    usage_location = forms.CharField(
        label=_("Usage location"),
        max_length=2,
        required=False,
        validators=[_USAGE_LOCATION],
        help_text=_(
            "Where the account is used; Microsoft requires it before a licence is assigned. Empty: the "
            "organisation's country."
        ),
    )
    sku_id = forms.ChoiceField(
        label=_("Licence"),
        required=False,
        help_text=_(
            "Free units as last read; this step reads them again when it runs and stops if the licence has "
            "none left by then."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        found = result_of(self.tenant, ConnectResult) or ConnectResult()
        self.fields["domain"].choices = [(domain, domain) for domain in found.verified_domains]
        self.fields["domain"].initial = found.default_domain
        # Step 0's counts are older than those of this step's failed attempt, which the error beside it states:
        # the picker shows the later one, and says which read each count comes from.
        recounted = {
            lic["sku_id"]: lic["free_units"]
            for lic in self.state.error_detail.get("licences") or []
            if self.state.error_code == "no_free_exchange_licence" and isinstance(lic, dict) and "sku_id" in lic
        }
        self.fields["sku_id"].choices = [("", _("Automatic (an Exchange licence with a free unit)"))] + [
            (
                lic["sku_id"],
                _("{sku} — {free} free at this step's last attempt").format(
                    sku=lic["sku_part_number"], free=recounted[lic["sku_id"]]
                )
                if lic["sku_id"] in recounted
                else _("{sku} — {free} free when step 0 read the licences").format(
                    sku=lic["sku_part_number"], free=lic["free_units"]
                ),
            )
            for lic in found.licences
            if lic["has_exchange"]
        ]
        upn = self.state.inputs.get("user_principal_name", "")
        if upn:
            self.fields["local_part"].initial, self.fields["domain"].initial = upn.partition("@")[::2]


def service_account_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    return {
        "user_principal_name": f"{data['local_part']}@{data['domain']}".lower(),
        "display_name": data["display_name"],
        "usage_location": data["usage_location"].upper(),
        "sku_id": data["sku_id"],
    }
