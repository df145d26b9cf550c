"""Microsoft's failures as typed exceptions an admin can act on.

Every exception is a `wizard.errors.StepError` (so a step that lets one through fails with it as is) and carries
Microsoft's code, message, HTTP status and the three things Microsoft's support asks for — its `request-id`, the
`client-request-id` Onramp sent and the response's date — plus a plain-words `explanation` and the `fix`. The words
come from one table, `EXPLANATIONS`, keyed by Microsoft's error code (Graph), `AADSTS<n>` (identity platform) or
the short exception type of an Exchange cmdlet error.

Services catch by meaning, not by service:
    NotFound, AlreadyExists      also raised for Exchange cmdlet errors (ExchangeObjectNotFound / ...AlreadyExists)
    PermissionMissing            `.permission` names what is missing when known; from the Exchange admin API
                                 ExchangeAppPermissionMissing (the token: Exchange.ManageAsApp) or ExchangeRoleMissing
                                 (the app's Exchange role), told apart by Microsoft's answer
    AuthenticationFailed, Throttled, ServiceUnavailable, BadRequest, ExchangeCmdletError, ResultsTruncated
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wizard.errors import (
    INVOKE_COMMAND_REFUSED,
    INVOKE_COMMAND_REFUSED_EXPLANATION,
    INVOKE_COMMAND_REFUSED_FIX,
    StepError,
)

IDENTITY, GRAPH, EXCHANGE, EWS = "identity", "graph", "exchange", "ews"


@dataclass
class MicrosoftError(StepError):
    """A Microsoft service refused or failed a call. `client_request_id` is the id Onramp sent with the request and
    `date` the response's Date header (or Microsoft's timestamp of the error), as Microsoft's support asks for them."""

    status: int = 0
    service: str = ""
    client_request_id: str = ""
    date: str = ""

    def detail(self) -> dict:
        return {
            **super().detail(),
            "status": self.status,
            "service": self.service,
            "client_request_id": self.client_request_id,
            "date": self.date,
        }


def support_ids(error: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, str]:
    """Microsoft's request id, the client request id and the date of an error response: from the headers (lower-cased
    names), else from Graph's `innerError`, which repeats them."""
    inner = error.get("innerError") or error.get("innererror") or {}
    inner = inner if isinstance(inner, Mapping) else {}
    return {
        "request_id": str(headers.get("request-id") or inner.get("request-id") or inner.get("requestId") or ""),
        "client_request_id": str(headers.get("client-request-id") or inner.get("client-request-id") or ""),
        "date": str(headers.get("date") or inner.get("date") or ""),
    }


class AuthenticationFailed(MicrosoftError):
    """The identity platform refused to issue a token, or an API refused the token."""


@dataclass
class PermissionMissing(MicrosoftError):
    permission: str = ""  # e.g. "User.ReadWrite.All", "Exchange.ManageAsApp", "Exchange Administrator role"

    def detail(self) -> dict:
        return {**super().detail(), "permission": self.permission}


class ExchangeAppPermissionMissing(PermissionMissing):
    """The Exchange admin API refused the app's token itself: no Exchange.ManageAsApp (or no consent to it)."""


class ExchangeRoleMissing(PermissionMissing):
    """The Exchange admin API accepted the app's token but no Exchange role of the app allows the cmdlet: HTTP 401
    "User is not allowed to call <cmdlet>" (MicrosoftDocs/office-docs-powershell#7970), not a 403."""


class InvokeCommandRefused(MicrosoftError):
    """InvokeCommand is not available to this app: the endpoint is gone (410) or Exchange refuses the app as a client
    (403 ErrorAccessDenied, the shape Exchange's REST endpoints refuse a client by policy with; for InvokeCommand
    unconfirmed, sandbox/WIRE.md). Not a missing role (the 401 "User is not allowed to call <cmdlet>") nor a missing
    permission (401 invalid_token): no grant fixes it, so it is never retried."""


class NotFound(MicrosoftError):
    """The object does not exist (or not yet: Microsoft is eventually consistent)."""


class AlreadyExists(MicrosoftError):
    """Microsoft already has an object with this name, alias or address: a step adopts it."""


class BadRequest(MicrosoftError):
    """Microsoft rejected the request itself (a 400 with a code): retrying the same call will not help."""


class Throttled(MicrosoftError):
    """Still throttled after Onramp waited out Retry-After for its whole wait budget."""


