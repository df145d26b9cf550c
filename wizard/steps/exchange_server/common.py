"""The exchange_server profile's services: connect over EWS, the scripts of its manual steps, verify, activate.

Onramp cannot reach an on-premises Exchange Management Shell. For the service account, the room list, the rooms and
the scoped access it shows generated PowerShell (`exchange_server_scripts`), safe to run more than once; the admin
runs it and confirms it (wizard.steps.manual: bound to the script's SHA-256, kept in the audit trail). Verification
then proves the result from outside, over EWS with the service account's credentials.
"""

import dataclasses
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_noop

from tenants.models import SecretKind, Tenant
from tenants.secrets import read_secret, store_secret
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.microsoft import (
    EwsClient,
    exchange_server_autodiscover,
    exchange_server_ews,
)
from wizard.models import StepState
from wizard.results import RoomListEntry
from wizard.room_plan import PlannedList, plan_room_lists
from wizard.services import exchange_server_scripts as scripts
from wizard.services.common import required_result, result_of
from wizard.steps import manual
from wizard.steps.exchange_online.room_list.service import DEFAULT_NAME, alias_for
from wizard.steps.exchange_server.connect.result import ExchangeServerConnectResult
from wizard.steps.exchange_server.rooms.result import ExchangeServerRoomsResult
from wizard.steps.exchange_server.service_account.result import ExchangeServerServiceAccountResult

PROFILE = "exchange_server"
DEFAULT_DISPLAY_NAME = "Room booking service"
# Exchange Server reads role assignments through a cache: a new assignment reaches EWS after the cache refreshes (or
# the service's app pool restarts), not at once. Microsoft documents no figure for it (unconfirmed, see
# sandbox/WIRE.md); impersonation refusals this soon after scoped access are waited out, then reported.
RBAC_CACHE_SECONDS = 2 * 3600
IMPERSONATION_REFUSALS = frozenset({"ErrorImpersonateUserDenied", "ErrorImpersonationDenied"})
# Shown in scripts for values an earlier step has not produced yet; such a script cannot pass its step, because
# the step first requires that earlier step's result.
SERVICE_ACCOUNT_PLACEHOLDER = "svc-rooms@contoso.com"
FAILURES_KEPT = 50
# The commands a step shows for a tenant's values as they are now (a step's page, its confirmation, its check).
ScriptOf = manual.ScriptOf


# -- connection -------------------------------------------------------------------------------------------------
def save_connection(
    tenant: Tenant,
    actor: str,
    *,
    service_account_upn: str,
    password: str | None,
    ews_url: str,
    ca_certificates: str | None = None,
) -> dict[str, Any]:
    """Store the service account's password encrypted (and the organisation's CA certificates, when given, as the
    bundle EWS calls trust) and return the connect step's inputs, which never hold the password."""
    if password:
        store_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD, password)
        record_event(tenant, actor, "store_secret", "stored", "connect", {"kind": SecretKind.SERVICE_ACCOUNT_PASSWORD})
    if ca_certificates:
        path = Path(settings.VAR_DIR) / "ca" / f"{tenant.slug}.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_suffix(".pem.new")
        staged.write_text(ca_certificates.strip() + "\n")
        staged.replace(path)
        tenant.custom_endpoints = {**(tenant.custom_endpoints or {}), "ca_bundle": str(path)}
        tenant.save(update_fields=["custom_endpoints", "updated_at"])
        record_event(tenant, actor, "store_ca_bundle", "stored", "connect", {"path": str(path)})
    return {"service_account_upn": service_account_upn.strip(), "ews_url": ews_url.strip()}


def service_account_password(upn: str, tenant: Tenant) -> str:
    password = read_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)
    if not password:
        raise StepError(
            code="service_account_password_missing",
            message=f"The password of {upn} is not stored.",
            explanation=gettext_noop(
                "EWS checks sign in as the service account. Onramp erases its password at activation, and"
                " keeps it only while setting up."
            ),
            fix=gettext_noop("Enter the service account's password again in the connect step."),
        )
    return password


def ews_client(tenant: Tenant) -> EwsClient:
    """The EWS client of a connected tenant: the URL and account the connect step confirmed."""
    url = required_result(tenant, ExchangeServerConnectResult, "ews_url", "Connect")
    upn = (result_of(tenant, ExchangeServerConnectResult) or ExchangeServerConnectResult()).service_account_upn
    return exchange_server_ews(tenant, url, upn, service_account_password(upn, tenant))


def find_ews_url(tenant: Tenant, upn: str) -> str:
    url, attempts = exchange_server_autodiscover(tenant, upn, service_account_password(upn, tenant))
    if url is None:
        raise StepError(
            code="autodiscover_failed",
            message=f"Autodiscover found no EWS URL for {upn}.",
            explanation=gettext_noop(
                "Onramp asked the Autodiscover URLs of the account's domain; none answered with an EWS URL."
            ),
            fix=gettext_noop("Enter the EWS URL yourself (Get-WebServicesVirtualDirectory | Format-List ExternalUrl)."),
            extra={"attempts": [dataclasses.asdict(attempt) for attempt in attempts]},
        )
    return url


# -- the scripts, from the tenant's values ----------------------------------------------------------------------
def _inputs(tenant: Tenant, step_id: str) -> dict[str, Any]:
    state = StepState.objects.filter(tenant=tenant, step_id=step_id).only("inputs").first()
    return dict(state.inputs) if state is not None else {}


