"""EWS (SOAP 1.1 over requests): one question, "may this account open this mailbox's calendar?", and Autodiscover.

Exchange Server keeps EWS and ApplicationImpersonation, so the exchange_server profile proves a scope from outside:
`GetFolder` of the `calendar` distinguished folder with an `ExchangeImpersonation` header naming the mailbox. Success
means the service account may act as that mailbox; `ErrorImpersonateUserDenied` means the scope leaves it out.

Authentication: Basic (the service account's UPN and password; HTTPS only). An app-only token from Microsoft Entra
is not offered: Microsoft documents hybrid modern authentication for Outlook and other clients signing in users, not
app-only ExchangeImpersonation against an on-premises EWS. NTLM/Negotiate is not offered: it needs requests-ntlm or
requests-negotiate-sspi, which are not dependencies of Onramp; an Exchange Server whose EWS virtual directory allows
only Windows authentication must also enable Basic (over TLS) for the check.

XML: responses are parsed with the standard library's ElementTree because defusedxml is not installed. They come
only from the EWS or Autodiscover URL the admin configured, over verified TLS; expat never fetches external entities
and, from version 2.4.1, refuses entity-expansion bombs; bodies are also capped at `MAX_RESPONSE_BYTES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import requests
from requests.auth import AuthBase, HTTPBasicAuth

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
# Codes that mean "this account may not open that mailbox": the expected answer for a control mailbox.
DENIED_CODES = frozenset({"ErrorImpersonateUserDenied", "ErrorAccessDenied", "ErrorImpersonationDenied"})
_BUSY_CODES = frozenset({"ErrorServerBusy", "ErrorInternalServerTransientError", "ErrorMailboxStoreUnavailable"})
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
        "The service account holds no ApplicationImpersonation role at all, so it may impersonate nobody."
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
        "Exchange refused the service account's credentials: the password is wrong or expired, the account is"
        " locked or disabled, or Basic authentication is turned off on the EWS virtual directory."
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
    "ErrorImpersonationDenied": "Run the scoped-access step's New-ManagementRoleAssignment command.",
    "ErrorAccessDenied": "Run the scoped-access step's commands, then verify again.",
    "ErrorNonExistentMailbox": "Check the address with Get-Mailbox -Identity <address> in the Management Shell.",
    "HTTP401": (
        "Check the service account's UPN and password (connect step); make sure Basic authentication is enabled on"
        " the EWS virtual directory (Get-WebServicesVirtualDirectory | Format-List BasicAuthentication)."
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
    def explanation(self) -> str:
        return explain(self.code)

    @property
    def reason(self) -> str:
        """One line for a table: the code and what it means."""
        return f"{self.code}: {self.explanation}"


class BearerAuth(AuthBase):
    """An app-only token for Exchange Online's EWS (the integration's app, as verify's EWS negative control signs
    in): fetched for each request, which msal serves from its cache."""

    def __init__(self, token: Callable[[], str]) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request


def basic_auth(url: str, username: str, password: str) -> HTTPBasicAuth:
    """Basic credentials, refused on anything but HTTPS: they would cross the network readable."""
    if urlsplit(url).scheme != "https":
        raise AuthenticationFailed(
            code="BasicOverHttp",
            message=f"Refusing to send the service account's password to {url}: it is not an https URL.",
            explanation="Basic authentication sends the password as it is; only TLS keeps it private.",
            fix="Use the https:// EWS URL.",
            service=EWS,
        )
    return HTTPBasicAuth(username, password)


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


def _response_code(root: ET.Element) -> tuple[str, str, float | None]:
    """(ResponseCode, message, back-off seconds) of a GetFolder response or SOAP fault."""
    fault = root.find(f".//{{{SOAP_NS}}}Fault")
    if fault is not None:
        code = fault.findtext(f".//{{{ERRORS_NS}}}ResponseCode") or (fault.findtext("faultcode") or "").split(":")[-1]
        message = fault.findtext(f".//{{{ERRORS_NS}}}Message") or fault.findtext("faultstring") or ""
        back_off = None
        for value in fault.iter(f"{{{TYPES_NS}}}Value"):
            if value.get("Name") == "BackOffMilliseconds" and (value.text or "").isdigit():
                back_off = int(value.text or "0") / 1000
        return code.strip() or "SoapFault", message.strip(), back_off
    message_element = root.find(f".//{{{MESSAGES_NS}}}GetFolderResponseMessage")
    if message_element is None:
        return "NotEws", "The response holds no GetFolder answer.", None
    code = (message_element.findtext(f"{{{MESSAGES_NS}}}ResponseCode") or "").strip() or "NotEws"
    return code, (message_element.findtext(f"{{{MESSAGES_NS}}}MessageText") or "").strip(), None


def ews_busy_delay(response: requests.Response) -> float | None:
    """Seconds Exchange asks EWS callers to wait: Retry-After on a 429 or 503, or `ErrorServerBusy` (and the other
    transient codes) in a SOAP fault with its `BackOffMilliseconds`; None when it is not busy."""
    if response.status_code in (429, 503):
        return retry_after_seconds(response.headers.get("Retry-After")) or DEFAULT_BUSY_SECONDS
    if response.status_code == 500:
        root = _parse(response.content)
        if root is not None:
            code, _, back_off = _response_code(root)
            if code in _BUSY_CODES:
                return back_off or DEFAULT_BUSY_SECONDS
    return None


class EwsClient:
    """One EWS endpoint with one identity. Thread-safe (requests sessions are, for this use)."""

    def __init__(self, url: str, session: requests.Session, auth: AuthBase, limit_key: str, user: str = "") -> None:
        """`limit_key` names the tenant; `user` is the account signing in (Basic), empty for an app."""
        self.url = url
        self.limit_key = limit_key
        self.user = user
        # The same retry loop as every Microsoft call, with EWS's own idea of "busy"; a refusal comes back as HTTP
        # 500 with a SOAP fault, which is an answer, so only 502 and 504 are retried as transient failures.
        self.transport = Transport(
            session,
            service=EWS,
            budget=ratelimit.service_budget(limit_key, ratelimit.EWS, user),
            auth=auth,
            busy=ews_busy_delay,
            transient_statuses=frozenset({502, 504}),
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
                headers={"Content-Type": "text/xml; charset=utf-8", "Accept": "text/xml"},
                allow_redirects=False,
            )
        except ServiceUnavailable as error:
            error.explanation, error.fix = explain("Unreachable"), FIXES["Unreachable"]
            raise
        return self._answer(mailbox or "", response)

    def _answer(self, mailbox: str, response: requests.Response) -> CalendarAccess:
        status = response.status_code
        if status == 401:
            raise self._error("HTTP401", "HTTP 401 from EWS", AuthenticationFailed, status)
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
