"""The identity platform as an OpenID Connect provider: people sign in to an app with the authorization code flow.

Served here: the multi-tenant discovery documents (`organizations`, `common`), the authorize page (a plain HTML list
of the tenant's people to pick from, standing in for Microsoft's sign-in pages) with its consent step, the token
endpoint's `authorization_code` (with PKCE), device code and `refresh_token` grants, and the signing keys. ID tokens
are RS256 JWTs signed with a per-process RSA key published at `/discovery/v2.0/keys`, with the v2.0 claims apps
read: `tid`, `oid`, `preferred_username`, `name`, `email`, `nonce`, and `wids` and `groups` as the app's manifest
asks. Access tokens are for one resource and carry the delegated scopes consented there (`scp`). The tenant's own
discovery document and the client-credentials grant stay in `tokens`. Every detail and its source is in WIRE.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .responses import Request, Response
from .state import (
    EXCHANGE_AUDIENCE,
    GLOBAL_ADMINISTRATOR,
    GRAPH_AUDIENCE,
    PRIVILEGED_ROLE_ADMINISTRATOR,
    ROLE_NAMES,
    TENANT_ID,
    RefreshGrant,
    Tenant,
    User,
)
from .tokens import _aad_error, issue_delegated_token

# Who may consent for the organisation to permissions that need an administrator [ROLES, CONSENT].
CONSENTING_ROLES = (GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR)
# OpenID Connect's own scopes: they name no resource [SCOPES].
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
# The OpenID Connect scopes a token response lists back (offline_access shows as the refresh token itself).
ANSWERED_OIDC_SCOPES = OIDC_SCOPES - {"offline_access"}
# Resource identifiers a scope may start with, and the audience of their tokens; an unqualified scope is Microsoft
# Graph's [SCOPES].
RESOURCE_PREFIXES = {
    "https://graph.microsoft.com/": GRAPH_AUDIENCE,
    "00000003-0000-0000-c000-000000000000/": GRAPH_AUDIENCE,
    "https://outlook.office365.com/": EXCHANGE_AUDIENCE,
    "https://outlook.office.com/": EXCHANGE_AUDIENCE,
}
# Delegated permissions only an administrator may consent to ("Admin consent required: Yes" in Microsoft Graph's
# permissions reference [GPERM]); every other delegated scope a person consents to for themselves.
ADMIN_ONLY_SCOPES = frozenset(
    {
        "Application.Read.All",
        "DelegatedPermissionGrant.Read.All",
        "DelegatedPermissionGrant.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Domain.Read.All",
        "Exchange.Manage",
        "Group.Read.All",
        "GroupMember.Read.All",
        "Organization.Read.All",
        "RoleManagement.Read.Directory",
        "RoleManagement.ReadWrite.Directory",
        "User.Read.All",
        "User.ReadWrite.All",
    }
)
# A resource's static scope: whatever was consented on it [DEFAULT].
DEFAULT_SCOPE = ".default"
# Past this many groups an ID token carries the overage marker instead of the `groups` claim [ACT].
GROUPS_OVERAGE_LIMIT = 200

MULTI_TENANT = ("organizations", "common")
CODE_LIFETIME_S = 600  # "Authorization codes are short lived. Typically, they expire after about 10 minutes."
ID_TOKEN_LIFETIME_S = 3600
PUBLIC_ISSUER = "https://login.microsoftonline.com/{tenantid}/v2.0"


class _SigningKey:
    """One RSA key per process, like the HS256 key of app tokens; its public half is the JWKS."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = base64.urlsafe_b64encode(secrets.token_bytes(20)).rstrip(b"=").decode()

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "n": public["n"], "e": public["e"]}


SIGNING_KEY = _SigningKey()


@dataclass
class _Grant:
    """An authorization code issued by the authorize page, waiting to be redeemed once."""

    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str
    user_id: str
    issued_at: float
    redeemed: bool = False


@dataclass
class _DeviceCode:
    """A device code waiting for its person to enter the user code on the verification page."""

    client_id: str
    user_code: str
    scope: str
    issued_at: float
    user_id: str | None = None
    redeemed: bool = False


class _Codes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.grants: dict[str, _Grant] = {}
        self.devices: dict[str, _DeviceCode] = {}


