"""The identity platform: OpenID discovery, the client-credentials token endpoint, admin consent.

Access tokens are JWTs with Microsoft's claim names: an app's (client credentials) carry `roles` and `idtyp` "app";
a person's (delegated, `sandbox.oidc`) carry `scp`, `oid`, `upn` and `idtyp` "user" [ACT]. They are signed with
HS256 and a per-process key rather than Microsoft's RS256 keys: clients must treat access tokens as opaque
(Microsoft says so), so only the sandbox's own APIs ever read them, and they check signature, audience and expiry.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt

from .responses import Request, Response
from .state import (
    EXCHANGE_APP_ID,
    EXCHANGE_AUDIENCE,
    GRAPH_APP_ID,
    GRAPH_AUDIENCE,
    EntraServicePrincipal,
    Tenant,
)

TOKEN_LIFETIME_S = 3599
AADSTS_INVALID_SIGNATURE = 700027
AADSTS_ASSERTION_EXPIRED = 700024
AADSTS_INVALID_JWT = 50027
_KEY = secrets.token_bytes(32)
_RESOURCES = {
    GRAPH_AUDIENCE: GRAPH_AUDIENCE,
    GRAPH_APP_ID: GRAPH_AUDIENCE,
    "https://graph.microsoft.com/": GRAPH_AUDIENCE,
    EXCHANGE_AUDIENCE: EXCHANGE_AUDIENCE,
    EXCHANGE_APP_ID: EXCHANGE_AUDIENCE,
    "https://outlook.office365.com/": EXCHANGE_AUDIENCE,
    "https://outlook.office.com": EXCHANGE_AUDIENCE,
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(tenant: Tenant, app_id: str, audience: str) -> str:
    now = int(time.time())
    with tenant.lock:
        sp = tenant.entra_sps[app_id]
        roles = sorted(tenant.app_roles(app_id, GRAPH_APP_ID if audience == GRAPH_AUDIENCE else EXCHANGE_APP_ID))
    claims = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_S,
        "appid": app_id,
        "app_displayname": sp.display_name,
        "idtyp": "app",
        "oid": sp.id,
        "sub": sp.id,
        "tid": tenant.tenant_id,
        "roles": roles,
        "ver": "1.0",
        "uti": _b64(secrets.token_bytes(16)),
    }
    return _signed(claims)


def _signed(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = _b64(hmac.new(_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def issue_delegated_token(
    tenant: Tenant, client_id: str, user_id: str, audience: str, scopes: list[str], wids: list[str] | None
) -> str:
    """A person's access token for one resource: `scp` the space-separated delegated scopes consented on
    `audience`; `wids` only when the app's manifest asks for directory roles (None: left out) [ACT]."""
    now = int(time.time())
    with tenant.lock:
        user = tenant.users[user_id]
        app = tenant.signing_in_app(client_id)
    claims: dict[str, Any] = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_S,
        "appid": client_id,
        "app_displayname": app.display_name if app else "",
        "idtyp": "user",
        "name": user.display_name,
        "oid": user.id,
        "scp": " ".join(scopes),
        "sub": _b64(hashlib.sha256(f"{client_id}:{user.id}:{audience}".encode()).digest()),
        "tid": tenant.tenant_id,
        "unique_name": user.upn,
        "upn": user.upn,
        "ver": "1.0",
        "uti": _b64(secrets.token_bytes(16)),
    }
    if wids is not None:
        claims["wids"] = wids
    return _signed(claims)


class TokenError(Exception):
    """Why a bearer token was refused, in Graph's wording."""


