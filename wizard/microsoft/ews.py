"""EWS (SOAP 1.1 over requests): one question, "may this account open this mailbox's calendar?", and Autodiscover.

Exchange Server keeps EWS and ApplicationImpersonation, so the exchange_server profile proves a scope from outside:
`GetFolder` of the `calendar` distinguished folder with an `ExchangeImpersonation` header naming the mailbox. Success
means the service account may act as that mailbox; `ErrorImpersonateUserDenied` means the scope leaves it out.

Authentication, Exchange Server: the service account's UPN and password over HTTPS only, by what the EWS virtual
directory offers in `WWW-Authenticate`: Windows authentication (Negotiate/NTLM, what a default EWS virtual directory
offers: Exchange's "Default settings for Exchange virtual directories"), through requests-ntlm (pyspnego's NTLM), or
Basic when that is all it offers. A final 401 is read by those offers: none Onramp can use ("AuthNotOffered") is not
"wrong password" ("HTTP401"). An app-only token from Microsoft Entra is not offered on premises: Microsoft documents
hybrid modern authentication for Outlook and other clients signing in users, not app-only ExchangeImpersonation.

Exchange Online (verify's EWS negative control): an app-only token (`BearerAuth`). An app with no EWS grant is
refused at the HTTP level, 401 with `x-ms-diagnostics: 2000008;reason="The token contains no permissions…"`
(otris/ews-cpp#148) or 403 (David-Barrett-MS/PowerShell-EWS-Scripts#47, #62): an answer ("this app has no EWS access",
`CalendarAccess.app_refused`), not a failure to talk to EWS.

Every request names the mailbox it acts on in `X-AnchorMailbox` (the impersonated address, else the account's own):
Exchange routes by it, and without it impersonated requests take longer and fail with 500/503 at times (Microsoft's
"Managing affinity for EWS impersonation in Exchange 2013 and Exchange Online"; for app-only tokens
office-developer-exchange-docs says it must always be sent).

Busy: ErrorServerBusy in a SOAP fault (HTTP 500) with BackOffMilliseconds, HTTP 503, an HTTP 200 error answer
ErrorInternalServerError whose inner code (MessageXml `InnerErrorResponseCode`) is ErrorServerBusy, and
ErrorExceededConnectionCount (EWSMaxConcurrency) are all waited out (EWS throttling in Exchange, tables 3 and 4).

XML: responses are parsed with the standard library's ElementTree because defusedxml is not installed. They come
only from the EWS or Autodiscover URL the admin configured, over verified TLS; expat never fetches external entities
and, from version 2.4.1, refuses entity-expansion bombs; bodies are also capped at `MAX_RESPONSE_BYTES`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import requests
from requests.auth import AuthBase, HTTPBasicAuth
from requests_ntlm import HttpNtlmAuth

from wizard.microsoft import ratelimit
from wizard.microsoft.errors import EWS, AuthenticationFailed, MicrosoftError, ServiceUnavailable
from wizard.microsoft.http import Transport, retry_after_seconds

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TYPES_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"
AUTODISCOVER_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
AUTODISCOVER_RESPONSE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
# Exchange 2013 SP1 and later (2016, 2019, Subscription Edition) accept this schema version.
REQUEST_SERVER_VERSION = "Exchange2013_SP1"
MAX_RESPONSE_BYTES = 1024 * 1024
NO_ERROR = "NoError"
# An app-only token refused by EWS itself: no EWS permission in the token (401, x-ms-diagnostics 2000008), or refused
# by policy or grant (403). Answers for one mailbox, like the SOAP refusals.
TOKEN_WITHOUT_PERMISSIONS = "TokenWithoutEwsPermission"
APP_FORBIDDEN = "AppForbiddenByEws"
APP_REFUSED_CODES = frozenset({TOKEN_WITHOUT_PERMISSIONS, APP_FORBIDDEN})
# Codes that mean "this account may not open that mailbox": the expected answer for a control mailbox.
DENIED_CODES = frozenset({"ErrorImpersonateUserDenied", "ErrorAccessDenied", "ErrorImpersonationDenied"}) | (
    APP_REFUSED_CODES
)
_BUSY_CODES = frozenset(
    {
        "ErrorServerBusy",
        "ErrorInternalServerTransientError",
        "ErrorMailboxStoreUnavailable",
        "ErrorExceededConnectionCount",
    }
)
NO_PERMISSIONS_DIAGNOSTIC = "2000008"
ANCHOR_HEADER = "X-AnchorMailbox"
DEFAULT_BUSY_SECONDS = 2.0  # busy without saying for how long

_DEFAULT_EXPLANATION = "Exchange refused the request with this code."
# What each EWS response code (and each HTTP failure) means for the person setting up the room scope.
EXPLANATIONS: dict[str, str] = {
    NO_ERROR: "The service account opened the mailbox's calendar.",
    "ErrorImpersonateUserDenied": (
        "The service account may not impersonate this mailbox: no ApplicationImpersonation role assignment covers"
        " it. Either the mailbox is not a member of any room list in the management scope, or the role assignment"
        " (or its scope) is missing."
    ),
    "ErrorImpersonationDenied": (
        "The service account may not impersonate through the Client Access server that took the request (the"
        " ms-Exch-EPI-Impersonation right, Exchange 2007's model). A missing or out-of-scope ApplicationImpersonation"
        " assignment answers ErrorImpersonateUserDenied instead; this code points at rights on the server itself."
    ),
    TOKEN_WITHOUT_PERMISSIONS: (
        "Exchange Online refused the app's token for EWS: it carries no EWS permission (x-ms-diagnostics 2000008,"
        ' "The token contains no permissions"). The app has no full_access_as_app and no EWS access, so it cannot'
        " open any mailbox over EWS."
    ),
    APP_FORBIDDEN: (
        "Exchange Online refused the app EWS access to this mailbox (HTTP 403): no EWS grant covers it, or a policy"
        " (an application access policy, EWS turned off for the app or the organisation) blocks it."
    ),
    "ErrorExceededConnectionCount": (
        "The account had more EWS requests in flight than its throttling policy allows (EWSMaxConcurrency);"
        " Onramp waited and it stayed over."
    ),
    "TokenRefused": "Exchange Online refused the app's access token for EWS (expired, or for another audience).",
    "AuthNotOffered": (
        "The EWS virtual directory offers none of the sign-in methods Onramp uses for the service account (Windows"
        " authentication, that is Negotiate or NTLM, or Basic)."
    ),
    "ErrorAccessDenied": (
        "Exchange refused the service account access to this calendar (no impersonation right and no folder"
        " permission covers it)."
    ),
    "ErrorNonExistentMailbox": (
        "No mailbox has this address: it is misspelled, the mailbox was removed, or it lives in another organisation."
    ),
    "ErrorInvalidImpersonationHeader": "Exchange could not read the impersonation header Onramp sent.",
    "ErrorInvalidExchangeImpersonationHeaderData": (
        "Exchange could not use the address in the impersonation header (it is not a valid mailbox address)."
    ),
    "ErrorImpersonationFailed": (
        "Exchange accepted the impersonation right but failed to act as the mailbox (often a mailbox that is"
        " being moved or a domain controller that cannot be reached)."
    ),
    "ErrorInvalidSmtpAddress": "The address is not a valid SMTP address.",
    "ErrorMissingEmailAddress": (
        "The service account has no mailbox of its own, so Exchange needs a mailbox address for every request."
    ),
    "ErrorFolderNotFound": "The mailbox has no calendar folder (it was never opened or is not a user or room).",
    "ErrorMailboxMoveInProgress": "The mailbox is being moved between databases; try again when the move is done.",
    "ErrorMailboxStoreUnavailable": "The mailbox database is not available right now.",
    "ErrorServerBusy": "Exchange is throttling the service account; Onramp waited and it stayed busy.",
    "ErrorInternalServerTransientError": "Exchange hit a temporary internal error.",
    "ErrorInternalServerError": "Exchange hit an internal error.",
    "ErrorInvalidServerVersion": "This Exchange Server is older than Exchange 2013 SP1, which Onramp needs.",
    "ErrorSchemaValidation": "Exchange did not accept the shape of Onramp's request.",
    "ErrorInvalidRequest": "Exchange did not accept Onramp's request.",
    "ErrorConnectionFailed": "Exchange could not reach the server that holds this mailbox.",
    "HTTP401": (
        "Exchange refused the service account's user name or password: the password is wrong or expired, or the"
        " account is locked or disabled (the EWS virtual directory offered a method Onramp used, so it is not a"
        " matter of which authentication is turned on)."
    ),
    "HTTP403": "The EWS endpoint refused the request (EWS may be disabled for this account or organisation).",
    "HTTP404": "Nothing answers EWS at this URL; it usually ends with /EWS/Exchange.asmx.",
    "HTTP5xx": "The EWS endpoint failed repeatedly.",
    "NotEws": "The URL answered, but not with EWS (a sign-in page or a proxy answered instead).",
    "Unreachable": "Onramp could not connect to the EWS URL (DNS, firewall, or a certificate it does not trust).",
}
FIXES: dict[str, str] = {
    "ErrorImpersonateUserDenied": (
        "Add the mailbox to one of the room lists (rooms step), or run the scoped-access commands again; check with"
        " Get-ManagementRoleAssignment -Role ApplicationImpersonation."
    ),
    "ErrorImpersonationDenied": (
        "Check the service account's ApplicationImpersonation assignment (Get-ManagementRoleAssignment -Role"
        " ApplicationImpersonation); on Exchange 2007-era rights, grant ms-Exch-EPI-Impersonation on the Client"
        " Access servers."
    ),
    TOKEN_WITHOUT_PERMISSIONS: "Nothing to fix for verify: this is the refusal the negative control expects.",
    APP_FORBIDDEN: "Nothing to fix for verify: this is the refusal the negative control expects.",
    "TokenRefused": "Try again; if it persists, check the integration app's credentials (connect step).",
    "AuthNotOffered": (
        "Turn Windows authentication back on for EWS (Set-WebServicesVirtualDirectory -Identity"
        " '<server>\\EWS (Default Web Site)' -WindowsAuthentication $true, the default), or Basic over TLS"
        " (-BasicAuthentication $true); check with Get-WebServicesVirtualDirectory | Format-List *Authentication*."
    ),
    "ErrorAccessDenied": "Run the scoped-access step's commands, then verify again.",
    "ErrorNonExistentMailbox": "Check the address with Get-Mailbox -Identity <address> in the Management Shell.",
    "HTTP401": (
        "Check the service account's UPN and password (connect step), and that the account is enabled and not"
        " locked out (Get-User <upn> | Format-List UserAccountControl in the Management Shell)."
    ),
    "HTTP404": "Enter the EWS URL again (Get-WebServicesVirtualDirectory | Format-List ExternalUrl,InternalUrl).",
    "NotEws": "Enter the EWS URL itself, ending with /EWS/Exchange.asmx.",
    "Unreachable": "Check the URL, the firewall, and that the server's certificate is trusted (CA bundle).",
}


def explain(code: str) -> str:
    return EXPLANATIONS.get(code, _DEFAULT_EXPLANATION)


@dataclass(frozen=True)
class CalendarAccess:
    """The answer of one GetFolder: whether `mailbox`'s calendar opened, and if not, Exchange's code and why."""

    mailbox: str
    code: str
    message: str = ""

    @property
    def opened(self) -> bool:
        return self.code == NO_ERROR

    @property
    def denied(self) -> bool:
        return self.code in DENIED_CODES

    @property
    def app_refused(self) -> bool:
        """Exchange Online refused the app's token for EWS at the HTTP level: it has no EWS access here at all."""
        return self.code in APP_REFUSED_CODES

    @property
    def explanation(self) -> str:
        return explain(self.code)

    @property
    def reason(self) -> str:
        """One line for a table: the code and what it means."""
        return f"{self.code}: {self.explanation}"


