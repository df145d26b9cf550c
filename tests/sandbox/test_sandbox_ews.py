"""The sandbox's EWS as Exchange answers it: a default EWS virtual directory offers Windows authentication
(Negotiate/NTLM), not Basic; X-AnchorMailbox is recorded; an app-only token without EWS access is refused at the HTTP
level (WIRE.md, EWS)."""

import base64

import pytest
import requests
from requests_ntlm import HttpNtlmAuth
from sandbox_client import MsClient

PASSWORD = "Sandbox-Passw0rd!"
SERVICE = "svc-ews@contoso.com"


def _body(mailbox: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header>
    <t:RequestServerVersion Version="Exchange2016"/>
    <t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>{mailbox}</t:SmtpAddress></t:ConnectingSID>
    </t:ExchangeImpersonation>
  </soap:Header>
  <soap:Body>
    <m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
      <m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>
  </soap:Body>
</soap:Envelope>"""


def get_folder(info, mailbox, user=SERVICE, password=PASSWORD, basic=False, headers=None):
    """GetFolder of `mailbox`'s calendar as `user`: NTLM (what the default virtual directory offers) or Basic."""
    body = _body(mailbox)
    session = requests.Session()
    session.trust_env = False
    sent = {"Content-Type": "text/xml; charset=utf-8", "X-AnchorMailbox": mailbox, **(headers or {})}
    auth = None
    if basic:
        sent["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    else:
        auth = HttpNtlmAuth(user, password)
    return session.post(
        info["ews_url"], data=body.encode(), verify=info["ca_bundle"], timeout=30, headers=sent, auth=auth
    )


@pytest.fixture
def service_account(sandbox_tenant):
    ms = MsClient(sandbox_tenant.info)
    response = ms.graph(
        "POST",
        "/users",
        json={
            "accountEnabled": True,
            "displayName": "EWS service",
            "mailNickname": "svc-ews",
            "userPrincipalName": SERVICE,
            "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": False},
        },
    )
    assert response.status_code == 201
    control = sandbox_tenant.control
    control.invoke("New-DistributionGroup", Name="Rooms", Alias="rooms", RoomList=True)
    control.invoke("Add-DistributionGroupMember", Identity="rooms", Member="room-001")
    dn = control.invoke("Get-DistributionGroup", Identity="rooms")[0]["DistinguishedName"]
    control.invoke("New-ManagementScope", Name="Rooms", RecipientRestrictionFilter=f"MemberOfGroup -eq '{dn}'")
    return SERVICE


def test_no_assignment_means_impersonation_denied(sandbox_tenant, service_account):
    response = get_folder(sandbox_tenant.info, "room-001@contoso.onmicrosoft.com")
    assert response.status_code == 500
    assert "<faultcode" in response.text and "a:ErrorImpersonateUserDenied" in response.text


def test_impersonation_inside_and_outside_the_scope(sandbox_tenant, service_account):
    sandbox_tenant.control.invoke(
        "New-ManagementRoleAssignment",
        Name="Rooms impersonation",
        User=service_account,
        Role="ApplicationImpersonation",
        CustomRecipientWriteScope="Rooms",
    )
    inside = get_folder(sandbox_tenant.info, "room-001@contoso.onmicrosoft.com")
    assert inside.status_code == 200
    assert 'ResponseClass="Success"' in inside.text and "<t:CalendarFolder>" in inside.text
    outside = get_folder(sandbox_tenant.info, "room-002@contoso.onmicrosoft.com")
    assert outside.status_code == 500 and "ErrorImpersonateUserDenied" in outside.text
    control_mailbox = get_folder(sandbox_tenant.info, "user-001@contoso.onmicrosoft.com")
    assert "ErrorImpersonateUserDenied" in control_mailbox.text
    unknown = get_folder(sandbox_tenant.info, "ghost@contoso.onmicrosoft.com")
    assert "ErrorNonExistentMailbox" in unknown.text


def test_bad_credentials_are_http_401(sandbox_tenant, service_account):
    assert get_folder(sandbox_tenant.info, "room-001@contoso.onmicrosoft.com", password="wrong").status_code == 401
    unknown = get_folder(sandbox_tenant.info, "room-001@contoso.onmicrosoft.com", user="nobody@contoso.com")
    assert unknown.status_code == 401


def test_a_default_virtual_directory_offers_windows_authentication_not_basic(sandbox_tenant, service_account):
    """Default settings for Exchange virtual directories: EWS has Anonymous and Windows authentication; IIS offers
    Negotiate and NTLM (captures: mhewedy/ews#4, gautamsi/ews-javascript-api#104)."""
    room = "room-001@contoso.onmicrosoft.com"
    basic = get_folder(sandbox_tenant.info, room, basic=True)
    assert basic.status_code == 401 and basic.headers["WWW-Authenticate"] == "Negotiate, NTLM"
    assert "ErrorImpersonateUserDenied" in get_folder(sandbox_tenant.info, room).text  # NTLM signs in

    sandbox_tenant.control.set_knobs(ews_basic_authentication=True)  # Set-WebServicesVirtualDirectory
    assert "ErrorImpersonateUserDenied" in get_folder(sandbox_tenant.info, room, basic=True).text
    offered = get_folder(sandbox_tenant.info, room, basic=True, password="wrong").headers["WWW-Authenticate"]
    assert offered == 'Negotiate, NTLM, Basic realm="127.0.0.1"'


def test_the_anchor_mailbox_is_recorded(sandbox_tenant, service_account):
    room = "room-001@contoso.onmicrosoft.com"
    get_folder(sandbox_tenant.info, room)
    get_folder(sandbox_tenant.info, room, headers={"X-AnchorMailbox": "room-002@contoso.onmicrosoft.com"})
    assert sandbox_tenant.control.calls()["ews_anchor"] == {"matched": 1, "other": 1}


def _app_get_folder(info, mailbox):
    """GetFolder as the integration's app (an app-only token of the outlook audience), no service account."""
    token = MsClient(info, info["integration_app_id"], info["integration_client_secret"]).token(info["exchange_scope"])
    session = requests.Session()
    session.trust_env = False
    return session.post(
        info["ews_url"],
        data=_body(mailbox).encode(),
        verify=info["ca_bundle"],
        timeout=30,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "X-AnchorMailbox": mailbox,
            "Authorization": "Bearer " + token,
        },
    )


