"""Cloud endpoints and the error table: pure functions, fed the wire formats the sandbox cannot produce."""

import pytest
import requests

from tenants.models import Cloud, Tenant
from wizard.microsoft.clouds import CloudMisconfigured, endpoints_for
from wizard.microsoft.errors import (
    EXPLANATIONS,
    AlreadyExists,
    BadRequest,
    ExchangeObjectNotFound,
    NotFound,
    PermissionMissing,
    ServiceUnavailable,
    exchange_error,
    graph_error,
    identity_error,
)
from wizard.microsoft.http import retry_after_seconds

TENANT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("cloud", "login", "graph", "exchange"),
    [
        (Cloud.WORLDWIDE, "login.microsoftonline.com", "graph.microsoft.com", "outlook.office365.com"),
        (Cloud.USGOV_HIGH, "login.microsoftonline.us", "graph.microsoft.us", "outlook.office365.us"),
        (Cloud.CHINA, "login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn", "partner.outlook.cn"),
    ],
)
def test_sovereign_clouds(cloud, login, graph, exchange):
    endpoints = endpoints_for(Tenant(slug="t", cloud=cloud, microsoft_tenant_id=TENANT_ID))
    assert endpoints.authority == f"https://{login}/{TENANT_ID}"
    assert endpoints.authority_host == f"https://{login}"
    assert endpoints.graph_url == f"https://{graph}/v1.0"
    assert endpoints.graph_scope == f"https://{graph}/.default"
    assert endpoints.exchange_admin_url == f"https://{exchange}/adminapi/beta/{TENANT_ID}"
    assert endpoints.exchange_scope == f"https://{exchange}/.default"
    assert endpoints.ews_url == f"https://{exchange}/EWS/Exchange.asmx"
    assert endpoints.ca_bundle is None


def test_consent_link_names_the_proven_tenant_not_any_organisation():
    endpoints = endpoints_for(Tenant(slug="t", cloud=Cloud.WORLDWIDE))
    url = endpoints.admin_consent_url("app-id", "https://onramp.example/callback", "xyz", "tid-1")
    assert url.startswith("https://login.microsoftonline.com/tid-1/adminconsent?client_id=app-id")
    assert "redirect_uri=https%3A%2F%2Fonramp.example%2Fcallback" in url and url.endswith("state=xyz")


def test_custom_endpoints_must_be_complete():
    with pytest.raises(CloudMisconfigured) as caught:
        endpoints_for(Tenant(slug="t", cloud=Cloud.CUSTOM, custom_endpoints={"authority": "https://x/t"}))
    assert "graph_url" in caught.value.message


def test_exchange_message_without_error_id():
    error = exchange_error(
        400,
        {
            "error": {
                "code": "BadRequest",
                "message": "|Microsoft.Exchange.Configuration.Tasks."
                "ManagementObjectNotFoundException|The operation couldn't be performed because object 'x' "
                "couldn't be found on 'DC01'.",
            }
        },
        {"request-id": "r-1"},
        cmdlet="Get-Mailbox",
    )
    assert isinstance(error, ExchangeObjectNotFound) and isinstance(error, NotFound)
    assert error.message.startswith("The operation") and error.request_id == "r-1"


def test_exchange_message_that_is_not_a_cmdlet_error():
    error = exchange_error(400, {"error": {"code": "BadRequest", "message": "Bad body"}}, {}, cmdlet="Get-Mailbox")
    assert error.code == "BadRequest" and error.exception_type == "" and error.message == "Bad body"


def test_graph_error_without_json_body():
    # A proxy or gateway answering with HTML: still a typed error with the HTTP status.
    error = graph_error(502, None, {})
    assert isinstance(error, ServiceUnavailable) and error.code == "HTTP502"


@pytest.mark.parametrize(
    ("message", "kind", "words"),
    [
        (
            "Another object with the same value for property userPrincipalName already exists.",
            AlreadyExists,
            "already exists",
        ),
        ("License assignment cannot be done for user with invalid usage location.", BadRequest, "usage location"),
        ("Subscription with SKU 123 does not have any available licenses.", BadRequest, "Buy more units"),
    ],
)
def test_graph_bad_requests_are_told_apart(message, kind, words):
    error = graph_error(400, {"error": {"code": "Request_BadRequest", "message": message}}, {})
    assert type(error) is kind
    assert words in error.explanation + error.fix


def test_permission_missing_names_the_permission():
    error = graph_error(
        403,
        {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient"}},
        {},
        permission="User.ReadWrite.All",
        app="app-1",
    )
    assert isinstance(error, PermissionMissing) and error.permission == "User.ReadWrite.All"
    assert "User.ReadWrite.All" in error.fix and "app-1" in error.fix


def test_identity_error_from_description_only():
    error = identity_error({"error": "invalid_client", "error_description": "AADSTS7000222: The secret expired."})
    assert error.code == "AADSTS7000222" and "expired" in error.explanation


def test_every_explanation_has_a_fix():
    assert all(explanation and fix for explanation, fix in EXPLANATIONS.values())


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), (None, None), ("soon", None)],
)
def test_retry_after_header(header, seconds):
    response = requests.Response()
    if header is not None:
        response.headers["Retry-After"] = header
    assert retry_after_seconds(response.headers.get("Retry-After")) == seconds


def test_retry_after_as_http_date():
    response = requests.Response()
    response.headers["Retry-After"] = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: no wait
    assert retry_after_seconds(response.headers.get("Retry-After")) == 0.0
