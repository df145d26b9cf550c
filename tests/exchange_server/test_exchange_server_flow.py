"""An exchange_server tenant through every step against the sandbox: the test applies the generated PowerShell to
the sandbox's Exchange Management Shell (its control endpoint), confirms, and runs each step with the real worker."""

from django.core.files.uploadedfile import SimpleUploadedFile

from tenants.models import SecretKind, TenantStatus
from tenants.secrets import has_secret
from tests.factories import inputs_from_form
from wizard.models import AuditEvent, Room, StepState, StepStatus, VerificationStatus
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.services.exchange_server import (
    confirm_manual_step,
    room_list_csv,
    save_connection,
    script_sha256,
    script_text,
)
from wizard.steps.registry import get_step

from .conftest import (
    ADMIN,
    SERVICE_PASSWORD,
    apply_script,
    create_service_account,
    exchange_server_tenant,
)

ROOMS = ROOM_LIST_MAX_MEMBERS + 5  # two room lists, so the scope filter joins two DNs with -or
LIST_NAME = "O'Brien's Rooms"  # a quote in the DN, inside the OPATH literal, inside the PowerShell literal


def run_manual_step(run_step, control, tenant, step_id, inputs=None):
    """The admin's round: the step waits for a confirmation, the admin runs the script and confirms, it succeeds."""
    state = run_step(tenant, step_id, inputs)
    assert state.status == StepStatus.NEEDS_INPUT, state.error_message
    checks = apply_script(control, tenant, step_id)
    event = confirm_manual_step(tenant, step_id, ADMIN, script_text(tenant, step_id))
    state = run_step(tenant, step_id)
    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message)
    assert state.result["script_sha256"] == event.detail["script_sha256"] == script_sha256(script_text(tenant, step_id))
    return state, checks


def form_inputs(tenant, step_id, data=None, files=None):
    # The form as the step page finds it, through the registry.
    form_class = get_step(tenant.profile, step_id).form
    form = form_class(data or {}, files, tenant=tenant, state=StepState.objects.get(tenant=tenant, step_id=step_id))
    assert form.is_valid(), form.errors
    return inputs_from_form(tenant, step_id, form.cleaned_data)