def test_an_app_without_ews_access_is_refused_at_the_http_level(sandbox_tenant):
    """otris/ews-cpp#148: 401 with x-ms-diagnostics 2000008; PowerShell-EWS-Scripts#47/#62: 403. Never a SOAP
    ErrorAccessDenied in a 200."""
    info = sandbox_tenant.info
    refused = _app_get_folder(info, "user-001@contoso.onmicrosoft.com")
    assert refused.status_code == 401 and refused.text == ""
    assert refused.headers["x-ms-diagnostics"].startswith('2000008;reason="The token contains no permissions')


def test_an_app_whose_grant_leaves_the_mailbox_out_is_forbidden(sandbox_tenant):
    info = sandbox_tenant.info
    app_id = info["integration_app_id"]
    control = sandbox_tenant.control
    control.invoke("New-ServicePrincipal", AppId=app_id, ObjectId="5e6f7a8b-0000-4000-8000-000000000002")
    control.invoke(
        "New-ManagementScope",
        Name="Room 1",
        RecipientRestrictionFilter="PrimarySmtpAddress -eq 'room-001@contoso.onmicrosoft.com'",
    )
    control.invoke(
        "New-ManagementRoleAssignment", App=app_id, Role="Application EWS.AccessAsApp", CustomResourceScope="Room 1"
    )
    assert _app_get_folder(info, "room-001@contoso.onmicrosoft.com").status_code == 200
    outside = _app_get_folder(info, "user-001@contoso.onmicrosoft.com")
    assert outside.status_code == 403 and "ErrorAccessDenied" not in outside.text
