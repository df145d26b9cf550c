import base64
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import msal
import requests

from sandbox.server import start_sandbox
from sandbox.tls import app_certificate


def _claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _session(info):
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_bundle"]
    return session


def test_info_is_json_with_a_real_ca_bundle_and_start_is_fast(sandbox_tenant):
    info = json.loads(json.dumps(sandbox_tenant.info))
    assert Path(info["ca_bundle"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert info["graph_url"].endswith("/v1.0")
    assert info["exchange_admin_url"].endswith(f"/adminapi/beta/{info['tenant_id']}")
    assert info["authority"].endswith("/" + info["tenant_id"])
    assert info["admin_upn"] == "admin@contoso.onmicrosoft.com"
    started = time.monotonic()
    other = start_sandbox()
    try:
        assert time.monotonic() - started < 0.3
    finally:
        other.stop()


def test_msal_gets_tokens_for_each_audience_unchanged(ms):
    graph = _claims(ms.token(ms.info["graph_scope"]))
    exchange = _claims(ms.token(ms.info["exchange_scope"]))
    assert graph["aud"] == "https://graph.microsoft.com"
    assert exchange["aud"] == "https://outlook.office365.com"
    assert graph["tid"] == ms.info["tenant_id"] and graph["appid"] == ms.info["client_id"]
    assert "User.ReadWrite.All" in graph["roles"] and "Calendars.Read" not in graph["roles"]
    assert exchange["roles"] == ["Exchange.ManageAsApp"]


def test_wrong_secret_gets_invalid_client_7000215(sandbox_tenant):
    info = sandbox_tenant.info
    app = msal.ConfidentialClientApplication(
        info["client_id"],
        client_credential="not-the-secret",
        authority=info["authority"],
        instance_discovery=False,
        http_client=_session(info),
    )
    result = app.acquire_token_for_client(scopes=[info["graph_scope"]])
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert result["error_codes"] == [7000215]


def test_unknown_app_tenant_and_scope_errors(sandbox_tenant):
    info = sandbox_tenant.info
    session = _session(info)
    token_url = info["authority"] + "/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "scope": info["graph_scope"],
    }
    unknown_app = session.post(token_url, data={**form, "client_id": "11111111-1111-1111-1111-111111111111"})
    assert unknown_app.status_code == 400 and unknown_app.json()["error"] == "unauthorized_client"
    assert unknown_app.json()["error_codes"] == [700016]
    unknown_tenant = session.post(token_url.replace(info["tenant_id"], "nowhere.onmicrosoft.com"), data=form)
    assert unknown_tenant.json()["error_codes"] == [90002]
    bad_scope = session.post(token_url, data={**form, "scope": "https://graph.microsoft.com/User.Read.All"})
    assert bad_scope.json()["error"] == "invalid_scope"


def test_a_token_is_only_accepted_by_its_audience(ms):
    exchange_token = ms.token(ms.info["exchange_scope"])
    graph = ms.session.get(
        ms.info["graph_url"] + "/organization", headers={"Authorization": "Bearer " + exchange_token}
    )
    assert graph.status_code == 401
    assert graph.json()["error"]["code"] == "InvalidAuthenticationToken"
    graph_token = ms.token(ms.info["graph_scope"])
    exchange = ms.session.post(
        ms.info["exchange_admin_url"] + "/InvokeCommand",
        json={"CmdletInput": {"CmdletName": "Get-OrganizationConfig"}},
        headers={"Authorization": "Bearer " + graph_token},
    )
    assert exchange.status_code == 401
    assert 'error="invalid_token"' in exchange.headers["WWW-Authenticate"]
    assert ms.session.get(ms.info["graph_url"] + "/organization").status_code == 401


def test_discovery_document_points_at_the_sandbox(sandbox_tenant):
    info = sandbox_tenant.info
    doc = _session(info).get(info["authority"] + "/v2.0/.well-known/openid-configuration").json()
    assert doc["token_endpoint"] == info["authority"] + "/oauth2/v2.0/token"
    assert doc["issuer"].endswith(info["tenant_id"] + "/v2.0")


def test_admin_consent_redirects_with_result(sandbox_tenant):
    info = sandbox_tenant.info
    session = _session(info)
    url = (
        f"{info['authority'].rsplit('/', 1)[0]}/common/adminconsent?client_id={info['client_id']}"
        "&redirect_uri=https://onramp.example/consent/callback&state=xyz"
    )
    granted = session.get(url, allow_redirects=False)
    assert granted.status_code == 302
    query = parse_qs(urlsplit(granted.headers["Location"]).query)
    assert query == {"admin_consent": ["True"], "tenant": [info["tenant_id"]], "state": ["xyz"]}
    sandbox_tenant.control.set_consent_refused()
    refused = parse_qs(urlsplit(session.get(url, allow_redirects=False).headers["Location"]).query)
    assert refused["error"] == ["access_denied"] and refused["state"] == ["xyz"]
    assert refused["error_description"][0].startswith("AADSTS65004")


def _certificate_app(info, pem: str, thumbprint: str) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        info["client_id"],
        client_credential={"private_key": pem, "thumbprint": thumbprint},
        authority=info["authority"],
        instance_discovery=False,
        http_client=_session(info),
    )


def test_a_client_assertion_signed_by_the_registered_certificate_gets_a_token(sandbox_tenant):
    info = sandbox_tenant.info
    pem = Path(info["client_certificate_file"]).read_text()

    result = _certificate_app(info, pem, info["certificate_thumbprint"]).acquire_token_for_client(
        scopes=[info["graph_scope"]]
    )

    claims = _claims(result["access_token"])
    assert claims["appid"] == info["client_id"] and "User.ReadWrite.All" in claims["roles"]


def test_a_certificate_the_app_does_not_hold_is_refused_with_700027(sandbox_tenant, tmp_path):
    info = sandbox_tenant.info
    path, thumbprint, _ = app_certificate(tmp_path / "stranger.pem", "Stranger")

    result = _certificate_app(info, path.read_text(), thumbprint).acquire_token_for_client(scopes=[info["graph_scope"]])

    assert result["error"] == "invalid_client" and result["error_codes"] == [700027]
    assert result["error_description"].startswith(
        "AADSTS700027: Client assertion contains an invalid signature. [Reason - The key was not found., "
        f"Thumbprint of key used by client: '{thumbprint}'"
    )
    assert f"configured keys for app Id '{info['client_id']}'" in result["error_description"]


def test_an_assertion_naming_the_registered_thumbprint_but_signed_by_another_key_is_refused(sandbox_tenant, tmp_path):
    info = sandbox_tenant.info
    path, _, _ = app_certificate(tmp_path / "stranger.pem", "Stranger")

    result = _certificate_app(info, path.read_text(), info["certificate_thumbprint"]).acquire_token_for_client(
        scopes=[info["graph_scope"]]
    )

    assert result["error_codes"] == [700027]
    # The error-code table's text for 700027; "Key was found, but …" is only ever captured with AADSTS50013.
    assert result["error_description"].startswith("AADSTS700027: Client assertion failed signature validation.")
