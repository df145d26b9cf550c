"""The exchange_server profile: Exchange Server 2016, 2019 and Subscription Edition.

Step ids match exchange_online's where the steps mean the same. Onramp connects over EWS; the room list, rooms and
scoped access are PowerShell the admin runs in the Exchange Management Shell and confirms (`manual=True`); verify
proves the result over EWS with ApplicationImpersonation; activate hands over and erases the password.

Forms follow wizard.forms' contract: they only clean; each step's `save_inputs` (wizard.services.exchange_server_inputs)
turns the cleaned data into its inputs.
"""

import functools
from typing import Any

from cryptography import x509
from django import forms

from tenants.models import SecretKind, Tenant
from tenants.secrets import has_secret
from wizard import presenters, results
from wizard.forms import StepForm, VerifyForm
from wizard.models import StepState
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.rooms_csv import MAX_UPLOAD_BYTES, ParsedRooms, RoomsCsvError, parse_rooms_csv
from wizard.services import exchange_server as service
from wizard.services import exchange_server_inputs as inputs
from wizard.services.room_list import DEFAULT_NAME
from wizard.steps.registry import Confirmation, PowerShell, RoomsTable, Step, register_profile

PROFILE = service.PROFILE


class ServiceAccountForm(StepForm):
    service_account_upn = forms.EmailField(
        label="Service account (user principal name)",
        help_text="The account the integration signs in as. Once you save it, Onramp shows the commands that create"
        " it with a mailbox.",
    )
    display_name = forms.CharField(initial=service.DEFAULT_DISPLAY_NAME, max_length=64, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        saved = self.state.inputs
        self.fields["service_account_upn"].initial = saved.get("service_account_upn")
        self.fields["display_name"].initial = saved.get("display_name") or service.DEFAULT_DISPLAY_NAME


class ConnectForm(StepForm):
    service_account_upn = forms.EmailField(
        label="Service account (user principal name)",
        help_text="An account with a mailbox; the integration signs in as it. Basic authentication over HTTPS.",
    )
    password = forms.CharField(
        label="Service account password", required=False, widget=forms.PasswordInput(render_value=False)
    )
    ews_url = forms.URLField(
        label="EWS URL",
        required=False,
        assume_scheme="https",
        help_text="Like https://mail.contoso.com/EWS/Exchange.asmx. Empty: Onramp asks Autodiscover.",
    )
    ca_certificates = forms.CharField(
        label="Your organisation's CA certificate (PEM)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="Only when the Exchange server's certificate comes from your own CA: paste the CA certificate"
        " (-----BEGIN CERTIFICATE----- …). Empty: public CAs only.",
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
                    "Not a PEM certificate: paste the text from -----BEGIN CERTIFICATE----- to"
                    " -----END CERTIFICATE-----."
                ) from error
        return text

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("password") and not has_secret(self.tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD):
            self.add_error("password", "Enter the service account's password.")
        if cleaned.get("ews_url", "").startswith("http://"):
            self.add_error("ews_url", "Use the https:// URL: the password must not cross the network in clear.")
        return cleaned


def _planned_account(tenant: Tenant) -> str | None:
    found = StepState.objects.filter(tenant=tenant, step_id="service_account").only("inputs").first()
    return found.inputs.get("service_account_upn") if found is not None else None


class RoomListForm(StepForm):
    name = forms.CharField(initial=DEFAULT_NAME, max_length=64)
    address = forms.EmailField(required=False, help_text="Empty: the name's alias in the service account's domain.")


class RoomsForm(StepForm):
    """A CSV of the rooms (column ResourceAccounts). Onramp cannot list an on-premises organisation's mailboxes, so
    the upload is checked for form here, and the script checks each row in Exchange: a row without a mailbox or
    whose mailbox is not a room is left out with a warning. Pasting those warnings back takes the rows out of the
    plan (and shows them). Once uploaded, the CSV is kept: confirming again needs no new file."""

    csv_file = forms.FileField(label="Rooms CSV (column ResourceAccounts)", required=False)
    left_out = forms.CharField(
        label="Rows the script left out (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="Paste the script's “left out” warnings here: those rows leave the room lists' plan.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        saved = len(self.state.inputs.get("rooms") or [])
        if saved:
            self.fields["csv_file"].help_text = f"{saved} rooms are uploaded; leave empty to keep them."
        else:  # nothing ran yet, so nothing can have been left out
            del self.fields["left_out"]

    def clean_csv_file(self) -> ParsedRooms | None:
        """The parsed upload, or None to keep the rooms already uploaded."""
        upload = self.cleaned_data["csv_file"]
        if upload is None:
            if not self.state.inputs.get("rooms"):
                raise forms.ValidationError("Choose the rooms CSV.")
            return None
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        try:
            return parse_rooms_csv(upload.read())
        except RoomsCsvError as error:
            raise forms.ValidationError(error.message) from error


class ScopedAccessForm(StepForm):
    room_list_dns = forms.CharField(
        label="Distinguished names of the room lists",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line, as Get-DistributionGroup prints them (CN=…,OU=…,DC=…).",
    )

    def clean_room_list_dns(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["room_list_dns"].splitlines() if line.strip()]
        bad = [line for line in lines if not line.upper().startswith("CN=")]
        if bad:
            raise forms.ValidationError(f"Not a distinguished name: {bad[0]}")
        return list(dict.fromkeys(lines))


def _shows(script_of: service.ScriptOf) -> PowerShell:
    def powershell(tenant: Tenant, state: StepState) -> str:
        return service.script_text(script_of, tenant)

    return powershell


# Onramp cannot see into the admin's shell: a confirmation records that the commands ran, and a later step proves
# their result from outside, over EWS. The page says which.
CHECKED_BY_CONNECT = "“Connect” proves the account signs in and has a mailbox, with the password you typed."
CHECKED_BY_VERIFY = "“Verify” proves the result over EWS: it opens each room's calendar as the room."


def _run_by_the_admin(script_of: service.ScriptOf, checked_by: str) -> dict[str, Any]:
    """A manual step: its page shows the commands `script_of` gives, and it counts once someone confirms they ran
    those very commands (the confirmation binds to the script the page shows now); `checked_by` says which later
    step proves their result."""
    return {
        "powershell": _shows(script_of),
        "manual": True,
        "confirmation": Confirmation(
            # No digest, so no "I ran these commands", until the commands to run are there (service.missing_input).
            digest=lambda tenant, state: (
                "" if service.missing_input(script_of, tenant) else service.script_digest(script_of, tenant)
            ),
            record=functools.partial(service.confirm_manual_step, script_of=script_of),
            checked_by=checked_by,
        ),
    }


STEPS = (
    Step(
        id="service_account",
        result_type=results.ExchangeServerServiceAccountResult,
        title="Service account",
        summary="You create the mailbox-enabled account the integration signs in as; PowerShell asks for its password.",
        why="The integration reads and writes the rooms' calendars as this account, through EWS impersonation. Its"
        " password is typed into PowerShell and, later, into Connect: it is never on this page or in the audit trail.",
        perform=service.create_service_account,
        form=ServiceAccountForm,
        save_inputs=inputs.service_account_inputs,
        **_run_by_the_admin(service.service_account_script, CHECKED_BY_CONNECT),
    ),
    Step(
        id="connect",
        result_type=results.ExchangeServerConnectResult,
        title="Connect to Exchange Server",
        summary="Finds your EWS URL (or takes the one you enter) and signs in as the service account.",
        why="Onramp cannot run commands in your Exchange Management Shell; it checks your setup from outside, over"
        " EWS, as the account the integration will use.",
        perform=service.connect,
        powershell=_shows(service.connect_script),
        requires=("service_account",),
        form=ConnectForm,
        save_inputs=inputs.connect_inputs,
    ),
    Step(
        id="room_list",
        result_type=results.ExchangeServerRoomListResult,
        requires=("connect",),
        title="Room list",
        summary="You create the RoomList distribution group that names the rooms, managed by the service account.",
        why="The impersonation scope is defined by membership of this list, so adding a room later is one change.",
        perform=service.room_list,
        form=RoomListForm,
        save_inputs=inputs.room_list_inputs,
        **_run_by_the_admin(service.room_list_script, CHECKED_BY_VERIFY),
    ),
    Step(
        id="rooms",
        result_type=results.ExchangeServerRoomsResult,
        requires=("room_list",),
        title="Rooms",
        summary=f"You add the rooms from a CSV to room lists of at most {ROOM_LIST_MAX_MEMBERS} members.",
        why=f"Outlook's room finder shows at most {ROOM_LIST_MAX_MEMBERS} rooms per list; larger sets are split into "
        "numbered lists.",
        perform=service.rooms,
        form=RoomsForm,
        save_inputs=inputs.rooms_inputs,
        page_context=presenters.exchange_server_rooms_page,
        rooms_table=RoomsTable.MEMBERSHIP,
        **_run_by_the_admin(service.rooms_script, CHECKED_BY_VERIFY),
    ),
    Step(
        id="scoped_access",
        result_type=results.ExchangeServerScopedAccessResult,
        requires=("rooms",),
        title="Scoped impersonation",
        summary="You grant the service account ApplicationImpersonation over the rooms in the lists, and nothing else.",
        why="Without a management scope, ApplicationImpersonation reaches every mailbox of the organisation.",
        perform=service.scoped_access,
        form=ScopedAccessForm,
        **_run_by_the_admin(service.scoped_access_script, CHECKED_BY_VERIFY),
    ),
    Step(
        id="verify",
        result_type=results.ExchangeServerVerifyResult,
        requires=("scoped_access",),
        title="Verify",
        summary="Opens every room's calendar as the room over EWS, and checks a mailbox that is not a room is refused.",
        why="A scope that silently matches nothing, or everything, is the most common failure of the manual procedure.",
        perform=service.verify,
        powershell=_shows(service.role_assignment_script),
        form=VerifyForm,
        rooms_table=RoomsTable.VERIFICATION,
    ),
    Step(
        id="activate",
        result_type=results.ExchangeServerActivateResult,
        requires=("verify",),
        title="Activate",
        summary="Hands the integration what it needs and erases the service account's password from Onramp.",
        why="The integration needs the EWS URL, the service account and the room lists to start booking.",
        perform=service.activate,
        powershell=_shows(service.role_assignment_script),
    ),
)

register_profile(PROFILE, STEPS)
