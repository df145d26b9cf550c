"""EWS answers as Exchange sends them (issue 25 point 8), read by the client from recorded bodies (tests/wire/bodies,
each naming its sources), and the sandbox's answers to the same situations in the same shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from requests_ntlm import HttpNtlmAuth

from tests.sandbox.sandbox_client import MsClient
from tests.wire.conftest import BODIES
from wizard.microsoft import ews
from wizard.microsoft.errors import AuthenticationFailed

MAILBOX = "room-001@contoso.onmicrosoft.com"
SERVICE, PASSWORD = "svc-wire@contoso.onmicrosoft.com", "Sandbox-Passw0rd!"


def recorded(name: str) -> dict[str, Any]:
    data = json.loads((BODIES / f"{name}.json").read_text())
    assert data["source"], name
    return data


def as_response(status: int, body: str | bytes, headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else body
    response.headers.update(headers)
    response.request = requests.Request("POST", "https://mail.contoso.com/EWS/Exchange.asmx").prepare()
    return response


def answer(name: str, *, app_only: bool) -> Any:
    data = recorded(name)
    client = ews.EwsClient.__new__(ews.EwsClient)  # only `url` and how it signs in are read when answering
    client.url, client.app_only = "https://mail.contoso.com/EWS/Exchange.asmx", app_only
    try:
        return client._answer(MAILBOX, as_response(data["status"], data["body"], data["headers"]))
    except AuthenticationFailed as error:
        return error


def test_a_token_without_ews_permission_is_the_apps_refusal_not_a_password_problem():
    access = answer("ews_token_no_permissions", app_only=True)
    assert access.code == ews.TOKEN_WITHOUT_PERMISSIONS and access.app_refused and access.denied
    assert not access.opened and "password" not in access.reason and "2000008" in access.message


def test_a_403_to_an_app_is_its_refusal_too():
    access = answer("ews_app_forbidden", app_only=True)
    assert access.code == ews.APP_FORBIDDEN and access.app_refused and access.denied


def test_windows_authentication_offered_and_refused_means_the_password():
    error = answer("ews_windows_authentication_offer", app_only=False)
    assert isinstance(error, AuthenticationFailed) and error.code == "HTTP401"
    offered = recorded("ews_windows_authentication_offer")
    assert ews.offered_schemes(as_response(401, "", offered["headers"])) == ["negotiate", "ntlm"]
    assert ews.offered_schemes(as_response(401, "", {"WWW-Authenticate": 'Basic realm="mail.contoso.com"'})) == [
        "basic"
    ]


@pytest.mark.parametrize("name", ["ews_internal_error_wrapping_busy", "ews_exceeded_connection_count"])
def test_every_throttling_shape_is_a_busy_answer(name):
    data = recorded(name)
    assert ews.ews_busy_delay(as_response(data["status"], data["body"], data["headers"])) == ews.DEFAULT_BUSY_SECONDS


def test_the_inner_code_of_an_internal_error_is_the_answer():
    access = answer("ews_internal_error_wrapping_busy", app_only=False)
    assert access.code == "ErrorServerBusy"
    assert access.message == "The server cannot service this request right now. Try again later."


# -- the sandbox answers in the same shapes ---------------------------------------------------------------------
@pytest.fixture
def service_account(sandbox_tenant):
    created = MsClient(sandbox_tenant.info).graph(
        "POST",
        "/users",
        json={
            "accountEnabled": True,
            "displayName": "Wire service",
            "mailNickname": "svc-wire",
            "userPrincipalName": SERVICE,
            "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": False},
        },
    )
    assert created.status_code == 201
    return SERVICE


def _post(info: dict[str, Any], **kwargs: Any) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    body = ews._get_folder_body(MAILBOX)
    headers = {"Content-Type": "text/xml; charset=utf-8", **kwargs.pop("headers", {})}
    return session.post(info["ews_url"], data=body, verify=info["ca_bundle"], timeout=30, headers=headers, **kwargs)


def test_the_sandbox_refuses_an_app_without_ews_access_with_the_recorded_header(sandbox_tenant):
    info = sandbox_tenant.info
    token = MsClient(info, info["integration_app_id"], info["integration_client_secret"]).token(info["exchange_scope"])
    refused = _post(info, headers={"Authorization": f"Bearer {token}"})
    wanted = recorded("ews_token_no_permissions")
    assert refused.status_code == wanted["status"] and refused.content == b""
    assert refused.headers["x-ms-diagnostics"] == wanted["headers"]["x-ms-diagnostics"]


def test_the_sandbox_offers_what_the_recorded_server_offers(sandbox_tenant):
    offered = _post(sandbox_tenant.info)
    wanted = recorded("ews_windows_authentication_offer")
    assert offered.status_code == 401 and offered.headers["WWW-Authenticate"] == wanted["headers"]["WWW-Authenticate"]


def _message_values(body: bytes) -> tuple[str, dict[str, str]]:
    from xml.etree import ElementTree as ET

    root = ET.fromstring(body)  # noqa: S314 - a recorded body or the loopback sandbox's
    message = root.find(f".//{{{ews.MESSAGES_NS}}}GetFolderResponseMessage")
    assert message is not None
    return message.findtext(f"{{{ews.MESSAGES_NS}}}ResponseCode") or "", ews._message_values(message)


def test_the_sandbox_wraps_busy_in_an_internal_error_as_recorded(sandbox_tenant, service_account):
    sandbox_tenant.control.set_knobs(throttle_fraction=1.0, ews_busy_answer="internal")
    busy = _post(sandbox_tenant.info, auth=HttpNtlmAuth(SERVICE, PASSWORD))
    wanted = recorded("ews_internal_error_wrapping_busy")
    assert busy.status_code == wanted["status"]
    assert _message_values(busy.content) == _message_values(wanted["body"].encode())
