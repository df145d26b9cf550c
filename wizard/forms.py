"""The input forms of the exchange_online steps.

Forms only clean: `FormClass(data=None, files=None, *, tenant, state)`, `is_valid()`, then the view or the CLI
hands `cleaned_data` to wizard.actions.submit_step, which checks the step may run and only then turns it into the
step's inputs (the step's `save_inputs`, which stores any secret encrypted and never in the inputs).
"""

import ssl
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from tenants.models import Cloud, SecretKind, Tenant
from tenants.secrets import has_secret
from wizard.models import StepState
from wizard.results import ConnectResult
from wizard.rooms_csv import MAX_UPLOAD_BYTES, RoomsCsvError, parse_rooms_csv
from wizard.services import activate, connect, room_list, rooms, service_account
from wizard.services.common import result_of


class StepForm(forms.Form):
    # Fields the page folds under a <details> titled `advanced_title`, open when `advanced_open` or one has an error.
    advanced_fields: tuple[str, ...] = ()
    advanced_title = ""

    def __init__(self, data=None, files=None, *, tenant: Tenant, state: StepState, **kwargs: Any) -> None:
        super().__init__(data, files, **kwargs)
        self.tenant = tenant
        self.state = state

    @property
    def advanced_open(self) -> bool:
        return any(name in self.errors for name in self.advanced_fields)


# The explicit endpoints a tenant on Cloud.CUSTOM needs (wizard.microsoft.clouds reads them from custom_endpoints).
ENDPOINT_FIELDS = ("authority", "graph_url", "exchange_admin_url", "ews_url")
MAX_CA_BUNDLE_BYTES = 1024 * 1024
MAX_PRIVATE_KEY_BYTES = 64 * 1024


def _endpoint_field(label: str, example: str) -> forms.URLField:
    return forms.URLField(label=label, required=False, assume_scheme="https", help_text=f"Like {example}")


def read_ca_bundle(upload: Any) -> str:
    """The uploaded PEM file's text, once Python's TLS has loaded it as trusted certificates."""
    if upload.size > MAX_CA_BUNDLE_BYTES:
        raise forms.ValidationError("The CA bundle is larger than 1 MB.")
    try:
        text = upload.read().decode("ascii")
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise ValueError("no certificate")
        ssl.create_default_context(cadata=text)
    except (UnicodeDecodeError, ValueError, ssl.SSLError) as error:
        raise forms.ValidationError(
            "This is not a PEM file of certificates (-----BEGIN CERTIFICATE----- …)."
        ) from error
    return text


class ConnectForm(StepForm):
    """Pasted credentials of an app registration the admin made. Onramp's own app is never pasted here: it is
    connected by "Connect with Microsoft" (an administrator's sign-in, then admin consent; wizard.views)."""

    microsoft_tenant_id = forms.CharField(label="Tenant ID", max_length=64)
    client_id = forms.CharField(label="Application (client) ID", max_length=64)
    client_secret = forms.CharField(
        label="Client secret (its Value)", required=False, widget=forms.PasswordInput(render_value=False)
    )
    client_certificate = forms.FileField(
        label="Or a certificate: its private key (PEM)",
        required=False,
        help_text="Instead of a secret: the unencrypted private key of a certificate uploaded to the app registration, "
        "with the certificate in the same file or its thumbprint below.",
    )
    certificate_thumbprint = forms.CharField(
        label="Certificate thumbprint",
        required=False,
        max_length=64,
        help_text="As Certificates & secrets shows it (40 hexadecimal characters).",
    )
    integration_app_id = forms.CharField(
        label="Integration's application ID",
        max_length=64,
        help_text="The app id of the room-booking product, which the scoped access is granted to.",
    )
    integration_client_secret = forms.CharField(
        label="Integration's client secret (optional)",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Lets Onramp read a room calendar as the integration during verification.",
    )
    cloud = forms.ChoiceField(
        choices=Cloud.choices,
        initial=Cloud.WORLDWIDE,
        help_text="“Explicit endpoints” takes every URL below: the sandbox, or a test or private deployment.",
    )
    authority = _endpoint_field("Authority URL", "https://login.microsoftonline.com/<tenant id>")
    graph_url = _endpoint_field("Microsoft Graph URL", "https://graph.microsoft.com/v1.0")
    exchange_admin_url = _endpoint_field(
        "Exchange admin API URL", "https://outlook.office365.com/adminapi/beta/<tenant id>"
    )
    ews_url = _endpoint_field("EWS URL", "https://outlook.office365.com/EWS/Exchange.asmx")
    ca_bundle = forms.FileField(
        label="CA bundle (PEM)",
        required=False,
        help_text="The certificates to trust instead of the public CAs, for endpoints with a private CA (the "
        "sandbox's sandbox-ca.pem).",
    )

    share_microsoft_tenant = forms.BooleanField(
        label="I know; share this Microsoft tenant",
        required=False,
        help_text="Another Onramp organisation is connected to this Microsoft tenant; both will manage the same "
        "service account and room lists.",
    )

    advanced_fields = (*ENDPOINT_FIELDS, "ca_bundle")
    advanced_title = "Explicit endpoints"

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
            raise forms.ValidationError("The private key file is larger than 64 KB.")
        try:
            return upload.read().decode("ascii")
        except UnicodeDecodeError as error:
            raise forms.ValidationError("This is not a PEM file (-----BEGIN PRIVATE KEY----- …).") from error

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
                self.add_error(name, "Needed with explicit endpoints.")
            elif not value.startswith("https://"):
                self.add_error(name, "Use an https:// URL: the credentials must not cross the network in clear.")
            else:
                endpoints[name] = value
        return endpoints

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        pem = cleaned.get("client_certificate")
        if pem and cleaned.get("client_secret"):
            self.add_error("client_certificate", "Give a client secret or a certificate, not both.")
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
            self.add_error("client_secret", "Paste the client secret's Value, or upload a certificate's private key.")
        cleaned["custom_endpoints"] = self._custom_endpoints(cleaned)
        return cleaned


