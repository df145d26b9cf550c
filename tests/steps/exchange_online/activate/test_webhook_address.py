"""The webhook's address: internal addresses refused in every IPv6 disguise, and the request sent to the address
that was checked (one resolution, so a name that re-resolves elsewhere cannot redirect it)."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wizard.services import webhooks

FAKE_HOST = "hooks.integration.test"


@pytest.mark.parametrize(
    "url",
    [
        "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254, the metadata service
        "https://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "https://[::ffff:10.0.0.1]/hook",  # IPv4-mapped
        "https://[::127.0.0.1]/hook",  # IPv4-compatible (deprecated, still parsed)
        "https://[2001:0:4136:e378:8000:63bf:3f57:fffe]/hook",  # Teredo: its client is 192.168.0.1
        "http://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
    ],
)
def test_internal_addresses_are_refused_in_every_form(url, settings):
    settings.ONRAMP_WEBHOOK_ALLOW_PRIVATE = False

    with pytest.raises(webhooks.WebhookAddressRefused) as refused:
        webhooks.check_address(url)

    assert "internal address" in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://[64:ff9b:1::a00:1]/hook",  # local-use NAT64 (RFC 8215): the operator's own translator, to 10.0.0.1
        "https://[64:ff9b:1:ffff::]/hook",  # local-use NAT64, wherever the operator places the IPv4 address
        "https://[::ffff:0:a9fe:a9fe]/hook",  # SIIT (RFC 6145 ::ffff:0:0:0/96) of 169.254.169.254
        "https://[::ffff:0:808:808]/hook",  # SIIT translates inside the operator's network, whatever it embeds
        "https://[fec0::1]/hook",  # site-local (deprecated by RFC 3879, still routed on some internal networks)
        "https://[feff:ffff::1]/hook",  # the far end of fec0::/10
    ],
)
def test_translation_prefixes_and_site_local_addresses_are_refused(url, settings):
    settings.ONRAMP_WEBHOOK_ALLOW_PRIVATE = False

    with pytest.raises(webhooks.WebhookAddressRefused) as refused:
        webhooks.check_address(url)

    assert "internal address" in str(refused.value)


@pytest.mark.parametrize("url", ["https://[2606:4700:4700::1111]/hook", "https://[64:ff9b::808:808]/hook"])
def test_public_addresses_pass(url, settings):
    settings.ONRAMP_WEBHOOK_ALLOW_PRIVATE = False

    assert webhooks.check_address(url).address == url.split("[")[1].split("]")[0]


class _Receiver(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.hosts.append(self.headers["Host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        """Quiet: the test reads what arrived, not the server's log."""


def test_delivery_goes_to_the_checked_address_even_if_the_name_now_resolves_elsewhere(monkeypatch, settings):
    """DNS cannot run here, so the resolver is the one thing replaced: the name answers 127.0.0.1 first (our
    receiver) and an unroutable address after that, as a rebinding attacker's DNS would."""
    settings.ONRAMP_WEBHOOK_ALLOW_PRIVATE = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        if host != FAKE_HOST:
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "10.255.255.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    url = f"http://{FAKE_HOST}:{server.server_port}/onramp"
    _Receiver.hosts = []
    try:
        checked = webhooks.check_address(url)
        response = webhooks.post(checked, url, b"{}", {"Content-Type": "application/json"}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()

    assert response.status_code == 204
    assert lookups == [FAKE_HOST]
    assert _Receiver.hosts == [f"{FAKE_HOST}:{server.server_port}"]