_CODES: weakref.WeakKeyDictionary[Tenant, _Codes] = weakref.WeakKeyDictionary()
_CODES_LOCK = threading.Lock()


def _codes(tenant: Tenant) -> _Codes:
    with _CODES_LOCK:
        return _CODES.setdefault(tenant, _Codes())


def _segments(req: Request) -> tuple[str, str]:
    parts = [s for s in req.path.split("/") if s]
    return (parts[0] if parts else ""), "/".join(parts[1:])


def _form(req: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(req.body.decode(errors="replace"), keep_blank_values=True).items()}


def serves(tenant: Tenant, req: Request) -> bool:
    """Whether this request is for the OpenID Connect sign-in pieces (everything else of the identity platform,
    including the client-credentials grant, is `tokens`'s)."""
    tenant_segment, rest = _segments(req)
    known = tenant_segment.lower() in tenant.identity.aliases | set(MULTI_TENANT)
    if not known:
        return False
    if rest in ("oauth2/v2.0/authorize", "discovery/v2.0/keys", "devicelogin"):
        return True
    if rest == "oauth2/v2.0/devicecode":
        return req.method == "POST"
    if rest == "v2.0/.well-known/openid-configuration":
        return tenant_segment.lower() in MULTI_TENANT
    if rest == "oauth2/v2.0/token" and req.method == "POST":
        person_grants = ("authorization_code", "refresh_token", DEVICE_CODE_GRANT)
        return tenant_segment.lower() in MULTI_TENANT or _form(req).get("grant_type") in person_grants
    return False


def handle(tenant: Tenant, req: Request) -> tuple[str, Response]:
    """Route a sign-in request; returns the endpoint template (for call counts) and the response."""
    tenant_segment, rest = _segments(req)
    if rest == "v2.0/.well-known/openid-configuration":
        return "GET /{tenant}/v2.0/.well-known/openid-configuration", _discovery(req, tenant_segment)
    if rest == "discovery/v2.0/keys":
        return "GET /{tenant}/discovery/v2.0/keys", Response.json(200, {"keys": [SIGNING_KEY.jwk()]})
    if rest == "oauth2/v2.0/authorize":
        return "GET /{tenant}/oauth2/v2.0/authorize", _authorize(tenant, req, tenant_segment)
    if rest == "oauth2/v2.0/devicecode":
        return "POST /{tenant}/oauth2/v2.0/devicecode", _device_code(tenant, req, tenant_segment)
    if rest == "devicelogin":
        return "GET /devicelogin", _device_login(tenant, req, tenant_segment)
    return "POST /{tenant}/oauth2/v2.0/token", _token(tenant, req)


DEVICE_CODE_LIFETIME_S = 900  # "the user has 15 minutes to sign in" [DEVICE]
DEVICE_POLL_INTERVAL_S = 5


def _device_code(tenant: Tenant, req: Request, tenant_segment: str) -> Response:
    form = _form(req)
    client_id = form.get("client_id", "")
    with tenant.lock:
        app = tenant.signing_in_app(client_id)
    if app is None:
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory.",
        )
    user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
    device_code = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
    store = _codes(tenant)
    with store.lock:
        store.devices[device_code] = _DeviceCode(client_id, user_code, form.get("scope", ""), tenant.now())
    verification_uri = f"{req.base_url}/{tenant_segment}/devicelogin"
    return Response.json(
        200,
        {
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": DEVICE_CODE_LIFETIME_S,
            "interval": DEVICE_POLL_INTERVAL_S,
            "message": f"To sign in, use a web browser to open the page {verification_uri} and enter the code "
            f"{user_code} to authenticate.",
        },
    )


