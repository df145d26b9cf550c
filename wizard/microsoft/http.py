"""HTTP to Microsoft: one session factory, and a `Transport` that paces, retries and waits out throttling.

Policy, the one retry loop of every Microsoft service (Graph, the Exchange admin API, EWS):
- "Microsoft is busy" answers carry how long to wait; each service says which answers those are (`busy`): for Graph
  and the Exchange admin API a 429 or 503 with `Retry-After`, for EWS also `ErrorServerBusy` with its
  `BackOffMilliseconds`. Wait exactly that long and try again. These are not failures and do not use up retry
  attempts; only the total time spent waiting is bounded (`ONRAMP_THROTTLE_WAIT_SECONDS`).
- Other transient failures (500, 502, 504, connection errors, timeouts) are retried with jittered exponential
  back-off, at most `ONRAMP_TRANSIENT_RETRIES` times. Onramp's steps are idempotent (they adopt what exists), so
  retrying a POST whose fate is unknown is safe: a repeat shows up as "already exists" and is adopted.
- Every attempt, retries included, first takes a slot in each of Microsoft's budgets it spends (`ratelimit`): the
  service's (per tenant, or per app per tenant), or a mailbox's for Outlook resources; and while it is sent and
  answered it holds one of the mailbox's few requests in flight.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import structlog
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.utils import should_bypass_proxies
from urllib3.util.retry import Retry

from wizard import metrics
from wizard.microsoft import ratelimit
from wizard.microsoft.clouds import Endpoints
from wizard.microsoft.errors import UNREACHABLE, still_throttled, unreachable

log = logging.getLogger(__name__)
# One line per request to Microsoft (msal's token requests included), for support to quote in a Microsoft case.
calls_log = structlog.stdlib.get_logger("wizard.microsoft.calls")
CLIENT_REQUEST_ID = "client-request-id"


def _service_of(path: str) -> str:
    """The service of a request sent without one named: msal's sign-in and discovery requests."""
    return "identity" if "/oauth2/" in path or "openid-configuration" in path or "/discovery/" in path else "other"


def timeout() -> tuple[float, float]:
    """Seconds to connect (the TLS handshake included) and to read an answer; some cmdlets take a while."""
    return settings.ONRAMP_CONNECT_TIMEOUT_SECONDS, settings.ONRAMP_READ_TIMEOUT_SECONDS


THROTTLE_STATUSES = frozenset({429, 503})
TRANSIENT_STATUSES = frozenset({500, 502, 504})
POOL_SIZE = 16  # connections per host: several threads of one client share the session


class _Session(requests.Session):
    """A session that ignores the environment's CA bundle but still honours an explicit proxy and NO_PROXY.

    requests lets REQUESTS_CA_BUNDLE override `Session.verify` whenever `trust_env` is on, and these machines set
    it; the tenant's CA (sandbox, private CA) must win, so trust_env is off and proxies are applied here.
    """

    def __init__(self, proxy: str, no_proxy: str) -> None:
        super().__init__()
        self.trust_env = False
        self._proxy = proxy
        self._no_proxy = no_proxy
        self.owns_adapter = True

    def close(self) -> None:
        # The process's connections outlive the session (build_session); a session's own are closed with it.
        if self.owns_adapter:
            super().close()

    def request(self, method, url, *args, service: str | None = None, **kwargs):  # type: ignore[no-untyped-def, override]
        """Every request to Microsoft goes through here: it carries a `client-request-id` of Onramp's (unless msal
        sent its own) and is logged with Microsoft's ids, never with its query string, body or headers."""
        # msal sends its discovery and token requests through this session without a timeout: an authority that
        # accepts the connection and never answers (any non-TLS port) would hold a worker thread forever.
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = timeout()
        headers = dict(kwargs.get("headers") or {})
        sent_id = next((value for name, value in headers.items() if name.lower() == CLIENT_REQUEST_ID), None)
        if sent_id is None:
            sent_id = headers[CLIENT_REQUEST_ID] = str(uuid.uuid4())
        kwargs["headers"] = headers
        path = urlsplit(url).path
        call = {"service": service or _service_of(path), "method": method, "path": path}
        started = time.monotonic()
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as error:
            seconds = time.monotonic() - started
            calls_log.info(
                "microsoft_call",
                **call,
                error=type(error).__name__,
                duration_ms=round(seconds * 1000, 1),
                client_request_id=sent_id,
            )
            raise
        calls_log.info(
            "microsoft_call",
            **call,
            status=response.status_code,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            request_id=response.headers.get("request-id"),
            client_request_id=response.headers.get(CLIENT_REQUEST_ID) or sent_id,
        )
        return response

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self._proxy and not should_bypass_proxies(url, no_proxy=self._no_proxy or None):
            merged["proxies"] = {"https": self._proxy, "http": self._proxy, **(merged.get("proxies") or {})}
        return merged