def verify_token(authorization: str | None, audience: str) -> dict[str, Any]:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise TokenError("Access token is empty.")
    token = authorization[7:].strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("CompactToken parsing failed with error code: 80049217")
    expected = _b64(hmac.new(_KEY, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        raise TokenError("Access token validation failure. Invalid signature.")
    claims = json.loads(_unb64(parts[1]))
    if claims.get("aud") != audience:
        raise TokenError("Access token validation failure. Invalid audience.")
    if claims.get("exp", 0) < time.time():
        raise TokenError("Lifetime validation failed, the token is expired.")
    return claims


def unverified_access_claims(authorization: str | None) -> dict[str, Any]:
    """A bearer token's claims, unchecked (empty when there is none to read): only to find which tenant checks it."""
    token = (authorization or "")[7:].strip() if (authorization or "").lower().startswith("bearer ") else ""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _aad_error(status: int, error: str, code: int, text: str) -> Response:
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    description = f"AADSTS{code}: {text} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {stamp}"
    return Response.json(
        status,
        {
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
    )


def _discovery(tenant: Tenant, req: Request) -> Response:
    authority = f"{req.base_url}/{tenant.tenant_id}"
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
            "issuer": f"https://login.microsoftonline.com/{tenant.tenant_id}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{authority}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "ver"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        },
    )


def _token(tenant: Tenant, req: Request) -> Response:
    if req.method != "POST":
        return _aad_error(400, "invalid_request", 900561, "The endpoint only accepts POST requests.")
    form = {k: v[0] for k, v in parse_qs(req.body.decode(), keep_blank_values=True).items()}
    client_id = form.get("client_id", "")
    secret = form.get("client_secret")
    if secret is None and req.headers.get("authorization", "").lower().startswith("basic "):
        client_id, _, secret = base64.b64decode(req.headers["authorization"][6:]).decode().partition(":")
    if form.get("grant_type") != "client_credentials":
        return _aad_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type. The sandbox supports client_credentials only.",
        )
    assertion = form.get("client_assertion")
    if assertion is not None:
        client_id = client_id or _unverified_claims(assertion).get("iss", "")
    with tenant.lock:
        sp = tenant.entra_sps.get(client_id)
    if sp is None or (sp.secret is None and not sp.certificates):
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant.domain}'. "
            "This can happen if the application has not been installed by the administrator of the tenant "
            "or consented to by any user in the tenant. You may have sent your authentication request to "
            "the wrong tenant.",
        )
    if assertion is not None:
        refused = _assertion_refused(req, sp, assertion)
        if refused is not None:
            return refused
    elif not secret or sp.secret is None or not hmac.compare_digest(secret, sp.secret):
        return _aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
        )
    scopes = form.get("scope", "").split()
    default = [s for s in scopes if s.endswith("/.default")]
    if not default:
        return _aad_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {' '.join(scopes)} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier (application ID URI).",
        )
    resource = default[0][: -len("/.default")]
    audience = _RESOURCES.get(resource) or _RESOURCES.get(resource.rstrip("/"))
    if audience is None:
        return _aad_error(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant named {tenant.domain}. "
            "This can happen if the application has not been installed by the administrator of the tenant "
            "or consented to by any user in the tenant. You might have sent your authentication request "
            "to the wrong tenant.",
        )
    return Response.json(
        200,
        {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "ext_expires_in": TOKEN_LIFETIME_S,
            "access_token": issue_token(tenant, client_id, audience),
        },
    )


