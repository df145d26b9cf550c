"""The connector app's application object: its key and password credentials (Application.Read.All), and removeKey,
which an app may call on itself with a proof of possession signed by one of its keys."""

import time
from pathlib import Path

import jwt

from sandbox.tls import app_certificate

PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"


def _proof(info, issuer: str, key_file: str | None = None, thumbprint: str | None = None) -> str:
    now = int(time.time())
    x5t = jwt.utils.base64url_encode(bytes.fromhex(thumbprint or info["certificate_thumbprint"])).decode()
    return jwt.encode(
        {"aud": PROOF_AUDIENCE, "iss": issuer, "nbf": now, "exp": now + 600},
        Path(key_file or info["client_certificate_file"]).read_text(),
        algorithm="RS256",
        headers={"x5t": x5t},
    )


def test_the_application_lists_its_certificate_and_secret(ms):
    app = ms.graph("GET", f"/applications(appId='{ms.info['client_id']}')").json()

    [key] = app["keyCredentials"]
    assert key["customKeyIdentifier"] == ms.info["certificate_thumbprint"] and key["type"] == "AsymmetricX509Cert"
    [password] = app["passwordCredentials"]
    assert password["hint"] == ms.info["client_secret"][:3] and "secretText" not in password


def test_an_app_removes_its_own_key_with_a_proof_and_no_permission(ms, integration, tmp_path):
    info = ms.info
    app = ms.graph("GET", f"/applications(appId='{info['client_id']}')").json()
    key_id = app["keyCredentials"][0]["keyId"]
    path = f"/applications/{app['id']}/removeKey"

    stranger, _, _ = app_certificate(tmp_path / "stranger.pem", "Stranger")
    bad = ms.graph("POST", path, json={"keyId": key_id, "proof": _proof(info, app["id"], str(stranger))})
    assert bad.status_code == 400  # a proof that does not verify (WIRE.md [C22])
    assert bad.json()["error"] == {**bad.json()["error"], "code": "Request_BadRequest"}
    assert bad.json()["error"]["message"] == "Invalid proof of possession token."
    other = integration.graph("POST", path, json={"keyId": key_id, "proof": _proof(info, app["id"])})
    assert other.status_code == 403 and other.json()["error"]["code"] == "Authorization_RequestDenied"

    removed = ms.graph("POST", path, json={"keyId": key_id, "proof": _proof(info, app["id"])})

    assert removed.status_code == 204
    assert ms.graph("GET", f"/applications(appId='{info['client_id']}')").json()["keyCredentials"] == []