class BearerAuth(AuthBase):
    """An app-only token for Exchange Online's EWS (the integration's app, as verify's EWS negative control signs
    in): fetched for each request, which msal serves from its cache."""

    def __init__(self, token: Callable[[], str], renew: Callable[[], bool] | None = None) -> None:
        """`renew` drops the cached token once (MicrosoftClients' credentials.renew): a token holds the app's roles
        of when it was issued, so a refusal right after a grant is retried with a new one."""
        self.token = token
        self.renew = renew

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request


def _refuse_plain_http(url: str) -> None:
    if urlsplit(url).scheme != "https":
        raise AuthenticationFailed(
            code="BasicOverHttp",
            message=f"Refusing to send the service account's password to {url}: it is not an https URL.",
            explanation="Basic sends the password as it is, and NTLM a response an eavesdropper can attack offline;"
            " only TLS keeps either private.",
            fix="Use the https:// EWS URL.",
            service=EWS,
        )


def basic_auth(url: str, username: str, password: str) -> HTTPBasicAuth:
    """Basic credentials, refused on anything but HTTPS: they would cross the network readable."""
    _refuse_plain_http(url)
    return HTTPBasicAuth(username, password)


def offered_schemes(response: requests.Response) -> list[str]:
    """The authentication schemes a 401 offers, lower-case, in order (`WWW-Authenticate`, several headers folded
    into one by requests: "Negotiate, NTLM", or with parameters: 'Basic realm="mail.contoso.com"')."""
    header = response.headers.get("WWW-Authenticate", "")
    schemes: list[str] = []
    for part in header.split(","):
        token = part.strip().split(" ", 1)[0].strip()
        if token and "=" not in token and token.lower() not in schemes:
            schemes.append(token.lower())
    return schemes