class ServiceUnavailable(MicrosoftError):
    """Microsoft kept failing (5xx) or could not be reached after bounded retries."""


@dataclass
class ExchangeCmdletError(MicrosoftError):
    """A cmdlet run through the Exchange admin API failed; `exception_type` is Exchange's .NET exception type,
    `message` the text after it."""

    exception_type: str = ""
    cmdlet: str = ""

    @property
    def short_type(self) -> str:
        return self.exception_type.rsplit(".", 1)[-1]

    @property
    def is_not_found(self) -> bool:
        return self.short_type == "ManagementObjectNotFoundException"

    @property
    def is_refused_as_dehydrated(self) -> bool:
        return self.short_type == "InvalidOperationInDehydratedContextException"

    @property
    def is_already_member(self) -> bool:
        return self.short_type == "MemberAlreadyExistsException"

    @property
    def is_duplicate_address(self) -> bool:
        return self.short_type == "ProxyAddressExistsException"

    @property
    def is_already_exists(self) -> bool:
        return self.short_type in _EXCHANGE_EXISTS

    def detail(self) -> dict:
        return {**super().detail(), "exception_type": self.exception_type, "cmdlet": self.cmdlet}


class ExchangeObjectNotFound(ExchangeCmdletError, NotFound):
    """A cmdlet's ManagementObjectNotFoundException, catchable as NotFound."""


class ExchangeObjectAlreadyExists(ExchangeCmdletError, AlreadyExists):
    """A cmdlet's duplicate name, alias or address, catchable as AlreadyExists."""


class ResultsTruncated(ExchangeCmdletError):
    """Exchange returned only part of the results ("There are more results available than are currently
    displayed"): acting on a partial list would be wrong, so it is an error, never a warning."""


_EXCHANGE_EXISTS = {"MemberAlreadyExistsException", "ADObjectAlreadyExistsException", "ProxyAddressExistsException"}

_GRANT_GRAPH = (
    "In the Microsoft Entra admin center open Identity > Applications > App registrations > {app} > API permissions"
    " > Add a permission > Microsoft Graph > Application permissions, tick {permission}, then press"
    " “Grant admin consent for <your organisation>”."
)
_NEW_SECRET = (
    "In the Microsoft Entra admin center open Identity > Applications > App registrations > {app} > Certificates &"
    " secrets > New client secret, copy its Value (not the Secret ID) and paste it into Onramp."
)

