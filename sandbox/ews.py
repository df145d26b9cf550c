"""EWS (SOAP 1.1): GetFolder of a distinguished folder, with ExchangeImpersonation.

This stands in for Exchange Server's EWS (the exchange_server profile verifies access with it): the EWS virtual
directory's Windows authentication (Negotiate/NTLM, verified by pyspnego's NTLM acceptor against the users'
passwords) and, only when the `ews_basic_authentication` knob turns it on, Basic; an ExchangeImpersonation header
honoured only inside the user's ApplicationImpersonation scope. And for Exchange Online's: an app-only Bearer token
(audience outlook), refused at the HTTP level when the app has no EWS grant (WIRE.md).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import spnego
import spnego.exceptions

from .responses import Request, Response
from .state import EXCHANGE_APP_ID, EXCHANGE_AUDIENCE, Tenant, User, role_permissions
from .tokens import TokenError, verify_token

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TYPES = "http://schemas.microsoft.com/exchange/services/2006/types"
MESSAGES = "http://schemas.microsoft.com/exchange/services/2006/messages"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
_XML = {"Content-Type": "text/xml; charset=utf-8"}
_VERSION = (
    f'<h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4" '
    f'Version="V2017_07_11" xmlns:h="{TYPES}" xmlns="{TYPES}"/>'
)
FOLDER_NAMES = {
    "calendar": ("CalendarFolder", "Calendar"),
    "inbox": ("Folder", "Inbox"),
    "msgfolderroot": ("Folder", "Top of Information Store"),
}


def _envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}"><s:Header>{_VERSION}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault(code: str, text: str, back_off_ms: int | None = None) -> Response:
    extra = ""
    if back_off_ms is not None:
        extra = (
            f'<t:MessageXml xmlns:t="{TYPES}"><t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value>'
            "</t:MessageXml>"
        )
    body = (
        f'<s:Fault><faultcode xmlns:a="{TYPES}">a:{code}</faultcode>'
        f'<faultstring xml:lang="en-US">{escape(text)}</faultstring><detail>'
        f'<e:ResponseCode xmlns:e="{ERRORS}">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{ERRORS}">{escape(text)}</e:Message>{extra}</detail></s:Fault>'
    )
    return Response(500, _envelope(body), dict(_XML))


def _folder_response(inner: str) -> Response:
    body = (
        f'<m:GetFolderResponse xmlns:m="{MESSAGES}" xmlns:t="{TYPES}"><m:ResponseMessages>{inner}'
        "</m:ResponseMessages></m:GetFolderResponse>"
    )
    return Response(200, _envelope(body), dict(_XML))


def _error_message(code: str, text: str, message_xml: str = "") -> str:
    return (
        f'<m:GetFolderResponseMessage ResponseClass="Error"><m:MessageText>{escape(text)}</m:MessageText>'
        f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{message_xml}"
        "<m:Folders/></m:GetFolderResponseMessage>"
    )


def _folder_message(mailbox: User, folder: str) -> str:
    element, display = FOLDER_NAMES[folder]
    folder_id = base64.b64encode(f"{mailbox.exchange_guid}:{folder}".encode()).decode()
    return (
        '<m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders>'
        f'<t:{element}><t:FolderId Id="{folder_id}" ChangeKey="AgAAAA=="/><t:DisplayName>{display}</t:DisplayName>'
        f"<t:TotalCount>0</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount></t:{element}>"
        "</m:Folders></m:GetFolderResponseMessage>"
    )


def _unauthorized(tenant: Tenant, req: Request) -> Response:
    """What the EWS virtual directory offers (IIS sends one WWW-Authenticate header per method; the sandbox folds
    them into one, as HTTP allows and clients read them): Negotiate and NTLM (Windows authentication), Basic when on."""
    offers = ["Negotiate", "NTLM"] if tenant.knobs.ews_windows_authentication else []
    if tenant.knobs.ews_basic_authentication:
        offers.append(f'Basic realm="{req.base_url.split("//", 1)[-1].split(":", 1)[0]}"')
    return Response(401, b"", {"WWW-Authenticate": ", ".join(offers)} if offers else {})


# pyspnego's NTLM acceptor reads its credential store from the file NTLM_USER_FILE names: one process-wide setting,
# so each tenant's store is written and named for the step that needs it, under this lock.
_NTLM_LOCK = threading.Lock()
# Acceptors that sent their challenge and wait for the Authenticate message, by tenant and connection: NTLM
# authenticates a connection (the handshake's three requests come on one keep-alive connection).
_PENDING: dict[tuple[int, str], Any] = {}
NETBIOS_DOMAIN = "CONTOSO"


@contextlib.contextmanager
def _credential_store(tenant: Tenant) -> Iterator[None]:
    """NTLM_USER_FILE naming a file of the tenant's passwords (`:upn:password` and `CONTOSO:alias:password`)."""
    with tenant.lock:
        lines = [
            line
            for user in tenant.users.values()
            if user.password
            for line in (f":{user.upn}:{user.password}", f"{NETBIOS_DOMAIN}:{user.mail_nickname}:{user.password}")
        ]
    handle, path = tempfile.mkstemp(prefix="sandbox-ntlm-")
    previous = os.environ.get("NTLM_USER_FILE")
    try:
        with os.fdopen(handle, "w") as store:
            store.write("\n".join(lines) + "\n")
        os.environ["NTLM_USER_FILE"] = path
        yield
    finally:
        if previous is None:
            os.environ.pop("NTLM_USER_FILE", None)
        else:
            os.environ["NTLM_USER_FILE"] = previous
        os.unlink(path)