class ServiceAccountAuth(AuthBase):
    """The service account's UPN and password, sent the way the EWS virtual directory asks: Negotiate/NTLM through
    requests-ntlm (Exchange's default, Windows authentication), or Basic when only Basic is offered."""

    WINDOWS = ("ntlm", "negotiate")

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.ntlm = HttpNtlmAuth(username, password)
        self.basic = HTTPBasicAuth(username, password)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request = self.ntlm(request)  # answers a 401 offering Negotiate/NTLM with the handshake
        request.register_hook("response", self._basic_when_only_basic)
        return request

    def _basic_when_only_basic(self, response: requests.Response, **kwargs: object) -> requests.Response:
        schemes = offered_schemes(response)
        if response.status_code != 401 or "basic" not in schemes or any(s in schemes for s in self.WINDOWS):
            return response
        if "Authorization" in response.request.headers:
            return response  # Basic was sent and refused: the password
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.raw.release_conn()
        retry = self.basic(response.request.copy())
        sent = response.connection.send(retry, **kwargs)  # type: ignore[attr-defined]
        sent.history.append(response)
        return sent


class PerThreadSession:
    """A requests session per thread, for Windows authentication: NTLM authenticates a connection, and its handshake
    sends each leg on the connection the previous one released, so a pool shared by threads could hand the next leg
    a connection another thread took in between. Used where a Transport wants a session (only `request`)."""

    def __init__(self, factory: Callable[[], requests.Session]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._factory()
            with self._lock:
                self._sessions.append(session)
        return session

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        return self._session().request(*args, **kwargs)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def service_account_auth(url: str, username: str, password: str) -> ServiceAccountAuth:
    """The service account's credentials for on-premises EWS and Autodiscover, refused on anything but HTTPS."""
    _refuse_plain_http(url)
    return ServiceAccountAuth(username, password)


def _get_folder_body(mailbox: str | None) -> bytes:
    impersonation = (
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>{escape(mailbox)}</t:SmtpAddress>"
        "</t:ConnectingSID></t:ExchangeImpersonation>"
        if mailbox
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_NS}" xmlns:t="{TYPES_NS}" xmlns:m="{MESSAGES_NS}">'
        f'<soap:Header><t:RequestServerVersion Version="{REQUEST_SERVER_VERSION}"/>{impersonation}</soap:Header>'
        "<soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder></soap:Body>'
        "</soap:Envelope>"
    ).encode()


