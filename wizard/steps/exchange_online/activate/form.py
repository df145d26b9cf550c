"""The activate step's form, and how its cleaned data becomes the step's inputs."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tenants.models import SecretKind
from tenants.secrets import has_secret, store_secret
from wizard.audit import record_event
from wizard.forms import StepForm
from wizard.outcomes import Submission
from wizard.steps.exchange_online.activate import service as activate


class ActivateForm(StepForm):
    """An optional webhook to tell the integration that the tenant is ready. The signing secret is stored
    encrypted; the request carries `X-Onramp-Signature: sha256=<hex HMAC of the body>`."""

    webhook_url = forms.URLField(label=_("Webhook URL"), required=False, assume_scheme="https")
    webhook_secret = forms.CharField(
        label=_("Webhook signing secret"), required=False, widget=forms.PasswordInput(render_value=False)
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            cleaned.get("webhook_url")
            and not cleaned.get("webhook_secret")
            and not has_secret(self.tenant, SecretKind.WEBHOOK_SECRET)
        ):
            self.add_error("webhook_secret", _("Enter the secret the integration checks the signature with."))
        if cleaned.get("webhook_url") and (problem := activate.webhook_address_problem(cleaned["webhook_url"])):
            self.add_error("webhook_url", problem)
        return cleaned


def activate_inputs(submission: Submission) -> dict[str, Any]:
    secret = submission.cleaned_data.get("webhook_secret")
    if secret:
        store_secret(submission.tenant, SecretKind.WEBHOOK_SECRET, secret)
        record_event(
            submission.tenant,
            submission.actor,
            "store_secret",
            "stored",
            "activate",
            {"kind": SecretKind.WEBHOOK_SECRET},
        )
    return {"webhook_url": submission.cleaned_data.get("webhook_url") or ""}