def _given_service_account(tenant: Tenant) -> str | None:
    """The service account's UPN: as connect proved it, else as entered in connect, else as the service account
    step confirmed or took it; None before the admin gave it."""
    return (
        (result_of(tenant, ExchangeServerConnectResult) or ExchangeServerConnectResult()).service_account_upn
        or _inputs(tenant, "connect").get("service_account_upn")
        or (
            result_of(tenant, ExchangeServerServiceAccountResult) or ExchangeServerServiceAccountResult()
        ).service_account_upn
        or _inputs(tenant, "service_account").get("service_account_upn")
        or None
    )


def service_account(tenant: Tenant) -> str:
    """The service account's UPN (`_given_service_account`), or a placeholder before the admin gave it."""
    return _given_service_account(tenant) or SERVICE_ACCOUNT_PLACEHOLDER


def room_list_values(tenant: Tenant) -> dict[str, str]:
    """The first room list's name, alias and address: the admin's inputs, else defaults in the account's domain."""
    inputs = _inputs(tenant, "room_list")
    name = (inputs.get("name") or DEFAULT_NAME).strip()
    alias = (inputs.get("alias") or alias_for(name)).strip()
    address = (inputs.get("address") or f"{alias}@{service_account(tenant).rpartition('@')[2]}").strip().lower()
    return {"name": name, "alias": alias, "address": address}


def left_out_rows(tenant: Tenant) -> list[dict[str, Any]]:
    """Rows of the rooms upload that are not in the script: refused by the upload's checks (malformed, duplicate,
    formula) or reported by Exchange when the script ran (no such mailbox, not a room)."""
    return list(_inputs(tenant, "rooms").get("refused_rows") or [])


def room_plan(tenant: Tenant) -> list[PlannedList]:
    """The rooms of the upload spread over lists of at most 75; rooms placed by an earlier run stay where they are."""
    rooms = _inputs(tenant, "rooms").get("rooms") or []
    if not rooms:
        return []
    first = room_list_values(tenant)
    # A row Exchange refused is in no list, even when an earlier plan had placed it.
    refused = {str(row.get("address") or "").lower() for row in left_out_rows(tenant)}
    placed = {
        entry.name: {address for address in entry.members if address.lower() not in refused}
        for entry in _planned_lists(tenant)
    }
    plan = plan_room_lists(first["name"], first["alias"], first["address"].rpartition("@")[2], rooms, placed)
    # The first list is the one the room-list step created, whatever address the admin gave it.
    return [dataclasses.replace(p, address=first["address"]) if p.number == 1 else p for p in plan]


def service_account_script(tenant: Tenant) -> list[scripts.ScriptLine]:
    """Nothing until the admin saved the account: a script for a placeholder account must not be run."""
    inputs = _inputs(tenant, "service_account")
    upn = inputs.get("service_account_upn") or _given_service_account(tenant)
    if not upn:
        return []
    return scripts.service_account_script(upn, inputs.get("display_name") or DEFAULT_DISPLAY_NAME)


def connect_script(tenant: Tenant) -> list[scripts.ScriptLine]:
    return scripts.connect_script(service_account(tenant))


def room_list_script(tenant: Tenant) -> list[scripts.ScriptLine]:
    values = room_list_values(tenant)
    return scripts.room_list_script(values["name"], values["alias"], values["address"], service_account(tenant))


def rooms_script(tenant: Tenant) -> list[scripts.ScriptLine]:
    plan = room_plan(tenant)
    if not plan:  # the page asks for the CSV first (missing_input): there is nothing to run yet
        return []
    return scripts.rooms_script(plan, service_account(tenant))


def scoped_access_script(tenant: Tenant) -> list[scripts.ScriptLine]:
    addresses = room_list_addresses(tenant)
    dns = _inputs(tenant, "scoped_access").get("room_list_dns") or []
    if not dns:
        return scripts.distinguished_names_script(addresses)
    name = room_list_values(tenant)["name"]
    return scripts.scoped_access_script(f"{name} scope", f"{name} impersonation", service_account(tenant), dns)


def role_assignment_script(tenant: Tenant) -> list[scripts.ScriptLine]:
    return scripts.role_assignment_check(service_account(tenant))


def missing_input(script_of: ScriptOf, tenant: Tenant) -> str | None:
    """What the admin must give on the step's page before `script_of`'s commands are the ones to run and confirm;
    None when they are. Until then the page asks (and may show commands that only read, to find the answer), and
    no confirmation is taken."""
    if script_of is service_account_script and not service_account_script(tenant):
        return "Enter the service account's user principal name and save it: the commands are for that account."
    if script_of is rooms_script and not room_plan(tenant):
        return "Upload the rooms CSV first: the commands add its rooms."
    if script_of is scoped_access_script and not _inputs(tenant, "scoped_access").get("room_list_dns"):
        return (
            "Paste the room lists' distinguished names first: the commands shown only read them, and the scope's"
            " commands need them."
        )
    return None


def room_list_addresses(tenant: Tenant) -> list[str]:
    """Every room list's address: those the rooms step planned, else the first list alone."""
    return [entry.address for entry in _planned_lists(tenant)] or [room_list_values(tenant)["address"]]


def _planned_lists(tenant: Tenant) -> tuple[RoomListEntry, ...]:
    return (result_of(tenant, ExchangeServerRoomsResult) or ExchangeServerRoomsResult()).lists


def room_list_csv(tenant: Tenant, list_number: int) -> tuple[str, str]:
    """(file name, CSV text) of one planned room list, for the rooms step's download links (1 = the first list).

    The same file the script's `Import-Csv` line names; raises LookupError for a list the plan does not have."""
    for planned in room_plan(tenant):
        if planned.number == list_number:
            return scripts.csv_file_name(planned), scripts.room_list_csv(planned.members)
    raise LookupError(f"tenant {tenant.slug} has no room list number {list_number}")