def _parse(content: bytes) -> ET.Element | None:
    if len(content) > MAX_RESPONSE_BYTES:
        return None
    try:
        return ET.fromstring(content)  # noqa: S314 - see the module docstring
    except ET.ParseError:
        return None


def _message_values(element: ET.Element) -> dict[str, str]:
    """The `<t:Value Name="…">` entries of an error's MessageXml (BackOffMilliseconds, InnerErrorResponseCode, …)."""
    return {value.get("Name") or "": (value.text or "").strip() for value in element.iter(f"{{{TYPES_NS}}}Value")}


def _back_off(values: dict[str, str]) -> float | None:
    millis = values.get("BackOffMilliseconds", "")
    return int(millis) / 1000 if millis.isdigit() else None


def _response_code(root: ET.Element) -> tuple[str, str, float | None]:
    """(ResponseCode, message, back-off seconds) of a GetFolder response or SOAP fault. An ErrorInternalServerError
    that wraps another code (MessageXml `InnerErrorResponseCode`, e.g. ErrorServerBusy) answers the inner code."""
    fault = root.find(f".//{{{SOAP_NS}}}Fault")
    if fault is not None:
        code = fault.findtext(f".//{{{ERRORS_NS}}}ResponseCode") or (fault.findtext("faultcode") or "").split(":")[-1]
        message = fault.findtext(f".//{{{ERRORS_NS}}}Message") or fault.findtext("faultstring") or ""
        return code.strip() or "SoapFault", message.strip(), _back_off(_message_values(fault))
    message_element = root.find(f".//{{{MESSAGES_NS}}}GetFolderResponseMessage")
    if message_element is None:
        return "NotEws", "The response holds no GetFolder answer.", None
    code = (message_element.findtext(f"{{{MESSAGES_NS}}}ResponseCode") or "").strip() or "NotEws"
    message = (message_element.findtext(f"{{{MESSAGES_NS}}}MessageText") or "").strip()
    values = _message_values(message_element)
    inner = values.get("InnerErrorResponseCode", "")
    if code == "ErrorInternalServerError" and inner:
        return inner, values.get("InnerErrorMessageText") or message, _back_off(values)
    return code, message, _back_off(values)


