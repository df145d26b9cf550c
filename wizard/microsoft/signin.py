"""Sign in with Microsoft: OpenID Connect's authorization code flow with PKCE through msal, and the ID token's
validation, which msal leaves to the app (msal 1.38+ only decodes it).

The authority is multi-tenant (`organizations`) on the configured cloud, or an explicit one (the sandbox's). The
ID token is checked against the authority's published keys (RS256 only), its audience (our client id), its
lifetime, and its issuer: the discovery document's issuer with the token's own `tid` in place of `{tenantid}`.

An ID token names the person's directory roles (`wids`) and groups only when the sign-in app's manifest asks
(`groupMembershipClaims`), and past 200 groups it names none (an overage marker instead). What it leaves out is read
through Microsoft Graph with the access token of the same sign-in, at the Graph host the authority's discovery
document names (`msgraph_host`).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import jwt
import msal
import requests
from django.conf import settings

from tenants.models import Cloud, Tenant
from wizard.microsoft.clouds import endpoints_for
from wizard.microsoft.http import build_session

log = logging.getLogger(__name__)

# Scopes sent besides the ones msal always adds (openid, profile, offline_access). User.Read is Microsoft Graph's
# (a scope without a resource is Graph's, "Scopes and permissions in the Microsoft identity platform"); a person
# consents to it for themselves. With it Graph answers /me/checkMemberGroups ("directoryObject: checkMemberGroups",
# memberships of the signed-in user) and lists the person's directory roles, though only by `@odata.type` and `id`
# ("limited information", "List a user's direct memberships").
SCOPES = ["email", "User.Read"]
# The least delegated scope that reads directoryRole objects, `roleTemplateId` included ("List directoryRoles",
# "List members of a directory role": RoleManagement.Read.Directory). Only an administrator may consent to it, so it
# is asked in a second sign-in, of a person whose roles neither the ID token nor User.Read could name.
ROLE_SCOPES = ["RoleManagement.Read.Directory"]
# Why the roles of a person are unknown (MicrosoftPerson.roles_unknown_because).
ROLES_NOT_READABLE = "roles_not_readable"  # Graph lists directory roles without saying which: a scope is missing
ROLES_GRAPH_UNREADABLE = "graph_unreadable"  # Graph did not answer, or refused the sign-in's token
CLOCK_SKEW_S = 120  # the same allowance msal makes
HTTP_TIMEOUT_S = 15


class SignInRefused(Exception):
    """Microsoft's answer cannot sign anyone in; the message says why, for the page (never a token or secret)."""


@dataclass(frozen=True)
class MicrosoftPerson:
    """Who signed in, from a validated ID token."""

    tid: str
    oid: str
    username: str  # preferred_username: shown, never used to identify
    name: str
    email: str
    wids: tuple[str, ...]  # directory role template ids
    groups: tuple[str, ...]
    # Whether Onramp knows which active directory roles the person holds: from the ID token's `wids` (sent only when
    # the app's manifest asks for it, groupMembershipClaims) or else read through Graph. Unknown, `wids` says nothing.
    roles_known: bool = True
    roles_unknown_because: str = ""  # ROLES_NOT_READABLE or ROLES_GRAPH_UNREADABLE
    # Whether `groups` is complete for the groups asked: past 200 groups the ID token lists none and Graph is asked.
    groups_known: bool = True


@dataclass(frozen=True)
class SignInApp:
    client_id: str
    client_secret: str
    authority: str  # https://<login host>/organizations
    ca_bundle: str | None

    def __repr__(self) -> str:  # no secret in reprs or tracebacks
        return f"SignInApp(client_id={self.client_id!r}, authority={self.authority!r})"


def configured_app() -> SignInApp | None:
    """Onramp's Entra app for sign-in, from the settings; None when none is set (password sign-in only)."""
    if not settings.ONRAMP_SIGNIN_CLIENT_ID:
        return None
    authority = settings.ONRAMP_SIGNIN_AUTHORITY.rstrip("/")
    if not authority:
        # The cloud table knows each cloud's login host; a tenant with no Microsoft tenant id yet gets the
        # multi-tenant `organizations` authority, which is what sign-in uses.
        authority = endpoints_for(Tenant(cloud=settings.ONRAMP_SIGNIN_CLOUD or Cloud.WORLDWIDE)).authority
    return SignInApp(
        client_id=settings.ONRAMP_SIGNIN_CLIENT_ID,
        client_secret=settings.ONRAMP_SIGNIN_CLIENT_SECRET,
        authority=authority,
        ca_bundle=settings.ONRAMP_SIGNIN_CA_BUNDLE or None,
    )


def _session(app: SignInApp) -> requests.Session:
    endpoints = dataclasses.replace(
        endpoints_for(Tenant(cloud=Cloud.WORLDWIDE)), authority=app.authority, ca_bundle=app.ca_bundle
    )
    return build_session(endpoints)


