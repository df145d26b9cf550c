"""The exchange_server profile's services: connect over EWS, the admin's "I ran this" confirmations, verify, activate.

Onramp cannot reach an on-premises Exchange Management Shell. For the service account, the room list, the rooms and
the scoped access it shows generated PowerShell (`exchange_server_scripts`), safe to run more than once; the admin
runs it and confirms (`confirm_manual_step`, naming the script by its text or its `script_digest`), and the
confirmation is kept in the audit trail with the SHA-256 of the exact script. A manual step succeeds only when a
confirmation exists for the script as it reads now: change an input and the script, its hash, and the needed
confirmation change with it. Verification then proves the result from outside, over EWS with the service account's
credentials.
"""

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenants.models import SecretKind, Tenant, TenantStatus
from tenants.secrets import erase_secret, read_secret, store_secret
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.microsoft import (
    CalendarAccess,
    EwsClient,
    exchange_server_autodiscover,
    exchange_server_ews,
    parallel,
)
from wizard.microsoft.errors import EWS
from wizard.models import AuditEvent, MembershipStatus, Room, StepState, VerificationStatus
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext, Wait
from wizard.results import (
    ExchangeServerConnectResult,
    ExchangeServerRoomListResult,
    ExchangeServerRoomsResult,
    ExchangeServerScopedAccessResult,
    ExchangeServerServiceAccountResult,
    ExchangeServerVerifyResult,
    RoomListEntry,
)
from wizard.room_plan import PlannedList, plan_room_lists
from wizard.services import exchange_server_scripts as scripts
from wizard.services.common import poll_delay, required_result, result_of
from wizard.services.room_list import DEFAULT_NAME, alias_for

PROFILE = "exchange_server"
CONFIRM_ACTION = "confirm_manual"
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
ScriptOf = Callable[[Tenant], list[scripts.ScriptLine]]


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


def _password(upn: str, tenant: Tenant) -> str:
    password = read_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)
    if not password:
        raise StepError(
            code="service_account_password_missing",
            message=f"The password of {upn} is not stored.",
            explanation="EWS checks sign in as the service account. Onramp erases its password at activation, and"
            " keeps it only while setting up.",
            fix="Enter the service account's password again in the connect step.",
        )
    return password


def ews_client(tenant: Tenant) -> EwsClient:
    """The EWS client of a connected tenant: the URL and account the connect step confirmed."""
    url = required_result(tenant, ExchangeServerConnectResult, "ews_url", "Connect")
    upn = (result_of(tenant, ExchangeServerConnectResult) or ExchangeServerConnectResult()).service_account_upn
    return exchange_server_ews(tenant, url, upn, _password(upn, tenant))


def _find_ews_url(tenant: Tenant, upn: str) -> str:
    url, attempts = exchange_server_autodiscover(tenant, upn, _password(upn, tenant))
    if url is None:
        raise StepError(
            code="autodiscover_failed",
            message=f"Autodiscover found no EWS URL for {upn}.",
            explanation="Onramp asked the Autodiscover URLs of the account's domain; none answered with an EWS URL.",
            fix="Enter the EWS URL yourself (Get-WebServicesVirtualDirectory | Format-List ExternalUrl).",
            extra={"attempts": [dataclasses.asdict(attempt) for attempt in attempts]},
        )
    return url


def connect(ctx: StepContext) -> Outcome:
    """Find the EWS URL (entered, or by Autodiscover) and prove the service account can open its own calendar."""
    tenant, inputs = ctx.tenant, ctx.inputs
    upn = str(inputs.get("service_account_upn") or "").strip()
    if not upn:
        return NeedsInput("Enter the service account's user principal name and password.")
    url, source = str(inputs.get("ews_url") or "").strip(), "entered"
    if not url:
        ctx.progress(20, "Looking up the EWS URL with Autodiscover")
        url, source = _find_ews_url(tenant, upn), "autodiscover"
    ctx.progress(60, "Signing in to EWS as the service account")
    own = exchange_server_ews(tenant, url, upn, _password(upn, tenant)).calendar_access()
    if not own.opened:
        raise StepError(
            code=own.code,
            message=f"{upn} signed in to EWS but could not open its own calendar: {own.message or own.code}.",
            explanation=own.explanation,
            fix="Run the Service account step's commands (New-Mailbox), or Enable-Mailbox for an existing user.",
            extra={"service": EWS},
        )
    return Done({"ews_url": url, "ews_url_source": source, "service_account_upn": upn})


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