PROCESS_POOL_HOSTS = 32  # hosts (with their port, proxy and CA) whose connections a process keeps: a few per cloud
PROCESS_POOL_SIZE = 128  # idle connections it keeps per host: a worker's threads each run several calls at once


def _adapter(hosts: int, connections_per_host: int) -> HTTPAdapter:
    # Retries belong to Transport (it takes a rate-limit slot per attempt and honours Retry-After), so urllib3
    # never re-sends a request by itself.
    return HTTPAdapter(pool_connections=hosts, pool_maxsize=connections_per_host, max_retries=0)


class _ProcessConnections:
    """The connections to Microsoft this process keeps open, shared by every session of `build_session`: each step
    builds new clients, and without this each paid a new TLS handshake (two round trips) per host. Only connections
    are shared: cookies stay in each session, and every request carries its own token. urllib3 keeps a pool per
    host, port, proxy and CA bundle, so a tenant's private CA never vouches for another's host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._adapter: HTTPAdapter | None = None
        os.register_at_fork(after_in_child=self._forget)  # a forked process opens its own sockets

    def adapter(self) -> HTTPAdapter:
        with self._lock:
            if self._adapter is None:
                self._adapter = _adapter(PROCESS_POOL_HOSTS, PROCESS_POOL_SIZE)
            return self._adapter

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._adapter = None


_process_connections = _ProcessConnections()


def build_session(endpoints: Endpoints, *, own_connections: bool = False) -> requests.Session:
    """A session trusting the tenant's CA (or the public CAs), for msal and for the API clients. Its connections
    are the process's (`_ProcessConnections`) unless `own_connections`: Windows authentication (NTLM) authenticates a
    connection, so a session signing in that way must never hand its connections to another."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or ""
    no_proxy = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    session = _Session(proxy, no_proxy)
    if endpoints.ca_bundle:
        session.verify = endpoints.ca_bundle
    adapter = _adapter(4, POOL_SIZE) if own_connections else _process_connections.adapter()
    session.owns_adapter = own_connections
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "Onramp/0.1 (+room mailbox setup)"
    return session


@dataclass
class RetryPolicy:
    throttle_wait_budget: float = 300.0  # seconds of Retry-After waits per call, in total
    transient_retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 20.0

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            throttle_wait_budget=float(getattr(settings, "ONRAMP_THROTTLE_WAIT_SECONDS", 300)),
            transient_retries=int(getattr(settings, "ONRAMP_TRANSIENT_RETRIES", 4)),
            backoff_base=float(getattr(settings, "ONRAMP_BACKOFF_BASE_SECONDS", 0.5)),
        )

    def backoff(self, attempt: int) -> float:
        # "Full jitter": uniform in [0, min(cap, base * 2^attempt)], so retrying workers spread out.
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))


_retry_after_parser = Retry()


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After value as seconds (it may be a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(_retry_after_parser.parse_retry_after(value)))
    except Exception:  # urllib3 raises InvalidHeader; a bad header means "use back-off"
        return None


BusyDelay = Callable[[requests.Response], float | None]


def retry_after_delay(response: requests.Response) -> float | None:
    """Graph's and the Exchange admin API's "busy" answers: 429 or 503 with Retry-After."""
    if response.status_code not in THROTTLE_STATUSES:
        return None
    return retry_after_seconds(response.headers.get("Retry-After"))


