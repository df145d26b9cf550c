"""An administrator's own sign-in, kept for the whole setup: msal's SerializableTokenCache of the sign-in that
connected the organisation, and tokens from it with `acquire_token_silent` (msal refreshes with the refresh token
that `offline_access`, which msal always asks, brought).

Nothing here knows where the cache is kept: callers get it as text (`KeptSignIn.to_text`) and store it encrypted.
When Microsoft no longer honours the sign-in (`invalid_grant`: revoked, password changed, consent removed, expired;
`interaction_required`: conditional access, sign-in frequency, MFA), `SignInAgainNeeded` says so, with Microsoft's
AADSTS code, and only a person signing in again can continue.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msal
import requests

from wizard.microsoft.errors import IDENTITY, MicrosoftError, identity_error
from wizard.microsoft.signin import (
    SCOPES,
    MicrosoftPerson,
    SignInApp,
    SignInRefused,
    _msal_app,
    _person,
    _public_app,
    _session,
    complete,
    complete_device_sign_in,
)

# Microsoft's answers to a refresh that only an interactive sign-in can get past (OAuth 2.0 `invalid_grant`;
# Microsoft's `interaction_required`, msal's MsalUiRequiredException family).
SIGN_IN_AGAIN_ERRORS = ("invalid_grant", "interaction_required", "consent_required", "login_required")
HTTP_TIMEOUT_S = 15


class SignInAgainNeeded(MicrosoftError):
    """The kept sign-in can no longer get a token: a person must sign in again. `code` is Microsoft's AADSTS code
    (or `no_kept_sign_in`), `extra["error"]` the OAuth error."""


@dataclass(frozen=True)
class KeptSignIn:
    """A person's delegated tokens (msal's serialized cache) and whose they are."""

    cache: str
    home_account_id: str
    username: str
    tid: str
    # A sign-in through the device code flow (a terminal) is a public client's: its refresh token is redeemed
    # without the client secret, as Microsoft requires of public clients (AADSTS700025 otherwise).
    public_client: bool = False

    def __repr__(self) -> str:  # no token in reprs, tracebacks or logs
        return f"KeptSignIn(username={self.username!r}, tid={self.tid!r})"

    def to_text(self) -> str:
        return json.dumps(
            {
                "cache": self.cache,
                "home_account_id": self.home_account_id,
                "username": self.username,
                "tid": self.tid,
                "public_client": self.public_client,
            }
        )

    @classmethod
    def from_text(cls, text: str) -> KeptSignIn:
        data = json.loads(text)
        return cls(
            data["cache"], data["home_account_id"], data["username"], data["tid"], bool(data.get("public_client"))
        )


def complete_and_keep(
    app: SignInApp, flow: dict[str, Any], response: Mapping[str, str]
) -> tuple[MicrosoftPerson, KeptSignIn]:
    """`signin.complete`, keeping the tokens of the sign-in (refresh token included) in a new msal cache."""
    cache = msal.SerializableTokenCache()
    person = complete(app, flow, dict(response), token_cache=cache)
    return person, KeptSignIn(cache.serialize(), _home_account_id(cache, person), person.username, person.tid)


def complete_device_and_keep(app: SignInApp, flow: dict[str, Any]) -> tuple[MicrosoftPerson, KeptSignIn]:
    """`signin.complete_device_sign_in`, keeping the tokens of the sign-in in a new msal cache."""
    cache = msal.SerializableTokenCache()
    person = complete_device_sign_in(app, flow, token_cache=cache)
    kept = KeptSignIn(cache.serialize(), _home_account_id(cache, person), person.username, person.tid, True)
    return person, kept


def _home_account_id(cache: msal.SerializableTokenCache, person: MicrosoftPerson) -> str:
    """msal's id of the account the sign-in cached (from the response's client_info: `<uid>.<utid>`)."""
    for account in cache.search(msal.TokenCache.CredentialType.ACCOUNT):
        if account.get("local_account_id") == person.oid:
            return str(account["home_account_id"])
    return f"{person.oid}.{person.tid}"


class DelegatedTokens:
    """Tokens of a kept sign-in, for the app it signed in to. After use, `kept()` is the cache to store again (a
    refresh replaces the refresh token)."""

    def __init__(self, app: SignInApp, kept: KeptSignIn) -> None:
        self.app = app
        self._kept = kept
        self._cache = msal.SerializableTokenCache()
        self._cache.deserialize(kept.cache)
        # The latest access token this object got: its Graph calls reuse it rather than ask msal again for each
        # (an object lives for one step run, well within a token's hour).
        self._access_token = ""

    def __repr__(self) -> str:
        return f"DelegatedTokens({self._kept!r})"

    def kept(self) -> KeptSignIn:
        return dataclasses.replace(self._kept, cache=self._cache.serialize())

    @property
    def changed(self) -> bool:
        return self._cache.has_state_changed

    def mark_kept(self) -> None:
        """The cache as it is now has been stored."""
        self._cache.has_state_changed = False

    def for_scope(self, scope: str, *, force_refresh: bool = False) -> dict[str, Any]:
        """msal's answer for one resource's scope (e.g. Exchange's `/.default`), from the kept refresh token: a
        refresh token of Microsoft's identity platform gets tokens for any resource the person consented to."""
        with _session(self.app) as session:
            return self._acquire(session, [scope], force_refresh=force_refresh)

    def _acquire(self, session: requests.Session, scopes: list[str], *, force_refresh: bool) -> dict[str, Any]:
        try:
            if self._kept.public_client:
                application = _public_app(self.app, session, token_cache=self._cache)
            else:
                application = _msal_app(self.app, session, token_cache=self._cache)
        except SignInRefused as refusal:
            raise _unreachable(str(refusal)) from refusal
        account = next(
            (a for a in application.get_accounts() if a.get("home_account_id") == self._kept.home_account_id), None
        )
        if account is None:
            raise _again("no_kept_sign_in", "Onramp holds no sign-in of this administrator.", "")
        try:
            result = application.acquire_token_silent_with_error(scopes, account, force_refresh=force_refresh)
        except requests.RequestException as error:
            raise _unreachable("Microsoft's sign-in service could not be reached.") from error
        if result is None:  # no refresh token left in the cache
            raise _again("no_kept_sign_in", "Onramp holds no refresh token of this administrator's sign-in.", "")
        if "access_token" in result:
            self._access_token = result["access_token"]
            return result
        if str(result.get("error")) in SIGN_IN_AGAIN_ERRORS:
            refused = identity_error(result)
            raise _again(refused.code, refused.message, str(result.get("error")), refused)
        raise identity_error(result)

    def token(self, scopes: list[str] | None = None) -> str:
        """An access token of the kept sign-in (from the cache while valid, else refreshed)."""
        with _session(self.app) as session:
            return self._acquire(session, scopes or SCOPES, force_refresh=False)["access_token"]

    def refresh(self) -> None:
        """Ask Microsoft now, with the refresh token, whether the sign-in still stands: a revoked session or a
        conditional access policy answers at the refresh, not while a cached access token lasts."""
        with _session(self.app) as session:
            self._acquire(session, SCOPES, force_refresh=True)

    def confirm(self) -> MicrosoftPerson:
        """`refresh`, and who the sign-in is, with which active directory roles: from the new ID token's `wids`, else
        read through Graph."""
        with _session(self.app) as session:
            result = self._acquire(session, SCOPES, force_refresh=True)
            try:
                return _person(self.app, result, session)
            except SignInRefused as refusal:
                raise _again("id_token_refused", str(refusal), "invalid_grant") from refusal

    def graph(self, method: str, path: str) -> requests.Response:
        """One Microsoft Graph call as the signed-in person, at the discovery document's Graph host."""
        with _session(self.app) as session:
            access_token = self._access_token or self._acquire(session, SCOPES, force_refresh=False)["access_token"]
            discovery = session.get(
                f"{self.app.authority}/v2.0/.well-known/openid-configuration", timeout=HTTP_TIMEOUT_S
            ).json()
            return session.request(
                method,
                f"https://{discovery['msgraph_host']}/v1.0{path}",
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=HTTP_TIMEOUT_S,
            )


def _again(code: str, message: str, error: str, cause: MicrosoftError | None = None) -> SignInAgainNeeded:
    return SignInAgainNeeded(
        code=code,
        message=message,
        explanation="Microsoft no longer accepts the sign-in Onramp keeps for this organisation: it was revoked, the "
        "password changed, consent was removed, or a conditional access policy asks the person to sign in again.",
        fix="Press “Sign in again to continue” and sign in as an administrator of the organisation.",
        request_id=cause.request_id if cause else "",
        client_request_id=cause.client_request_id if cause else "",
        date=cause.date if cause else "",
        service=IDENTITY,
        extra={"error": error},
    )


def _unreachable(message: str) -> MicrosoftError:
    return MicrosoftError(
        code="sign_in_unreachable",
        message=message,
        fix="Onramp tries again when the step runs again.",
        service=IDENTITY,
    )


# An access token is asked for again this long before Microsoft says it expires (the same margin msal keeps).
EXPIRY_MARGIN_S = 300


class _KeptCache:
    """`save()` for MicrosoftClients.close(): the rotated sign-in is handed to `keep` (which stores it), from the
    thread that built the clients only (helper threads share no database connection with it)."""

    def __init__(self, tokens: DelegatedTokens, keep: Callable[[KeptSignIn], None]) -> None:
        self._tokens = tokens
        self._keep = keep
        self._owner = threading.get_ident()

    def save(self) -> bool:
        if threading.get_ident() != self._owner or not self._tokens.changed:
            return False
        self._keep(self._tokens.kept())
        self._tokens.mark_kept()
        return True


class DelegatedCredentials:
    """The kept sign-in as the credentials of a set of clients: an access token per resource (`scope` is the
    resource's `/.default`, every delegated scope the organisation consented to there), refreshed with the kept
    refresh token when the cached one is near its end. A refused refresh raises SignInAgainNeeded."""

    def __init__(self, tokens: DelegatedTokens, keep: Callable[[KeptSignIn], None]) -> None:
        self.tokens = tokens
        self.client_id = tokens.app.client_id
        self.username = tokens.kept().username
        self.cache = _KeptCache(tokens, keep)
        self._lock = threading.Lock()
        self._access: dict[str, tuple[str, float]] = {}
        self._renewed: set[str] = set()

    def __repr__(self) -> str:
        return f"DelegatedCredentials({self.tokens!r})"

    def token(self, scope: str) -> str:
        with self._lock:
            cached = self._access.get(scope)
            if cached and cached[1] > time.time():
                return cached[0]
            result = self.tokens.for_scope(scope, force_refresh=scope in self._renewed)
            lifetime = int(result.get("expires_in") or 0)
            self._access[scope] = (result["access_token"], time.time() + lifetime - EXPIRY_MARGIN_S)
            return result["access_token"]

    def renew(self, scope: str) -> bool:
        """Drop the token for `scope` so the next `token()` refreshes it (a consent or role given since it was
        issued shows only in a new token); once per scope for this set of clients."""
        with self._lock:
            if scope in self._renewed:
                return False
            self._renewed.add(scope)
            self._access.pop(scope, None)
            return True
