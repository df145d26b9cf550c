"""The Exchange admin API's two refusals of an app (issue 25 point 3): a token without Exchange.ManageAsApp, and an
accepted token whose app holds no Exchange role, which Exchange answers with HTTP 401 "User is not allowed to call
<cmdlet>" (MicrosoftDocs/office-docs-powershell#7970), not 403. Each names its own fix."""

import pytest

from tests.sandbox.sandbox_client import MsClient
from tests.wire.conftest import recorded
from wizard.microsoft.errors import (
    ExchangeAppPermissionMissing,
    ExchangeRoleMissing,
    PermissionMissing,
    exchange_error,
)

APP = "11111111-2222-3333-4444-555555555555"


def test_the_recorded_role_refusal_names_the_role_not_manage_as_app():
    status, body = recorded("exchange_role_missing")
    error = exchange_error(status, body, {}, cmdlet="Get-Mailbox", app=APP)
    assert isinstance(error, ExchangeRoleMissing) and isinstance(error, PermissionMissing)
    assert error.status == 401 and error.permission == "Exchange Administrator role"
    assert error.message == "User is not allowed to call Get-Mailbox"
    assert "Exchange.ManageAsApp is granted" in error.explanation and "Get-Mailbox" in error.explanation
    assert "Roles & admins > Exchange Administrator" in error.fix and APP in error.fix
    assert "Do not grant Exchange.ManageAsApp again" in error.fix


def test_a_refused_token_still_names_manage_as_app():
    body = {"error": {"code": "Unauthorized", "message": "The token is invalid."}}
    error = exchange_error(401, body, {}, cmdlet="Get-Mailbox", app=APP)
    assert isinstance(error, ExchangeAppPermissionMissing) and error.permission == "Exchange.ManageAsApp"
    assert "Office 365 Exchange Online" in error.fix


def test_the_sandbox_answers_a_missing_role_in_the_recorded_shape(sandbox_tenant):
    sandbox_tenant.control.remove_connector_permission("Exchange Administrator")
    response = MsClient(sandbox_tenant.info).invoke_raw("Get-Mailbox", ResultSize="Unlimited")
    status, recorded_body = recorded("exchange_role_missing")
    assert response.status_code == status
    assert response.json() == recorded_body
    error = exchange_error(response.status_code, response.json(), response.headers, cmdlet="Get-Mailbox")
    assert isinstance(error, ExchangeRoleMissing)


@pytest.mark.parametrize(("removed", "cls"), [("Exchange.ManageAsApp", ExchangeAppPermissionMissing)])
def test_the_sandbox_refuses_a_token_without_manage_as_app_otherwise(sandbox_tenant, removed, cls):
    sandbox_tenant.control.remove_connector_permission(removed)
    response = MsClient(sandbox_tenant.info).invoke_raw("Get-OrganizationConfig")
    error = exchange_error(response.status_code, response.json(), response.headers, cmdlet="Get-OrganizationConfig")
    assert response.status_code == 401 and isinstance(error, cls)


def test_a_403_whose_body_is_not_json_reads_as_the_role_missing():
    """InvokeCommand measured live in 2026 answered an app holding Exchange.ManageAsApp but no directory role with 403
    and a body of NUL bytes, not JSON (sandbox/WIRE.md [G2O]): still the role, not InvokeCommand refused."""
    error = exchange_error(403, None, {}, cmdlet="Get-Mailbox", app=APP)
    assert isinstance(error, ExchangeRoleMissing) and error.permission == "Exchange Administrator role"
    assert "Exchange Administrator" in error.fix and APP in error.fix
