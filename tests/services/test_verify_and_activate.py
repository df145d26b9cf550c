"""Steps 5-7 after the tenant changes: drift found by verify, the scope following new lists, and activation with a
signed webhook delivered with retries."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tenants.models import SecretKind
from tenants.secrets import has_secret, store_secret
from tests.factories import connected_tenant, state_of
from wizard.models import Room, StepStatus, VerificationStatus
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

ALL_ROOMS = {"rooms": all_rooms_inputs(confirmed=True)}


def test_verify_reports_rooms_gone_and_rooms_in_no_list(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=6, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, inputs=ALL_ROOMS).finished
    sandbox.control.remove_mailbox("room-001@contoso.onmicrosoft.com")
    sandbox.control.add_mailbox("room", alias="room-new")

    failed = run_steps(tenant, start="verify", until="verify").stopped_at

    assert failed.status == StepStatus.FAILED and failed.error_code == "verification_failed"
    result = failed.error_detail["result"]
    assert result["drift"] == {
        "unlisted_rooms": ["room-new@contoso.onmicrosoft.com"],
        "gone_rooms": ["room-001@contoso.onmicrosoft.com"],
    }
    assert result["rooms_passed"] == 5 and result["control_out_of_scope"]
    gone = Room.objects.get(tenant=tenant, address="room-001@contoso.onmicrosoft.com")
    assert gone.verification_status == VerificationStatus.FAIL and "no longer exists" in gone.reason


def test_verify_names_the_rooms_whose_own_ews_switch_is_off(make_sandbox, run_steps):
    """A room's own EwsEnabled False (Set-CASMailbox) blocks EWS for it whatever the organisation allows: verify
    reads every mailbox's switch in one listing and says which rooms, and what to run (issue 25 point 4)."""
    sandbox = make_sandbox(rooms=4, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)
    sandbox.control.invoke("Set-CASMailbox", Identity="room-002@contoso.onmicrosoft.com", EwsEnabled=False)
    sandbox.control.invoke("Set-CASMailbox", Identity="user-001@contoso.onmicrosoft.com", EwsEnabled=False)

    assert run_steps(tenant, inputs=ALL_ROOMS).finished

    result = state_of(tenant, "verify").result
    assert result["rooms_ews_off"] == ["room-002@contoso.onmicrosoft.com"]
    warning = next(w for w in result["warnings"] if "EWS is switched off" in w)
    assert "room-002@contoso.onmicrosoft.com" in warning and "Set-CASMailbox" in warning
    sandbox.control.invoke("Set-CASMailbox", Identity="room-002@contoso.onmicrosoft.com", EwsEnabled=None)
    assert run_steps(tenant, start="verify", until="verify").finished
    assert state_of(tenant, "verify").result["rooms_ews_off"] == []


def test_verify_waits_while_microsoft_applies_the_new_access(make_sandbox, run_steps):
    """Right after scoped access, Exchange reports the rooms in scope but refuses their calendars for a while
    (Microsoft applies RBAC for Applications within up to 2 hours): verify waits instead of failing."""
    sandbox = make_sandbox(rooms=4, equipment=0, users=1, rbac_delay_s=6)
    tenant = connected_tenant(sandbox.info)

    assert run_steps(tenant, inputs=ALL_ROOMS).finished

    verify = state_of(tenant, "verify")
    assert verify.status == StepStatus.SUCCEEDED
    assert verify.result["rooms_passed"] == 4
    waited = tenant.audit_events.filter(step_id="verify", outcome="waiting").get()
    assert "4 of 4 room(s) are in scope but still refused" in waited.detail["waiting_for"]
    assert "(made at " in waited.detail["waiting_for"]


def test_a_new_list_is_added_to_the_one_scope(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=75, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="scoped_access", inputs=ALL_ROOMS).finished
    sandbox.control.add_mailbox("room", alias="room-076")
    sandbox.control.reset_calls()

    again = run_steps(tenant, until="scoped_access", inputs=ALL_ROOMS)

    assert again.ran == ["rooms", "scoped_access"]  # new room choices re-run the rooms step and those after it

    state = sandbox.control.state()
    lists = {group["name"]: group for group in state["groups"]}
    assert lists["Onramp Rooms 02"]["members"] == ["room-076@contoso.onmicrosoft.com"]
    [scope] = state["scopes"]
    assert {value.lower() for _, value in scope["clauses"]} == {group["dn"].lower() for group in lists.values()}
    assert sandbox.control.calls()["write_calls"] == {"New-DistributionGroup": 1, "Set-ManagementScope": 1}
    [check] = sandbox.control.invoke(
        "Test-ServicePrincipalAuthorization",
        Identity=sandbox.info["integration_app_id"],
        Resource="room-076@contoso.onmicrosoft.com",
    )
    assert check["InScope"] is True

    # Microsoft's RBAC cache has not seen the changed scope yet: verify waits, naming the change and its time.
    sandbox.control.set_knobs(rbac_delay_s=15)
    assert run_steps(tenant, start="verify", until="verify").finished
    assert "the new role assignment or scope (made at " in _waits(tenant)


def _waits(tenant) -> str:
    return " | ".join(e.detail["waiting_for"] for e in tenant.audit_events.filter(step_id="verify", outcome="waiting"))


def test_verify_waits_for_new_members_of_a_scoped_list(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=3, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="verify", inputs=ALL_ROOMS).finished
    sandbox.control.add_mailbox("room", alias="room-004")
    sandbox.control.set_knobs(rbac_delay_s=15)
    sandbox.control.reset_calls()

    again = run_steps(tenant, start="rooms", until="verify", inputs=ALL_ROOMS)

    assert again.finished and again.ran == ["rooms", "scoped_access", "verify"]
    writes = sandbox.control.calls()["write_calls"]
    assert writes == {"Add-DistributionGroupMember": 1}  # no new assignment, no scope change: only a member
    assert "the room lists' new members (made at " in _waits(tenant)
    assert state_of(tenant, "verify").result["rooms_passed"] == 4


class _Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[dict, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(self.answers.pop(0) if self.answers else 204)
        self.end_headers()

    def log_message(self, *args) -> None:
        """Quiet: the test reads what was received, not the server's log."""


@pytest.fixture
def webhook_receiver():
    _Receiver.answers, _Receiver.received = [503], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/onramp", _Receiver.received
    server.shutdown()
    server.server_close()


def test_activation_sends_a_signed_webhook_retrying_and_erases_the_password(make_sandbox, run_steps, webhook_receiver):
    url, received = webhook_receiver
    sandbox = make_sandbox(rooms=3, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)
    store_secret(tenant, SecretKind.WEBHOOK_SECRET, "shared-with-the-integration")

    outcome = run_steps(tenant, inputs={**ALL_ROOMS, "activate": {"webhook_url": url}})

    assert outcome.finished
    webhook = state_of(tenant, "activate").result["webhook"]
    assert webhook["status"] == "delivered" and webhook["attempts"] == 2
    assert len(received) == 2
    headers, body = received[-1]
    expected = hmac.new(b"shared-with-the-integration", body, hashlib.sha256).hexdigest()
    assert headers["X-Onramp-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["event"] == "tenant.activated" and payload["tenant_id"] == sandbox.info["tenant_id"]
    assert payload["service_account"] == "onramp-svc@contoso.com"
    assert payload["room_lists"] == ["onramp-rooms@contoso.com"] and payload["rooms"] == 3
    assert payload["app_id"] == sandbox.info["integration_app_id"]
    assert not has_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)
    tenant.refresh_from_db()
    assert tenant.status == "active"