# (explanation, fix) per Microsoft code. Fix texts may use {app} (the app's client id) and {permission}.
EXPLANATIONS: dict[str, tuple[str, str]] = {
    # Identity platform (AADSTS codes)
    "AADSTS7000215": ("The client secret is wrong or expired: Microsoft did not accept it for this app.", _NEW_SECRET),
    "AADSTS7000222": ("The app's client secret has expired.", _NEW_SECRET),
    "AADSTS700027": (
        "Microsoft did not accept the certificate: the app registration holds no certificate with this thumbprint, or"
        " the private key is not that certificate's.",
        "In the Entra admin center: App registrations → {app} → Certificates & secrets → Certificates: upload the"
        " certificate whose private key you gave Onramp, and give Onramp the thumbprint shown there; then run this"
        " step again.",
    ),
    "AADSTS700016": (
        "No app with this client id exists in the tenant: the id is mistyped, the app lives in another tenant, or"
        " admin consent was never given.",
        "Check the Application (client) ID on the app's Overview page in Entra, and the tenant id; for Onramp's"
        " multi-tenant app, run the admin-consent link again.",
    ),
    "AADSTS90002": (
        "Microsoft does not know this tenant id or domain in this cloud.",
        "Copy the Tenant ID from the Entra admin center Overview page, and check the cloud chosen for the tenant"
        " (worldwide, GCC High or China).",
    ),
    "AADSTS7000112": ("The app is disabled in the tenant.", "Enable the app's enterprise application in Entra."),
    "AADSTS500011": (
        "The tenant has no service principal for the API Onramp asked a token for (e.g. Exchange Online is not"
        " provisioned in the tenant).",
        "Make sure the tenant has Exchange Online (a licence with an Exchange plan), then try again.",
    ),
    "AADSTS65001": ("Admin consent was not given to the app.", "Run the admin-consent link as a Global Administrator."),
    "AADSTS70011": ("The requested scope is not valid for this cloud.", "Check the cloud chosen for the tenant."),
    # Graph
    "InvalidAuthenticationToken": (
        "Microsoft Graph refused Onramp's access token (expired, or issued for another API).",
        "Try again; if it persists, connect the tenant again.",
    ),
    "Authorization_RequestDenied": (
        "The app lacks a Microsoft Graph application permission this operation needs: {permission}.",
        _GRANT_GRAPH,
    ),
    "ErrorAccessDenied": (
        "The app may not open this mailbox: no Exchange RBAC assignment (or Graph permission) covers it.",
        "Run the scoped-access step, or check that the mailbox is a member of one of the tenant's room lists.",
    ),
    "Request_ResourceNotFound": (
        "The object does not exist, or Microsoft has not replicated it yet (this can take a few seconds after it"
        " was created).",
        "If the object was just created, try again in a minute; otherwise check the name or address.",
    ),
    "MailboxNotEnabledForRESTAPI": (
        "The user has no Exchange Online mailbox yet: it is created after a licence with an Exchange plan is"
        " assigned, which can take up to 15 minutes or more.",
        "Wait for the mailbox; if it never appears, check that the licence includes Exchange Online.",
    ),
    "Request_BadRequest:already exists": (
        "An object with the same value already exists in the directory.",
        "Adopt the existing object or choose another name.",
    ),
    "Request_BadRequest:invalid usage location": (
        "A licence can only be assigned to a user whose usage location is set.",
        "Set the user's usage location (Entra > Users > the user > Properties), then assign the licence.",
    ),
    "Request_BadRequest:does not have any available licenses": (
        "Every unit of this licence is already assigned.",
        "Buy more units or free one in the Microsoft 365 admin center > Billing > Licenses, or choose another SKU.",
    ),
    "TooManyRequests": (
        "Microsoft kept throttling Onramp's calls to this tenant beyond Onramp's wait budget.",
        "Try again later; other tools calling the tenant heavily share the same budget.",
    ),
    "ServiceUnavailable": (
        "Microsoft's service failed or was unreachable repeatedly.",
        "Try again in a few minutes; check Microsoft 365 Service health if it persists.",
    ),
    # Exchange admin API (HTTP level)
    "Exchange:401": (
        "Exchange Online refused the app: it lacks the Exchange.ManageAsApp application permission (Office 365"
        " Exchange Online API), or admin consent for it.",
        "In the Microsoft Entra admin center open App registrations > {app} > API permissions > Add a permission >"
        " APIs my organization uses > Office 365 Exchange Online > Application permissions, tick"
        " Exchange.ManageAsApp, then press “Grant admin consent”.",
    ),
    "Exchange:403": (
        "The app may call Exchange Online but holds no Exchange administration role.",
        "In the Microsoft Entra admin center open Identity > Roles & admins > Exchange Administrator > Add"
        " assignments, and select the app {app} (its enterprise application).",
    ),
    # 401 "User is not allowed to call <cmdlet>": the token was accepted (Exchange.ManageAsApp is granted), the role
    # is what is missing (MicrosoftDocs/office-docs-powershell#7970).
    "Exchange:role": (
        "Exchange Online accepted the app's token, so Exchange.ManageAsApp is granted, but no Exchange role of the"
        " app allows {cmdlet}: the app {app} holds no Exchange Administrator role, or a role assigned only minutes"
        " ago has not reached Exchange Online yet.",
        "Do not grant Exchange.ManageAsApp again. In the Microsoft Entra admin center open Identity > Roles & admins"
        " > Exchange Administrator > Add assignments, select the app {app} (its enterprise application, not a"
        " user), and make the assignment active rather than eligible; if it is already there, wait a few minutes"
        " and run the step again.",
    ),
    # Exchange cmdlet exceptions (short type names)
    "ManagementObjectNotFoundException": (
        "Exchange has no object with this identity (or has not replicated it yet).",
        "Check the name or address; if it was just created, try again in a minute.",
    ),
    "MemberAlreadyExistsException": ("The recipient is already a member of the group.", "Nothing to do."),
    "InvalidOperationInDehydratedContextException": (
        "Exchange Online still treats the organisation as not customised (dehydrated), so it refuses management"
        " scopes and role assignments. Right after Enable-OrganizationCustomization this can last about 30 minutes"
        " even though Get-OrganizationConfig already reports IsDehydrated False.",
        "Wait 30 minutes and run the step again. If it still fails, run Enable-OrganizationCustomization in Exchange"
        " Online PowerShell; if that says it is not required, open a Microsoft support case.",
    ),
    "ADObjectAlreadyExistsException": (
        "An Exchange object with this name already exists.",
        "Adopt the existing object or choose another name.",
    ),
    "ProxyAddressExistsException": (
        "Another recipient already uses this alias or email address.",
        "Choose another address, or adopt the recipient that holds it if it is the intended object.",
    ),
    "OperationRequiresGroupManagerException": (
        "Exchange refused to change the group: the caller is not in its ManagedBy and did not pass"
        " -BypassSecurityGroupManagerCheck.",
        "Run the command with -BypassSecurityGroupManagerCheck (Onramp always does), or add yourself to the"
        " group's managers.",
    ),
    "ResultsTruncated": (
        "Exchange returned only part of the results (its ResultSize limit), so Onramp did not act on them.",
        "Report this to Onramp's support: every list read must ask for ResultSize Unlimited.",
    ),
}

