"""Onramp's Microsoft client layer. Services import only from here and from `wizard.microsoft.errors`.

Facade (stable):

    from wizard.microsoft import connector_clients, integration_clients, parallel
    from wizard.microsoft.errors import NotFound, AlreadyExists, PermissionMissing, ExchangeCmdletError, ...

    with connector_clients(tenant) as ms:             # the organisation's own app: tenant.client_id + CLIENT_SECRET
    with delegated_clients(tenant, tokens, keep) as ms:   # as the administrator of a kept sign-in (same clients)
        org = ms.graph.get("/organization")           # parsed JSON; raises typed MicrosoftError subclasses
        rooms = ms.graph.get_all("/places/microsoft.graph.room")        # follows @odata.nextLink
        ms.graph.post("/users", {...}); ms.graph.patch(f"/users/{uid}", {...})
        answers = ms.graph.batch([{"method": "GET", "url": f"/users/{u}"} for u in upns])  # any length
        for a in answers: a.ok, a.status, a.body, a.error, a.result()
        config = ms.exchange.invoke_one("Get-OrganizationConfig")
        members = ms.exchange.invoke("Get-DistributionGroupMember", Identity=dn, ResultSize="Unlimited")
        outcomes = parallel(lambda upn: ms.exchange.invoke(...), upns, on_done=report_progress)
    busy_listener.set(listener)   # told of each wait on a busy Microsoft (BusyWait), in parallel's helpers too

    with integration_clients(tenant) as app:          # the calendar product's app: integration_app_id + ...SECRET
        app.graph.get(f"/users/{room}/calendar")      # PermissionMissing (ErrorAccessDenied) when out of scope
        integration_ews(app).calendar_access(control)  # over EWS: .opened, or .app_refused (no EWS access at all)

    endpoints_for(tenant).admin_consent_url(client_id, redirect_uri, state)   # consent link of the tenant's cloud

    person, kept = complete_and_keep(app, flow, response)   # an administrator's sign-in, its tokens kept (offline)
    tokens = DelegatedTokens(app, kept); tokens.confirm()   # still signed in? roles; SignInAgainNeeded if not
    kept = tokens.kept()                                    # the cache to store again (refresh tokens rotate)
    prove_app_credentials(tenant, client_id=app, secret=secret)   # new credentials, proven at the token endpoint

    ews = exchange_server_ews(tenant, url, upn, password)   # Exchange Server's EWS as the service account (NTLM/Basic)
    ews.calendar_access(room)                          # CalendarAccess: opened / denied / code and plain words
    url, attempts = exchange_server_autodiscover(tenant, upn, password)  # POX Autodiscover of the account's domain

Every call takes a slot of the budget Microsoft throttles it by (per service; per mailbox for calendars), shared
through Redis when REDIS_URL is set, waits
out 429/503 by Retry-After and retries transient failures with back-off, all bounded. Clients are thread-safe; use
`parallel` to overlap latency (the budget still holds). `close()` (or the `with` block) writes the token cache.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Generic, TypeVar

import requests

from tenants.models import Tenant
from wizard.microsoft import ratelimit
from wizard.microsoft.auth import (
    AppCredentials,
    CredentialsMissing,
    installation_app_unproven,
    installation_connector_secret,
    key_proof,
    load_credentials,
    prove_credentials,
)
from wizard.microsoft.clouds import Endpoints, endpoints_for, trusted_by_installation
from wizard.microsoft.delegated import (
    DelegatedCredentials,
    DelegatedTokens,
    KeptSignIn,
    SignInAgainNeeded,
    complete_and_keep,
    complete_device_and_keep,
)
from wizard.microsoft.errors import EXCHANGE, GRAPH
from wizard.microsoft.ews import (
    AutodiscoverAttempt,
    BearerAuth,
    CalendarAccess,
    EwsClient,
    PerThreadSession,
    autodiscover_candidates,
    autodiscover_ews_url,
    service_account_auth,
)
from wizard.microsoft.exchange_admin import USER_ANCHOR, ExchangeAdminClient, hashtable
from wizard.microsoft.graph import BatchResponse, GraphClient
from wizard.microsoft.http import POOL_SIZE, BusyWait, Transport, build_session, busy_listener
from wizard.microsoft.signin import (
    ROLE_SCOPES,
    ROLES_GRAPH_UNREADABLE,
    ROLES_NOT_READABLE,
    MicrosoftPerson,
    SignInApp,
    SignInRefused,
    begin_device_sign_in,
    complete_device_sign_in,
)
from wizard.microsoft.signin import begin as begin_sign_in
from wizard.microsoft.signin import complete as complete_sign_in

__all__ = [
    "POOL_SIZE",
    "ROLES_GRAPH_UNREADABLE",
    "ROLES_NOT_READABLE",
    "ROLE_SCOPES",
    "AutodiscoverAttempt",
    "BatchResponse",
    "BearerAuth",
    "BusyWait",
    "CalendarAccess",
    "CredentialsMissing",
    "DelegatedCredentials",
    "DelegatedTokens",
    "Endpoints",
    "EwsClient",
    "KeptSignIn",
    "MicrosoftClients",
    "MicrosoftPerson",
    "Outcome",
    "SignInAgainNeeded",
    "SignInApp",
    "SignInRefused",
    "begin_device_sign_in",
    "begin_sign_in",
    "busy_listener",
    "complete_and_keep",
    "complete_device_and_keep",
    "complete_device_sign_in",
    "complete_sign_in",
    "connector_clients",
    "delegated_clients",
    "endpoints_for",
    "hashtable",
    "installation_app_unproven",
    "installation_connector_secret",
    "key_proof",
    "trusted_by_installation",
    "exchange_server_autodiscover",
    "exchange_server_ews",
    "integration_clients",
    "integration_ews",
    "parallel",
    "prove_app_credentials",
]

DEFAULT_PARALLEL_CALLS = 4


@dataclass
class MicrosoftClients:
    """Graph and Exchange admin clients for one app in one tenant, sharing one session and token cache."""

    tenant: Tenant
    endpoints: Endpoints
    credentials: AppCredentials | DelegatedCredentials
    graph: GraphClient
    exchange: ExchangeAdminClient
    session: requests.Session

    @property
    def client_id(self) -> str:
        return self.credentials.client_id

    @property
    def acts_as_person(self) -> bool:
        """Whether the calls carry a signed-in person's delegated token (their rights), not an app's own."""
        return isinstance(self.credentials, DelegatedCredentials)

    def stats(self) -> dict[str, float]:
        """Attempts, throttled responses, transient retries and seconds waited, per service."""
        out: dict[str, float] = {}
        for name, transport in ((GRAPH, self.graph.transport), (EXCHANGE, self.exchange.transport)):
            for field_name in ("attempts", "throttled", "transient", "throttle_wait", "pacing_wait"):
                out[f"{name}_{field_name}"] = getattr(transport.stats, field_name)
        return out

    def close(self) -> None:
        self.credentials.cache.save()
        self.session.close()

    def __enter__(self) -> MicrosoftClients:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _limit_key(tenant: Tenant) -> str:
    # Microsoft's budget is per Microsoft tenant, whichever Onramp record (or worker) is calling it.
    return tenant.microsoft_tenant_id or f"onramp:{tenant.slug}"


def _clients(tenant: Tenant, *, integration: bool) -> MicrosoftClients:
    endpoints = endpoints_for(tenant)
    session = build_session(endpoints)
    credentials = load_credentials(tenant, integration=integration, endpoints=endpoints, session=session)
    return _clients_with(tenant, endpoints, session, credentials, anchor="")


def _clients_with(
    tenant: Tenant,
    endpoints: Endpoints,
    session: requests.Session,
    credentials: AppCredentials | DelegatedCredentials,
    *,
    anchor: str,
) -> MicrosoftClients:
    key, app = _limit_key(tenant), credentials.client_id

    def transport(service: str, scope: str, budget: ratelimit.Budget) -> Transport:
        return Transport(
            session,
            service=service,
            budget=budget,
            token=lambda: credentials.token(scope),
            renew=lambda: credentials.renew(scope),
        )

    return MicrosoftClients(
        tenant=tenant,
        endpoints=endpoints,
        credentials=credentials,
        graph=GraphClient(
            transport(GRAPH, endpoints.graph_scope, ratelimit.service_budget(key, ratelimit.DIRECTORY, app)),
            endpoints.graph_url,
            app,
            limit_key=key,
        ),
        exchange=ExchangeAdminClient(
            transport(EXCHANGE, endpoints.exchange_scope, ratelimit.service_budget(key, ratelimit.EXCHANGE)),
            endpoints.exchange_admin_url,
            tenant.microsoft_tenant_id,
            credentials.client_id,
            anchor=anchor,
        ),
        session=session,
    )


def delegated_clients(tenant: Tenant, tokens: DelegatedTokens, keep: Callable[[KeptSignIn], None]) -> MicrosoftClients:
    """Clients acting as the signed-in administrator of a kept sign-in (Onramp's app with the delegated permissions
    the organisation consented to: Graph's, and Exchange.Manage for InvokeCommand, which runs with the person's
    own Exchange roles). `keep` stores the sign-in again when a refresh rotated its refresh token."""
    endpoints = endpoints_for(tenant)
    credentials = DelegatedCredentials(tokens, keep)
    return _clients_with(
        tenant, endpoints, build_session(endpoints), credentials, anchor=USER_ANCHOR.format(upn=credentials.username)
    )


def connector_clients(tenant: Tenant) -> MicrosoftClients:
    """Clients acting as Onramp's connector app (the app the admin consented to or registered)."""
    return _clients(tenant, integration=False)