def ews_busy_delay(response: requests.Response) -> float | None:
    """Seconds Exchange asks EWS callers to wait: Retry-After on a 429 or 503, or `ErrorServerBusy` (and the other
    transient codes, ErrorExceededConnectionCount among them) in a SOAP fault (500) or in an error answer (200, also
    inside ErrorInternalServerError) with its `BackOffMilliseconds`; None when it is not busy."""
    if response.status_code in (429, 503):
        return retry_after_seconds(response.headers.get("Retry-After")) or DEFAULT_BUSY_SECONDS
    if response.status_code in (200, 500):
        root = _parse(response.content)
        if root is not None:
            code, _, back_off = _response_code(root)
            if code in _BUSY_CODES:
                return back_off or DEFAULT_BUSY_SECONDS
    return None


class EwsClient:
    """One EWS endpoint with one identity. Thread-safe (requests sessions are, for this use)."""

    def __init__(
        self, url: str, session: requests.Session | PerThreadSession, auth: AuthBase, limit_key: str, user: str = ""
    ) -> None:
        """`limit_key` names the tenant; `user` is the account signing in (the service account), empty for an app."""
        self.url = url
        self.limit_key = limit_key
        self.user = user
        self.app_only = isinstance(auth, BearerAuth)
        # The same retry loop as every Microsoft call, with EWS's own idea of "busy"; a refusal comes back as HTTP
        # 500 with a SOAP fault, which is an answer, so only 502 and 504 are retried as transient failures.
        self.transport = Transport(
            session,
            service=EWS,
            budget=ratelimit.service_budget(limit_key, ratelimit.EWS, user),
            auth=auth,
            busy=ews_busy_delay,
            transient_statuses=frozenset({502, 504}),
            renew=auth.renew if isinstance(auth, BearerAuth) else None,
        )

    def calendar_access(self, mailbox: str | None = None) -> CalendarAccess:
        """GetFolder of the calendar, as `mailbox` (ExchangeImpersonation) or, without one, as the account itself.

        Exchange's refusals are answers (a CalendarAccess that did not open); only a failure to talk to EWS at
        all (credentials refused, wrong URL, server down) raises a MicrosoftError.
        """
        try:
            # EWS charges a request to the account that signs in, or to the mailbox an app acts on.
            charged = ratelimit.service_budget(self.limit_key, ratelimit.EWS, self.user or mailbox or "")
            response = self.transport.request(
                "POST",
                self.url,
                costs={charged: 1},
                data=_get_folder_body(mailbox),
                headers=self._headers(mailbox),
                allow_redirects=False,
            )
        except ServiceUnavailable as error:
            error.explanation, error.fix = explain("Unreachable"), FIXES["Unreachable"]
            raise
        return self._answer(mailbox or "", response)

    def _headers(self, mailbox: str | None) -> dict[str, str]:
        """The request's headers, `X-AnchorMailbox` naming the mailbox acted on: the impersonated one, else the
        account's own (an app without a mailbox always names one)."""
        headers = {"Content-Type": "text/xml; charset=utf-8", "Accept": "text/xml"}
        anchor = mailbox or self.user
        if anchor:
            headers[ANCHOR_HEADER] = anchor
        return headers

    def _refused_token(self, mailbox: str, response: requests.Response) -> CalendarAccess:
        """An app-only token refused with HTTP 401: no EWS permission in it is an answer; anything else raises."""
        diagnostics = response.headers.get("x-ms-diagnostics", "")
        if diagnostics.split(";", 1)[0].strip() == NO_PERMISSIONS_DIAGNOSTIC:
            return CalendarAccess(mailbox=mailbox, code=TOKEN_WITHOUT_PERMISSIONS, message=diagnostics)
        raise self._error(
            "TokenRefused", f"HTTP 401 from EWS: {diagnostics or 'no diagnostics'}", AuthenticationFailed, 401
        )

    def _refused_credentials(self, response: requests.Response) -> MicrosoftError:
        """A 401 to the service account: what the EWS virtual directory offers tells a refused password from
        "no method Onramp can use" (Basic off and Windows authentication off too)."""
        schemes = offered_schemes(response)
        usable = {"ntlm", "negotiate", "basic"}
        if not usable & set(schemes):
            offered = ", ".join(schemes)
            return self._error(
                "AuthNotOffered", f"HTTP 401 from EWS offering only: {offered}", AuthenticationFailed, 401
            )
        sent = (response.request.headers.get("Authorization") or "").split(" ", 1)[0] if response.request else ""
        how = f" (sent {sent})" if sent else ""
        return self._error("HTTP401", f"HTTP 401 from EWS{how}", AuthenticationFailed, 401)

    def _answer(self, mailbox: str, response: requests.Response) -> CalendarAccess:
        status = response.status_code
        if status == 401 and self.app_only:
            return self._refused_token(mailbox, response)
        if status == 401:
            raise self._refused_credentials(response)
        if status == 403 and self.app_only:
            return CalendarAccess(mailbox=mailbox, code=APP_FORBIDDEN, message="HTTP 403 from EWS")
        if status in (403, 404):
            raise self._error(f"HTTP{status}", f"HTTP {status} from {self.url}", status=status)
        if 300 <= status < 400:
            raise self._error("NotEws", f"HTTP {status} redirect to {response.headers.get('Location', '?')}")
        root = _parse(response.content)
        if root is None:
            if status >= 500:
                raise self._error("HTTP5xx", f"HTTP {status} from {self.url}", ServiceUnavailable, status)
            raise self._error("NotEws", f"HTTP {status} without an EWS answer from {self.url}", status=status)
        code, message, _ = _response_code(root)
        if code == "NotEws":
            raise self._error(code, message, status=status)
        return CalendarAccess(mailbox=mailbox, code=code, message=message)

    def _error(
        self, code: str, message: str, cls: type[MicrosoftError] = MicrosoftError, status: int = 0
    ) -> MicrosoftError:
        return cls(
            code=code, message=message, explanation=explain(code), fix=FIXES.get(code, ""), status=status, service=EWS
        )


