"""Every outgoing request has connect and read timeouts, msal's included (issue 27 point 1): an authority URL that
points at an open port which never answers (a Redis port, say) used to hold the thread forever. And the answer does
not tell whoever typed the URL what listens there: a closed port, a silent one and a plain-HTTP server read alike."""

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tenants.models import Cloud, Tenant
from wizard.errors import StepError
from wizard.microsoft import prove_app_credentials

HOST = "127.0.0.2"
TENANT_ID = "0b7e5a52-8f13-4c6e-9d0e-7d1c2b3a4f56"
GIVE_UP_AFTER_S = 30  # far beyond the 1 s timeouts below: only a request without a timeout gets here


@pytest.fixture
def short_timeouts(settings) -> None:
    settings.ONRAMP_CONNECT_TIMEOUT_SECONDS = 1
    settings.ONRAMP_READ_TIMEOUT_SECONDS = 1


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections and never says a word, as a Redis port does to a TLS ClientHello."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.fixture
def closed_port() -> int:
    probe = socket.socket()
    probe.bind((HOST, 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args) -> None:
            """Quiet: the test reads what the server recorded, not its request log."""

    server = HTTPServer((HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def _tenant_at(port: int) -> Tenant:
    base = f"https://{HOST}:{port}"
    return Tenant(
        slug="typed",
        microsoft_tenant_id=TENANT_ID,
        cloud=Cloud.CUSTOM,
        custom_endpoints={
            "authority": f"{base}/{TENANT_ID}",
            "graph_url": f"{base}/v1.0",
            "exchange_admin_url": f"{base}/adminapi/beta/{TENANT_ID}",
            "ews_url": f"{base}/EWS/Exchange.asmx",
        },
    )


def _prove_in_a_thread(tenant: Tenant) -> StepError:
    """Prove credentials against `tenant`'s authority; the refusal it ends with. Fails if it never ends."""
    outcome: list[BaseException] = []

    def prove() -> None:
        try:
            prove_app_credentials(tenant, client_id="11111111-2222-3333-4444-555555555555", secret="s")
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            outcome.append(error)

    thread = threading.Thread(target=prove, daemon=True)
    thread.start()
    thread.join(GIVE_UP_AFTER_S)
    assert not thread.is_alive(), "the token request is still waiting: it has no timeout"
    assert len(outcome) == 1 and isinstance(outcome[0], StepError), outcome
    return outcome[0]


def test_an_authority_that_never_answers_fails_instead_of_holding_the_thread(short_timeouts, silent_port):
    refusal = _prove_in_a_thread(_tenant_at(silent_port))

    assert refusal.code == "ServiceUnavailable"


def test_closed_silent_and_plain_http_ports_answer_alike(short_timeouts, silent_port, closed_port, plain_http_port):
    answers = {
        name: _prove_in_a_thread(_tenant_at(port))
        for name, port in (("silent", silent_port), ("closed", closed_port), ("plain http", plain_http_port))
    }

    texts = {
        name: (refusal.code, refusal.message.replace(str(port), "PORT"))
        for (name, refusal), port in zip(answers.items(), (silent_port, closed_port, plain_http_port), strict=True)
    }
    assert len(set(texts.values())) == 1, texts
    for refusal in answers.values():
        for word in ("Timeout", "Refused", "SSLError", "ConnectionError", "wrong version"):
            assert word not in refusal.message