def integration_clients(tenant: Tenant) -> MicrosoftClients:
    """Clients acting as the calendar product's app, to verify what it can (and cannot) reach."""
    return _clients(tenant, integration=True)


def integration_ews(app: MicrosoftClients) -> EwsClient:
    """Exchange Online's EWS as the app of `app` (the integration's clients): an app-only token of the Exchange
    audience, renewed once when refused (a token holds the roles of when it was issued). An app without EWS access is
    answered, not raised: CalendarAccess.app_refused."""
    scope = app.endpoints.exchange_scope
    auth = BearerAuth(lambda: app.credentials.token(scope), renew=lambda: app.credentials.renew(scope))
    return EwsClient(app.endpoints.ews_url, app.session, auth, _limit_key(app.tenant))


def prove_app_credentials(tenant: Tenant, *, client_id: str, secret: str | dict[str, str]) -> None:
    """A fresh token for `client_id` from `tenant`'s token endpoint (its cloud, tenant id and endpoints, saved or
    not), cache bypassed; AuthenticationFailed naming Microsoft's AADSTS code when refused."""
    endpoints = endpoints_for(tenant)
    with build_session(endpoints) as session:
        prove_credentials(client_id=client_id, secret=secret, endpoints=endpoints, session=session)


def _exchange_server_session(tenant: Tenant) -> requests.Session:
    # An on-premises server often has a certificate from the organisation's own CA: custom_endpoints.ca_bundle.
    ca_bundle = (tenant.custom_endpoints or {}).get("ca_bundle") or None
    return build_session(Endpoints("", "", "", "", "", "", ca_bundle=ca_bundle), own_connections=True)


