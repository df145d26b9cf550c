"""An exchange_server tenant through every step against the sandbox: the test applies the generated PowerShell to
the sandbox's Exchange Management Shell (its control endpoint), confirms, and runs each step with the real worker."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tenants.models import SecretKind, TenantStatus
from tenants.secrets import has_secret
from tests.factories import inputs_from_form
from wizard.engine import ensure_states
from wizard.errors import StepError
from wizard.models import AuditEvent, Room, StepState, StepStatus, VerificationStatus
from wizard.outcomes import StepContext, Wait
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.steps.exchange_server import common as service
from wizard.steps.exchange_server.common import room_list_csv, save_connection
from wizard.steps.exchange_server.verify import service as verify_step
from wizard.steps.registry import get_step

from .conftest import (
    ADMIN,
    CONTROL_MAILBOX,
    SERVICE_ACCOUNT,
    SERVICE_PASSWORD,
    confirm,
    create_service_account,
    exchange_server_tenant,
    run_script,
    run_twice,
    shown_digest,
    shown_script,
)

ROOMS = ROOM_LIST_MAX_MEMBERS + 5  # two room lists, so the scope filter joins two DNs with -or
LIST_NAME = "O'Brien's Rooms"  # a quote in the DN, inside the OPATH literal, inside the PowerShell literal
USER_MAILBOX = "user-001@contoso.onmicrosoft.com"
NO_MAILBOX = "ghost@contoso.onmicrosoft.com"


def state_of(tenant, step_id):
    return StepState.objects.get(tenant=tenant, step_id=step_id)


def run_manual_step(run_step, control, tenant, step_id, inputs=None, typed=None):
    """The admin's round: the step waits for a confirmation, the admin runs the script (twice: the second run
    changes nothing) and confirms with the digest the page showed, the step succeeds."""
    state = run_step(tenant, step_id, inputs)
    assert state.status == StepStatus.NEEDS_INPUT, state.error_message
    shown = shown_digest(tenant, step_id)
    ran = run_twice(control, tenant, step_id, typed)
    event = confirm(tenant, step_id, digest=shown)
    state = run_step(tenant, step_id)
    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message)
    assert state.result["script_sha256"] == event.detail["script_sha256"] == shown_digest(tenant, step_id)
    return state, ran


def form_inputs(tenant, step_id, data=None, files=None):
    # The form as the step page finds it, through the registry.
    form_class = get_step(tenant.profile, step_id).form
    form = form_class(data or {}, files, tenant=tenant, state=state_of(tenant, step_id))
    assert form.is_valid(), form.errors
    return inputs_from_form(tenant, step_id, form.cleaned_data, actor=ADMIN)


def test_every_step_against_the_sandbox(celery_worker, make_sandbox, run_step):
    sandbox = make_sandbox(rooms=ROOMS, users=2)
    control, info = sandbox.control, sandbox.info
    tenant = exchange_server_tenant(info)
    ensure_states(tenant)

    # Service account: New-Mailbox, guarded by Get-Mailbox; the password is typed at PowerShell's prompt only.
    account_inputs = form_inputs(tenant, "service_account", {"service_account_upn": SERVICE_ACCOUNT})
    state, ran = run_manual_step(run_step, control, tenant, "service_account", account_inputs, [SERVICE_PASSWORD])
    assert ran["changes"] == 1 and ran["output"][-1]["RecipientTypeDetails"] == "UserMailbox"
    assert SERVICE_PASSWORD not in shown_digest(tenant, "service_account") + str(state.result) + str(state.inputs)
    assert "Read-Host -AsSecureString" in shown_script(tenant, "service_account")
    assert not AuditEvent.objects.filter(tenant=tenant, detail__icontains=SERVICE_PASSWORD).exists()

    # Connect: the EWS URL as entered, the service account's own calendar opened with Basic auth.
    connect_form = form_inputs(
        tenant, "connect", {"service_account_upn": SERVICE_ACCOUNT, "password": SERVICE_PASSWORD, "ews_url": ""}
    )
    assert connect_form["service_account_upn"] == SERVICE_ACCOUNT and SERVICE_PASSWORD not in str(connect_form)
    inputs = save_connection(
        tenant, ADMIN, service_account_upn=SERVICE_ACCOUNT, password=SERVICE_PASSWORD, ews_url=info["ews_url"]
    )
    state = run_step(tenant, "connect", inputs)
    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message)
    assert state.result["ews_url"] == info["ews_url"] and state.result["ews_url_source"] == "entered"

    # Room list: New-DistributionGroup -RoomList only when missing, the manager set; the check reads RoomList.
    state, ran = run_manual_step(
        run_step, control, tenant, "room_list", {"name": LIST_NAME, "alias": "obrien-rooms", "address": ""}
    )
    first_list = ran["output"][-1]
    assert first_list["RecipientTypeDetails"] == "RoomList" and first_list["Name"] == LIST_NAME

    # Rooms: a CSV with a user mailbox and an address without a mailbox. The script leaves both out, saying so.
    addresses = [f"room-{i:03d}@contoso.onmicrosoft.com" for i in range(1, ROOMS + 1)]
    csv_text = "ResourceAccounts\n" + "\n".join([*addresses, USER_MAILBOX, NO_MAILBOX, "not-an-address"])
    upload = SimpleUploadedFile("rooms.csv", csv_text.encode())
    rooms_inputs = form_inputs(tenant, "rooms", files={"csv_file": upload})
    assert [row["raw"] for row in rooms_inputs["refused_rows"]] == ["not-an-address"]
    state = run_step(tenant, "rooms", rooms_inputs)
    assert state.status == StepStatus.NEEDS_INPUT
    ran = run_twice(control, tenant, "rooms")
    warnings = [line for line in ran["host"] if "left out" in line]
    assert warnings == [
        f"WARNING: Not a room or equipment mailbox, left out: {USER_MAILBOX}",
        f"WARNING: No mailbox has this address, left out: {NO_MAILBOX}",
    ]
    groups = {g["primarySmtpAddress"]: g for g in control.state()["groups"]}
    assert sum(len(g["members"]) for g in groups.values()) == ROOMS

    # The admin pastes the warnings back, without the CSV: those rows leave the plan, and the script changes.
    stale = shown_digest(tenant, "rooms")
    rooms_inputs = form_inputs(tenant, "rooms", {"left_out": "\n".join(ran["host"])})
    StepState.objects.filter(pk=state.pk).update(inputs=rooms_inputs)
    assert [row["status"] for row in rooms_inputs["refused_rows"]] == [
        "malformed",
        "not_a_resource_mailbox",
        "unknown_mailbox",
    ]
    with pytest.raises(StepError) as error:
        confirm(tenant, "rooms", digest=stale)
    assert error.value.code == "script_changed"
    state, _ = run_manual_step(run_step, control, tenant, "rooms")
    lists = state.result["lists"]
    assert [len(entry["members"]) for entry in lists] == [ROOM_LIST_MAX_MEMBERS, 5]
    assert state.result["rooms"] == ROOMS and state.result["left_out"] == 3
    assert not Room.objects.filter(tenant=tenant, address=USER_MAILBOX).exists()  # left out: not failed, not pending
    file_name, csv_text = room_list_csv(tenant, 2)
    assert file_name == "obrien-rooms-02.csv" and csv_text.splitlines()[0] == "ResourceAccounts"
    groups = {g["primarySmtpAddress"]: g for g in control.state()["groups"]}
    assert sorted(len(groups[entry["address"]]["members"]) for entry in lists) == [5, ROOM_LIST_MAX_MEMBERS]
    assert all(groups[entry["address"]]["managedBy"] == [SERVICE_ACCOUNT] for entry in lists)

    # Scoped access: the admin reads the DNs with Get-DistributionGroup and pastes them; then the scope and the
    # ApplicationImpersonation assignment with -CustomRecipientWriteScope, each created only when missing.
    state = run_step(tenant, "scoped_access")
    assert state.status == StepStatus.NEEDS_INPUT
    dns = [row["DistinguishedName"] for row in run_twice(control, tenant, "scoped_access")["output"]]
    assert any("O'Brien" in dn for dn in dns)
    dn_inputs = form_inputs(tenant, "scoped_access", {"room_list_dns": "\r\n".join(dns)})
    control.set_knobs(rbac_delay_s=3600)  # Exchange has not picked up the new assignment yet
    _, ran = run_manual_step(run_step, control, tenant, "scoped_access", dn_inputs)
    scope, assignment = ran["output"][-2:]
    assert scope["Name"] == f"{LIST_NAME} scope" and assignment["Role"] == "ApplicationImpersonation"
    sandbox_scope = control.state()["scopes"][0]
    assert sorted(value for _, value in sandbox_scope["clauses"]) == sorted(dns)

    # Verify right after scoped access: every room refused impersonation, so it waits, saying why.
    verify_state = state_of(tenant, "verify")
    verify_state.inputs = {"control_mailbox": CONTROL_MAILBOX}
    outcome = verify_step.perform(
        StepContext(tenant=tenant, state=verify_state, actor=ADMIN, progress=lambda p, m: None)
    )
    assert isinstance(outcome, Wait) and "caches role assignments" in outcome.waiting_for
    assert outcome.result["rooms_failed"] == ROOMS
    control.set_knobs(rbac_delay_s=0)

    # Verify: every room's calendar opens as the room; the control mailbox (a person's) is refused.
    state = run_step(tenant, "verify", {"control_mailbox": CONTROL_MAILBOX})
    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message, state.error_detail)
    assert state.result["rooms_passed"] == ROOMS and state.result["control_code"] == "ErrorImpersonateUserDenied"
    assert set(
        Room.objects.filter(tenant=tenant, membership_status="member").values_list("verification_status", flat=True)
    ) == {VerificationStatus.PASS}
    for step_id in ("verify", "activate"):  # read-only checks: safe to run again too
        run_twice(control, tenant, step_id)

    # A room left out of the scope (removed from its list) fails, with Exchange's code and the reason, long after
    # scoped access (no waiting then).
    StepState.objects.filter(tenant=tenant, step_id="scoped_access").update(
        finished_at=state.finished_at - timedelta(seconds=service.RBAC_CACHE_SECONDS + 1)
    )
    left_out = addresses[-1]
    control.invoke(
        "Remove-DistributionGroupMember",
        Identity=lists[1]["address"],
        Member=left_out,
        BypassSecurityGroupManagerCheck=True,  # the admin is not the list's manager
    )
    state = run_step(tenant, "verify", {"control_mailbox": CONTROL_MAILBOX})
    assert state.status == StepStatus.FAILED and state.error_code == "rooms_not_reachable"
    assert state.error_detail["failures"] == [
        {"address": left_out, "reason": Room.objects.get(address=left_out).reason}
    ]
    room = Room.objects.get(tenant=tenant, address=left_out)
    assert room.verification_status == VerificationStatus.FAIL
    assert room.reason.startswith("ErrorImpersonateUserDenied: ") and "room list" in room.reason

    # Running the rooms script again puts it back (it adds only what is missing) and verify passes.
    assert run_script(control, tenant, "rooms")["changes"] == 1
    assert run_step(tenant, "verify", {"control_mailbox": CONTROL_MAILBOX}).status == StepStatus.SUCCEEDED

    # Activate: the summary for the integration; the password is erased; the tenant is active.
    state = run_step(tenant, "activate")
    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message)
    assert state.result["summary"]["room_lists"] == [entry["address"] for entry in lists]
    assert not has_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)
    tenant.refresh_from_db()
    assert tenant.status == TenantStatus.ACTIVE

    confirmations = AuditEvent.objects.filter(tenant=tenant, action="confirm_manual")
    assert sorted(set(confirmations.values_list("step_id", flat=True))) == [
        "room_list",
        "rooms",
        "scoped_access",
        "service_account",
    ]
    assert all(len(event.detail["script_sha256"]) == 64 and event.actor == ADMIN for event in confirmations)


def test_wrong_credentials_fail_connect_with_the_reason(celery_worker, sandbox_tenant, run_step):
    info = sandbox_tenant.info
    tenant = exchange_server_tenant(info, slug="contoso-wrong")
    service_account = create_service_account(tenant)
    wrong = save_connection(
        tenant,
        ADMIN,
        service_account_upn=service_account,
        password="not-the-password",
        ews_url=info["ews_url"],
    )
    state = run_step(tenant, "connect", wrong)
    assert state.status == StepStatus.FAILED and state.error_code == "HTTP401"
    assert "password" in state.error_detail["explanation"] and "UPN and password" in state.error_detail["fix"]