def _device_login(tenant: Tenant, req: Request, tenant_segment: str) -> Response:
    """The verification page: the person enters the code and picks who signs in (the sandbox's sign-in)."""
    params = req.query if req.method == "GET" else _form(req)
    code = params.get("code", "").strip().upper()
    store = _codes(tenant)
    with store.lock:
        device = next((d for d in store.devices.values() if d.user_code == code and d.user_id is None), None)
    if req.method == "POST" and device is not None and params.get("oid"):
        with tenant.lock:
            user = tenant.users.get(params["oid"])
        if user is not None and user.kind in ("user", "admin"):
            requested = _by_resource(device.scope)
            may_consent = any(role in CONSENTING_ROLES for role in directory_roles(user))
            with tenant.lock:
                missing = {
                    audience: names - tenant.consented_scopes(device.client_id, user.id, audience)
                    for audience, names in requested.items()
                }
                if any(names & ADMIN_ONLY_SCOPES for names in missing.values()) and not may_consent:
                    app = tenant.signing_in_app(device.client_id)
                    text = NEEDS_ADMIN_APPROVAL.format(app=app.display_name if app else device.client_id)
                    body = f"<p>{html.escape(text)}</p><p>AADSTS90094: The grant requires admin permission.</p>"
                    return _html(200, "Need admin approval", body)
                # The sandbox's device page asks nothing more: signing in consents for the person (see WIRE.md).
                for audience, names in missing.items():
                    tenant.consent(device.client_id, user.id, audience, names)
            with store.lock:
                device.user_id = user.id
            return _html(200, "You're signed in", "<p>You can close this window and return to the device.</p>")
    people = "".join(
        f'<li><button type="submit" name="oid" value="{html.escape(user.id)}">{html.escape(user.display_name)}</button>'
        f" {html.escape(user.upn)}</li>"
        for user in _people(tenant)
    )
    body = (
        f'<form method="post" action="/{html.escape(tenant_segment)}/devicelogin">'
        f'<label>Code <input name="code" value="{html.escape(code)}"></label><ul>{people}</ul></form>'
    )
    return _html(200 if device or not code else 400, "Enter code", body)


def _discovery(req: Request, tenant_segment: str) -> Response:
    authority = f"{req.base_url}/{tenant_segment}"
    return Response.json(
        200,
        {
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{authority}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": PUBLIC_ISSUER,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{authority}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{authority}/kerberos",
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            # Where the cloud's Microsoft Graph answers: the sandbox serves it itself.
            "msgraph_host": req.base_url.split("://", 1)[1],
            "rbac_url": "https://pas.windows.net",
        },
    )


def _people(tenant: Tenant) -> list[User]:
    with tenant.lock:
        return sorted(
            (user for user in tenant.users.values() if user.kind in ("user", "admin") and user.account_enabled),
            key=lambda user: user.upn,
        )


def directory_roles(user: User) -> list[str]:
    return list(user.directory_roles)


def _authorize(tenant: Tenant, req: Request, tenant_segment: str) -> Response:
    params = req.query if req.method == "GET" else _form(req)
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    with tenant.lock:
        app = tenant.signing_in_app(client_id)
    if app is None or app.secret is None:
        return _html(
            400,
            "Sign in",
            f"<p>AADSTS700016: Application with identifier '{html.escape(client_id)}' was not found in the "
            "directory.</p>",
        )
    if not redirect_uri:
        return _html(
            400,
            "Sign in",
            "<p>AADSTS900144: The request body must contain the following parameter: 'redirect_uri'.</p>",
        )
    if params.get("response_type") != "code":
        return _redirect_error(
            redirect_uri,
            params,
            "unsupported_response_type",
            "AADSTS700054: response_type 'id_token' is not enabled for the application.",
        )
    if params.get("response_mode", "query") != "query":
        return _redirect_error(
            redirect_uri, params, "invalid_request", "The sandbox answers with response_mode=query only."
        )
    method = params.get("code_challenge_method", "plain") if params.get("code_challenge") else ""
    if method not in ("", "plain", "S256"):
        return _redirect_error(
            redirect_uri, params, "invalid_request", "AADSTS50149: Invalid Code_Challenge_method parameter."
        )
    user = _signing_in(tenant, req, params)
    if user is None:
        if req.method == "GET":
            return _picker(tenant, params, tenant_segment)
        return _picker(tenant, params, tenant_segment, status=400)
    requested = _by_resource(params.get("scope", ""))
    if params.get("consent") == "decline":
        return _redirect_error(redirect_uri, params, "access_denied", CONSENT_DECLINED, subcode="cancel")
    with tenant.lock:
        missing = {
            audience: names - tenant.consented_scopes(client_id, user.id, audience)
            for audience, names in requested.items()
        }
    needs_admin = {
        audience: names & ADMIN_ONLY_SCOPES for audience, names in missing.items() if names & ADMIN_ONLY_SCOPES
    }
    may_consent = any(role in CONSENTING_ROLES for role in directory_roles(user))
    if needs_admin and not (params.get("consent") == "accept" and may_consent):
        return _consent_page(tenant, params, tenant_segment, user, app.display_name, needs_admin, may_consent)
    for_organisation = params.get("consent_for_organization") == "on" and may_consent
    with tenant.lock:
        for audience, names in missing.items():
            # What a person may consent to for themselves is consented by signing in (see WIRE.md).
            tenant.consent(client_id, "AllPrincipals" if for_organisation else user.id, audience, names)
    code = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
    store = _codes(tenant)
    with store.lock:
        store.grants[code] = _Grant(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=params.get("scope", ""),
            nonce=params.get("nonce"),
            code_challenge=params.get("code_challenge") or None,
            code_challenge_method=method,
            user_id=user.id,
            issued_at=tenant.now(),
        )
    answer = {"code": code}
    if "state" in params:
        answer["state"] = params["state"]
    answer["session_state"] = secrets.token_hex(16)
    return _redirect(redirect_uri, answer)