def test_every_step_against_the_sandbox(celery_worker, make_sandbox, run_step):
    sandbox = make_sandbox(rooms=ROOMS)
    control, info = sandbox.control, sandbox.info
    tenant = exchange_server_tenant(info)
    service_account = create_service_account(tenant)

    # Connect: the EWS URL as entered, the service account's own calendar opened with Basic auth.
    inputs = save_connection(
        tenant,
        ADMIN,
        service_account_upn=service_account,
        password=SERVICE_PASSWORD,
        ews_url=info["ews_url"],
        auth="basic",
    )
    assert SERVICE_PASSWORD not in str(inputs)
    state = run_step(tenant, "connect", inputs)
    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message)
    assert state.result["ews_url"] == info["ews_url"] and state.result["ews_url_source"] == "entered"

    # Room list: New-DistributionGroup -RoomList and -ManagedBy, and the admin's check reads RoomList.
    _, checks = run_manual_step(
        run_step, control, tenant, "room_list", {"name": LIST_NAME, "alias": "obrien-rooms", "address": ""}
    )
    first_list = checks[0][0]
    assert first_list["RecipientTypeDetails"] == "RoomList" and first_list["Name"] == LIST_NAME

    # Rooms: a CSV upload, split into lists of at most 75, each list's CSV offered for download.
    addresses = [f"room-{i:03d}@contoso.onmicrosoft.com" for i in range(1, ROOMS + 1)]
    upload = SimpleUploadedFile("rooms.csv", ("ResourceAccounts\n" + "\n".join(addresses)).encode())
    rooms_inputs = form_inputs(tenant, "rooms", files={"csv_file": upload})
    state, _ = run_manual_step(run_step, control, tenant, "rooms", rooms_inputs)
    lists = state.result["room_lists"]
    assert [len(entry["members"]) for entry in lists] == [ROOM_LIST_MAX_MEMBERS, 5]
    file_name, csv_text = room_list_csv(tenant, 2)
    assert file_name == "obrien-rooms-02.csv" and csv_text.splitlines()[0] == "ResourceAccounts"
    groups = {g["primarySmtpAddress"]: g for g in control.state()["groups"]}
    assert sorted(len(groups[entry["address"]]["members"]) for entry in lists) == [5, ROOM_LIST_MAX_MEMBERS]
    assert all(groups[entry["address"]]["managedBy"] == [service_account] for entry in lists)

    # Scoped access: the admin reads the DNs with Get-DistributionGroup and pastes them; then the scope and the
    # ApplicationImpersonation assignment with -CustomRecipientWriteScope.
    state = run_step(tenant, "scoped_access")
    assert state.status == StepStatus.NEEDS_INPUT
    dns = [rows[0]["DistinguishedName"] for rows in apply_script(control, tenant, "scoped_access")]
    assert any("O'Brien" in dn for dn in dns)
    dn_inputs = form_inputs(tenant, "scoped_access", {"room_list_dns": "\r\n".join(dns)})
    _, checks = run_manual_step(run_step, control, tenant, "scoped_access", dn_inputs)
    scope, assignments = checks
    assert scope[0]["Name"] == f"{LIST_NAME} scope"
    assert [a["Role"] for a in assignments] == ["ApplicationImpersonation"]
    sandbox_scope = control.state()["scopes"][0]
    assert sorted(value for _, value in sandbox_scope["clauses"]) == sorted(dns)

    # Verify: every room's calendar opens as the room; the control mailbox (the service account) is refused.
    state = run_step(tenant, "verify")
    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message, state.error_detail)
    assert state.result["rooms_passed"] == ROOMS and state.result["control_code"] == "ErrorImpersonateUserDenied"
    assert set(Room.objects.filter(tenant=tenant).values_list("verification_status", flat=True)) == {
        VerificationStatus.PASS
    }

    # A room left out of the scope (removed from its list) fails, with Exchange's code and the reason.
    left_out = addresses[-1]
    control.invoke(
        "Remove-DistributionGroupMember",
        Identity=lists[1]["address"],
        Member=left_out,
        BypassSecurityGroupManagerCheck=True,  # the admin is not the list's manager
    )
    state = run_step(tenant, "verify")
    assert state.status == StepStatus.FAILED and state.error_code == "rooms_not_reachable"
    assert state.error_detail["failures"] == [
        {"address": left_out, "reason": Room.objects.get(address=left_out).reason}
    ]
    room = Room.objects.get(tenant=tenant, address=left_out)
    assert room.verification_status == VerificationStatus.FAIL
    assert room.reason.startswith("ErrorImpersonateUserDenied: ") and "room list" in room.reason
    assert Room.objects.filter(tenant=tenant, verification_status=VerificationStatus.PASS).count() == ROOMS - 1

    control.invoke(
        "Add-DistributionGroupMember",
        Identity=lists[1]["address"],
        Member=left_out,
        BypassSecurityGroupManagerCheck=True,  # the admin is not the list's manager
    )
    assert run_step(tenant, "verify").status == StepStatus.SUCCEEDED

    # Activate: the summary for the integration; the password is erased; the tenant is active.
    state = run_step(tenant, "activate")
    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message)
    assert state.result["summary"]["room_lists"] == [entry["address"] for entry in lists]
    assert not has_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)
    tenant.refresh_from_db()
    assert tenant.status == TenantStatus.ACTIVE

    confirmations = AuditEvent.objects.filter(tenant=tenant, action="confirm_manual")
    assert sorted(confirmations.values_list("step_id", flat=True)) == ["room_list", "rooms", "scoped_access"]
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
        auth="basic",
    )
    state = run_step(tenant, "connect", wrong)
    assert state.status == StepStatus.FAILED and state.error_code == "HTTP401"
    assert "password" in state.error_detail["explanation"] and "Basic" in state.error_detail["fix"]