_DEFAULT = ("Microsoft refused the operation.", "Check Microsoft's message; try again if it looks transient.")


def explain(key: str, **context: str) -> tuple[str, str]:
    explanation, fix = EXPLANATIONS.get(key, _DEFAULT)
    context = {"app": "Onramp's app", "permission": "the permission named in the message", **context}
    return explanation.format(**context), fix.format(**context)


# The words for a Graph error whose code has none of its own, by the class its status gave it.
_CLASS_EXPLANATIONS: dict[type[MicrosoftError], str] = {
    AuthenticationFailed: "InvalidAuthenticationToken",
    PermissionMissing: "Authorization_RequestDenied",
    NotFound: "Request_ResourceNotFound",
    Throttled: "TooManyRequests",
    ServiceUnavailable: "ServiceUnavailable",
}


def graph_error(
    status: int, body: Any, headers: Mapping[str, str], *, permission: str = "", app: str = ""
) -> MicrosoftError:
    """The exception for a Graph error response (also for one response inside a $batch)."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    code = str(error.get("code") or f"HTTP{status}")
    message = str(error.get("message") or "")
    context = {"app": app or "Onramp's app", "permission": permission or "see Microsoft's message"}

    cls: type[MicrosoftError] = BadRequest if 400 <= status < 500 else ServiceUnavailable
    key = code
    if status == 401 or code == "InvalidAuthenticationToken":
        cls = AuthenticationFailed
    elif status == 403:
        cls = PermissionMissing
    elif status == 404 or code in ("Request_ResourceNotFound", "MailboxNotEnabledForRESTAPI", "ResourceNotFound"):
        cls = NotFound
    elif status == 429:
        cls = Throttled
    elif code == "Request_BadRequest":
        for phrase in ("already exists", "invalid usage location", "does not have any available licenses"):
            if phrase in message.lower():
                key = f"{code}:{phrase}"
                cls = AlreadyExists if phrase == "already exists" else BadRequest
    if key not in EXPLANATIONS:
        # An unlisted code (or an HTML or empty body) is still explained by what its class means: a throttled or
        # failing Microsoft told "refused the operation" would send the admin looking for a mistake of theirs.
        key = _CLASS_EXPLANATIONS.get(cls, key)
    explanation, fix = explain(key, **context)
    kwargs: dict[str, Any] = dict(
        code=code,
        message=message,
        explanation=explanation,
        fix=fix,
        status=status,
        service=GRAPH,
        **support_ids(error, headers),
    )
    if cls is PermissionMissing:
        kwargs["permission"] = permission
    return cls(**kwargs)


# The Exchange admin API's answer to an accepted token whose app has no role allowing the cmdlet (HTTP 401,
# MicrosoftDocs/office-docs-powershell#7970): "User is not allowed to call Get-Mailbox".
_NOT_ALLOWED_TO_CALL = re.compile(r"\bis not allowed to call\b", re.IGNORECASE)
MANAGE_AS_APP = "Exchange.ManageAsApp"
EXCHANGE_ROLE = "Exchange Administrator role"

# Exchange's typed text is "<error id>|<.NET exception type>|<text>", the error id (e.g. "Ex6F9304") sometimes empty.
_EXCEPTION_IN_MESSAGE = re.compile(r"^(?P<error_id>[^|]*)\|(?P<type>[^|]+)\|(?P<text>.*)$", re.DOTALL)


def _field(mapping: Any, name: str) -> Any:
    """A key of Exchange's error JSON, whatever its case (internalexception / internalException)."""
    if not isinstance(mapping, Mapping):
        return None
    return next((value for key, value in mapping.items() if key.lower() == name.lower()), None)


