"""App-only tokens (client credentials) with msal, and the tenant's token cache kept encrypted at rest.

One `SerializableTokenCache` per tenant holds the tokens of both apps (msal keys entries by client id), stored as the
tenant's TOKEN_CACHE secret. It is loaded when clients are built and written back only when msal changed it.

Threads: a set of clients may be used from several threads (the rooms step does). Tokens are fetched under a lock
(one token request, not one per thread), but the cache is written to the database only from the thread that built
the clients: Django connections are per thread, and a helper thread must not write outside the caller's
transaction. A token fetched by a helper thread is written on the owner's next call or at `close()`.

Secrets and tokens are never logged or put in exception messages.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time

import jwt
import msal
import requests
from django.conf import settings

from tenants.models import BindingProof, Cloud, SecretKind, Tenant
from tenants.secrets import read_secrets, store_secret
from wizard.errors import StepError
from wizard.microsoft.clouds import Endpoints, trusted_by_installation
from wizard.microsoft.errors import IDENTITY, UNREACHABLE, AuthenticationFailed, identity_error, unreachable

log = logging.getLogger(__name__)


class CredentialsMissing(StepError):
    """The tenant lacks an app id, a secret or its Microsoft tenant id."""


# Graph's own app id: the audience of the proof-of-possession token that addKey and removeKey take.
KEY_PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"
KEY_PROOF_LIFETIME_SECONDS = 600


def key_proof(certificate: dict[str, str], application_object_id: str) -> str:
    """The proof-of-possession JWT Graph's application removeKey takes: signed with the app's current certificate
    (RS256, `x5t` its SHA-1 thumbprint), `aud` Graph's app id, `iss` the application's object id."""
    now = int(time.time())
    return jwt.encode(
        {"aud": KEY_PROOF_AUDIENCE, "iss": application_object_id, "nbf": now, "exp": now + KEY_PROOF_LIFETIME_SECONDS},
        certificate["private_key"],
        algorithm="RS256",
        headers={"x5t": base64.urlsafe_b64encode(bytes.fromhex(certificate["thumbprint"])).rstrip(b"=").decode()},
    )


class TenantTokenCache:
    """The tenant's msal cache, persisted encrypted through `tenants.secrets`."""

    def __init__(self, tenant: Tenant, stored: str | None) -> None:
        """`stored`: the tenant's TOKEN_CACHE secret as read (None when it has none)."""
        self.tenant = tenant
        self.cache = msal.SerializableTokenCache()
        self._owner = threading.get_ident()
        self._lock = threading.Lock()
        if stored:
            try:
                self.cache.deserialize(stored)
            except ValueError:
                log.warning("token cache of %s unreadable; starting empty", tenant.slug)

    def save(self) -> bool:
        """Write the cache back if msal changed it and we are on the owner thread; True when written."""
        if threading.get_ident() != self._owner:
            return False
        with self._lock:
            if not self.cache.has_state_changed:
                return False
            store_secret(self.tenant, SecretKind.TOKEN_CACHE, self.cache.serialize())  # resets has_state_changed
            return True


class _DiscoveryCache(dict):
    """msal's `http_cache`, shared by every app of this process: the authority's OpenID configuration (a GET msal
    caches for a day) is fetched once per authority, not once per set of clients, which put one round trip to
    Microsoft in front of every step. Token endpoint answers (POST) are not kept: msal would replay a refusal for a
    minute, after the admin may already have fixed its cause."""

    def __setitem__(self, key: str, value: object) -> None:
        if not key.startswith("POST "):
            super().__setitem__(key, value)


_discovery_cache = _DiscoveryCache()


class AppCredentials:
    """One app registration acting in one tenant: gets tokens for any scope of the tenant's cloud. `secret` is a client
    secret, or a certificate credential {"private_key": PEM, "thumbprint": SHA-1 hex}, from which msal signs a client
    assertion (RS256, `x5t` header) for each token request."""

    def __init__(
        self,
        *,
        client_id: str,
        secret: str | dict[str, str],
        endpoints: Endpoints,
        session: requests.Session,
        cache: TenantTokenCache,
    ) -> None:
        self.client_id = client_id
        self._secret = secret
        self.endpoints = endpoints
        self.session = session
        self.cache = cache
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()
        self._renewed: set[str] = set()

    def __repr__(self) -> str:  # no secret in reprs, tracebacks or logs
        return f"AppCredentials(client_id={self.client_id!r}, authority={self.endpoints.authority!r})"

    def _application(self) -> msal.ConfidentialClientApplication:
        # Built lazily: msal fetches the authority's OpenID configuration in its constructor.
        if self._app is None:
            self._app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._secret,
                authority=self.endpoints.authority,
                instance_discovery=False,  # the authority comes from our cloud table or the tenant's own URLs
                http_client=self.session,
                token_cache=self.cache.cache,
                http_cache=_discovery_cache,
            )
        return self._app

    def token(self, scope: str) -> str:
        """An access token for `scope` (e.g. the cloud's graph_scope), from the cache when still valid."""
        with self._lock:
            try:
                result = self._application().acquire_token_for_client(scopes=[scope])
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise unreachable(IDENTITY, f"token from {self.endpoints.authority_host}", UNREACHABLE) from exc
            except ValueError as exc:
                # msal: "Unable to get authority configuration for …" (unknown tenant, wrong cloud, bad URL).
                raise AuthenticationFailed(
                    code="authority_not_found",
                    message=str(exc).split(".")[0],
                    explanation="Microsoft's sign-in service does not know this tenant in this cloud, or the"
                    " authority URL is wrong.",
                    fix="Check the tenant id and the cloud chosen for the tenant.",
                    service=IDENTITY,
                ) from exc
        self.cache.save()
        if "access_token" not in result:
            raise identity_error(result, app=self.client_id)
        return result["access_token"]

    def renew(self, scope: str) -> bool:
        """Drop the cached token for `scope` so the next `token()` asks Microsoft again; False if already done.

        App roles are baked into a token when it is issued: after the admin grants a missing permission, a cached
        token still lacks it for up to an hour. The transport calls this on a 401/403, at most once per scope for
        this set of clients (a new step run builds new clients), then retries the call once.
        """
        with self._lock:
            if scope in self._renewed:
                return False
            self._renewed.add(scope)
            resource = scope.removesuffix("/.default")
            # search() is a generator over the live cache: collect before removing.
            kind = msal.TokenCache.CredentialType.ACCESS_TOKEN
            cached = list(self.cache.cache.search(kind, query={"client_id": self.client_id}))
            for item in cached:
                if resource in (item.get("target") or ""):
                    self.cache.cache.remove_at(item)
            return True