class ConsentForm(forms.Form):
    """What the admin-consent path asks before sending the admin to Microsoft: the integration's app id, which
    the scoped access (step 5) is granted to and which consent alone does not tell Onramp."""

    integration_app_id = forms.CharField(
        label="Integration's application ID",
        max_length=64,
        help_text="The app id of the room-booking product, which the scoped access is granted to.",
        error_messages={"required": "Enter the integration's application ID before consenting."},
    )

    def clean_integration_app_id(self) -> str:
        return self.cleaned_data["integration_app_id"].strip()


_USAGE_LOCATION = RegexValidator(r"^[A-Za-z]{2}$", "Two letters, the ISO country code (e.g. US, GB, DE).")
_LOCAL_PART = RegexValidator(r"^[A-Za-z0-9._-]+$", "Letters, digits, dots, dashes and underscores only.")


class ServiceAccountForm(StepForm):
    """The account's name in one of the verified domains that step 0 read, its usage location, and a licence
    (automatic = the Exchange licence with the most free units). Step 0's result fills the choices."""

    local_part = forms.CharField(
        label="User name", initial=service_account.DEFAULT_LOCAL_PART, validators=[_LOCAL_PART]
    )
    domain = forms.ChoiceField(label="Domain")
    display_name = forms.CharField(initial=service_account.DEFAULT_DISPLAY_NAME, max_length=256)
    usage_location = forms.CharField(
        label="Usage location",
        max_length=2,
        required=False,
        validators=[_USAGE_LOCATION],
        help_text="Where the account is used; Microsoft requires it before a licence is assigned. Empty: the "
        "organisation's country.",
    )
    sku_id = forms.ChoiceField(
        label="Licence",
        required=False,
        help_text="Free units as last read; this step reads them again when it runs and stops if the licence has "
        "none left by then.",
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
        self.fields["sku_id"].choices = [("", "Automatic (an Exchange licence with a free unit)")] + [
            (
                lic["sku_id"],
                f"{lic['sku_part_number']} — {recounted[lic['sku_id']]} free at this step's last attempt"
                if lic["sku_id"] in recounted
                else f"{lic['sku_part_number']} — {lic['free_units']} free when step 0 read the licences",
            )
            for lic in found.licences
            if lic["has_exchange"]
        ]
        upn = self.state.inputs.get("user_principal_name", "")
        if upn:
            self.fields["local_part"].initial, _, self.fields["domain"].initial = upn.partition("@")


class RoomListForm(StepForm):
    """Name and address of the first room list. When the step failed with code `not_a_room_list`, show the
    `convert_existing_group` box prominently: ticking it lets Onramp convert that group."""

    name = forms.CharField(initial=room_list.DEFAULT_NAME, max_length=64)
    address = forms.EmailField(
        required=False, help_text="Empty: the name's alias in the organisation's default domain."
    )
    convert_existing_group = forms.BooleanField(
        label="Convert the existing group to a room list",
        required=False,
        help_text="Only when a distribution group already has this address. Onramp runs Set-DistributionGroup "
        "-RoomList on it: it keeps its name, address and members, and Outlook then offers it to everyone in the "
        "room finder. Converting removes nothing by itself: Onramp first reads the "
        "members, and any that are not rooms (people, shared mailboxes, groups) are named here and removed only "
        "once you tick the box that asks for it.",
    )
    remove_non_room_members = forms.BooleanField(
        label="Remove the members that are not rooms (named above) from the group",
        required=False,
        help_text="Otherwise the integration could reach their calendars. Shown only when the group holds people.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.state.result.get("non_room_members"):
            del self.fields["remove_non_room_members"]


class RoomsForm(StepForm):
    """Choose the rooms: every room mailbox of the tenant (optionally equipment too), or a CSV upload.

    Two posts. (1) `source` (`all` | `csv`, with `csv_file` for csv) → the step runs without applying anything and
    ends in `needs_input` with `state.result["preview"]`: a list of {line, address, status, reason} (status is one
    of wizard.rooms_csv.RowStatus: valid, unknown_mailbox, not_a_resource_mailbox, duplicate, already_member,
    malformed, formula) and `state.result["preview_summary"]` (rows per status and `total`). The page shows that
    table and a Confirm button. (2) Confirm posts `confirm=1` alone: the saved choice is applied (rows that are
    valid or already members). A CSV problem of the whole file (empty, wrong column, binary…) is a form error on
    `csv_file`; problems of single rows are shown in the preview, never applied.
    """

    source = forms.ChoiceField(
        choices=[(rooms.SOURCE_ALL, "Every room mailbox of the organisation"), (rooms.SOURCE_CSV, "A CSV file")],
        required=False,
        widget=forms.RadioSelect,
        initial=rooms.SOURCE_ALL,
    )
    include_equipment = forms.BooleanField(label="Include equipment mailboxes", required=False)
    csv_file = forms.FileField(label="Rooms CSV (column ResourceAccounts)", required=False)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("confirm"):
            if not self.state.inputs.get("source"):
                raise forms.ValidationError("There is no preview to confirm; choose the rooms first.")
            return cleaned
        if not cleaned.get("source"):
            self.add_error("source", "Choose where the rooms come from.")
        elif cleaned["source"] == rooms.SOURCE_CSV:
            upload = cleaned.get("csv_file")
            if upload is None:
                # An empty or unreadable file already has its own error; one is enough.
                if "csv_file" not in self.errors:
                    self.add_error("csv_file", "Choose the CSV file to upload.")
            elif upload.size > MAX_UPLOAD_BYTES:
                self.add_error("csv_file", f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
            else:
                try:
                    cleaned["parsed"] = parse_rooms_csv(upload.read())
                except RoomsCsvError as error:
                    self.add_error("csv_file", error.message)
        return cleaned


class VerifyForm(StepForm):
    control_mailbox = forms.EmailField(
        required=False,
        help_text="A mailbox that is not a room and must stay out of the integration's reach. Empty: the service "
        "account's own mailbox.",
    )


class ActivateForm(StepForm):
    """An optional webhook to tell the integration that the tenant is ready. The signing secret is stored
    encrypted; the request carries `X-Onramp-Signature: sha256=<hex HMAC of the body>`."""

    webhook_url = forms.URLField(label="Webhook URL", required=False, assume_scheme="https")
    webhook_secret = forms.CharField(
        label="Webhook signing secret", required=False, widget=forms.PasswordInput(render_value=False)
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            cleaned.get("webhook_url")
            and not cleaned.get("webhook_secret")
            and not has_secret(self.tenant, SecretKind.WEBHOOK_SECRET)
        ):
            self.add_error("webhook_secret", "Enter the secret the integration checks the signature with.")
        if cleaned.get("webhook_url") and (problem := activate.webhook_address_problem(cleaned["webhook_url"])):
            self.add_error("webhook_url", problem)
        return cleaned


class ReduceAccessForm(StepForm):
    """The admin's go-ahead: Onramp deletes its own credential, so nothing after this can sign in as it."""

    confirm = forms.BooleanField(
        label="Hand back Onramp's access: verify and re-verify will need access granted again",
        error_messages={"required": "Tick the box to confirm that Onramp may delete its own credential."},
    )