def _msal_app(
    app: SignInApp, session: requests.Session, token_cache: msal.TokenCache | None = None
) -> msal.ConfidentialClientApplication:
    try:
        return msal.ConfidentialClientApplication(
            app.client_id,
            client_credential=app.client_secret,
            authority=app.authority,
            instance_discovery=False,  # the authority comes from our cloud table or the settings
            http_client=session,
            token_cache=token_cache,
        )
    except (ValueError, requests.RequestException) as error:
        raise SignInRefused(f"Microsoft's sign-in service at {app.authority} could not be reached.") from error


def begin(
    app: SignInApp, redirect_uri: str, *, scopes: list[str] | None = None, login_hint: str | None = None
) -> dict[str, Any]:
    """msal's flow (state, nonce, PKCE verifier and the `auth_uri` to send the browser to); keep it server-side.
    `scopes` instead of SCOPES (ROLE_SCOPES for the second sign-in), `login_hint` the person already signed in."""
    with _session(app) as session, warnings.catch_warnings():
        # msal recommends form_post; Onramp answers on a GET (response_mode=query) because the session cookie is
        # SameSite=Lax and a cross-site POST from Microsoft would arrive without it. The code is useless without
        # the PKCE verifier and client secret, which never leave the server.
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
        return _msal_app(app, session).initiate_auth_code_flow(
            scopes or SCOPES, redirect_uri=redirect_uri, login_hint=login_hint
        )


def complete(
    app: SignInApp,
    flow: dict[str, Any],
    response: dict[str, str],
    *,
    groups_asked: tuple[str, ...] = (),
    token_cache: msal.TokenCache | None = None,
) -> MicrosoftPerson:
    """Redeem the code Microsoft sent back (msal checks state, PKCE and nonce) and validate the ID token.
    `groups_asked`: the groups whose membership matters, checked through Graph when the token's list overflowed;
    `token_cache`: where msal keeps the sign-in's tokens (wizard.microsoft.delegated), else they are dropped."""
    if response.get("error"):
        raise SignInRefused(f"Microsoft did not sign you in: {response.get('error_description') or response['error']}")
    with _session(app) as session:
        try:
            result = _msal_app(app, session, token_cache).acquire_token_by_auth_code_flow(flow, response)
        except ValueError as error:  # state mismatch or a missing flow: a forged or stale answer
            raise SignInRefused("This sign-in answer does not belong to a sign-in started here.") from error
        except RuntimeError as error:  # msal's nonce check
            raise SignInRefused("Microsoft's ID token does not match this sign-in.") from error
        except requests.RequestException as error:
            raise SignInRefused("Microsoft's sign-in service could not be reached.") from error
        return _person(app, result, session, groups_asked)


def _person(
    app: SignInApp, result: dict[str, Any], session: requests.Session, groups_asked: tuple[str, ...] = ()
) -> MicrosoftPerson:
    """Who signed in, from a token response: SignInRefused unless it carries an ID token that validates. What the
    ID token leaves out (roles, an overflowing group list) is read through Graph."""
    if "error" in result:
        description = str(result.get("error_description") or result["error"]).split(" Trace ID:")[0]
        raise SignInRefused(f"Microsoft refused the sign-in: {description}")
    if "id_token" not in result:
        raise SignInRefused("Microsoft's answer carried no ID token.")
    discovery = _get_json(session, f"{app.authority}/v2.0/.well-known/openid-configuration")
    claims = validate_id_token(app, result["id_token"], session, discovery)
    graph = _Graph(session, discovery, result.get("access_token"))
    wids, roles_unknown_because = tuple(str(w) for w in claims.get("wids") or ()), ""
    if "wids" not in claims:
        wids, roles_unknown_because = graph.directory_roles()
    groups, groups_known = tuple(str(g) for g in claims.get("groups") or ()), True
    if _groups_overflowed(claims):
        groups, groups_known = graph.member_groups(groups_asked)
    return MicrosoftPerson(
        tid=claims["tid"],
        oid=claims["oid"],
        username=str(claims.get("preferred_username") or ""),
        name=str(claims.get("name") or ""),
        email=str(claims.get("email") or ""),
        wids=wids,
        groups=groups,
        roles_known=not roles_unknown_because,
        roles_unknown_because=roles_unknown_because,
        groups_known=groups_known,
    )


def _groups_overflowed(claims: dict[str, Any]) -> bool:
    """Past the token's limit Entra names a source instead of the groups (`_claim_names`), or only says there are
    some (`hasgroups`) ("Groups overage claim", access token claims reference)."""
    return "groups" in (claims.get("_claim_names") or {}) or bool(claims.get("hasgroups"))