def prove_credentials(
    *, client_id: str, secret: str | dict[str, str], endpoints: Endpoints, session: requests.Session
) -> None:
    """Ask the token endpoint for a new token with these credentials, bypassing every cache (a token cached for the
    old secret would prove nothing). AuthenticationFailed, naming Microsoft's AADSTS code, when it refuses."""
    credentials = AppCredentials(
        client_id=client_id,
        secret=secret,
        endpoints=endpoints,
        session=session,
        cache=_UnsavedTokenCache(),
    )
    credentials.token(endpoints.graph_scope)


class _UnsavedTokenCache(TenantTokenCache):
    """An empty cache that is never written: proving credentials must neither read nor keep tokens."""

    def __init__(self) -> None:
        self.cache = msal.SerializableTokenCache()

    def save(self) -> bool:
        return False


def load_credentials(
    tenant: Tenant,
    *,
    integration: bool,
    endpoints: Endpoints,
    session: requests.Session,
) -> AppCredentials:
    """The connector app (tenant.client_id + CLIENT_SECRET or CLIENT_CERTIFICATE) or the integration's app
    (integration_app_id + INTEGRATION_CLIENT_SECRET), with the tenant's token cache."""
    if integration:
        client_id, kind, label = tenant.integration_app_id, SecretKind.INTEGRATION_CLIENT_SECRET, "integration app"
    else:
        client_id, kind, label = tenant.client_id, SecretKind.CLIENT_SECRET, "connector app"
    stored = read_secrets(tenant, kind, SecretKind.CLIENT_CERTIFICATE, SecretKind.TOKEN_CACHE)
    cache = TenantTokenCache(tenant, stored[SecretKind.TOKEN_CACHE])
    secret: str | dict[str, str] | None = stored[kind]
    certificate = None if integration else stored[SecretKind.CLIENT_CERTIFICATE]
    if not secret and certificate:
        secret = json.loads(certificate)
    if not integration and client_id and client_id.lower() == settings.ONRAMP_CONNECTOR_CLIENT_ID.lower():
        # Onramp's own multi-tenant app: its secret is the installation's, so it is used only for a Microsoft tenant
        # an administrator proved by signing in, and only towards endpoints the installation trusts.
        if tenant.binding_proof != BindingProof.ADMIN_SIGN_IN:
            raise installation_app_unproven()
        secret = installation_connector_secret(tenant)
    if not client_id or not secret:
        raise CredentialsMissing(
            code="credentials_missing",
            message=f"The {label}'s client id or its client secret (or certificate) is not stored for tenant"
            f" {tenant.slug}.",
            explanation=f"Onramp needs the {label}'s credentials to call Microsoft for this tenant.",
            fix="Connect the tenant again (step 0) and supply the app's client id and secret.",
        )
    if not tenant.microsoft_tenant_id and tenant.cloud != Cloud.CUSTOM:
        raise CredentialsMissing(
            code="tenant_id_missing",
            message=f"Tenant {tenant.slug} has no Microsoft tenant id yet.",
            explanation="App-only tokens are issued by the customer's own tenant, so its id must be known.",
            fix="Finish the connect step (admin consent or pasted tenant id).",
        )
    return AppCredentials(client_id=client_id, secret=secret, endpoints=endpoints, session=session, cache=cache)


def installation_connector_secret(tenant: Tenant) -> str:
    """The installation's connector secret, the one place it is read: only towards endpoints the installation trusts
    (Microsoft's clouds, or ONRAMP_TRUSTED_ENDPOINT_HOSTS), never to an authority someone typed."""
    if not trusted_by_installation(tenant):
        raise installation_app_unproven()
    return settings.ONRAMP_CONNECTOR_CLIENT_SECRET


def installation_app_unproven() -> CredentialsMissing:
    """Onramp's own app named by an organisation no administrator connected by signing in."""
    return CredentialsMissing(
        code="installation_app_unproven",
        message="Onramp's own app may act only in a Microsoft tenant whose administrator connected it by signing in.",
        explanation="This organisation names Onramp's app, but no administrator of the Microsoft tenant proved it "
        "is theirs with “Connect with Microsoft”, or its endpoints are not Microsoft's.",
        fix="On step 0, use “Connect with Microsoft” and sign in as a Global Administrator or Privileged Role "
        "Administrator of your organisation.",
    )