def script_text(script_of: ScriptOf, tenant: Tenant) -> str:
    """The commands `script_of` gives for the tenant's values as they are now, as the step's page shows them."""
    return scripts.render(script_of(tenant))


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


# -- "I ran this" -----------------------------------------------------------------------------------------------
def script_sha256(script: str) -> str:
    # Line endings are normalised: a browser posts CRLF for what the page showed with LF.
    return hashlib.sha256(script.replace("\r\n", "\n").encode()).hexdigest()


def script_digest(script_of: ScriptOf, tenant: Tenant) -> str:
    """The SHA-256 of the script the step's page shows now: what a confirmation must name to count."""
    return script_sha256(script_text(script_of, tenant))


def confirm_manual_step(
    tenant: Tenant,
    step_id: str,
    actor: str,
    script: str | None = None,
    *,
    digest: str | None = None,
    script_of: ScriptOf,
) -> AuditEvent:
    """Record that `actor` ran the step's script (the commands `script_of` gives), named by its text (`script`) or
    its SHA-256 (`digest`, as the page posts it back). Refused with `script_changed` when that is not the script
    Onramp generates now (the page was stale, or an input changed since): the admin must confirm what the step will
    check. The audit event's detail holds only the digest, never the script (nor anything typed into it)."""
    if (script is None) == (digest is None):
        raise ValueError("name the script by its text or by its digest, not both")
    if (missing := missing_input(script_of, tenant)) is not None:
        raise StepError(
            code="commands_not_ready",
            message="There are no commands to confirm on this step yet.",
            explanation="The commands to run depend on a value the step's page asks for.",
            fix=missing,
        )
    confirmed = script_sha256(script) if script is not None else str(digest).strip().lower()
    current = script_digest(script_of, tenant)
    if confirmed != current:
        raise StepError(
            code="script_changed",
            message="These commands are not the current ones for this step.",
            explanation="The step's inputs changed after the page was shown, so Onramp now generates other commands.",
            fix="Reload the page, run the commands it shows, and confirm again.",
            extra={"current_script_sha256": current},
        )
    with transaction.atomic():
        return record_event(tenant, actor, CONFIRM_ACTION, "confirmed", step_id, {"script_sha256": current})


def _confirmation(ctx: StepContext, script_of: ScriptOf) -> AuditEvent | None:
    digest = script_digest(script_of, ctx.tenant)
    return (
        AuditEvent.objects.filter(
            tenant=ctx.tenant, step_id=ctx.state.step_id, action=CONFIRM_ACTION, detail__script_sha256=digest
        )
        .order_by("-created_at")
        .first()
    )


def _confirmed(ctx: StepContext, script_of: ScriptOf) -> dict[str, Any] | NeedsInput:
    """Who confirmed running the commands `script_of` gives now, and when; NeedsInput until someone has."""
    event = _confirmation(ctx, script_of)
    if event is None:
        return NeedsInput("Run the commands shown on this page in the Exchange Management Shell, then confirm.")
    return {
        "script_sha256": event.detail["script_sha256"],
        "confirmed_by": event.actor,
        "confirmed_at": event.created_at.isoformat(),
    }


def create_service_account(ctx: StepContext) -> Outcome:
    """The admin created (or already had) the mailbox-enabled account; connect proves it by signing in as it."""
    upn = str(ctx.inputs.get("service_account_upn") or "").strip()
    if not upn:
        return NeedsInput("Enter the service account's user principal name.")
    confirmed = _confirmed(ctx, service_account_script)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    display_name = ctx.inputs.get("display_name") or DEFAULT_DISPLAY_NAME
    return Done({"service_account_upn": upn, "display_name": display_name, **confirmed})


