"""The connect step's form, and how its cleaned data becomes the step's inputs."""

from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from tenants.models import Cloud, SecretKind
from tenants.secrets import has_secret
from wizard.forms import StepForm, read_ca_bundle
from wizard.outcomes import Submission
from wizard.services import ca_bundles
from wizard.steps.exchange_online.connect import service as connect
from wizard.steps.exchange_online.connect.result import ConnectResult

# The explicit endpoints a tenant on Cloud.CUSTOM needs (wizard.microsoft.clouds reads them from custom_endpoints).
ENDPOINT_FIELDS = ("authority", "graph_url", "exchange_admin_url", "ews_url")


MAX_PRIVATE_KEY_BYTES = 64 * 1024


def _endpoint_field(label: str | Promise, example: str) -> forms.URLField:
    return forms.URLField(
        label=label, required=False, assume_scheme="https", help_text=format_lazy(_("Like {example}"), example=example)
    )


class ConnectForm(StepForm):
    """Pasted credentials of an app registration the admin made. Onramp's own app is never pasted here: it is
    connected by "Connect with Microsoft" (an administrator's sign-in, then admin consent; wizard.views)."""

    microsoft_tenant_id = forms.CharField(label=_("Tenant ID"), max_length=64)
    client_id = forms.CharField(label=_("Application (client) ID"), max_length=64)
    client_secret = forms.CharField(
        label=_("Client secret (its Value)"), required=False, widget=forms.PasswordInput(render_value=False)
    )
    client_certificate = forms.FileField(
        label=_("Or a certificate: its private key (PEM)"),
        required=False,
        help_text=_(
            "Instead of a secret: the unencrypted private key of a certificate uploaded to the app registration, "
            "with the certificate in the same file or its thumbprint below."
        ),
    )
    certificate_thumbprint = forms.CharField(
        label=_("Certificate thumbprint"),
        required=False,
        max_length=64,
        help_text=_("As Certificates & secrets shows it (40 hexadecimal characters)."),
    )
    integration_app_id = forms.CharField(
        label=_("Integration's application ID"),
        max_length=64,
        help_text=_("The app id of the room-booking product, which the scoped access is granted to."),
    )
    integration_client_secret = forms.CharField(
        label=_("Integration's client secret (optional)"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Lets Onramp read a room calendar as the integration during verification."),
    )
    cloud = forms.ChoiceField(
        label=_("Cloud"),
        choices=Cloud.choices,
        initial=Cloud.WORLDWIDE,
        help_text=_("“Explicit endpoints” takes every URL below: the sandbox, or a test or private deployment."),
    )
    authority = _endpoint_field(_("Authority URL"), "https://login.microsoftonline.com/<tenant id>")
    graph_url = _endpoint_field(_("Microsoft Graph URL"), "https://graph.microsoft.com/v1.0")
    exchange_admin_url = _endpoint_field(
        _("Exchange admin API URL"), "https://outlook.office365.com/adminapi/beta/<tenant id>"
    )
    ews_url = _endpoint_field(_("EWS URL"), "https://outlook.office365.com/EWS/Exchange.asmx")
    ca_bundle = forms.FileField(
        label=_("CA bundle (PEM)"),
        required=False,
        help_text=_(
            "The certificates to trust instead of the public CAs, for endpoints with a private CA (the "
            "sandbox's sandbox-ca.pem)."
        ),
    )

    share_microsoft_tenant = forms.BooleanField(
        label=_("I know; share this Microsoft tenant"),
        required=False,
        help_text=_(
            "Another Onramp organisation is connected to this Microsoft tenant; both will manage the same "
            "service account and room lists."
        ),
    )

    advanced_fields = (*ENDPOINT_FIELDS, "ca_bundle")
    advanced_title = _("Explicit endpoints")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("microsoft_tenant_id", "client_id", "integration_app_id"):
            self.fields[name].initial = getattr(self.tenant, name)
        self.fields["cloud"].initial = self.tenant.cloud
        saved = self.tenant.custom_endpoints or {}
        for name in ENDPOINT_FIELDS:
            self.fields[name].initial = saved.get(name, "")
        if saved.get("ca_bundle"):
            self.fields["ca_bundle"].help_text += " A bundle is stored; leave empty to keep it."
        if has_secret(self.tenant, SecretKind.CLIENT_SECRET):
            self.fields["client_secret"].help_text = "A secret is stored; leave empty to keep it."
        if has_secret(self.tenant, SecretKind.CLIENT_CERTIFICATE):
            self.fields["client_certificate"].help_text = "A certificate is stored; leave empty to keep it."
        # The decision is asked for once step 0 found the Microsoft tenant bound to another organisation.
        if ConnectResult.from_json(self.state.result).shared_microsoft_tenant:
            self.fields[connect.SHARE_INPUT].initial = bool(self.state.inputs.get(connect.SHARE_INPUT))
        else:
            del self.fields[connect.SHARE_INPUT]

    @property
    def advanced_open(self) -> bool:
        return self.tenant.cloud == Cloud.CUSTOM or super().advanced_open

    def clean_client_certificate(self) -> str:
        upload = self.cleaned_data.get("client_certificate")
        if not upload:
            return ""
        if upload.size > MAX_PRIVATE_KEY_BYTES:
            raise forms.ValidationError(_("The private key file is larger than 64 KB."))
        try:
            return upload.read().decode("ascii")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(_("This is not a PEM file (-----BEGIN PRIVATE KEY----- …).")) from error

    def clean_ca_bundle(self) -> str:
        upload = self.cleaned_data.get("ca_bundle")
        return read_ca_bundle(upload) if upload else ""

    def clean_client_id(self) -> str:
        client_id = self.cleaned_data["client_id"].strip()
        if connect.is_installation_app(client_id):
            refusal = connect.installation_app_pasted()
            raise forms.ValidationError(f"{refusal.message} {refusal.fix}")
        return client_id

    def _custom_endpoints(self, cleaned: dict[str, Any]) -> dict[str, Any] | None:
        """The endpoints to save with Cloud.CUSTOM (a field left empty keeps the saved URL); None otherwise."""
        if cleaned.get("cloud") != Cloud.CUSTOM:
            return None
        endpoints = dict(self.tenant.custom_endpoints or {})
        for name in ENDPOINT_FIELDS:
            value = cleaned.get(name) or endpoints.get(name)
            if not value:
                self.add_error(name, _("Needed with explicit endpoints."))
            elif not value.startswith("https://"):
                self.add_error(name, _("Use an https:// URL: the credentials must not cross the network in clear."))
            else:
                endpoints[name] = value
        return endpoints

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        pem = cleaned.get("client_certificate")
        if pem and cleaned.get("client_secret"):
            self.add_error("client_certificate", _("Give a client secret or a certificate, not both."))
        elif pem:
            try:
                cleaned["client_certificate"] = connect.certificate_credential(
                    pem, cleaned.get("certificate_thumbprint", "")
                )
            except connect.CertificateInvalid as error:
                self.add_error("client_certificate", str(error))
        elif (
            not cleaned.get("client_secret")
            and not has_secret(self.tenant, SecretKind.CLIENT_SECRET)
            and not has_secret(self.tenant, SecretKind.CLIENT_CERTIFICATE)
        ):
            self.add_error(
                "client_secret", _("Paste the client secret's Value, or upload a certificate's private key.")
            )
        cleaned["custom_endpoints"] = self._custom_endpoints(cleaned)
        return cleaned


class ConsentForm(forms.Form):
    """What the admin-consent path asks before sending the admin to Microsoft: the integration's app id, which
    the scoped access (step 5) is granted to and which consent alone does not tell Onramp."""

    integration_app_id = forms.CharField(
        label=_("Integration's application ID"),
        max_length=64,
        help_text=_("The app id of the room-booking product, which the scoped access is granted to."),
        error_messages={"required": _("Enter the integration's application ID before consenting.")},
    )

    def clean_integration_app_id(self) -> str:
        return self.cleaned_data["integration_app_id"].strip()


def connect_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    custom_endpoints = data.get("custom_endpoints")
    if custom_endpoints is not None and data.get("ca_bundle"):
        custom_endpoints = {
            **custom_endpoints,
            "ca_bundle": ca_bundles.store_ca_bundle(submission.tenant, data["ca_bundle"]),
        }
    connect.save_app_credentials(
        submission.tenant,
        actor=submission.actor,
        microsoft_tenant_id=data["microsoft_tenant_id"],
        client_id=data["client_id"],
        client_secret=data["client_secret"] or None,
        client_certificate=data.get("client_certificate") or None,
        integration_app_id=data["integration_app_id"],
        integration_client_secret=data["integration_client_secret"] or None,
        cloud=data["cloud"],
        custom_endpoints=custom_endpoints,
    )
    if data.get(connect.SHARE_INPUT):
        return {"method": "app_credentials", **share_inputs(submission.actor)}
    return {"method": "app_credentials"}


def share_inputs(actor: str) -> dict[str, Any]:
    """The decision to share a Microsoft tenant another organisation is bound to, and who took it."""
    return {connect.SHARE_INPUT: True, connect.SHARE_DECIDED_BY: actor}