CONSENT_DECLINED = "AADSTS65004: User declined to consent to access the app."
NEEDS_ADMIN_APPROVAL = (
    "{app} needs permission to access resources in your organization that only an admin can grant. Please ask an "
    "admin to grant permission to this app before you can use it."
)


def _signing_in(tenant: Tenant, req: Request, params: dict[str, str]) -> User | None:
    """Who signs in: the person picked on the page (a POST), or the one `login_hint` names, as Microsoft's existing
    browser session would sign them in without asking again (the sandbox keeps no session: the hint stands in)."""
    with tenant.lock:
        if req.method == "POST":
            user = tenant.users.get(params.get("oid", ""))
        else:
            hint = params.get("login_hint", "").lower()
            user = next((u for u in tenant.users.values() if hint and u.upn.lower() == hint), None)
    if user is None or user.kind not in ("user", "admin") or not user.account_enabled:
        return None
    return user


def _by_resource(scope: str) -> dict[str, set[str]]:
    """The delegated permissions asked in `scope`, by resource audience [SCOPES]; OpenID Connect's own are left out."""
    asked: dict[str, set[str]] = {}
    for item in scope.split():
        if item in OIDC_SCOPES:
            continue
        audience, name = GRAPH_AUDIENCE, item
        for prefix, resource in RESOURCE_PREFIXES.items():
            if item.lower().startswith(prefix):
                audience, name = resource, item[len(prefix) :]
        asked.setdefault(audience, set()).add(name)
    return asked


def _consent_page(
    tenant: Tenant,
    params: dict[str, str],
    tenant_segment: str,
    user: User,
    app_name: str,
    needs_admin: dict[str, set[str]],
    may_consent: bool,
) -> Response:
    """Microsoft's consent prompt for permissions only an administrator may grant: an administrator may accept (for
    the organisation too); anyone else reads "Need admin approval" (AADSTS90094) and may only go back [CONSENT]."""
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
        for name in _PASSED_ON
        if name in params
    )
    hidden += f'<input type="hidden" name="oid" value="{html.escape(user.id)}">'
    permissions = "".join(
        f"<li>{html.escape(name)} ({html.escape(audience)})</li>"
        for audience, names in sorted(needs_admin.items())
        for name in sorted(names)
    )
    action = f"/{html.escape(tenant_segment)}/oauth2/v2.0/authorize"
    back = (
        '<button type="submit" name="consent" value="decline">Return to the application without granting consent'
        "</button>"
    )
    if may_consent:
        body = (
            f"<p>{html.escape(app_name)} asks for these permissions:</p><ul>{permissions}</ul>"
            f'<form method="post" action="{action}">{hidden}'
            '<label><input type="checkbox" name="consent_for_organization"> Consent on behalf of your organization'
            '</label> <button type="submit" name="consent" value="accept">Accept</button> '
            '<button type="submit" name="consent" value="decline">Cancel</button></form>'
        )
        return _html(200, "Permissions requested", body)
    body = (
        f"<p>{html.escape(NEEDS_ADMIN_APPROVAL.format(app=app_name))}</p><ul>{permissions}</ul>"
        "<p>AADSTS90094: The grant requires admin permission.</p>"
        f'<form method="post" action="{action}">{hidden}{back}</form>'
    )
    return _html(200, "Need admin approval", body)