def autodiscover_candidates(email: str, configured: str | None = None) -> list[str]:
    """The POX Autodiscover URLs to try for `email`, in Microsoft's documented order (the configured one first)."""
    domain = email.rpartition("@")[2].strip().lower()
    candidates = [configured] if configured else []
    if domain:
        candidates += [
            f"https://{domain}/autodiscover/autodiscover.xml",
            f"https://autodiscover.{domain}/autodiscover/autodiscover.xml",
        ]
    return candidates


def _autodiscover_body(email: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Autodiscover xmlns="{AUTODISCOVER_REQUEST_NS}"><Request><EMailAddress>{escape(email)}</EMailAddress>'
        f"<AcceptableResponseSchema>{AUTODISCOVER_RESPONSE_SCHEMA}</AcceptableResponseSchema></Request>"
        "</Autodiscover>"
    ).encode()


def ews_url_from_autodiscover(content: bytes) -> str | None:
    """The EWS URL of a POX Autodiscover answer: the external (EXPR) protocol's EwsUrl, else the internal (EXCH)."""
    root = _parse(content)
    if root is None:
        return None
    urls: dict[str, str] = {}
    for protocol in root.iter(f"{{{AUTODISCOVER_RESPONSE_SCHEMA}}}Protocol"):
        kind = (protocol.findtext(f"{{{AUTODISCOVER_RESPONSE_SCHEMA}}}Type") or "").strip().upper()
        url = (protocol.findtext(f"{{{AUTODISCOVER_RESPONSE_SCHEMA}}}EwsUrl") or "").strip()
        if kind and url.startswith("https://"):
            urls.setdefault(kind, url)
    return urls.get("EXPR") or urls.get("EXCH")


@dataclass(frozen=True)
class AutodiscoverAttempt:
    url: str
    outcome: str


def autodiscover_ews_url(
    session: requests.Session, auth: AuthBase, email: str, candidates: Sequence[str]
) -> tuple[str | None, list[AutodiscoverAttempt]]:
    """Ask each Autodiscover URL in turn for `email`'s EWS URL (POX, authenticated as the service account).

    Returns the first EWS URL found, and what each attempt gave, so a failure can say what was tried.
    """
    attempts: list[AutodiscoverAttempt] = []
    for url in candidates:
        try:
            response = session.post(
                url,
                data=_autodiscover_body(email),
                auth=auth,
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=(5, 20),
                allow_redirects=False,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            attempts.append(AutodiscoverAttempt(url, f"not reachable ({type(exc).__name__})"))
            continue
        if response.status_code != 200:
            attempts.append(AutodiscoverAttempt(url, f"HTTP {response.status_code}"))
            continue
        found = ews_url_from_autodiscover(response.content)
        if found:
            attempts.append(AutodiscoverAttempt(url, f"EWS URL {found}"))
            return found, attempts
        attempts.append(AutodiscoverAttempt(url, "answered without an EWS URL"))
    return None, attempts
