"""The sandbox as an OpenID Connect provider, driven the way a web app drives Microsoft: msal's auth code flow with
PKCE against the `organizations` authority, the authorize page answered like a browser would, ID tokens checked
with PyJWT against the published keys."""

import base64
import hashlib
import json
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest
import requests

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
EXCHANGE_ADMINISTRATOR = "29232cdf-9323-42fd-ade2-1d097af3e4de"
REDIRECT_URI = "http://127.0.0.1:9/signin/callback"


def _session(info):
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_bundle"]
    return session


def _base(info):
    return info["authority"].rsplit("/", 1)[0]


def _app(info, session):
    return msal.ConfidentialClientApplication(
        info["client_id"],
        client_credential=info["client_secret"],
        authority=_base(info) + "/organizations",
        instance_discovery=False,
        http_client=session,
    )


def pick(session, auth_uri: str, upn: str) -> dict[str, str]:
    """Open the authorize page, press the person's button, return the parameters sent to the redirect URI."""
    page = session.get(auth_uri, timeout=10)
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    form = {unescape(n): unescape(v) for n, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
    buttons = re.findall(r'name="oid" value="([^"]+)">[^<]*</button> ([^ ]+) ', page.text)
    chosen = [oid for oid, shown in buttons if shown == upn]
    assert chosen, f"{upn} is not on the page"
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    answer = session.post(
        urlsplit(auth_uri)._replace(path=action, query="").geturl(),
        data={**form, "oid": chosen[0]},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _signed_in(info, upn):
    session = _session(info)
    app = _app(info, session)
    flow = app.initiate_auth_code_flow(scopes=["email"], redirect_uri=REDIRECT_URI)
    return session, app, flow, pick(session, flow["auth_uri"], upn)


def _verified(info, session, id_token, **options):
    keys = session.get(_base(info) + "/organizations/discovery/v2.0/keys", timeout=10).json()
    key = jwt.PyJWKSet.from_dict(keys)[jwt.get_unverified_header(id_token)["kid"]]
    return jwt.decode(id_token, key.key, algorithms=["RS256"], audience=info["client_id"], **options)


def test_discovery_of_organizations_names_the_sign_in_endpoints(sandbox_tenant):
    info = sandbox_tenant.info
    doc = _session(info).get(_base(info) + "/organizations/v2.0/.well-known/openid-configuration", timeout=10).json()
    assert doc["authorization_endpoint"] == _base(info) + "/organizations/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == _base(info) + "/organizations/oauth2/v2.0/token"
    assert doc["jwks_uri"] == _base(info) + "/organizations/discovery/v2.0/keys"
    assert doc["issuer"] == "https://login.microsoftonline.com/{tenantid}/v2.0"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]


def test_an_exchange_administrator_signs_in_with_pkce_and_gets_a_signed_id_token(sandbox_tenant):
    info = sandbox_tenant.info
    session, app, flow, response = _signed_in(info, "user-001@contoso.onmicrosoft.com")
    assert response["state"] == flow["state"]
    assert "code_challenge" in flow["auth_uri"] and "code_challenge_method=S256" in flow["auth_uri"]
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "id_token" in result, result
    claims = _verified(info, session, result["id_token"])
    assert claims["tid"] == info["tenant_id"]
    assert claims["iss"] == f"https://login.microsoftonline.com/{info['tenant_id']}/v2.0"
    assert claims["preferred_username"] == "user-001@contoso.onmicrosoft.com"
    assert claims["wids"] == [EXCHANGE_ADMINISTRATOR]
    assert claims["ver"] == "2.0" and claims["oid"] and claims["sub"] != claims["oid"]
    assert jwt.get_unverified_header(result["id_token"])["alg"] == "RS256"
    # msal sent the SHA-256 of its nonce; the ID token carries it back and msal checked it.
    assert claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()


def test_the_global_administrator_and_a_plain_user_carry_their_roles(sandbox_tenant):
    info = sandbox_tenant.info
    for upn, wids in (
        ("admin@contoso.onmicrosoft.com", [GLOBAL_ADMINISTRATOR]),
        ("user-002@contoso.onmicrosoft.com", None),
    ):
        session, app, flow, response = _signed_in(info, upn)
        claims = _verified(info, session, app.acquire_token_by_auth_code_flow(flow, response)["id_token"])
        assert claims.get("wids") == wids


def test_a_wrong_state_is_refused_before_any_token_request(sandbox_tenant):
    info = sandbox_tenant.info
    _, app, flow, response = _signed_in(info, "user-001@contoso.onmicrosoft.com")
    sandbox_tenant.control.reset_calls()
    with pytest.raises(ValueError, match="state mismatch"):
        app.acquire_token_by_auth_code_flow(flow, {**response, "state": "forged"})
    assert "POST /{tenant}/oauth2/v2.0/token" not in sandbox_tenant.control.calls()["calls"]


def test_a_replayed_code_is_refused(sandbox_tenant):
    info = sandbox_tenant.info
    _, app, flow, response = _signed_in(info, "user-001@contoso.onmicrosoft.com")
    again = dict(flow)
    assert "id_token" in app.acquire_token_by_auth_code_flow(flow, response)
    replay = app.acquire_token_by_auth_code_flow(again, response)
    assert replay["error"] == "invalid_grant"
    assert replay["error_codes"] == [54005]


def test_a_wrong_pkce_verifier_is_refused_and_spends_the_code(sandbox_tenant):
    info = sandbox_tenant.info
    _, app, flow, response = _signed_in(info, "user-001@contoso.onmicrosoft.com")
    right = dict(flow)
    wrong = app.acquire_token_by_auth_code_flow({**flow, "code_verifier": "x" * 43}, response)
    assert wrong["error"] == "invalid_grant"
    assert wrong["error_codes"] == [501481]
    assert app.acquire_token_by_auth_code_flow(right, response)["error_codes"] == [54005]


def test_a_code_redeemed_with_another_redirect_uri_gets_the_reply_address_mismatch(sandbox_tenant):
    info = sandbox_tenant.info
    _, app, flow, response = _signed_in(info, "user-001@contoso.onmicrosoft.com")

    result = app.acquire_token_by_auth_code_flow({**flow, "redirect_uri": "https://elsewhere.example/cb"}, response)

    assert result["error"] == "invalid_grant" and result["error_codes"] == [500112]
    assert result["error_description"].startswith(
        "AADSTS500112: The reply address 'https://elsewhere.example/cb' does not match the reply address "
        f"'{REDIRECT_URI}' provided when requesting Authorization code."
    )


def test_an_expired_code_is_refused(sandbox_tenant):
    info = sandbox_tenant.info
    _, app, flow, response = _signed_in(info, "user-001@contoso.onmicrosoft.com")
    sandbox_tenant.control.advance(601)
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert result["error_codes"] == [70008]


def test_a_wrong_client_secret_is_refused(sandbox_tenant):
    info = sandbox_tenant.info
    session, _, flow, response = _signed_in(info, "user-001@contoso.onmicrosoft.com")
    other = msal.ConfidentialClientApplication(
        info["client_id"],
        client_credential="not-the-secret",
        authority=_base(info) + "/organizations",
        instance_discovery=False,
        http_client=session,
    )
    assert other.acquire_token_by_auth_code_flow(flow, response)["error"] == "invalid_client"


def test_keys_verify_only_the_sandbox_signature(sandbox_tenant):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from sandbox import oidc

    info = sandbox_tenant.info
    session = _session(info)
    person = next(u for u in sandbox_tenant.tenant.users.values() if u.mail_nickname == "user-001")
    genuine = oidc.issue_id_token(person, info["client_id"], None)
    assert _verified(info, session, genuine)["oid"] == person.id
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = oidc.issue_id_token(person, info["client_id"], None, key=stranger)
    with pytest.raises(jwt.InvalidSignatureError):
        _verified(info, session, forged)
    expired = oidc.issue_id_token(person, info["client_id"], None, lifetime_s=-60)
    with pytest.raises(jwt.ExpiredSignatureError):
        _verified(info, session, expired)


def test_an_unknown_app_gets_no_sign_in_page(sandbox_tenant):
    info = sandbox_tenant.info
    page = _session(info).get(
        _base(info) + "/organizations/oauth2/v2.0/authorize",
        params={
            "client_id": "00000000-0000-0000-0000-000000000001",
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
        },
        timeout=10,
    )
    assert page.status_code == 400 and "AADSTS700016" in page.text


def test_client_info_names_the_person_and_tenant(sandbox_tenant):
    info = sandbox_tenant.info
    _, app, flow, response = _signed_in(info, "user-002@contoso.onmicrosoft.com")
    result = app.acquire_token_by_auth_code_flow(flow, response)
    raw = result["client_info"]
    client_info = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert client_info == {"uid": result["id_token_claims"]["oid"], "utid": info["tenant_id"]}