def cmdlet_error_text(error: Mapping[str, Any]) -> tuple[str, str]:
    """(exception type, typed text) of an InvokeCommand error: from error.details[].message, else
    innererror.internalexception, else error.message (the order CIPP-API's New-ExoRequest reads them in)."""
    details = _field(error, "details")
    # Documented as a list; anything else (a proxy's or a future shape) is read as no details, not a crash.
    details = details if isinstance(details, list) else []
    candidates = [str(_field(detail, "message") or "") for detail in details]
    internal = _field(_field(error, "innererror"), "internalexception")
    candidates.append(str(_field(internal, "message") or ""))
    candidates.append(str(_field(error, "message") or ""))
    for text in candidates:
        match = _EXCEPTION_IN_MESSAGE.match(text.strip())
        if match:
            return match["type"].strip(), text.strip()
    internal_type = str(_field(internal, "type") or "")
    if internal_type and candidates[-2]:
        return internal_type, candidates[-2]
    return "", next((text for text in candidates if text), "")


# Exchange's REST endpoints refuse a client by policy with 403 ErrorAccessDenied (OfficeDev/office-js-docs-pr#2808,
# "Access to OData is disabled."), unlike a missing role (401 "User is not allowed to call"); 410 Gone is an
# endpoint withdrawn. For InvokeCommand itself both are unconfirmed (sandbox/WIRE.md).
_CLIENT_REFUSED_CODES = frozenset({"erroraccessdenied"})


def _refuses_the_client(status: int, code: str, exception_type: str) -> bool:
    if exception_type:
        return False  # a cmdlet ran and failed: the endpoint served the app
    return status == 410 or (status == 403 and code.lower() in _CLIENT_REFUSED_CODES)


