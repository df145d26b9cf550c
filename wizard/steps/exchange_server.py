"""The exchange_server profile (DESIGN sections 1 and 3): Exchange Server 2016, 2019 and Subscription Edition.

Step ids match exchange_online's where the steps mean the same. Onramp connects over EWS; the room list, rooms and
scoped access are PowerShell the admin runs in the Exchange Management Shell and confirms (`manual=True`); verify
proves the result over EWS with ApplicationImpersonation; activate hands over and erases the password.

Forms follow wizard.forms' contract: they only clean; each step's `save_inputs` (wizard.services.exchange_server_inputs)
turns the cleaned data into its inputs.
"""

from typing import Any

from django import forms

from tenants.models import SecretKind, Tenant
from tenants.secrets import has_secret
from wizard import presenters
from wizard.forms import StepForm, VerifyForm
from wizard.models import StepState
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.rooms_csv import MAX_UPLOAD_BYTES, ParsedRooms, RoomsCsvError, parse_rooms_csv
from wizard.services import exchange_server as service
from wizard.services import exchange_server_inputs as inputs
from wizard.services.room_list import DEFAULT_NAME
from wizard.steps.registry import PowerShell, RoomsTable, Step, register_profile

PROFILE = service.PROFILE


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
    auth = forms.ChoiceField(
        choices=[(service.AUTH_BASIC, "Basic (service account password)"), (service.AUTH_OAUTH, "OAuth (hybrid)")],
        initial=service.AUTH_BASIC,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        saved = self.state.inputs
        self.fields["service_account_upn"].initial = saved.get("service_account_upn")
        self.fields["ews_url"].initial = saved.get("ews_url") or (self.tenant.custom_endpoints or {}).get("ews_url")
        if has_secret(self.tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD):
            self.fields["password"].help_text = "A password is stored; leave empty to keep it."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            cleaned.get("auth") == service.AUTH_BASIC
            and not cleaned.get("password")
            and not has_secret(self.tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)
        ):
            self.add_error("password", "Enter the service account's password.")
        if cleaned.get("ews_url", "").startswith("http://"):
            self.add_error("ews_url", "Use the https:// URL: the password must not cross the network in clear.")
        return cleaned


class RoomListForm(StepForm):
    name = forms.CharField(initial=DEFAULT_NAME, max_length=64)
    address = forms.EmailField(required=False, help_text="Empty: the name's alias in the service account's domain.")


class RoomsForm(StepForm):
    """A CSV of the rooms (column ResourceAccounts). Onramp cannot list an on-premises organisation's mailboxes, so
    rows are checked for form only; the admin's shell reports an unknown mailbox when the script runs."""

    csv_file = forms.FileField(label="Rooms CSV (column ResourceAccounts)")

    def clean_csv_file(self) -> ParsedRooms:
        upload = self.cleaned_data["csv_file"]
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


def _script(step_id: str) -> PowerShell:
    def powershell(tenant: Tenant, state: StepState) -> str:
        return service.script_text(tenant, step_id)

    return powershell


STEPS = (
    Step(
        id="connect",
        title="Connect to Exchange Server",
        summary="Finds your EWS URL (or takes the one you enter) and signs in as the service account.",
        why="Onramp cannot run commands in your Exchange Management Shell; it checks your setup from outside, over"
        " EWS, as the account the integration will use.",
        perform=service.connect,
        powershell=_script("connect"),
        save_inputs=inputs.connect_inputs,
        form=ConnectForm,
    ),
    Step(
        id="room_list",
        requires=("connect",),
        title="Room list",
        summary="You create the RoomList distribution group that names the rooms, managed by the service account.",
        why="The impersonation scope is defined by membership of this list, so adding a room later is one change.",
        perform=service.room_list,
        powershell=_script("room_list"),
        save_inputs=inputs.room_list_inputs,
        form=RoomListForm,
        manual=True,
    ),
    Step(
        id="rooms",
        requires=("room_list",),
        title="Rooms",
        summary=f"You add the rooms from a CSV to room lists of at most {ROOM_LIST_MAX_MEMBERS} members.",
        why=f"Outlook's room finder shows at most {ROOM_LIST_MAX_MEMBERS} rooms per list; larger sets are split into "
        "numbered lists.",
        perform=service.rooms,
        powershell=_script("rooms"),
        save_inputs=inputs.rooms_inputs,
        page_context=presenters.exchange_server_rooms_page,
        rooms_table=RoomsTable.MEMBERSHIP,
        form=RoomsForm,
        manual=True,
    ),
    Step(
        id="scoped_access",
        requires=("rooms",),
        title="Scoped impersonation",
        summary="You grant the service account ApplicationImpersonation over the rooms in the lists, and nothing else.",
        why="Without a management scope, ApplicationImpersonation reaches every mailbox of the organisation.",
        perform=service.scoped_access,
        powershell=_script("scoped_access"),
        form=ScopedAccessForm,
        manual=True,
    ),
    Step(
        id="verify",
        requires=("scoped_access",),
        title="Verify",
        summary="Opens every room's calendar as the room over EWS, and checks a mailbox that is not a room is refused.",
        why="A scope that silently matches nothing, or everything, is the most common failure of the manual procedure.",
        perform=service.verify,
        powershell=_script("verify"),
        form=VerifyForm,
        rooms_table=RoomsTable.VERIFICATION,
    ),
    Step(
        id="activate",
        requires=("verify",),
        title="Activate",
        summary="Hands the integration what it needs and erases the service account's password from Onramp.",
        why="The integration needs the EWS URL, the service account and the room lists to start booking.",
        perform=service.activate,
        powershell=_script("activate"),
    ),
)

register_profile(PROFILE, STEPS)