_PASSED_ON = (
    "client_id",
    "response_type",
    "redirect_uri",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "login_hint",
    "domain_hint",
    "client_info",
)


def _picker(tenant: Tenant, params: dict[str, str], tenant_segment: str, status: int = 200) -> Response:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
        for name in _PASSED_ON
        if name in params
    )
    rows = []
    for user in _people(tenant):
        role_text = ", ".join(ROLE_NAMES.get(role, role) for role in directory_roles(user)) or "no admin role"
        rows.append(
            f'<li><button type="submit" name="oid" value="{html.escape(user.id)}">'
            f"{html.escape(user.display_name)}</button> {html.escape(user.upn)} ({role_text})</li>"
        )
    body = (
        "<p>Sandbox sign-in: pick who signs in.</p>"
        f'<form method="post" action="/{html.escape(tenant_segment)}/oauth2/v2.0/authorize">{hidden}'
        f"<ul>{''.join(rows)}</ul></form>"
    )
    return _html(status, "Sign in to your account", body)


def _html(status: int, title: str, body: str) -> Response:
    heading = html.escape(title)
    # An empty icon: a browser would otherwise ask the sandbox for /favicon.ico, which it does not serve.
    head = f'<title>{heading}</title><link rel="icon" href="data:,">'
    page = f"<!doctype html><html><head>{head}</head><body><h1>{heading}</h1>{body}</body></html>"
    return Response(status, page.encode(), {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})


