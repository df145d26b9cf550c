"""The integration app over Exchange Online's EWS (verify's negative control): the refusal of an app without EWS
access is an answer, not an error; a token refused right after a grant is renewed once; X-AnchorMailbox names the
mailbox acted on (issue 25 point 8)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from wizard.microsoft import BearerAuth, EwsClient, integration_clients
from wizard.microsoft.ews import TOKEN_WITHOUT_PERMISSIONS

CONTROL = "user-001@contoso.onmicrosoft.com"
SUCCESS = (
    b'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<s:Body><m:GetFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
    b'<m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError'
    b"</m:ResponseCode></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse></s:Body></s:Envelope>"
)


@pytest.mark.django_db
def test_an_app_without_ews_access_is_refused_as_an_answer(sandbox_tenant, tenant, rate):
    with integration_clients(tenant) as app:
        scope = app.endpoints.exchange_scope
        auth = BearerAuth(lambda: app.credentials.token(scope), renew=lambda: app.credentials.renew(scope))
        access = EwsClient(app.endpoints.ews_url, app.session, auth, "ews-test").calendar_access(CONTROL)
    assert access.code == TOKEN_WITHOUT_PERMISSIONS and access.app_refused and access.denied and not access.opened
    assert "password" not in access.reason and "Basic" not in access.reason


class ScriptedSession:
    """Answers each request with the next scripted response and keeps what was sent."""

    def __init__(self, *answers: tuple[int, bytes, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.sent.append({"headers": dict(kwargs.get("headers") or {}), "auth": kwargs.get("auth")})
        status, body, headers = self.answers.pop(0)
        response = requests.Response()
        response.status_code, response._content = status, body
        response.headers.update(headers)
        response.request = requests.Request(method, url).prepare()
        return response


@pytest.mark.django_db
def test_a_refused_token_is_renewed_once_and_the_anchor_names_the_mailbox(rate):
    renewed: list[bool] = []
    session = ScriptedSession((401, b"", {}), (200, SUCCESS, {"Content-Type": "text/xml"}))
    auth = BearerAuth(lambda: "token", renew=lambda: not renewed and not renewed.append(True))
    access = EwsClient("https://outlook.example/EWS/Exchange.asmx", session, auth, "ews-test").calendar_access(CONTROL)
    assert access.opened and renewed == [True]
    assert [sent["headers"]["X-AnchorMailbox"] for sent in session.sent] == [CONTROL, CONTROL]


@pytest.mark.django_db
def test_the_facade_builds_the_integrations_ews_client(sandbox_tenant, tenant, rate):
    from wizard.microsoft import integration_ews

    with integration_clients(tenant) as app:
        ews = integration_ews(app)
        assert ews.app_only and ews.transport.renew is not None
        assert ews.calendar_access(CONTROL).app_refused
