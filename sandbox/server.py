"""HTTPS server: one port serves the identity platform, Graph, the Exchange admin API, EWS and control."""

from __future__ import annotations

import argparse
import contextlib
import socket
import ssl
import sys
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import control_api, ews, exchange, graph, oidc, tokens
from .control import SandboxControl
from .responses import Request, Response, graph_error
from .state import (
    DEFAULT_IDENTITY,
    INTEGRATION_APP_ID,
    INTEGRATION_SECRET,
    MULTITENANT_APP_ID,
    MULTITENANT_SECRET,
    Knobs,
    Tenant,
    TenantIdentity,
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
    """Routes requests to the Microsoft tenants one process serves, as Microsoft finds the tenant: the authority and
    the Exchange admin API name it in their path; Graph and EWS read it from the bearer token's `tid` (WIRE.md,
    "Many tenants"). The first tenant also answers what names none (`/common`, a request without a token) and
    the control endpoint's `/_sandbox/…`; `/_sandbox/tenants/<tenant id>/…` controls any one."""

    def __init__(self, tenants: list[Tenant]) -> None:
        self.tenants = tenants
        self._by_name = {name: tenant for tenant in tenants for name in tenant.identity.aliases}

    def _named(self, name: str) -> Tenant:
        return self._by_name.get(name.lower(), self.tenants[0])

    def _of_token(self, req: Request) -> Tenant:
        """The tenant of the bearer token's `tid`, read before the signature is checked: the tenant's API checks it
        and refuses a forged or broken token as it refuses any other."""
        return self._named(str(tokens.unverified_access_claims(req.headers.get("authorization")).get("tid", "")))

    def route(self, req: Request) -> Response:
        path = req.path.lower()
        segments = [s for s in req.path.split("/") if s]
        if path.startswith("/_sandbox"):
            if len(segments) >= 3 and segments[1] == "tenants":
                rest = "/".join(segments[3:])
                return control_api.handle(self._named(segments[2]), replace(req, path=f"/_sandbox/{rest}"))
            return control_api.handle(self.tenants[0], req)
        if path.startswith("/v1.0"):
            # Graph pauses per request, inside Outlook's concurrency slot
            return graph.handle(self._of_token(req), req)
        if path.startswith("/adminapi/"):
            tenant = self._named(segments[2] if len(segments) > 2 else "")
        elif path.startswith("/ews/exchange.asmx"):
            tenant = self._of_token(req)
        else:
            tenant = self._named(segments[0] if segments else "")
        tenant.pause()  # outside the tenant lock: concurrent calls overlap like real ones
        if path.startswith("/adminapi/"):
            return exchange.handle(tenant, req)
        if path.startswith("/ews/exchange.asmx"):
            return ews.handle(tenant, req)
        template, response = oidc.handle(tenant, req) if oidc.serves(tenant, req) else tokens.handle(tenant, req)
        tenant.calls.record(template, write=False)
        return response


def build_info(port: int, material: TlsMaterial, identity: TenantIdentity, control_url: str) -> dict[str, Any]:
    base = f"https://127.0.0.1:{port}"
    tenant_id = identity.tenant_id
    return {
        "tenant_id": tenant_id,
        "domain": identity.domain,
        "authority": f"{base}/{tenant_id}",
        "graph_url": f"{base}/v1.0",
        "exchange_admin_url": f"{base}/adminapi/beta/{tenant_id}",
        "ews_url": f"{base}/EWS/Exchange.asmx",
        "ca_bundle": str(material.ca_bundle),
        "client_id": identity.connector_app_id,
        "client_secret": identity.connector_secret,
        # The connector app's certificate credential, the alternative to its secret.
        "client_certificate_file": str(material.connector_certificate_file),
        "certificate_thumbprint": material.connector_thumbprint,
        "integration_app_id": INTEGRATION_APP_ID,
        "integration_client_secret": INTEGRATION_SECRET,
        # Onramp's own multi-tenant app (ONRAMP_CONNECTOR_CLIENT_ID/_SECRET), not consented here until an admin does.
        "onramp_app_id": MULTITENANT_APP_ID,
        "onramp_app_secret": MULTITENANT_SECRET,
        "admin_upn": identity.admin_upn,
        "control_url": control_url,
        "graph_scope": "https://graph.microsoft.com/.default",
        "exchange_scope": "https://outlook.office365.com/.default",
    }


def fleet_info(port: int, material: TlsMaterial, tenants: list[Tenant]) -> dict[str, Any]:
    """The info file: the first tenant's keys at the top (what a single-tenant sandbox has always written) and, with
    more than one tenant, each tenant's own under `tenants`, its `control_url` controlling that tenant alone."""
    base = f"https://127.0.0.1:{port}"
    info = build_info(port, material, tenants[0].identity, f"{base}/_sandbox")
    if len(tenants) > 1:
        info["tenants"] = [
            {
                **build_info(port, material, tenant.identity, f"{base}/_sandbox/tenants/{tenant.tenant_id}"),
                "rooms": tenant.knobs.rooms,
            }
            for tenant in tenants
        ]
    return info


@dataclass
class RunningSandbox:
    info: dict[str, Any]
    tenant: Tenant  # the first (or only) tenant, which `control` controls
    control: SandboxControl
    _server: _SandboxServer
    _thread: threading.Thread
    tenants: list[Tenant] = field(default_factory=list)

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


@dataclass(frozen=True)
class TenantRooms:
    """Rooms per tenant of a fleet: `listed` used in turn, or `low`..`high` spread geometrically (as many small
    organisations as large ones on a log scale, the smallest and largest both present)."""

    listed: tuple[int, ...] = ()
    low: int = 0
    high: int = 0

    def counts(self, tenants: int) -> list[int]:
        if self.listed:
            return [self.listed[i % len(self.listed)] for i in range(tenants)]
        if tenants == 1:
            return [self.low]
        ratio = self.high / self.low
        return [round(self.low * ratio ** (i / (tenants - 1))) for i in range(tenants)]


def tenant_room_counts(spec: str) -> TenantRooms:
    """Parse `--tenant-rooms`: "20,500,2000" or "20-2000"."""
    low, dash, high = spec.partition("-")
    try:
        if dash:
            rooms = TenantRooms(low=int(low), high=int(high))
            if not 0 < rooms.low <= rooms.high:
                raise ValueError(spec)
            return rooms
        return TenantRooms(listed=tuple(int(n) for n in spec.split(",")))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"rooms per tenant: N,N,… or MIN-MAX, not {spec!r}") from error