def _redirect(redirect_uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return Response(302, b"", {"Location": redirect_uri + separator + urlencode(params)})


def _redirect_error(
    redirect_uri: str, params: dict[str, str], error: str, description: str, subcode: str | None = None
) -> Response:
    answer = {"error": error, "error_description": description}
    if subcode:
        answer["error_subcode"] = subcode
    if "state" in params:
        answer["state"] = params["state"]
    return _redirect(redirect_uri, answer)


def _client_authenticated(tenant: Tenant, req: Request, form: dict[str, str]) -> tuple[str, bool]:
    client_id = form.get("client_id", "")
    secret = form.get("client_secret")
    if secret is None and req.headers.get("authorization", "").lower().startswith("basic "):
        client_id, _, secret = base64.b64decode(req.headers["authorization"][6:]).decode().partition(":")
    with tenant.lock:
        app = tenant.signing_in_app(client_id)
    known = app is not None and app.secret is not None and bool(secret)
    return client_id, known and hmac.compare_digest(secret or "", app.secret or "")


def _pkce_matches(grant: _Grant, verifier: str | None) -> bool:
    if grant.code_challenge is None:
        return True
    if not verifier:
        return False
    if grant.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    return hmac.compare_digest(computed, grant.code_challenge)


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _device_token(tenant: Tenant, req: Request, form: dict[str, str]) -> Response:
    client_id = form.get("client_id", "")
    with tenant.lock:
        app = tenant.signing_in_app(client_id)
    if (app is None or not app.public_client) and _client_authenticated(tenant, req, form)[1] is False:
        return _aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    store = _codes(tenant)
    with store.lock:
        device = store.devices.get(form.get("device_code", ""))
    if device is None or device.client_id != client_id or device.redeemed:
        return _aad_error(400, "invalid_grant", 70000, "The provided value for the 'device_code' is not valid.")
    if tenant.now() - device.issued_at > DEVICE_CODE_LIFETIME_S:
        return _aad_error(
            400,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        )
    if device.user_id is None:
        return _aad_error(
            400,
            "authorization_pending",
            70016,
            "The provided request has not yet been authorized by the user. The user must input their code.",
        )
    with store.lock:
        device.redeemed = True
    with tenant.lock:
        user = tenant.users.get(device.user_id)
    return _user_tokens(tenant, user, client_id, device.scope, None)


def _token(tenant: Tenant, req: Request) -> Response:
    form = _form(req)
    if form.get("grant_type") == DEVICE_CODE_GRANT:
        return _device_token(tenant, req, form)
    if form.get("grant_type") == "refresh_token":
        return _refresh(tenant, req, form)
    if form.get("grant_type") != "authorization_code":
        return _aad_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type. The sandbox's multi-tenant token endpoint supports "
            "authorization_code, refresh_token and the device code grant only.",
        )
    client_id, authenticated = _client_authenticated(tenant, req, form)
    if not authenticated:
        return _aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
        )
    store = _codes(tenant)
    with store.lock:
        grant = store.grants.get(form.get("code", ""))
        first_use = grant is not None and not grant.redeemed
        if grant is not None:
            grant.redeemed = True  # a code is spent by its first redemption, whatever the outcome
    if grant is None:
        return _aad_error(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if not first_use:
        return _aad_error(
            400,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
            "existing refresh token.",
        )
    if tenant.now() - grant.issued_at > CODE_LIFETIME_S:
        return _aad_error(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new "
            "interactive authorization request for this user and resource.",
        )
    if grant.redirect_uri != form.get("redirect_uri", ""):
        # AADSTS500112 and its text: WIRE.md, "Sign-in" (50148 is Entra's PKCE mismatch, not this).
        return _aad_error(
            400,
            "invalid_grant",
            500112,
            f"The reply address '{form.get('redirect_uri', '')}' does not match the reply address "
            f"'{grant.redirect_uri}' provided when requesting Authorization code.",
        )
    if grant.client_id != client_id:
        # No capture names Entra's code for a code redeemed by another app: the table's generic InvalidGrant.
        return _aad_error(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
    if not _pkce_matches(grant, form.get("code_verifier")):
        return _aad_error(
            400,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    with tenant.lock:
        user = tenant.users.get(grant.user_id)
    if user is None or not user.account_enabled:
        return _aad_error(400, "invalid_grant", 50057, "The user account is disabled.")
    return _user_tokens(tenant, user, client_id, grant.scope, grant.nonce)


def _user_tokens(tenant: Tenant, user: User, client_id: str, scope: str, nonce: str | None) -> Response:
    """The token response of a person's sign-in or refresh: an access token for one resource (the one the scope
    names, else Microsoft Graph), a refresh token only when `offline_access` was asked, an ID token when `openid`
    was."""
    asked = scope.split()
    by_resource = _by_resource(scope)
    if len(by_resource) > 1:
        return _aad_error(
            400,
            "invalid_scope",
            28000,
            "Provided value for the input parameter scope is not valid because it contains more than one resource. "
            f"Scope {scope} is not valid.",
        )
    audience, names = next(iter(by_resource.items()), (GRAPH_AUDIENCE, set()))
    with tenant.lock:
        consented = tenant.consented_scopes(client_id, user.id, audience)
        app = tenant.signing_in_app(client_id)
        knobs = tenant.knobs
        claims = knobs.group_membership_claims.lower()
    if names == {DEFAULT_SCOPE}:
        # `<resource>/.default`: every delegated scope consented on the resource, for this person or the
        # organisation [DEFAULT]; none consented is the answer to asking for a scope not consented.
        names = set(consented) or {DEFAULT_SCOPE}
    if not names <= consented:
        return _not_consented(client_id, app.display_name if app else "")
    granted = sorted(consented)
    with_roles = claims in ("directoryrole", "all")
    answer: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join(
            [f"{audience}/{name}" for name in granted] + [s for s in asked if s in OIDC_SCOPES - {"offline_access"}]
        ),
        "expires_in": ID_TOKEN_LIFETIME_S,
        "ext_expires_in": ID_TOKEN_LIFETIME_S,
        "access_token": issue_delegated_token(
            tenant, client_id, user.id, audience, granted, (directory_roles(user) or None) if with_roles else None
        ),
        "client_info": _b64json({"uid": user.id, "utid": tenant.tenant_id}),
    }
    if "offline_access" in asked:
        refresh_token = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
        with tenant.lock:
            tenant.refresh_grants[refresh_token] = RefreshGrant(client_id, user.id, tenant.now())
        answer["refresh_token"] = refresh_token
    if "openid" in asked:
        with tenant.lock:
            groups = sorted(tenant.entra_group_members.get(user.id, ()))
        answer["id_token"] = issue_id_token(
            user,
            client_id,
            nonce,
            with_roles=with_roles,
            groups=groups if claims in ("securitygroup", "all") else None,
            tenant_id=tenant.tenant_id,
        )
    return Response.json(200, answer)


def _not_consented(client_id: str, app_name: str) -> Response:
    response = _aad_error(
        400,
        "invalid_grant",
        65001,
        f"The user or administrator has not consented to use the application with ID '{client_id}' named "
        f"'{app_name}'. Send an interactive authorization request for this user and resource.",
    )
    body = json.loads(response.body)
    body["suberror"] = "consent_required"
    return Response.json(400, body)


def _refresh(tenant: Tenant, req: Request, form: dict[str, str]) -> Response:
    """The refresh token grant: a new access token (for any resource the person consented to) and a new refresh
    token; the old one keeps working until it is revoked or expires, as Microsoft's do [RT]."""
    client_id = form.get("client_id", "")
    with tenant.lock:
        app = tenant.signing_in_app(client_id)
    secret_sent = "client_secret" in form or req.headers.get("authorization", "").lower().startswith("basic ")
    if not (app is not None and app.public_client and not secret_sent):
        client_id, authenticated = _client_authenticated(tenant, req, form)
        if not authenticated:
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
    with tenant.lock:
        grant = tenant.refresh_grants.get(form.get("refresh_token", ""))
        valid_from = tenant.refresh_tokens_valid_from
        requires_mfa = tenant.knobs.refresh_requires_mfa
        user = tenant.users.get(grant.user_id) if grant else None
    if grant is None or grant.client_id != client_id or user is None:
        return _aad_error(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
    if grant.issued_at < valid_from:
        return _aad_error(
            400,
            "invalid_grant",
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might "
            f"have changed or reset their password. The grant was issued on '{_stamp(tenant, grant.issued_at)}' and "
            f"the TokensValidFrom date (before which tokens are not valid) for this user is "
            f"'{_stamp(tenant, valid_from)}'.",
        )
    if requires_mfa:
        response = _aad_error(
            400,
            "interaction_required",
            50076,
            "Due to a configuration change made by your administrator, or because you moved to a new location, you "
            "must use multi-factor authentication to access the resource.",
        )
        body = json.loads(response.body)
        body["suberror"] = "basic_action"
        return Response.json(400, body)
    if not user.account_enabled:
        return _aad_error(400, "invalid_grant", 50057, "The user account is disabled.")
    return _user_tokens(tenant, user, client_id, form.get("scope", ""), None)


def _stamp(tenant: Tenant, at: float) -> str:
    """A tenant-clock time as Microsoft writes grant dates."""
    wall = time.time() - (tenant.now() - at)
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(wall))


def _b64json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def issue_id_token(
    user: User,
    client_id: str,
    nonce: str | None,
    *,
    lifetime_s: int = ID_TOKEN_LIFETIME_S,
    now: float | None = None,
    key: rsa.RSAPrivateKey | None = None,
    with_roles: bool = True,
    groups: list[str] | None = None,
    tenant_id: str = TENANT_ID,
) -> str:
    """A v2.0 ID token for `user`; tests pass `lifetime_s`, `now` or another `key` to make a bad one. `wids` only
    `with_roles` (the app's manifest asks for directory roles); `groups` when the manifest asks for groups (None:
    it does not), replaced by the overage marker past 200 [ACT]."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "aud": client_id,
        "iss": PUBLIC_ISSUER.replace("{tenantid}", tenant_id),
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime_s,
        "name": user.display_name,
        "oid": user.id,
        "preferred_username": user.upn,
        "email": user.upn,
        "rh": base64.urlsafe_b64encode(secrets.token_bytes(24)).rstrip(b"=").decode(),
        # Pairwise: the same person has another `sub` in another app.
        "sub": base64.urlsafe_b64encode(hashlib.sha256(f"{client_id}:{user.id}".encode()).digest())
        .rstrip(b"=")
        .decode(),
        "tid": tenant_id,
        "uti": base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode(),
        "ver": "2.0",
    }
    if nonce is not None:
        claims["nonce"] = nonce
    roles = directory_roles(user)
    if roles and with_roles:
        claims["wids"] = roles
    if groups and len(groups) > GROUPS_OVERAGE_LIMIT:
        claims["_claim_names"] = {"groups": "src1"}
        claims["_claim_sources"] = {
            "src1": {"endpoint": f"https://graph.microsoft.com/v1.0/users/{user.id}/getMemberObjects"}
        }
    elif groups:
        claims["groups"] = groups
    return jwt.encode(
        claims,
        key if key is not None else SIGNING_KEY.private,
        algorithm="RS256",
        headers={"kid": SIGNING_KEY.kid, "typ": "JWT"},
    )