def room_list(ctx: StepContext) -> Outcome:
    required_result(ctx.tenant, ExchangeServerConnectResult, "service_account_upn", "Connect")
    confirmed = _confirmed(ctx, room_list_script)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    return Done({**room_list_values(ctx.tenant), "manager": service_account(ctx.tenant), **confirmed})


def rooms(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    required_result(tenant, ExchangeServerRoomListResult, "address", "Room list")
    plan = room_plan(tenant)
    if not plan:
        return NeedsInput("Upload the CSV of the rooms the integration may book.")
    confirmed = _confirmed(ctx, rooms_script)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    planned_addresses = {address.lower() for p in plan for address in p.members}
    left_out = left_out_rows(tenant)
    with transaction.atomic():
        for planned in plan:
            for address in planned.members:
                Room.objects.update_or_create(
                    tenant=tenant,
                    address=address.lower(),
                    defaults={"room_list": planned.name, "membership_status": MembershipStatus.MEMBER, "reason": ""},
                )
        # A row left out of the plan (refused by the upload's checks, or taken out by the admin with Exchange's
        # warning) is not a room of the integration: the page lists it under the rows left out, with its reason,
        # and the rooms and verify tables do not count it as failed or pending, even if an earlier run placed it.
        left_out_addresses = {str(row.get("address") or "").lower() for row in left_out} - {""}
        Room.objects.filter(tenant=tenant, address__in=left_out_addresses - planned_addresses).delete()
    result = ExchangeServerRoomsResult(
        lists=tuple(RoomListEntry.of(p.name, p.address, p.members, alias=p.alias, number=p.number) for p in plan),
        rooms=len(planned_addresses),
        left_out=len(left_out),
    )
    return Done({**result.to_json(), **confirmed})


def scoped_access(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    required_result(tenant, ExchangeServerRoomsResult, "lists", "Rooms")
    dns = ctx.inputs.get("room_list_dns") or []
    if not dns:
        return NeedsInput("Run the Get-DistributionGroup commands shown and paste each DistinguishedName.")
    expected = len(room_list_addresses(tenant))
    if len(dns) != expected:
        raise StepError(
            code="wrong_number_of_dns",
            message=f"{len(dns)} distinguished names were entered for {expected} room lists.",
            explanation="The scope must name every room list, or the rooms of a list left out stay unreachable.",
            fix="Paste the DistinguishedName of each list the Get-DistributionGroup commands print.",
        )
    confirmed = _confirmed(ctx, scoped_access_script)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    name = room_list_values(tenant)["name"]
    return Done({"scope_name": f"{name} scope", "room_list_dns": list(dns), **confirmed})


# -- verify -----------------------------------------------------------------------------------------------------
def verify(ctx: StepContext) -> Outcome:
    """GetFolder of each room's calendar as the room (must open) and of the control mailbox (must be refused)."""
    tenant = ctx.tenant
    required_result(tenant, ExchangeServerScopedAccessResult, "scope_name", "Scoped access")
    client = ews_client(tenant)
    control = (ctx.inputs.get("control_mailbox") or service_account(tenant)).strip().lower()
    rooms = list(Room.objects.filter(tenant=tenant, membership_status=MembershipStatus.MEMBER))
    if not rooms:
        raise StepError(
            code="no_rooms",
            message="There are no rooms to verify.",
            explanation="The rooms step records the rooms the admin added to the room lists.",
            fix="Run the rooms step first.",
        )
    total = len(rooms) + 1
    done = 0
    failures: list[dict[str, str]] = []

    def record(outcome: Any) -> None:
        nonlocal done
        done += 1
        room: Room = outcome.item
        access: CalendarAccess | None = outcome.value
        if access is not None and access.opened:
            room.verification_status, room.reason = VerificationStatus.PASS, ""
        else:
            room.verification_status = VerificationStatus.FAIL
            room.reason = (access.reason if access is not None else _error_reason(outcome.error))[:500]
            failures.append({"address": room.address, "reason": room.reason})
        room.save(update_fields=["verification_status", "reason", "updated_at"])
        ctx.progress(int(done * 100 / total), f"Checked {done} of {total} mailboxes")

    parallel(lambda room: client.calendar_access(room.address), rooms, on_done=record)
    control_access = client.calendar_access(control)
    passed = len(rooms) - len(failures)
    result = {
        "rooms_passed": passed,
        "rooms_failed": len(failures),
        "control_mailbox": control,
        "control_code": control_access.code,
        "control_reason": control_access.reason,
    }
    if not control_access.denied:
        raise StepError(
            code="control_mailbox_not_denied",
            message=f"The control mailbox {control} answered {control_access.code}, not a refusal.",
            explanation=(
                "The service account can impersonate a mailbox that is not a room: the scope is wider than the room"
                " lists (or the role was assigned without -CustomRecipientWriteScope)."
                if control_access.opened
                else f"Onramp could not prove the control mailbox is out of reach: {control_access.explanation}"
            ),
            fix="Check Get-ManagementRoleAssignment -Role ApplicationImpersonation for assignments without the"
            " scope, or choose an existing mailbox that is not a room as the control mailbox.",
            extra=result,
        )
    waiting = _waiting_for_rbac_cache(tenant, rooms, failures, result)
    if waiting is not None:
        return waiting
    if failures:
        raise StepError(
            code="rooms_not_reachable",
            message=f"{len(failures)} of {len(rooms)} rooms cannot be opened by the service account.",
            explanation="Each failing room is listed with Exchange's answer. A room outside every room list in the"
            " scope answers ErrorImpersonateUserDenied.",
            fix="Add the rooms to a room list (rooms step) or run the scoped-access commands again, then re-verify.",
            extra={**result, "failures": failures[:FAILURES_KEPT]},
        )
    return Done({**result, "passed": True})


def _waiting_for_rbac_cache(
    tenant: Tenant, rooms: list[Room], failures: list[dict[str, str]], result: dict[str, Any]
) -> Wait | None:
    """A Wait when every failing room was refused impersonation and the scoped-access commands were confirmed so
    recently that Exchange may still be answering from its cached role assignments."""
    if not failures or any(entry["reason"].split(":", 1)[0] not in IMPERSONATION_REFUSALS for entry in failures):
        return None
    granted_at = (
        StepState.objects.filter(tenant=tenant, step_id="scoped_access").values_list("finished_at", flat=True).first()
    )
    if granted_at is None:
        return None
    age = (timezone.now() - granted_at).total_seconds()
    if age > RBAC_CACHE_SECONDS:
        return None
    return Wait(
        seconds=poll_delay(age, first=30, longest=300),
        waiting_for=f"Exchange to pick up the new ApplicationImpersonation assignment: {len(failures)} of"
        f" {len(rooms)} room(s) still refused. Exchange Server caches role assignments, so a new one can take a"
        f" while to apply; Onramp checks again by itself (for up to {RBAC_CACHE_SECONDS // 3600} hours after scoped"
        " access).",
        result={**result, "failures": failures[:FAILURES_KEPT]},
    )


def _error_reason(error: BaseException | None) -> str:
    if isinstance(error, StepError):
        return f"{error.code}: {error.explanation or error.message}"
    return f"{type(error).__name__}: the check could not run."


# -- activate ---------------------------------------------------------------------------------------------------
def activate(ctx: StepContext) -> Outcome:
    """What the integration needs, the tenant marked active, and the service account's password erased."""
    tenant = ctx.tenant
    required_result(tenant, ExchangeServerVerifyResult, "passed", "Verify")
    connected = result_of(tenant, ExchangeServerConnectResult) or ExchangeServerConnectResult()
    scoped = result_of(tenant, ExchangeServerScopedAccessResult) or ExchangeServerScopedAccessResult()
    summary = {
        "ews_url": connected.ews_url,
        "service_account_upn": connected.service_account_upn,
        "room_lists": room_list_addresses(tenant),
        "management_scope": scoped.scope_name,
    }
    with transaction.atomic():
        erased = erase_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)
        tenant.status = TenantStatus.ACTIVE
        tenant.save(update_fields=["status", "updated_at"])
        record_event(tenant, ctx.actor, "activate", "active", "activate", {"password_erased": erased})
    return Done({"summary": summary, "password_erased": erased})
