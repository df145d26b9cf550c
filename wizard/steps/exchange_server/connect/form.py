"""The connect step's form (Exchange Server), and how its cleaned data becomes the step's inputs."""

from typing import Any

from cryptography import x509
from django import forms
from django.utils.translation import gettext_lazy as _

from tenants.models import SecretKind, Tenant
from tenants.secrets import has_secret
from wizard.forms import StepForm
from wizard.models import StepState
from wizard.outcomes import Submission
from wizard.steps.exchange_server import common


class ConnectForm(StepForm):
    service_account_upn = forms.EmailField(
        label=_("Service account (user principal name)"),
        help_text=_(
            "An account with a mailbox; the integration signs in as it. Windows authentication (NTLM) or "
            "Basic, as the EWS virtual directory offers, over HTTPS."
        ),
    )
    password = forms.CharField(
        label=_("Service account password"), required=False, widget=forms.PasswordInput(render_value=False)
    )
    ews_url = forms.URLField(
        label=_("EWS URL"),
        required=False,
        assume_scheme="https",
        help_text=_("Like https://mail.contoso.com/EWS/Exchange.asmx. Empty: Onramp asks Autodiscover."),
    )
    ca_certificates = forms.CharField(
        label=_("Your organisation's CA certificate (PEM)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_(
            "Only when the Exchange server's certificate comes from your own CA: paste the CA certificate"
            " (-----BEGIN CERTIFICATE----- …). Empty: public CAs only."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        saved = self.state.inputs
        self.fields["service_account_upn"].initial = saved.get("service_account_upn") or _planned_account(self.tenant)
        self.fields["ews_url"].initial = saved.get("ews_url") or (self.tenant.custom_endpoints or {}).get("ews_url")
        if has_secret(self.tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD):
            self.fields["password"].help_text = "A password is stored; leave empty to keep it."
        if (self.tenant.custom_endpoints or {}).get("ca_bundle"):
            self.fields["ca_certificates"].help_text = "A CA bundle is set; leave empty to keep it."

    def clean_ca_certificates(self) -> str:
        text = self.cleaned_data["ca_certificates"].strip()
        if text:
            try:
                x509.load_pem_x509_certificates(text.encode())
            except ValueError as error:
                raise forms.ValidationError(
                    _(
                        "Not a PEM certificate: paste the text from -----BEGIN CERTIFICATE----- to"
                        " -----END CERTIFICATE-----."
                    )
                ) from error
        return text

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("password") and not has_secret(self.tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD):
            self.add_error("password", _("Enter the service account's password."))
        if cleaned.get("ews_url", "").startswith("http://"):
            self.add_error("ews_url", _("Use the https:// URL: the password must not cross the network in clear."))
        return cleaned


def _planned_account(tenant: Tenant) -> str | None:
    found = StepState.objects.filter(tenant=tenant, step_id="service_account").only("inputs").first()
    return found.inputs.get("service_account_upn") if found is not None else None


def connect_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    return common.save_connection(
        submission.tenant,
        submission.actor,
        service_account_upn=data["service_account_upn"].lower(),
        password=data["password"] or None,
        ews_url=data["ews_url"] or "",
        ca_certificates=data["ca_certificates"] or None,
    )