def exchange_error(status: int, body: Any, headers: Mapping[str, str], *, cmdlet: str, app: str = "") -> MicrosoftError:
    """The exception for an Exchange admin API error. Cmdlet failures come as {"error": {"code": "NotFound" |
    "BadRequest" | ..., "message": "Error executing cmdlet", "details": [{"message": "Ex..|<Type>|<text>"}],
    "innererror": {"internalexception": {...}}}}; not-found as HTTP 404."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    code = str(error.get("code") or f"HTTP{status}")
    message = str(error.get("message") or "")
    context = {"app": app or "Onramp's app"}
    common: dict[str, Any] = dict(status=status, service=EXCHANGE, **support_ids(error, headers))

    exception_type, typed = cmdlet_error_text(error)
    if _refuses_the_client(status, code, exception_type):
        return InvokeCommandRefused(
            code=INVOKE_COMMAND_REFUSED,
            message=f"Exchange Online refused InvokeCommand ({cmdlet or 'a cmdlet'}) to the app: HTTP {status}"
            + (f" {code}: {message}" if message else f" {code}"),
            explanation=INVOKE_COMMAND_REFUSED_EXPLANATION,
            fix=INVOKE_COMMAND_REFUSED_FIX,
            extra={"microsoft_code": code},
            **common,
        )
    if status in (401, 403) and not exception_type:
        role_refused = status == 403 or _NOT_ALLOWED_TO_CALL.search(message) is not None
        cls_refused = ExchangeRoleMissing if role_refused else ExchangeAppPermissionMissing
        key = "Exchange:role" if status == 401 and role_refused else f"Exchange:{status}"
        explanation, fix = explain(key, cmdlet=cmdlet or "this cmdlet", **context)
        return cls_refused(
            code=code,
            message=message or f"HTTP {status} from the Exchange admin API",
            explanation=explanation,
            fix=fix,
            permission=EXCHANGE_ROLE if role_refused else MANAGE_AS_APP,
            **common,
        )
    if status == 429:
        explanation, fix = explain("TooManyRequests")
        return Throttled(code=code, message=message, explanation=explanation, fix=fix, **common)
    if status >= 500 and not exception_type:
        explanation, fix = explain("ServiceUnavailable")
        return ServiceUnavailable(code=code, message=message, explanation=explanation, fix=fix, **common)

    match = _EXCEPTION_IN_MESSAGE.match(typed)
    text = match["text"].strip() if match else typed
    error_id = match["error_id"].strip() if match else ""
    short = exception_type.rsplit(".", 1)[-1]
    cls: type[ExchangeCmdletError] = ExchangeCmdletError
    if short == "ManagementObjectNotFoundException" or (status == 404 and not short):
        cls = ExchangeObjectNotFound
    elif short in _EXCHANGE_EXISTS:
        cls = ExchangeObjectAlreadyExists
    explanation, fix = explain(short or code, **context)
    return cls(
        code=short or code,
        message=text or message,
        explanation=explanation,
        fix=fix,
        exception_type=exception_type,
        cmdlet=cmdlet,
        extra={"error_id": error_id} if error_id else {},
        **common,
    )


def results_truncated(cmdlet: str, warning: str) -> ResultsTruncated:
    explanation, fix = explain("ResultsTruncated")
    return ResultsTruncated(
        code="ResultsTruncated",
        message=f"{cmdlet}: {warning}",
        explanation=explanation,
        fix=fix,
        cmdlet=cmdlet,
        service=EXCHANGE,
    )


def identity_error(result: Mapping[str, Any], *, app: str = "") -> AuthenticationFailed:
    """The exception for an msal error result (`error`, `error_description`, `error_codes`, and the identity
    platform's `trace_id`, `correlation_id` — the client-request-id msal sent — and `timestamp`)."""
    codes = result.get("error_codes")
    # msal passes the token endpoint's list of ints through; a missing or malformed one falls back to the text.
    codes = [code for code in codes if str(code).isdigit()] if isinstance(codes, list) else []
    description = str(result.get("error_description") or result.get("error") or "token request failed")
    if not codes:
        found = re.match(r"AADSTS(\d+)", description)
        codes = [int(found[1])] if found else []
    code = f"AADSTS{codes[0]}" if codes else str(result.get("error") or "token_error")
    explanation, fix = explain(code, app=app or "Onramp's app")
    if code not in EXPLANATIONS:
        explanation = "Microsoft's sign-in service refused to issue a token to the app."
        fix = "Check the tenant id, client id and secret in the tenant's settings."
    return AuthenticationFailed(
        code=code,
        message=description.splitlines()[0],
        explanation=explanation,
        fix=fix,
        request_id=str(result.get("trace_id") or ""),
        client_request_id=str(result.get("correlation_id") or ""),
        date=str(result.get("timestamp") or ""),
        status=int(result.get("status") or 0) if str(result.get("status") or "").isdigit() else 0,
        service=IDENTITY,
        extra={"error": str(result.get("error") or "")},
    )


# One answer for a refused connection, a timeout and a failed TLS handshake: which of them happened would tell whoever
# typed an endpoint URL what listens at that address.
UNREACHABLE = "no answer: the connection was refused, timed out, or did not speak TLS with a trusted certificate"


def _ids_of_last_answer(headers: Mapping[str, str] | None, client_request_id: str) -> dict[str, str]:
    ids = support_ids({}, {k.lower(): v for k, v in (headers or {}).items()})
    return {**ids, "client_request_id": ids["client_request_id"] or client_request_id}


def unreachable(
    service: str,
    what: str,
    cause: BaseException | str,
    *,
    headers: Mapping[str, str] | None = None,
    client_request_id: str = "",
) -> ServiceUnavailable:
    """Microsoft could not be reached (or kept failing) within the retry bound; `headers` are those of its last
    answer, if it gave one, and `client_request_id` the id Onramp sent."""
    explanation, fix = explain("ServiceUnavailable")
    return ServiceUnavailable(
        code="ServiceUnavailable",
        message=f"{what}: {cause}",
        explanation=explanation,
        fix=fix,
        service=service,
        **_ids_of_last_answer(headers, client_request_id),
    )


def still_throttled(service: str, what: str, waited: float, headers: Mapping[str, str] | None = None) -> Throttled:
    explanation, fix = explain("TooManyRequests")
    return Throttled(
        code="TooManyRequests",
        message=f"{what}: still throttled after waiting {waited:.0f} s",
        explanation=explanation,
        fix=fix,
        status=429,
        service=service,
        **_ids_of_last_answer(headers, ""),
    )