def _unverified_claims(assertion: str) -> dict[str, Any]:
    try:
        return jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def _assertion_refused(req: Request, sp: EntraServicePrincipal, assertion: str) -> Response | None:
    """Check a certificate credential's client assertion (RFC 7523 JWT, RS256/PS256, `x5t` = base64url SHA-1 thumbprint,
    `aud` = this token endpoint, `iss` = `sub` = the client id): None when it proves a registered key, else the
    AADSTS error Microsoft answers."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return _aad_error(401, "invalid_client", AADSTS_INVALID_JWT, "Invalid JWT token. The token is malformed.")
    if not header.get("x5t"):
        return _aad_error(
            401,
            "invalid_client",
            AADSTS_INVALID_JWT,
            "Invalid JWT token. No certificate thumbprint specified in token header.",
        )
    thumbprint = _unb64(str(header["x5t"])).hex().upper()
    public_key = sp.certificates.get(thumbprint)
    if public_key is None:
        return _aad_error(
            401,
            "invalid_client",
            AADSTS_INVALID_SIGNATURE,
            "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used "
            f"by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see "
            f"configured keys for app Id '{sp.app_id}'. Review the documentation at https://docs.microsoft.com/en-us/"
            "graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/"
            "graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as "
            f"'https://graph.microsoft.com/beta/applications/{sp.app_id}']",
        )
    try:
        claims = jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256", "PS256"],
            audience=f"{req.base_url}{req.path}",
            options={"require": ["aud", "iss", "sub", "exp"]},
        )
    except jwt.InvalidSignatureError:
        # The error-code table's text for 700027 (WIRE.md [ERR]): no capture shows its reason for a known key.
        return _aad_error(
            401, "invalid_client", AADSTS_INVALID_SIGNATURE, "Client assertion failed signature validation."
        )
    except jwt.ExpiredSignatureError:
        return _aad_error(
            401, "invalid_client", AADSTS_ASSERTION_EXPIRED, "Client assertion is not within its valid time range."
        )
    except jwt.PyJWTError as exc:
        return _aad_error(401, "invalid_client", AADSTS_INVALID_JWT, f"Invalid JWT token. {exc}.")
    else:
        if claims.get("iss") != sp.app_id or claims.get("sub") != sp.app_id:
            return _aad_error(
                401,
                "invalid_client",
                AADSTS_INVALID_JWT,
                "Invalid JWT token. The client assertion's iss and sub must be the client id.",
            )
    return None


def _admin_consent(tenant: Tenant, req: Request) -> Response:
    query = req.query
    redirect_uri = query.get("redirect_uri", "")
    client_id = query.get("client_id", "")
    with tenant.lock:
        known = tenant.signing_in_app(client_id) is not None
        refused = tenant.knobs.consent_refused
    if not known or not redirect_uri:
        return Response(
            400,
            f"AADSTS700016: Application with identifier '{client_id}' was not found.".encode(),
            {"Content-Type": "text/plain; charset=utf-8"},
        )
    params: dict[str, str]
    if refused:
        params = {
            "error": "access_denied",
            "error_subcode": "cancel",
            "error_description": "AADSTS65004: User declined to consent to access the app.",
        }
    else:
        with tenant.lock:
            tenant.grant_admin_consent(client_id)
        params = {"admin_consent": "True", "tenant": tenant.tenant_id}
        if "scope" in query:
            params["scope"] = query["scope"]
    if "state" in query:
        params["state"] = query["state"]
    separator = "&" if "?" in redirect_uri else "?"
    return Response(302, b"", {"Location": redirect_uri + separator + urlencode(params)})


def handle(tenant: Tenant, req: Request) -> tuple[str, Response]:
    """Route an identity-platform request; returns the endpoint template (for call counts) and response."""
    segments = [s for s in req.path.split("/") if s]
    if not segments:
        return "identity", _aad_error(404, "invalid_request", 90002, "Tenant '' not found.")
    tenant_segment, rest = segments[0], "/".join(segments[1:])
    if rest in ("adminconsent", "v2.0/adminconsent"):
        return "GET /{tenant}/adminconsent", _admin_consent(tenant, req)
    if tenant_segment.lower() not in tenant.identity.aliases:
        return "identity", _aad_error(
            400,
            "invalid_request",
            90002,
            f"Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud. Check with your subscription administrator, this may happen if "
            "there are no active subscriptions for the tenant.",
        )
    if rest in ("v2.0/.well-known/openid-configuration", ".well-known/openid-configuration"):
        return "GET /{tenant}/v2.0/.well-known/openid-configuration", _discovery(tenant, req)
    if rest in ("oauth2/v2.0/token", "oauth2/token"):
        return "POST /{tenant}/oauth2/v2.0/token", _token(tenant, req)
    if rest == "discovery/v2.0/keys":
        return "GET /{tenant}/discovery/v2.0/keys", Response.json(200, {"keys": []})
    return "identity", _aad_error(404, "invalid_request", 900561, f"Unknown endpoint '/{rest}'.")
