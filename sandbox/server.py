"""HTTPS server: one port serves the identity platform, Graph, the Exchange admin API, EWS and control."""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import control_api, ews, exchange, graph, oidc, tokens
from .control import SandboxControl
from .responses import Request, Response, graph_error
from .state import (
    ADMIN_UPN,
    CONNECTOR_APP_ID,
    CONNECTOR_SECRET,
    DOMAIN,
    INTEGRATION_APP_ID,
    INTEGRATION_SECRET,
    MULTITENANT_APP_ID,
    MULTITENANT_SECRET,
    TENANT_ID,
    Knobs,
    Tenant,
)
from .tls import TlsMaterial, loopback_material


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse the TLS connection
    timeout = 60  # idle keep-alive connections are closed after a minute
    server: _SandboxServer

    def setup(self) -> None:
        # Headers and body go out as separate writes: without TCP_NODELAY, Nagle plus the client's delayed
        # ACK costs ~40 ms a response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Handshake here, in the connection's thread, so a slow client never blocks accept().
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        self.server.track(self.request, add=True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.request, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        req = Request(
            method=self.command,
            path=url.path,
            query_string=url.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            base_url=f"https://{host}",
            connection=f"{self.client_address[0]}:{self.client_address[1]}",
        )
        try:
            response = self.server.sandbox.route(req)
        except Exception:  # a sandbox bug must surface as a 500, not a dropped connection
            traceback.print_exc(file=sys.stderr)
            response = graph_error(500, "InternalServerError", "The sandbox failed to process the request.")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve


class _SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, tls: ssl.SSLContext, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.sandbox, self.tls, self.verbose = sandbox, tls, verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._connections_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # TLS handshakes aborted by clients and closed keep-alive sockets are routine, not errors.
        if self.verbose:
            super().handle_error(request, client_address)


class Sandbox:
    """Routes requests to the services of one tenant."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def route(self, req: Request) -> Response:
        path = req.path.lower()
        if path.startswith("/_sandbox"):
            return control_api.handle(self.tenant, req)
        if path.startswith("/v1.0"):
            return graph.handle(self.tenant, req)  # Graph pauses per request, inside Outlook's concurrency slot
        self.tenant.pause()  # outside the tenant lock: concurrent calls overlap like real ones
        if path.startswith("/adminapi/"):
            return exchange.handle(self.tenant, req)
        if path.startswith("/ews/exchange.asmx"):
            return ews.handle(self.tenant, req)
        template, response = oidc.handle(self.tenant, req) if oidc.serves(req) else tokens.handle(self.tenant, req)
        self.tenant.calls.record(template, write=False)
        return response


def build_info(port: int, material: TlsMaterial) -> dict[str, Any]:
    base = f"https://127.0.0.1:{port}"
    return {
        "tenant_id": TENANT_ID,
        "domain": DOMAIN,
        "authority": f"{base}/{TENANT_ID}",
        "graph_url": f"{base}/v1.0",
        "exchange_admin_url": f"{base}/adminapi/beta/{TENANT_ID}",
        "ews_url": f"{base}/EWS/Exchange.asmx",
        "ca_bundle": str(material.ca_bundle),
        "client_id": CONNECTOR_APP_ID,
        "client_secret": CONNECTOR_SECRET,
        # The connector app's certificate credential, the alternative to its secret.
        "client_certificate_file": str(material.connector_certificate_file),
        "certificate_thumbprint": material.connector_thumbprint,
        "integration_app_id": INTEGRATION_APP_ID,
        "integration_client_secret": INTEGRATION_SECRET,
        # Onramp's own multi-tenant app (ONRAMP_CONNECTOR_CLIENT_ID/_SECRET), not consented here until an admin does.
        "onramp_app_id": MULTITENANT_APP_ID,
        "onramp_app_secret": MULTITENANT_SECRET,
        "admin_upn": ADMIN_UPN,
        "control_url": f"{base}/_sandbox",
        "graph_scope": "https://graph.microsoft.com/.default",
        "exchange_scope": "https://outlook.office365.com/.default",
    }


@dataclass
class RunningSandbox:
    info: dict[str, Any]
    tenant: Tenant
    control: SandboxControl
    _server: _SandboxServer
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)
        self.control.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(port: int = 0, host: str = "127.0.0.1", verbose: bool = False, **knobs: Any) -> RunningSandbox:
    """Start a sandbox tenant in a daemon thread; `knobs` are `Knobs` fields (rooms=..., latency_ms=...)."""
    settings = Knobs()
    settings.update(knobs)
    material = loopback_material()
    tenant = Tenant(settings, (material.connector_thumbprint, material.connector_public_key))
    server = _SandboxServer((host, port), Sandbox(tenant), material.server_context(), verbose)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"sandbox-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    info = build_info(server.server_address[1], material)
    return RunningSandbox(info, tenant, SandboxControl(info["control_url"], info["ca_bundle"]), server, thread)