class _Graph:
    """Microsoft Graph as the person who just signed in, with that sign-in's access token: only /me."""

    def __init__(self, session: requests.Session, discovery: dict[str, Any], access_token: str | None) -> None:
        host = str(discovery.get("msgraph_host") or "")
        self.url = f"https://{host}/v1.0" if host and access_token else ""
        self.session, self.access_token = session, access_token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        if not self.url:
            return None
        try:
            response = self.session.request(
                method,
                f"{self.url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {self.access_token}"},
                timeout=HTTP_TIMEOUT_S,
            )
        except requests.RequestException:
            return None
        if response.status_code != 200:
            log.warning("Microsoft Graph answered %s to %s %s at sign-in", response.status_code, method, path)
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def directory_roles(self) -> tuple[tuple[str, ...], str]:
        """The person's active directory roles (template ids) and "", or () and why they cannot be read.
        transitiveMemberOf: a role held through a role-assignable group counts too."""
        answer = self._call("GET", "/me/transitiveMemberOf/microsoft.graph.directoryRole?$select=id,roleTemplateId")
        if answer is None or not isinstance(answer.get("value"), list):
            return (), ROLES_GRAPH_UNREADABLE
        templates = [role.get("roleTemplateId") for role in answer["value"]]
        if not all(templates):  # listed by id only: the token's scopes cannot read directoryRole objects
            return (), ROLES_NOT_READABLE
        return tuple(str(template) for template in templates), ""

    def member_groups(self, asked: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        """Which of `asked` the person is a member of (transitively, POST /me/checkMemberGroups), and whether Graph
        said so."""
        if not asked:
            return (), True
        answer = self._call("POST", "/me/checkMemberGroups", {"groupIds": list(asked)})
        if answer is None or not isinstance(answer.get("value"), list):
            return (), False
        return tuple(str(group) for group in answer["value"]), True


def begin_device_sign_in(app: SignInApp) -> dict[str, Any]:
    """The device code flow, for a terminal: `message` tells the person where to enter which code. The app
    registration must allow public client flows (the device code grant sends no client secret)."""
    with _session(app) as session:
        try:
            flow = _public_app(app, session).initiate_device_flow(scopes=SCOPES)
        except (ValueError, requests.RequestException) as error:
            raise SignInRefused(f"Microsoft's sign-in service at {app.authority} could not be reached.") from error
    if "user_code" not in flow:
        raise SignInRefused(f"Microsoft refused the device sign-in: {flow.get('error_description') or flow}")
    return flow


def complete_device_sign_in(
    app: SignInApp, flow: dict[str, Any], *, token_cache: msal.TokenCache | None = None
) -> MicrosoftPerson:
    """Wait (polling as Microsoft says) until the person entered the code and signed in, or the code expired.
    `token_cache`: where msal keeps the sign-in's tokens (wizard.microsoft.delegated), else they are dropped."""
    with _session(app) as session:
        try:
            result = _public_app(app, session, token_cache).acquire_token_by_device_flow(flow)
        except requests.RequestException as error:
            raise SignInRefused("Microsoft's sign-in service could not be reached.") from error
        return _person(app, result, session)


def _public_app(
    app: SignInApp, session: requests.Session, token_cache: msal.TokenCache | None = None
) -> msal.PublicClientApplication:
    try:
        return msal.PublicClientApplication(
            app.client_id,
            authority=app.authority,
            instance_discovery=False,
            http_client=session,
            token_cache=token_cache,
        )
    except (ValueError, requests.RequestException) as error:
        raise SignInRefused(f"Microsoft's sign-in service at {app.authority} could not be reached.") from error


def _get_json(session: requests.Session, url: str) -> dict[str, Any]:
    try:
        response = session.get(url, timeout=HTTP_TIMEOUT_S)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as error:
        raise SignInRefused("Microsoft's signing keys could not be fetched.") from error


def validate_id_token(
    app: SignInApp, id_token: str, session: requests.Session, discovery: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ID token's claims if Microsoft signed it for us and it is current; else SignInRefused. `discovery`: the
    authority's discovery document, when the caller already has it."""
    if discovery is None:
        discovery = _get_json(session, f"{app.authority}/v2.0/.well-known/openid-configuration")
    try:
        header = jwt.get_unverified_header(id_token)
        keys = jwt.PyJWKSet.from_dict(_get_json(session, discovery["jwks_uri"]))
        key = next((k for k in keys.keys if k.key_id == header.get("kid")), None)
        if key is None:
            raise SignInRefused("Microsoft's ID token is signed with a key it does not publish.")
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=["RS256"],
            audience=app.client_id,
            leeway=CLOCK_SKEW_S,
            options={"require": ["exp", "iat", "iss", "aud", "tid", "oid"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise SignInRefused("Microsoft's ID token has expired; sign in again.") from error
    except (jwt.PyJWTError, KeyError) as error:
        raise SignInRefused("Microsoft's ID token failed validation.") from error
    expected_issuer = str(discovery.get("issuer", "")).replace("{tenantid}", claims["tid"])
    if claims["iss"] != expected_issuer:
        raise SignInRefused("Microsoft's ID token comes from another issuer.")
    return claims
