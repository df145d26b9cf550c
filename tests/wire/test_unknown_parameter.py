"""A parameter Exchange does not know, through InvokeCommand: HTTP 400 `BadRequest` with
`Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException` "Parameter set cannot be resolved using
the specified named parameters. Invalid cmdlet parameters specified. <name>", not PowerShell's
ParameterBindingException (a live capture, tests/wire/bodies/cmdlet_unknown_parameter.json; sandbox/WIRE.md [G2O])."""

from tests.sandbox.sandbox_client import MsClient
from tests.wire.conftest import recorded
from wizard.microsoft.errors import ExchangeCmdletError, exchange_error
from wizard.services.grants import app_assignments

AMBIGUOUS = "Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException"
APP_ID = "0a1b2c3d-0000-4000-8000-000000000001"
SP_ID = "2c3d4e5f-0000-4000-8000-00000000000b"


def test_the_recorded_unknown_parameter_reads_as_a_cmdlet_error_of_its_type():
    status, body = recorded("cmdlet_unknown_parameter")
    error = exchange_error(status, body, {}, cmdlet="Get-QuarantineMessage")
    assert isinstance(error, ExchangeCmdletError)
    assert error.short_type == "AmbiguousParameterSetException" and "BogusParameter" in error.message


def test_the_sandbox_refuses_an_unknown_parameter_as_the_capture_does(sandbox_tenant):
    response = MsClient(sandbox_tenant.info).invoke_raw("Get-Mailbox", Identitty="x")
    status, recorded_body = recorded("cmdlet_unknown_parameter")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == recorded_body["error"]["code"]
    [detail] = error["details"]
    assert detail["message"] == (
        f"|{AMBIGUOUS}|Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet "
        "parameters specified. Identitty"
    )
    assert error["innererror"]["internalexception"]["type"] == AMBIGUOUS


class _RefusesRoleAssignee:
    """An Exchange that does not take -RoleAssignee: every assignment is then listed and matched to the app."""

    def __init__(self):
        self.calls = []

    def invoke(self, cmdlet, **parameters):
        self.calls.append((cmdlet, parameters))
        if "RoleAssignee" in parameters:
            status, body = recorded("cmdlet_unknown_parameter")
            raise exchange_error(status, body, {}, cmdlet=cmdlet)
        return [
            {"Name": "a", "Role": "Application Mail.Read", "App": APP_ID},
            {"Name": "b", "Role": "Application Mail.Read", "App": "someone-else"},
        ]


def test_an_app_s_assignments_are_still_listed_when_exchange_refuses_role_assignee():
    exchange = _RefusesRoleAssignee()

    found = app_assignments(exchange, [SP_ID], {SP_ID, APP_ID})

    assert [a["Name"] for a in found] == ["a"]
    assert exchange.calls[-1] == ("Get-ManagementRoleAssignment", {"RoleAssigneeType": "ServicePrincipal"})
