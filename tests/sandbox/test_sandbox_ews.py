import base64

import pytest
import requests
from sandbox_client import MsClient

PASSWORD = "Sandbox-Passw0rd!"
SERVICE = "svc-ews@contoso.com"


def get_folder(info, mailbox, user=SERVICE, password=PASSWORD):
    body = f"""<?xml version="1.0" encoding="utf-8"?>
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
    session = requests.Session()
    session.trust_env = False
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return session.post(
        info["ews_url"],
        data=body.encode(),
        verify=info["ca_bundle"],
        timeout=30,
        headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": "Basic " + auth},
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
