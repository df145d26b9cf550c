"""Activation with a signed webhook delivered with retries, and the service account's password erased."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tenants.models import SecretKind
from tenants.secrets import has_secret, store_secret
from tests.factories import connected_tenant, state_of
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

ALL_ROOMS = {"rooms": all_rooms_inputs(confirmed=True)}


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
