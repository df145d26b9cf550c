"""EWS (SOAP 1.1): GetFolder of a distinguished folder, with ExchangeImpersonation.

This stands in for Exchange Server's EWS (the exchange_server profile verifies access with it):
Basic auth with a user's password, an ExchangeImpersonation header honoured only inside the user's
ApplicationImpersonation scope. An app-only Bearer token (audience outlook) is accepted too.
"""

from __future__ import annotations

import base64
import hmac
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from .responses import Request, Response
from .state import EXCHANGE_APP_ID, EXCHANGE_AUDIENCE, Tenant, User
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


def _error_message(code: str, text: str) -> str:
    return (
        f'<m:GetFolderResponseMessage ResponseClass="Error"><m:MessageText>{escape(text)}</m:MessageText>'
        f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Folders/>"
        "</m:GetFolderResponseMessage>"
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


def _unauthorized() -> Response:
    return Response(401, b"", {"WWW-Authenticate": 'Basic realm="127.0.0.1"'})


def handle(tenant: Tenant, req: Request) -> Response:
    """Serve one POST to the EWS endpoint."""
    auth = req.headers.get("authorization", "")
    principal_user: User | None = None
    app_id: str | None = None
    if auth.lower().startswith("basic "):
        try:
            upn, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return _unauthorized()
        with tenant.lock:
            user = tenant.user_by_key(upn)
        if user is None or user.password is None or not hmac.compare_digest(user.password, password):
            return _unauthorized()
        principal_user = user
    elif auth.lower().startswith("bearer "):
        try:
            app_id = verify_token(auth, EXCHANGE_AUDIENCE)["appid"]
        except TokenError:
            return Response(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    else:
        return _unauthorized()

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
        return fault(
            "ErrorServerBusy",
            "The server cannot service this request right now. Try again later.",
            back_off_ms=retry_after * 1000,
        )
    # EWS charges a request to the account that makes it, or to the mailbox an app acts on.
    charged = principal_user.upn if principal_user else _text(impersonated) or _text(explicit) or app_id or ""
    limited = tenant.throttle.ews(tenant.knobs, charged)
    if limited:
        return fault(
            "ErrorServerBusy",
            "The server cannot service this request right now. Try again later.",
            back_off_ms=limited.retry_after * 1000,
        )
    tenant.calls.record("EWS GetFolder", write=False)

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
            return _folder_response(
                _error_message("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            )
        return _folder_response(_folder_message(target, folder))


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""