def start_sandbox(
    port: int = 0,
    host: str = "127.0.0.1",
    verbose: bool = False,
    tenants: int = 1,
    tenant_rooms: Sequence[int] = (),
    **knobs: Any,
) -> RunningSandbox:
    """Start a sandbox in a daemon thread; `knobs` are `Knobs` fields (rooms=..., latency_ms=...), each tenant's own.

    One tenant (the default) is the contoso.onmicrosoft.com every test knows; `tenants` > 1 serves a fleet,
    contoso-0001.onmicrosoft.com onwards, each with its own ids, directory, apps and budgets, and with
    `tenant_rooms[i % len(tenant_rooms)]` rooms (else `rooms`)."""
    if tenants < 1:
        raise ValueError("a sandbox serves at least one tenant")
    settings = Knobs()
    settings.update(knobs)
    material = loopback_material()
    certificate = (material.connector_thumbprint, material.connector_public_key)
    identities = [DEFAULT_IDENTITY] if tenants == 1 else [TenantIdentity.numbered(n) for n in range(1, tenants + 1)]
    served = [
        Tenant(
            replace(settings, rooms=tenant_rooms[i % len(tenant_rooms)]) if tenant_rooms else replace(settings),
            certificate,
            identity,
        )
        for i, identity in enumerate(identities)
    ]
    server = _SandboxServer((host, port), Sandbox(served), material.server_context(), verbose)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"sandbox-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    info = fleet_info(server.server_address[1], material, served)
    control = SandboxControl(info["control_url"], info["ca_bundle"])
    return RunningSandbox(info, served[0], control, server, thread, served)