def response_json(response: requests.Response) -> Any:
    """The body as JSON, or None when empty or not JSON (some errors come back as HTML from a proxy)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


@dataclass(frozen=True)
class BusyWait:
    """One wait because Microsoft said it is busy: which service, its HTTP status, how long it asked to wait (or
    Onramp's back-off when it did not say), and which attempt of the call comes next."""

    service: str
    status: int
    seconds: float
    attempt: int
    asked: bool


class BusyListener(Protocol):
    """Told of each wait on a busy Microsoft, and when a call that waited is over (answered, or given up)."""

    def waiting(self, wait: BusyWait, *, first: bool) -> None: ...

    def over(self) -> None: ...


# Set by whoever runs a step (wizard.engine) to say what it waits for while it waits; `parallel` copies it into its
# helper threads. None: nobody listens.
busy_listener: ContextVar[BusyListener | None] = ContextVar("onramp_busy_listener", default=None)


@dataclass
class CallStats:
    """What a transport did, for progress pages and the benchmark (thread-safe counters)."""

    attempts: int = 0
    throttled: int = 0
    transient: int = 0
    throttle_wait: float = 0.0
    pacing_wait: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


class Transport:
    """Sends one logical request to one Microsoft service of one tenant, with pacing and retries.

    Thread-safe: threads share the session's connection pool and the tenant's budget.
    """

    def __init__(
        self,
        session: requests.Session,
        *,
        service: str,
        budget: ratelimit.Budget,
        token: Callable[[], str] | None = None,
        auth: AuthBase | None = None,
        renew: Callable[[], bool] | None = None,
        policy: RetryPolicy | None = None,
        extra_headers: dict[str, str] | None = None,
        busy: BusyDelay = retry_after_delay,
        transient_statuses: frozenset[int] = TRANSIENT_STATUSES,
    ) -> None:
        """`token` (a bearer token) or `auth` (requests' auth, e.g. Basic for EWS on premises) signs each attempt;
        `budget` is the service's budget a request spends unless it names others; `busy` says how long the service
        asks to wait (None: it is not busy); `transient_statuses` are failures
        worth retrying with back-off (EWS answers refusals as HTTP 500, so its set leaves 500 out)."""
        self.session = session
        self.service = service
        self.budget = budget
        self.token = token
        self.auth = auth
        self.renew = renew
        self.busy = busy
        self.transient_statuses = transient_statuses
        self.policy = policy or RetryPolicy.from_settings()
        self.extra_headers = extra_headers or {}
        self.stats = CallStats()

    def request(
        self, method: str, url: str, *, costs: Mapping[ratelimit.Budget, int] | None = None, **kwargs: Any
    ) -> requests.Response:
        """The final response: a success, or a non-retryable error (the caller turns it into a typed error).

        `costs` are the calls this request spends per budget (default: one of the service's; a $batch spends one
        in the budget of each request inside it). Raises Throttled / ServiceUnavailable when the bounds are spent.
        """
        what = f"{method} {url.split('?', 1)[0]}"
        listener = busy_listener.get()
        reported = False  # whether the listener was told of a wait of this call, so must hear when it is over
        waited = 0.0
        transient = 0
        attempt = 0
        headers = {**self.extra_headers, **kwargs.pop("headers", {})}
        # One id for the logical call, its retries included, so Microsoft's support can follow them together.
        headers.setdefault(CLIENT_REQUEST_ID, str(uuid.uuid4()))
        spent = costs or {self.budget: 1}
        try:
            while True:
                attempt += 1
                paced = ratelimit.wait_for(spent)
                metrics.rate_limit_waited(self.service, paced)
                self.stats.add(attempts=1, pacing_wait=paced)
                signed = {**headers, "Authorization": f"Bearer {self.token()}"} if self.token else headers
                try:
                    # Only the request itself holds the in-flight slots: never a wait or a back-off sleep.
                    with ratelimit.in_flight(spent):
                        sent = time.monotonic()
                        response = self.session.request(
                            method,
                            url,
                            headers=signed,
                            auth=self.auth,
                            timeout=timeout(),
                            service=self.service,
                            **kwargs,
                        )
                except (requests.ConnectionError, requests.Timeout) as exc:
                    transient += 1
                    if transient > self.policy.transient_retries:
                        raise unreachable(
                            self.service, what, UNREACHABLE, client_request_id=headers[CLIENT_REQUEST_ID]
                        ) from exc
                    self.stats.add(transient=1)
                    log.info("%s: %s, retry %d", what, type(exc).__name__, transient)
                    time.sleep(self.policy.backoff(transient))
                    continue

                status = response.status_code
                delay = asked = self.busy(response)
                metrics.microsoft_answered(
                    self.service, status, time.monotonic() - sent, throttled=asked is not None or status == 429
                )
                if delay is None and status == 429:
                    delay = self.policy.backoff(3)  # throttled without a hint: pause like a late retry
                if delay is not None:
                    if waited + delay > self.policy.throttle_wait_budget:
                        if status == 429:
                            raise still_throttled(self.service, what, waited, response.headers)
                        raise unreachable(
                            self.service,
                            what,
                            f"HTTP {status} (busy) after waiting {waited:.0f} s",
                            headers=response.headers,
                        )
                    if listener is not None:
                        wait = BusyWait(self.service, status, delay, attempt + 1, asked is not None)
                        listener.waiting(wait, first=not reported)
                        reported = True
                    waited += delay
                    self.stats.add(throttled=1, throttle_wait=delay)
                    log.info("%s: HTTP %d, busy: waiting %.1f s as asked", what, status, delay)
                    time.sleep(delay)
                    continue
                if status in (401, 403) and self.renew is not None and self.renew():
                    log.info("%s: HTTP %d, retrying once with a new token", what, status)
                    continue
                if status in self.transient_statuses or status == 503:  # a 503 without a wait is plain transient
                    transient += 1
                    if transient > self.policy.transient_retries:
                        return response  # the caller raises the typed error with Microsoft's code and message
                    self.stats.add(transient=1)
                    log.info("%s: HTTP %d, retry %d", what, status, transient)
                    time.sleep(self.policy.backoff(transient))
                    continue
                return response
        finally:
            if reported and listener is not None:
                listener.over()