def _windows_user(tenant: Tenant, req: Request, scheme: str, token_text: str) -> User | Response:
    """One leg of the NTLM handshake (raw NTLM tokens, under either scheme name): the challenge for a Negotiate
    message, the user for an Authenticate message that proves the password, else the offers again. SPNEGO-wrapped
    Kerberos is not served (the sandbox has no KDC)."""
    try:
        token = base64.b64decode(token_text.strip(), validate=True)
    except ValueError:
        return _unauthorized(tenant, req)
    key = (id(tenant), req.connection)
    if token[:8] != b"NTLMSSP\0" or len(token) < 12:
        return _unauthorized(tenant, req)
    kind = int.from_bytes(token[8:12], "little")
    try:
        with _NTLM_LOCK, _credential_store(tenant):
            if kind == 1:
                acceptor = spnego.server(protocol="ntlm")
                challenge = acceptor.step(token) or b""
                _PENDING[key] = acceptor
                return Response(401, b"", {"WWW-Authenticate": f"{scheme} {base64.b64encode(challenge).decode()}"})
            acceptor = _PENDING.pop(key, None)
            if kind != 3 or acceptor is None:
                return _unauthorized(tenant, req)
            acceptor.step(token)
            principal = str(acceptor.client_principal or "")
    except spnego.exceptions.SpnegoError:
        return _unauthorized(tenant, req)  # a wrong password, or a malformed token
    domain, _, name = principal.rpartition("\\")
    with tenant.lock:
        if domain:
            user = next((u for u in tenant.users.values() if u.mail_nickname.lower() == name.lower()), None)
        else:
            user = tenant.user_by_key(name)
    return user if user is not None else _unauthorized(tenant, req)


# Exchange Online refuses an app-only token with no EWS permission at the HTTP level (otris/ews-cpp#148).
NO_PERMISSIONS = (
    '2000008;reason="The token contains no permissions, or permissions can not be understood.";'
    'error_category="invalid_grant"'
)


def _has_ews_assignment(tenant: Tenant, app_id: str) -> bool:
    return any(
        a.assignee_type == "ServicePrincipal" and a.assignee == app_id and "EWS.AccessAsApp" in role_permissions(a.role)
        for a in tenant.assignments.values()
    )


def _busy(tenant: Tenant, retry_after: int) -> Response:
    """A throttled call, in the shape the `ews_busy_answer` knob picks (EWS throttling in Exchange, tables 3-4)."""
    shape = tenant.knobs.ews_busy_answer
    if shape == "internal":
        busy = "The server cannot service this request right now. Try again later."
        text = f"An internal server error occurred. The operation failed., {busy}"
        inner = (
            f'<m:MessageXml><t:Value Name="InnerErrorMessageText">{busy}</t:Value>'
            '<t:Value Name="InnerErrorResponseCode">ErrorServerBusy</t:Value>'
            '<t:Value Name="InnerErrorDescriptiveLinkKey">0</t:Value></m:MessageXml>'
        )
        return _folder_response(_error_message("ErrorInternalServerError", text, inner))
    if shape == "connections":
        return fault(
            "ErrorExceededConnectionCount",
            "You have exceeded the available concurrent connections for your account. Try again once your other"
            " requests have completed.",
        )
    return fault(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        back_off_ms=retry_after * 1000,
    )


def _record_anchor(tenant: Tenant, req: Request, target: str) -> None:
    anchor = (req.headers.get("x-anchormailbox") or "").strip().lower()
    tenant.calls.anchored("missing" if not anchor else "matched" if anchor == target.lower() else "other")


def handle(tenant: Tenant, req: Request) -> Response:
    """Serve one POST to the EWS endpoint."""
    auth = req.headers.get("authorization", "")
    scheme, _, credentials = auth.partition(" ")
    principal_user: User | None = None
    app_id: str | None = None
    if scheme.lower() == "basic" and tenant.knobs.ews_basic_authentication:
        try:
            upn, _, password = base64.b64decode(credentials).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return _unauthorized(tenant, req)
        with tenant.lock:
            user = tenant.user_by_key(upn)
        if user is None or user.password is None or not hmac.compare_digest(user.password, password):
            return _unauthorized(tenant, req)
        principal_user = user
    elif scheme.lower() in ("ntlm", "negotiate") and tenant.knobs.ews_windows_authentication:
        found = _windows_user(tenant, req, scheme, credentials)
        if isinstance(found, Response):
            return found
        principal_user = found
    elif scheme.lower() == "bearer":
        try:
            claims = verify_token(auth, EXCHANGE_AUDIENCE)
        except TokenError:
            return Response(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        app_id = claims["appid"]
        with tenant.lock:
            # The app's grants when the call arrives (as the Exchange admin API here reads them), not the token's
            # roles claim: a sandbox simplification (WIRE.md).
            no_permission = not tenant.app_roles(app_id, EXCHANGE_APP_ID) and not _has_ews_assignment(tenant, app_id)
        if no_permission:
            return Response(401, b"", {"x-ms-diagnostics": NO_PERMISSIONS})
    else:
        return _unauthorized(tenant, req)

    try:
        # The body comes from a loopback test client; the stdlib parser does not resolve external entities.
        root = ET.fromstring(req.body)  # noqa: S314
    except ET.ParseError:
        return fault("ErrorSchemaValidation", "The request failed schema validation.")
    get_folder = root.find(f".//{{{MESSAGES}}}GetFolder")
    if get_folder is None:
        return fault("ErrorInvalidRequest", "The request is invalid: the sandbox serves GetFolder only.")
    distinguished = get_folder.find(f".//{{{TYPES}}}DistinguishedFolderId")
    folder = (distinguished.get("Id") or "").lower() if distinguished is not None else ""
    if folder not in FOLDER_NAMES:
        return fault("ErrorInvalidRequest", "The request is invalid: use a DistinguishedFolderId.")
    impersonated = root.find(f".//{{{TYPES}}}ExchangeImpersonation//{{{TYPES}}}SmtpAddress")
    if impersonated is None:
        impersonated = root.find(f".//{{{TYPES}}}ExchangeImpersonation//{{{TYPES}}}PrincipalName")
    explicit = distinguished.find(f".//{{{TYPES}}}EmailAddress") if distinguished is not None else None

    rejection = tenant.admit(principal_user.upn if principal_user else app_id or "")
    if rejection:
        kind, retry_after = rejection
        if kind == "fault":
            return Response(503, b"", {"Retry-After": str(retry_after)})
        return _busy(tenant, retry_after)
    # EWS charges a request to the account that makes it, or to the mailbox an app acts on.
    charged = principal_user.upn if principal_user else _text(impersonated) or _text(explicit) or app_id or ""
    limited = tenant.throttle.ews(tenant.knobs, charged)
    if limited:
        return _busy(tenant, limited.retry_after)
    tenant.calls.record("EWS GetFolder", write=False)
    _record_anchor(
        tenant, req, _text(impersonated) or _text(explicit) or (principal_user.upn if principal_user else "")
    )

    with tenant.lock:
        if impersonated is not None:
            target = tenant.user_by_key((impersonated.text or "").strip())
            if target is None or not tenant.has_mailbox(target):
                return fault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
            if principal_user is not None and not tenant.can_impersonate(principal_user.id, target):
                return fault(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
        elif explicit is not None:
            target = tenant.user_by_key((explicit.text or "").strip())
            if target is None or not tenant.has_mailbox(target):
                return _folder_response(
                    _error_message("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
                )
            if principal_user is not None and target.id != principal_user.id:
                return _folder_response(
                    _error_message("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
                )
        elif principal_user is not None:
            target = principal_user
            if not tenant.has_mailbox(target):
                return _folder_response(
                    _error_message("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
                )
        else:
            return fault(
                "ErrorMissingEmailAddress",
                "When making a request as an account that does not have a "
                "mailbox, you must specify the mailbox primary SMTP address for any distinguished folder Ids.",
            )
        if app_id is not None and not (
            "full_access_as_app" in tenant.app_roles(app_id, EXCHANGE_APP_ID)
            or tenant.app_rbac_covers(app_id, target, {"EWS.AccessAsApp"})
        ):
            # An app whose grants do not reach this mailbox: HTTP 403 (PowerShell-EWS-Scripts#47, #62).
            return Response(403, b"", {})
        return _folder_response(_folder_message(target, folder))


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""
