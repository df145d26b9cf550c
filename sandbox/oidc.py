"""The identity platform as an OpenID Connect provider: people sign in to an app with the authorization code flow.

Served here: the multi-tenant discovery documents (`organizations`, `common`), the authorize page (a plain HTML list
of the tenant's people to pick from, standing in for Microsoft's sign-in pages), the token endpoint's
`authorization_code` grant with PKCE, and the signing keys. ID tokens are RS256 JWTs signed with a per-process RSA
key published at `/discovery/v2.0/keys`, with the v2.0 claims apps read: `tid`, `oid`, `preferred_username`, `name`,
`email`, `nonce` and `wids` (the person's directory role template ids). The tenant's own discovery document and the
client-credentials grant stay in `tokens`. Every detail and its source is in WIRE.md.
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
from .state import TENANT_ID, Tenant, User
from .tokens import TENANT_ALIASES, _aad_error

# Directory role template ids, as Microsoft's "Microsoft Entra built-in roles" reference publishes them.
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
EXCHANGE_ADMINISTRATOR = "29232cdf-9323-42fd-ade2-1d097af3e4de"
# The seeded people's directory roles, by mail nickname: one Global Administrator, one Exchange Administrator,
# everyone else none.
DIRECTORY_ROLES = {"admin": (GLOBAL_ADMINISTRATOR,), "user-001": (EXCHANGE_ADMINISTRATOR,)}

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


def serves(req: Request) -> bool:
    """Whether this request is for the OpenID Connect sign-in pieces (everything else of the identity platform,
    including the client-credentials grant, is `tokens`'s)."""
    tenant_segment, rest = _segments(req)
    known = tenant_segment.lower() in {t.lower() for t in (*TENANT_ALIASES, *MULTI_TENANT)}
    if not known:
        return False
    if rest in ("oauth2/v2.0/authorize", "discovery/v2.0/keys", "devicelogin"):
        return True
    if rest == "oauth2/v2.0/devicecode":
        return req.method == "POST"
    if rest == "v2.0/.well-known/openid-configuration":
        return tenant_segment.lower() in MULTI_TENANT
    if rest == "oauth2/v2.0/token" and req.method == "POST":
        return tenant_segment.lower() in MULTI_TENANT or _form(req).get("grant_type") == "authorization_code"
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
            "msgraph_host": "graph.microsoft.com",
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
    return list(DIRECTORY_ROLES.get(user.mail_nickname, ()))


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
    if req.method == "GET":
        return _picker(tenant, params, tenant_segment)
    chosen = params.get("oid", "")
    with tenant.lock:
        user = tenant.users.get(chosen)
    if user is None or user.kind not in ("user", "admin"):
        return _picker(tenant, params, tenant_segment, status=400)
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
        roles = directory_roles(user)
        label = {GLOBAL_ADMINISTRATOR: "Global Administrator", EXCHANGE_ADMINISTRATOR: "Exchange Administrator"}
        role_text = ", ".join(label.get(role, role) for role in roles) or "no admin role"
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


def _redirect_error(redirect_uri: str, params: dict[str, str], error: str, description: str) -> Response:
    answer = {"error": error, "error_description": description}
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
    if form.get("grant_type") != "authorization_code":
        return _aad_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type. The sandbox's multi-tenant token endpoint supports "
            "authorization_code only.",
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
    if grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri", ""):
        return _aad_error(
            400,
            "invalid_grant",
            50148,
            "The code was issued to another client or for another redirect URI.",
        )
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
    """The token response of a person's sign-in (authorization code or device code)."""
    scopes = sorted(set(scope.split()) | {"openid", "profile", "email"})
    return Response.json(
        200,
        {
            "token_type": "Bearer",
            "scope": " ".join(s for s in scopes if s not in ("offline_access",)),
            "expires_in": ID_TOKEN_LIFETIME_S,
            "ext_expires_in": ID_TOKEN_LIFETIME_S,
            # The sandbox's Graph does not take delegated tokens: this one only completes the response's shape.
            "access_token": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode(),
            "refresh_token": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode(),
            "id_token": issue_id_token(
                user,
                client_id,
                nonce,
                with_roles=tenant.knobs.group_membership_claims.lower() in ("directoryrole", "all"),
            ),
            "client_info": _b64json({"uid": user.id, "utid": TENANT_ID}),
        },
    )


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
) -> str:
    """A v2.0 ID token for `user`; tests pass `lifetime_s`, `now` or another `key` to make a bad one. `wids` only
    `with_roles` (the app's manifest asks for directory roles)."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "aud": client_id,
        "iss": PUBLIC_ISSUER.replace("{tenantid}", TENANT_ID),
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
        "tid": TENANT_ID,
        "uti": base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode(),
        "ver": "2.0",
    }
    if nonce is not None:
        claims["nonce"] = nonce
    roles = directory_roles(user)
    if roles and with_roles:
        claims["wids"] = roles
    return jwt.encode(
        claims,
        key if key is not None else SIGNING_KEY.private,
        algorithm="RS256",
        headers={"kid": SIGNING_KEY.kid, "typ": "JWT"},
    )