def exchange_server_ews(tenant: Tenant, url: str, username: str, password: str) -> EwsClient:
    """Exchange Server's EWS at `url`, signed in as `username` the way its virtual directory offers: Windows
    authentication (Negotiate/NTLM, the default) or Basic (refused unless https)."""
    auth = service_account_auth(url, username, password)
    # One session per thread: NTLM authenticates connections, which threads sharing a pool would mix up.
    sessions = PerThreadSession(lambda: _exchange_server_session(tenant))
    return EwsClient(url, sessions, auth, _limit_key(tenant), user=username)


def exchange_server_autodiscover(
    tenant: Tenant, email: str, password: str
) -> tuple[str | None, list[AutodiscoverAttempt]]:
    """The EWS URL POX Autodiscover gives for `email` (the tenant's configured Autodiscover URL first), signed in as
    that account, and what each URL tried answered."""
    candidates = autodiscover_candidates(email, (tenant.custom_endpoints or {}).get("autodiscover_url"))
    if not candidates:
        return None, []
    # Every candidate is https (autodiscover_candidates builds them so), which service_account_auth checks on the first.
    auth = service_account_auth(candidates[0], email, password)
    return autodiscover_ews_url(_exchange_server_session(tenant), auth, email, candidates)


T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Outcome(Generic[T, R]):
    item: T
    value: R | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> R | None:
        if self.error is not None:
            raise self.error
        return self.value


def parallel(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    max_workers: int = DEFAULT_PARALLEL_CALLS,
    on_done: Callable[[Outcome[T, R]], None] | None = None,
) -> list[Outcome[T, R]]:
    """Run `fn` over `items` on a few threads, to hide Microsoft's latency; outcomes in the order of `items`.

    Errors are kept per item, never raised. `on_done` runs in the CALLING thread as each item finishes (so it may
    write progress to the database); `fn` runs in helper threads and should only call Microsoft.
    """
    items = list(items)
    outcomes: list[Outcome[T, R]] = [Outcome(item) for item in items]

    def run(index: int) -> int:
        try:
            outcomes[index].value = fn(items[index])
        except Exception as exc:  # kept per item: one room's failure must not hide the others' results
            outcomes[index].error = exc
        return index

    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="onramp-ms") as pool:
        # Each helper runs in a copy of the caller's context, so that whoever listens for "Microsoft is busy" (the
        # step's engine) hears the helpers' waits too; one copy per item, as a context runs in one thread at a time.
        futures = [pool.submit(contextvars.copy_context().run, run, i) for i in range(len(items))]
        try:
            for future in as_completed(futures):
                if on_done is not None:
                    on_done(outcomes[future.result()])
        except BaseException:
            # The caller gives up (its worker is stopping): items not started yet must not run after it.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes
