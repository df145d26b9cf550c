"""Each of Microsoft's answers mapped to the class a step branches on, and to the words the admin reads.

The class is the contract: not-found means "create it", already-exists "adopt it", bad request "do not retry",
throttled "wait", service unavailable "try again later". So every case here names the exact class (`type(error) is`),
not only a code. Bodies are written from Microsoft's documented and captured shapes (sandbox/WIRE.md, tests/wire/);
the HTML, empty and malformed ones are what proxies and gateways send instead.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.wire.conftest import recorded
from wizard.microsoft.errors import (
    EWS,
    EXCHANGE,
    EXPLANATIONS,
    GRAPH,
    IDENTITY,
    AlreadyExists,
    AuthenticationFailed,
    BadRequest,
    ExchangeAppPermissionMissing,
    ExchangeCmdletError,
    ExchangeObjectAlreadyExists,
    ExchangeObjectNotFound,
    ExchangeRoleMissing,
    MicrosoftError,
    NotFound,
    PermissionMissing,
    ResultsTruncated,
    ServiceUnavailable,
    Throttled,
    cmdlet_error_text,
    exchange_error,
    explain,
    graph_error,
    identity_error,
    results_truncated,
    still_throttled,
    unreachable,
)

APP = "0f7a1c2e-app"
DEFAULT_EXPLANATION = "Microsoft refused the operation."
DEFAULT_FIX = "Check Microsoft's message; try again if it looks transient."
NOT_FOUND_TYPE = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
DEHYDRATED_TYPE = "Microsoft.Exchange.Configuration.Tasks.InvalidOperationInDehydratedContextException"
# What proxies, gateways and load balancers answer instead of JSON; `response_json` makes them None.
NOT_JSON_BODIES: list[Any] = [None, "", "<html><body>502 Bad Gateway</body></html>", [], {"error": "Bad Gateway"}]


def graph_body(code: str, message: str = "", request_id: str = "") -> dict[str, Any]:
    """Graph's documented error envelope (WIRE.md: code, message, innerError with date and request ids)."""
    inner = {"date": "2026-11-30T09:12:44", "request-id": request_id, "client-request-id": request_id}
    return {"error": {"code": code, "message": message, "innerError": inner}}


def words(key: str, **context: str) -> tuple[str, str]:
    """The table's (explanation, fix) for `key`, filled as the builders fill it."""
    context = {"app": APP, "permission": "see Microsoft's message", **context}
    explanation, fix = EXPLANATIONS[key]
    return explanation.format(**context), fix.format(**context)


def typed(error_id: str, exception_type: str, text: str) -> str:
    """Exchange's "<error id>|<.NET exception type>|<text>" as a cmdlet error carries it."""
    return f"{error_id}|{exception_type}|{text}"


def cmdlet_body(code: str, typed_text: str, *, internal: dict[str, str] | None = None) -> dict[str, Any]:
    """The Exchange admin API's cmdlet failure (tests/wire/bodies/cmdlet_not_found.json's shape)."""
    inner: dict[str, Any] = {
        "message": "Error executing cmdlet",
        "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
    }
    if internal is not None:
        inner["internalexception"] = internal
    return {
        "error": {
            "code": code,
            "message": "Error executing cmdlet",
            "details": [{"code": "Context", "target": "", "message": typed_text}],
            "innererror": inner,
        }
    }


# -- Graph ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls", "key"),
    [
        # 400: listed and unlisted codes are all "do not retry".
        (400, graph_body("Request_BadRequest", "Invalid object identifier 'x'."), BadRequest, None),
        (400, graph_body("invalidRequest", "Invalid request"), BadRequest, None),
        (400, graph_body("Request_UnsupportedQuery", "Unsupported Query."), BadRequest, None),
        # 401: whatever the code, the token was refused.
        (
            401,
            graph_body("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
            AuthenticationFailed,
            "InvalidAuthenticationToken",
        ),
        (401, graph_body("Unauthorized", "Unauthorized"), AuthenticationFailed, "InvalidAuthenticationToken"),
        # 403: a permission is missing, mailbox access has its own words.
        (
            403,
            graph_body("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
            PermissionMissing,
            "Authorization_RequestDenied",
        ),
        (403, graph_body("ErrorAccessDenied", "Access is denied."), PermissionMissing, "ErrorAccessDenied"),
        (403, graph_body("accessDenied", "Forbidden"), PermissionMissing, "Authorization_RequestDenied"),
        # 404: create it (or wait for replication).
        (
            404,
            graph_body("Request_ResourceNotFound", "Resource 'x' does not exist."),
            NotFound,
            "Request_ResourceNotFound",
        ),
        (
            404,
            graph_body("MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or on-premise."),
            NotFound,
            "MailboxNotEnabledForRESTAPI",
        ),
        (404, graph_body("ResourceNotFound", "Not found"), NotFound, "Request_ResourceNotFound"),
        (404, graph_body("itemNotFound", "The resource could not be found."), NotFound, "Request_ResourceNotFound"),
        # 409: a conflict is a 4xx, so "do not retry", never "service failed".
        (409, graph_body("ErrorFolderExists", "A folder with the specified name already exists."), BadRequest, None),
        # 429: throttled beyond the wait budget, whichever throttling code Graph chose.
        (429, graph_body("TooManyRequests", "Too many requests"), Throttled, "TooManyRequests"),
        (
            429,
            graph_body("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
            Throttled,
            "TooManyRequests",
        ),
        # 5xx after retries: try again later, never "do not retry".
        (
            500,
            graph_body("generalException", "General exception while processing."),
            ServiceUnavailable,
            "ServiceUnavailable",
        ),
        (502, graph_body("BadGateway", "Bad gateway"), ServiceUnavailable, "ServiceUnavailable"),
        (503, graph_body("ServiceUnavailable", "Service unavailable"), ServiceUnavailable, "ServiceUnavailable"),
        (504, graph_body("GatewayTimeout", "Gateway timeout"), ServiceUnavailable, "ServiceUnavailable"),
    ],
)
def test_graph_status_and_code_choose_the_class_and_words(status, body, cls, key):
    error = graph_error(status, body, {}, app=APP)
    assert type(error) is cls
    assert error.status == status and error.service == GRAPH
    assert error.code == body["error"]["code"] and error.message == body["error"]["message"]
    expected = words(key) if key else (DEFAULT_EXPLANATION, DEFAULT_FIX)
    assert (error.explanation, error.fix) == expected


@pytest.mark.parametrize("body", NOT_JSON_BODIES)
@pytest.mark.parametrize(
    ("status", "cls", "key"),
    [
        (400, BadRequest, None),
        (401, AuthenticationFailed, "InvalidAuthenticationToken"),
        (403, PermissionMissing, "Authorization_RequestDenied"),
        (404, NotFound, "Request_ResourceNotFound"),
        (409, BadRequest, None),
        (429, Throttled, "TooManyRequests"),
        (500, ServiceUnavailable, "ServiceUnavailable"),
        (502, ServiceUnavailable, "ServiceUnavailable"),
        (503, ServiceUnavailable, "ServiceUnavailable"),
        (504, ServiceUnavailable, "ServiceUnavailable"),
    ],
)
def test_graph_without_a_json_error_is_classed_by_its_status(status, cls, key, body):
    error = graph_error(status, body, {})
    assert type(error) is cls
    assert error.code == f"HTTP{status}" and error.message == "" and error.request_id == ""
    context = {"app": "Onramp's app"}
    assert (error.explanation, error.fix) == (words(key, **context) if key else (DEFAULT_EXPLANATION, DEFAULT_FIX))


def test_graph_code_alone_marks_a_refused_token_or_a_missing_object():
    # Inside a $batch the code is what Graph puts first; the status of these codes is fixed by Graph anyway.
    assert type(graph_error(400, graph_body("InvalidAuthenticationToken"), {})) is AuthenticationFailed
    for code in ("Request_ResourceNotFound", "MailboxNotEnabledForRESTAPI", "ResourceNotFound"):
        assert type(graph_error(400, graph_body(code), {})) is NotFound, code


@pytest.mark.parametrize(
    ("message", "cls", "key"),
    [
        (
            "Another object with the same value for property userPrincipalName already exists.",
            AlreadyExists,
            "Request_BadRequest:already exists",
        ),
        ("Another object with the same value for property proxyAddresses ALREADY EXISTS.", AlreadyExists, None),
        (
            "License assignment cannot be done for user with invalid usage location.",
            BadRequest,
            "Request_BadRequest:invalid usage location",
        ),
        (
            "Subscription with SKU 6fd2c87f-b296-42f0-b197-1e91e994b900 does not have any available licenses.",
            BadRequest,
            "Request_BadRequest:does not have any available licenses",
        ),
    ],
)
def test_graph_request_bad_request_is_told_apart_by_its_message(message, cls, key):
    error = graph_error(400, graph_body("Request_BadRequest", message), {}, app=APP)
    assert type(error) is cls and error.code == "Request_BadRequest" and error.message == message
    assert (error.explanation, error.fix) == words(key or "Request_BadRequest:already exists")


def test_graph_phrases_only_count_for_request_bad_request():
    error = graph_error(400, graph_body("invalidRequest", "The value already exists."), {})
    assert type(error) is BadRequest and (error.explanation, error.fix) == (DEFAULT_EXPLANATION, DEFAULT_FIX)


@pytest.mark.parametrize("body", [graph_body("Request_BadRequest"), {"error": {"code": "Request_BadRequest"}}])
def test_graph_request_bad_request_without_a_message_is_a_plain_bad_request(body):
    error = graph_error(400, body, {})
    assert type(error) is BadRequest and error.message == ""
    assert (error.explanation, error.fix) == (DEFAULT_EXPLANATION, DEFAULT_FIX)


def test_graph_permission_missing_names_the_permission_and_the_app():
    body = graph_body("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    error = graph_error(403, body, {}, permission="User.ReadWrite.All", app=APP)
    assert type(error) is PermissionMissing and error.permission == "User.ReadWrite.All"
    assert (error.explanation, error.fix) == words("Authorization_RequestDenied", permission="User.ReadWrite.All")
    assert error.detail()["permission"] == "User.ReadWrite.All"


def test_graph_permission_missing_without_a_known_permission_points_at_the_message():
    error = graph_error(403, graph_body("Authorization_RequestDenied"), {})
    assert error.permission == ""
    assert error.explanation.endswith("this operation needs: see Microsoft's message.")
    assert "App registrations > Onramp's app > API permissions" in error.fix


def test_graph_classes_other_than_permission_missing_carry_no_permission():
    error = graph_error(404, graph_body("Request_ResourceNotFound"), {}, permission="User.Read.All")
    assert "permission" not in error.detail()


@pytest.mark.parametrize(
    ("body", "headers", "request_id"),
    [
        (graph_body("x", request_id="inner-1"), {"request-id": "header-1"}, "header-1"),
        (graph_body("x", request_id="inner-1"), {"Request-Id": "header-1"}, "header-1"),
        (graph_body("x", request_id="inner-1"), {}, "inner-1"),
        ({"error": {"code": "x", "innererror": {"request-id": "lower-1"}}}, {}, "lower-1"),
        ({"error": {"code": "x", "innerError": {"requestId": "camel-1"}}}, {}, "camel-1"),
        ({"error": {"code": "x"}}, {}, ""),
        ({"error": {"code": "x"}}, None, ""),
    ],
)
def test_graph_request_id_prefers_the_header_then_the_inner_error(body, headers, request_id):
    assert graph_error(400, body, headers).request_id == request_id


def test_graph_detail_names_the_status_and_service():
    error = graph_error(404, graph_body("Request_ResourceNotFound", request_id="r-9"), {})
    assert error.detail() == {
        "explanation": error.explanation,
        "fix": error.fix,
        "request_id": "r-9",
        "status": 404,
        "service": GRAPH,
        "client_request_id": "r-9",
        "date": "2026-11-30T09:12:44",
    }


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        # Graph's answer headers win over what its innerError repeats.
        (
            graph_body("x", request_id="inner-1"),
            {"Request-Id": "r-1", "Client-Request-Id": "c-1", "Date": "Mon, 30 Nov 2026 09:12:45 GMT"},
            ("r-1", "c-1", "Mon, 30 Nov 2026 09:12:45 GMT"),
        ),
        (graph_body("x", request_id="inner-1"), {}, ("inner-1", "inner-1", "2026-11-30T09:12:44")),
        ({"error": {"code": "x", "innerError": "not a mapping"}}, {}, ("", "", "")),
        ("<html>proxy</html>", {"date": "d-1", "client-request-id": "c-2"}, ("", "c-2", "d-1")),
    ],
)
def test_graph_error_keeps_what_microsofts_support_asks_for(body, headers, expected):
    error = graph_error(400, body, headers)
    assert (error.request_id, error.client_request_id, error.date) == expected
    assert (error.detail()["request_id"], error.detail()["client_request_id"], error.detail()["date"]) == expected


def test_exchange_error_keeps_what_microsofts_support_asks_for():
    headers = {"request-id": "r-3", "client-request-id": "c-3", "Date": "Mon, 30 Nov 2026 09:12:46 GMT"}
    error = exchange(404, cmdlet_body("NotFound", typed("Ex6F9304", NOT_FOUND_TYPE, "Gone.")), headers)
    assert (error.request_id, error.client_request_id, error.date) == ("r-3", "c-3", "Mon, 30 Nov 2026 09:12:46 GMT")


def test_onramps_own_give_ups_keep_the_id_it_sent_and_microsofts_last_answer():
    gone = unreachable(GRAPH, "GET /users", "no answer", client_request_id="sent-1")
    assert (gone.request_id, gone.client_request_id, gone.date) == ("", "sent-1", "")
    busy = unreachable(GRAPH, "GET /users", "HTTP 503", headers={"Request-Id": "r-4", "Date": "d-4"})
    assert (busy.request_id, busy.date) == ("r-4", "d-4")
    throttled = still_throttled(GRAPH, "GET /users", 300, {"request-id": "r-5", "client-request-id": "c-5"})
    assert (throttled.request_id, throttled.client_request_id) == ("r-5", "c-5")


def test_graph_error_without_code_or_message_keys():
    error = graph_error(400, {"error": {"code": None, "message": None}}, {})
    assert type(error) is BadRequest and error.code == "HTTP400" and error.message == ""


# -- Exchange admin API --------------------------------------------------------------------------------------------


def exchange(status: int, body: Any, headers: dict[str, str] | None = None, cmdlet: str = "Get-Mailbox"):
    return exchange_error(status, body, headers or {}, cmdlet=cmdlet, app=APP)


def test_recorded_not_found_is_not_found_with_its_words():
    status, body = recorded("cmdlet_not_found")
    error = exchange(status, body, cmdlet="Get-DistributionGroup")
    assert type(error) is ExchangeObjectNotFound and isinstance(error, NotFound)
    assert error.code == "ManagementObjectNotFoundException" and error.exception_type == NOT_FOUND_TYPE
    assert error.cmdlet == "Get-DistributionGroup" and error.service == EXCHANGE and error.status == 404
    assert (error.explanation, error.fix) == words("ManagementObjectNotFoundException")
    assert error.extra == {"error_id": "Ex6F9304"} and error.is_not_found and not error.is_already_exists


def test_recorded_inner_only_member_exists_is_already_exists_even_as_a_500():
    status, body = recorded("cmdlet_error_inner_only")
    error = exchange(status, body, cmdlet="Add-DistributionGroupMember")
    assert status == 500 and type(error) is ExchangeObjectAlreadyExists and isinstance(error, AlreadyExists)
    assert error.code == "MemberAlreadyExistsException" and error.is_already_member and error.is_already_exists
    assert error.message.startswith('The recipient "room-007@fabrikam.example" is already a member')
    assert error.extra == {"error_id": "Ex9C2A51"}
    assert (error.explanation, error.fix) == words("MemberAlreadyExistsException")


def test_recorded_not_a_manager_is_a_plain_cmdlet_error_with_its_fix():
    status, body = recorded("cmdlet_not_a_manager")
    error = exchange(status, body, cmdlet="Add-DistributionGroupMember")
    assert type(error) is ExchangeCmdletError and error.code == "OperationRequiresGroupManagerException"
    assert (error.explanation, error.fix) == words("OperationRequiresGroupManagerException")
    assert "-BypassSecurityGroupManagerCheck" in error.fix


def test_recorded_untyped_404_is_not_found_with_the_code_words():
    status, body = recorded("cmdlet_not_found_untyped")
    error = exchange(status, body)
    assert type(error) is ExchangeObjectNotFound and error.code == "NotFound" and error.exception_type == ""
    assert error.message == "An server side error occured." and error.extra == {}
    assert (error.explanation, error.fix) == (DEFAULT_EXPLANATION, DEFAULT_FIX)


@pytest.mark.parametrize(
    ("exception_type", "cls", "flag"),
    [
        (
            "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
            ExchangeObjectNotFound,
            "is_not_found",
        ),
        (
            "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException",
            ExchangeObjectAlreadyExists,
            "is_already_member",
        ),
        ("Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException", ExchangeObjectAlreadyExists, None),
        (
            "Microsoft.Exchange.Data.Directory.ProxyAddressExistsException",
            ExchangeObjectAlreadyExists,
            "is_duplicate_address",
        ),
        (DEHYDRATED_TYPE, ExchangeCmdletError, "is_refused_as_dehydrated"),
        ("Microsoft.Exchange.Configuration.Tasks.ThrowTerminatingErrorException", ExchangeCmdletError, None),
    ],
)
def test_exchange_cmdlet_exception_types_choose_the_class(exception_type, cls, flag):
    short = exception_type.rsplit(".", 1)[-1]
    error = exchange(400, cmdlet_body("BadRequest", typed("Ex1A2B3C", exception_type, "What Exchange said.")))
    assert type(error) is cls and error.code == short and error.short_type == short
    assert error.message == "What Exchange said." and error.extra == {"error_id": "Ex1A2B3C"}
    flags = ("is_not_found", "is_refused_as_dehydrated", "is_already_member", "is_duplicate_address")
    assert {name for name in flags if getattr(error, name)} == ({flag} if flag else set())
    assert error.is_already_exists == (cls is ExchangeObjectAlreadyExists)
    assert (error.explanation, error.fix) == (
        words(short) if short in EXPLANATIONS else (DEFAULT_EXPLANATION, DEFAULT_FIX)
    )


def test_dehydrated_tenant_is_told_to_wait_30_minutes():
    text = "|" + DEHYDRATED_TYPE + "|The operation isn't currently allowed in your organization."
    error = exchange(400, cmdlet_body("BadRequest", text), cmdlet="New-ManagementScope")
    assert type(error) is ExchangeCmdletError and error.is_refused_as_dehydrated and error.extra == {}
    assert "about 30 minutes" in error.explanation and error.fix.startswith("Wait 30 minutes and run the step again.")
    assert (error.explanation, error.fix) == words("InvalidOperationInDehydratedContextException")


def test_a_plain_400_without_an_exception_type_is_not_not_found():
    # If it were, the room-list step would try to create a list that exists.
    error = exchange(400, {"error": {"code": "BadRequest", "message": "Bad body"}})
    assert type(error) is ExchangeCmdletError and not isinstance(error, NotFound)
    assert error.code == "BadRequest" and error.message == "Bad body" and error.exception_type == ""


@pytest.mark.parametrize("status", [401, 403])
def test_exchange_refused_app_is_permission_missing(status):
    body = {"error": {"code": "Unauthorized" if status == 401 else "Forbidden", "message": "Access denied."}}
    error = exchange(status, body, {"request-id": "r-1"})
    kind = ExchangeAppPermissionMissing if status == 401 else ExchangeRoleMissing
    assert type(error) is kind and isinstance(error, PermissionMissing)
    assert error.service == EXCHANGE and error.status == status
    assert error.permission == ("Exchange.ManageAsApp" if status == 401 else "Exchange Administrator role")
    assert error.code == body["error"]["code"] and error.message == "Access denied." and error.request_id == "r-1"
    assert (error.explanation, error.fix) == words(f"Exchange:{status}")
    assert APP in error.fix


@pytest.mark.parametrize("body", NOT_JSON_BODIES)
@pytest.mark.parametrize("status", [401, 403])
def test_exchange_refused_app_without_a_body_says_which_status(status, body):
    error = exchange(status, body)
    assert isinstance(error, PermissionMissing) and error.code == f"HTTP{status}"
    assert error.message == f"HTTP {status} from the Exchange admin API"


def test_exchange_refusal_with_a_cmdlet_exception_is_that_cmdlet_error():
    body = cmdlet_body("Forbidden", typed("Ex2", NOT_FOUND_TYPE, "Gone."))
    assert type(exchange(403, body)) is ExchangeObjectNotFound


@pytest.mark.parametrize("body", [*NOT_JSON_BODIES, {"error": {"code": "TooManyRequests", "message": "Slow down"}}])
def test_exchange_429_is_throttled(body):
    error = exchange(429, body, {"request-id": "r-2"})
    assert type(error) is Throttled and error.status == 429 and error.service == EXCHANGE
    assert error.code in ("TooManyRequests", "HTTP429") and error.request_id == "r-2"
    assert error.message == (body["error"]["message"] if isinstance(body, dict) and "code" in body["error"] else "")
    assert (error.explanation, error.fix) == words("TooManyRequests")


@pytest.mark.parametrize("body", [*NOT_JSON_BODIES, {"error": {"code": "InternalServerError", "message": "Boom"}}])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_exchange_5xx_without_a_cmdlet_exception_is_service_unavailable(status, body):
    error = exchange(status, body)
    assert type(error) is ServiceUnavailable and error.status == status and error.service == EXCHANGE
    assert error.code in ("InternalServerError", f"HTTP{status}")
    assert (error.explanation, error.fix) == words("ServiceUnavailable")


@pytest.mark.parametrize("body", NOT_JSON_BODIES)
@pytest.mark.parametrize(
    ("status", "cls"), [(400, ExchangeCmdletError), (404, ExchangeObjectNotFound), (409, ExchangeCmdletError)]
)
def test_exchange_4xx_without_a_json_error(status, cls, body):
    error = exchange(status, body, {"Request-Id": "r-3"})
    assert type(error) is cls and error.code == f"HTTP{status}" and error.message == ""
    assert error.exception_type == "" and error.request_id == "r-3" and error.cmdlet == "Get-Mailbox"
    assert (error.explanation, error.fix) == (DEFAULT_EXPLANATION, DEFAULT_FIX)


def test_exchange_detail_holds_the_exception_type_and_cmdlet():
    error = exchange(404, cmdlet_body("NotFound", typed("Ex6F9304", NOT_FOUND_TYPE, "Gone.")))
    assert error.detail() == {
        "explanation": error.explanation,
        "fix": error.fix,
        "request_id": "",
        "error_id": "Ex6F9304",
        "status": 404,
        "service": EXCHANGE,
        "client_request_id": "",
        "date": "",
        "exception_type": NOT_FOUND_TYPE,
        "cmdlet": "Get-Mailbox",
    }


# -- where the typed text is read from -----------------------------------------------------------------------------


def test_details_are_read_before_the_inner_exception():
    body = cmdlet_body(
        "BadRequest",
        typed("Ex1", NOT_FOUND_TYPE, "From details."),
        internal={"message": typed("Ex2", DEHYDRATED_TYPE, "From inner."), "type": DEHYDRATED_TYPE},
    )
    assert cmdlet_error_text(body["error"]) == (NOT_FOUND_TYPE, typed("Ex1", NOT_FOUND_TYPE, "From details."))


def test_untyped_details_fall_back_to_a_typed_inner_exception():
    body = cmdlet_body(
        "BadRequest", "Something went wrong.", internal={"message": typed("Ex2", NOT_FOUND_TYPE, "From inner.")}
    )
    error = exchange(400, body)
    assert (
        type(error) is ExchangeObjectNotFound and error.message == "From inner." and error.extra == {"error_id": "Ex2"}
    )


@pytest.mark.parametrize("key", ["internalexception", "internalException", "InternalException"])
def test_inner_exception_type_names_an_untyped_message(key):
    # The shape of cmdlet_not_a_manager.json's innererror: the type beside a message that carries no type.
    body = {
        "error": {
            "code": "BadRequest",
            "message": "Error executing cmdlet",
            "innererror": {key: {"message": "Couldn't find object 'x'.", "type": NOT_FOUND_TYPE}},
        }
    }
    assert cmdlet_error_text(body["error"]) == (NOT_FOUND_TYPE, "Couldn't find object 'x'.")
    error = exchange(400, body)
    assert type(error) is ExchangeObjectNotFound and error.message == "Couldn't find object 'x'." and error.extra == {}


def test_inner_exception_type_without_its_message_is_not_guessed():
    body = {
        "error": {
            "code": "BadRequest",
            "message": "Error executing cmdlet",
            "innererror": {"internalexception": {"type": NOT_FOUND_TYPE}},
        }
    }
    assert cmdlet_error_text(body["error"]) == ("", "Error executing cmdlet")
    assert type(exchange(400, body)) is ExchangeCmdletError


def test_typed_text_in_the_error_message_itself():
    text = typed("", NOT_FOUND_TYPE, "The operation couldn't be performed because object 'x' couldn't be found.")
    error = exchange(400, {"error": {"code": "BadRequest", "message": text}})
    assert type(error) is ExchangeObjectNotFound and error.extra == {}
    assert error.message == "The operation couldn't be performed because object 'x' couldn't be found."


def test_typed_text_is_trimmed_and_may_span_lines():
    text = "  Ex7|" + NOT_FOUND_TYPE + "|  First line.\nSecond line.  \n"
    error = exchange(404, cmdlet_body("NotFound", text))
    assert error.message == "First line.\nSecond line." and error.extra == {"error_id": "Ex7"}
    assert error.exception_type == NOT_FOUND_TYPE


def test_typed_text_with_an_empty_text_keeps_the_error_message():
    error = exchange(400, cmdlet_body("BadRequest", typed("Ex8", NOT_FOUND_TYPE, "")))
    assert type(error) is ExchangeObjectNotFound and error.message == "Error executing cmdlet"


def test_a_short_exception_type_without_a_namespace():
    error = exchange(400, cmdlet_body("BadRequest", typed("", "ProxyAddressExistsException", "Taken.")))
    assert type(error) is ExchangeObjectAlreadyExists and error.short_type == "ProxyAddressExistsException"


@pytest.mark.parametrize(
    "error",
    [
        {},
        {"details": None},
        {"details": 5},
        {"details": "Ex1|T|x"},
        {"details": [None, 3, {"message": None}]},
        {"innererror": "text"},
        {"innererror": {"internalexception": None}},
    ],
)
def test_malformed_error_objects_give_no_type(error):
    exception_type, text = cmdlet_error_text(error)
    assert exception_type == "" and text == ""


@pytest.mark.parametrize("body", [{"error": {"code": "BadRequest", "details": 5}}, {"error": {"details": "x"}}])
def test_exchange_error_with_malformed_details_is_still_typed(body):
    error = exchange(400, body)
    assert type(error) is ExchangeCmdletError and error.exception_type == ""


def test_nothing_typed_anywhere_keeps_the_first_text():
    error = {"details": [{"message": ""}, {"message": "First."}], "message": "Last."}
    assert cmdlet_error_text(error) == ("", "First.")


# -- token errors (msal results) -----------------------------------------------------------------------------------

WRONG_SECRET = {
    "error": "invalid_client",
    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request"
    " is the client secret value, not the client secret ID.\r\nTrace ID: 0e1f\r\nCorrelation ID: 7a7c\r\nTimestamp: x",
    "error_codes": [7000215],
    "timestamp": "2026-11-30 09:12:44Z",
    "trace_id": "0e1f",
    "correlation_id": "7a7c",
}


def test_token_error_with_error_codes_uses_the_code_and_its_words():
    error = identity_error(WRONG_SECRET, app=APP)
    assert type(error) is AuthenticationFailed and error.service == IDENTITY
    assert error.code == "AADSTS7000215" and error.status == 0
    # The identity platform's Trace ID is its request id; the Correlation ID is the client-request-id msal sent.
    assert (error.request_id, error.client_request_id, error.date) == ("0e1f", "7a7c", "2026-11-30 09:12:44Z")
    assert error.message == WRONG_SECRET["error_description"].splitlines()[0]
    assert (error.explanation, error.fix) == words("AADSTS7000215")
    assert error.extra == {"error": "invalid_client"}


@pytest.mark.parametrize(
    ("code", "description"),
    [
        ("AADSTS700016", "AADSTS700016: Application with identifier 'x' was not found in the directory 'y'."),
        ("AADSTS90002", "AADSTS90002: Tenant 'x' not found. Check to make sure you have the correct tenant ID."),
        ("AADSTS500011", "AADSTS500011: The resource principal named https://outlook.office365.com was not found."),
        ("AADSTS700027", "AADSTS700027: Client assertion contains an invalid signature."),
    ],
)
def test_token_error_without_error_codes_reads_the_code_from_the_description(code, description):
    for result in (
        {"error": "invalid_request", "error_description": description},
        {"error_codes": [], "error_description": description},
    ):
        error = identity_error(result, app=APP)
        assert error.code == code and (error.explanation, error.fix) == words(code)


def test_first_error_code_wins_over_the_description():
    result = {**WRONG_SECRET, "error_codes": [7000222, 7000215]}
    assert identity_error(result).code == "AADSTS7000222"


@pytest.mark.parametrize("error_codes", [None, "7000215", {"a": 1}, ["x"]])
def test_malformed_error_codes_fall_back_to_the_description(error_codes):
    error = identity_error({**WRONG_SECRET, "error_codes": error_codes})
    assert error.code == "AADSTS7000215"


GENERIC = (
    "Microsoft's sign-in service refused to issue a token to the app.",
    "Check the tenant id, client id and secret in the tenant's settings.",
)


def test_unlisted_aadsts_code_gets_the_generic_words():
    error = identity_error(
        {"error": "invalid_client", "error_description": "AADSTS50027: Invalid JWT token.", "error_codes": [50027]}
    )
    assert error.code == "AADSTS50027" and (error.explanation, error.fix) == GENERIC


@pytest.mark.parametrize(
    ("result", "code", "message"),
    [
        ({"error": "invalid_client"}, "invalid_client", "invalid_client"),
        ({"error": "invalid_client", "error_description": "Something failed."}, "invalid_client", "Something failed."),
        ({}, "token_error", "token request failed"),
        ({"error_description": None, "error": None}, "token_error", "token request failed"),
    ],
)
def test_token_error_without_any_code(result, code, message):
    error = identity_error(result)
    assert type(error) is AuthenticationFailed and error.code == code and error.message == message
    assert (error.explanation, error.fix) == GENERIC and error.request_id == ""
    assert error.extra == {"error": result.get("error") or ""}


def test_token_error_request_id_is_the_trace_id_and_the_correlation_id_the_client_request_id():
    assert identity_error({"error": "x", "trace_id": "t-1"}).request_id == "t-1"
    error = identity_error({"error": "x", "trace_id": "t-1", "correlation_id": "c-1"})
    assert (error.request_id, error.client_request_id, error.date) == ("t-1", "c-1", "")


@pytest.mark.parametrize(("status", "expected"), [(400, 400), ("401", 401), ("bad", 0), (None, 0)])
def test_token_error_status(status, expected):
    assert identity_error({"error": "x", "status": status}).status == expected


def test_token_error_default_app_name():
    assert "App registrations > Onramp's app > Certificates" in identity_error(WRONG_SECRET).fix


# -- the other builders and the table ------------------------------------------------------------------------------


def test_results_truncated():
    error = results_truncated("Get-Mailbox", "There are more results available than are currently displayed.")
    assert type(error) is ResultsTruncated and isinstance(error, ExchangeCmdletError)
    assert error.code == "ResultsTruncated" and error.cmdlet == "Get-Mailbox" and error.service == EXCHANGE
    assert error.message == "Get-Mailbox: There are more results available than are currently displayed."
    assert (error.explanation, error.fix) == EXPLANATIONS["ResultsTruncated"]


def test_unreachable():
    error = unreachable(EWS, "POST /EWS/Exchange.asmx", "ConnectTimeout")
    assert type(error) is ServiceUnavailable and error.service == EWS and error.status == 0
    assert error.code == "ServiceUnavailable" and error.message == "POST /EWS/Exchange.asmx: ConnectTimeout"
    assert (error.explanation, error.fix) == EXPLANATIONS["ServiceUnavailable"]


def test_still_throttled():
    error = still_throttled(GRAPH, "GET /users", 31.4)
    assert type(error) is Throttled and error.status == 429 and error.service == GRAPH
    assert error.code == "TooManyRequests" and error.message == "GET /users: still throttled after waiting 31 s"
    assert (error.explanation, error.fix) == EXPLANATIONS["TooManyRequests"]


def test_explain_fills_defaults_and_falls_back():
    assert explain("no such code") == (DEFAULT_EXPLANATION, DEFAULT_FIX)
    explanation, fix = explain("Authorization_RequestDenied")
    assert explanation.endswith("needs: the permission named in the message.")
    assert "> Onramp's app > API permissions" in fix
    assert "> app-9 > API permissions" in explain("Authorization_RequestDenied", app="app-9")[1]


def test_every_class_is_a_microsoft_error():
    for cls in (AuthenticationFailed, PermissionMissing, NotFound, AlreadyExists, BadRequest, Throttled):
        assert issubclass(cls, MicrosoftError)
    assert issubclass(ExchangeObjectNotFound, NotFound) and issubclass(ExchangeObjectAlreadyExists, AlreadyExists)


# -- EWS (wizard/microsoft/ews.py builds these from HTTP status and SOAP) ------------------------------------------

EWS_URL = "https://mail.contoso.example/EWS/Exchange.asmx"


def ews_answer(status: int, content: bytes = b"", headers: dict[str, str] | None = None, app_only: bool = False):
    """What `EwsClient` makes of one HTTP answer: a CalendarAccess, or the MicrosoftError it raises."""
    from requests import Response

    from wizard.microsoft.ews import EwsClient

    client = EwsClient.__new__(EwsClient)  # only `url` and how it signs in are read when answering
    client.url, client.app_only = EWS_URL, app_only
    response = Response()
    response.status_code, response._content = status, content
    response.headers.update(headers or {})
    try:
        return client._answer("room-1@contoso.example", response)
    except MicrosoftError as error:
        return error


def soap(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"'
        ' xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"'
        ' xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def get_folder(response_class: str, code: str, text: str = "") -> bytes:
    return soap(
        f'<m:GetFolderResponse><m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="{response_class}">'
        f"<m:MessageText>{text}</m:MessageText><m:ResponseCode>{code}</m:ResponseCode>"
        "</m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>"
    )


@pytest.mark.parametrize(
    ("status", "content", "cls", "code"),
    [
        (401, b"", AuthenticationFailed, "AuthNotOffered"),  # a 401 that offers nothing
        (403, b"<html>Forbidden</html>", MicrosoftError, "HTTP403"),
        (404, b"", MicrosoftError, "HTTP404"),
        (302, b"", MicrosoftError, "NotEws"),
        (500, b"<html><body>Server Error<br></body></html>", ServiceUnavailable, "HTTP5xx"),
        (503, b"", ServiceUnavailable, "HTTP5xx"),
        (200, b"<html>Sign in</html>", MicrosoftError, "NotEws"),
        (200, soap("<m:Other/>"), MicrosoftError, "NotEws"),
    ],
)
def test_ews_failures_to_talk_to_ews_raise(status, content, cls, code):
    from wizard.microsoft import ews

    error = ews_answer(status, content, {"Location": "https://login.example/"})
    assert type(error) is cls and error.code == code and error.service == EWS
    assert error.explanation == ews.EXPLANATIONS[code] and error.fix == ews.FIXES.get(code, "")


@pytest.mark.parametrize(
    ("content", "code", "opened", "denied"),
    [
        (get_folder("Success", "NoError"), "NoError", True, False),
        (
            get_folder("Error", "ErrorImpersonateUserDenied", "The account does not have permission."),
            "ErrorImpersonateUserDenied",
            False,
            True,
        ),
        (
            get_folder("Error", "ErrorNonExistentMailbox", "No mailbox with SMTP address."),
            "ErrorNonExistentMailbox",
            False,
            False,
        ),
    ],
)
def test_ews_refusals_are_answers_not_errors(content, code, opened, denied):
    access = ews_answer(200, content)
    assert access.code == code and access.opened is opened and access.denied is denied


def test_ews_busy_fault_is_an_answer_with_its_code():
    fault = soap(
        "<s:Fault><faultcode>a:ErrorServerBusy</faultcode><faultstring>The server cannot service this request right"
        " now.</faultstring><detail><e:ResponseCode>ErrorServerBusy</e:ResponseCode><e:Message>The server cannot"
        ' service this request right now.</e:Message><t:MessageXml><t:Value Name="BackOffMilliseconds">2000'
        "</t:Value></t:MessageXml></detail></s:Fault>"
    )
    access = ews_answer(500, fault)
    assert access.code == "ErrorServerBusy" and not access.opened
    assert access.message == "The server cannot service this request right now."


def test_untyped_inner_exception_without_a_type_gives_no_type():
    error = {"innererror": {"internalexception": {"message": "Plain words."}}, "message": "Error executing cmdlet"}
    assert cmdlet_error_text(error) == ("", "Plain words.")


def test_exchange_words_name_onramps_app_when_no_app_is_given():
    error = exchange_error(401, None, {}, cmdlet="Get-Mailbox")
    assert "App registrations > Onramp's app > API permissions" in error.fix


@pytest.mark.parametrize("status", [500, 503])
def test_exchange_5xx_keeps_microsofts_message(status):
    error = exchange(status, {"error": {"code": "InternalServerError", "message": "Boom"}})
    assert error.message == "Boom"
