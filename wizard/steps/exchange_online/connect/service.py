"""Step 0: connect the tenant. Onramp gets app-only tokens for the connector app, reads the organisation and its
domains through Graph, and runs Get-OrganizationConfig through the Exchange admin API. Every missing permission or
role is named, with where to grant it."""

import copy
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from tenants.access import SHARE_DECISION_ACTION, tenants_bound_to
from tenants.models import BindingProof, SecretKind, Tenant
from tenants.secrets import erase_secret, read_secret, store_secret
from wizard import admin_roles
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.microsoft import (
    ROLE_SCOPES,
    ROLES_NOT_READABLE,
    KeptSignIn,
    MicrosoftPerson,
    SignInRefused,
    begin_device_sign_in,
    begin_sign_in,
    complete_and_keep,
    complete_device_and_keep,
    endpoints_for,
    prove_app_credentials,
    trusted_by_installation,
)
from wizard.microsoft.errors import ExchangeRoleMissing, MicrosoftError, NotFound, PermissionMissing
from wizard.models import AuditEvent
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.services import admin_sign_in, grants
from wizard.services.admin_sign_in import connector_sign_in_app, consent_unavailable, roles_missing
from wizard.services.connector import connector_clients, is_installation_app
from wizard.steps.registry import steps_of

# Service plans that give a user an Exchange Online mailbox (Microsoft's licensing service plan reference).
# EXCHANGE_S_FOUNDATION, in free and app-only SKUs (POWER_BI_STANDARD, FLOW_FREE, TEAMS_EXPLORATORY, Apps for
# business), only backs those apps' data and gives no mailbox.
MAILBOX_PLANS = frozenset(
    {
        "EXCHANGE_S_STANDARD",
        "EXCHANGE_S_ENTERPRISE",
        "EXCHANGE_S_DESKLESS",
        "EXCHANGE_S_STANDARD_GOV",
        "EXCHANGE_S_ENTERPRISE_GOV",
        "EXCHANGE_S_DESKLESS_GOV",
    }
)

# Every Microsoft Graph application permission Onramp's connector app needs and what for: the one list the README
# and the connect page show and step 0 probes (each with a read, so a missing one is named at step 0, not at the
# step that needs it). Place.Read.All is not asked: no step reads /places.
REQUIRED_GRAPH_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("Organization.Read.All", "the organisation's name and its licences"),
    ("Domain.Read.All", "the verified domains for the service account and room list addresses"),
    ("User.ReadWrite.All", "creating and licensing the service account"),
    ("Application.Read.All", "finding the integration's app and every permission it holds"),
    ("MailboxSettings.Read", "waiting until the service account's mailbox exists"),
)
REQUIRED_EXCHANGE_ACCESS = ("Exchange.ManageAsApp", "the Exchange Administrator role")
# The read that proves each Graph permission, and what the read's answer is kept as.
_GRAPH_PROBES: tuple[tuple[str, str, str], ...] = (
    ("organization", "/organization", "Organization.Read.All"),
    ("domains", "/domains", "Domain.Read.All"),
    ("licences", "/subscribedSkus", "Organization.Read.All"),
    ("users", "/users?$top=1&$select=id", "User.ReadWrite.All"),
    ("service_principals", "/servicePrincipals?$top=1&$select=id", "Application.Read.All"),
)
MAILBOX_SETTINGS_PERMISSION = "MailboxSettings.Read"
# Two organisations on one Microsoft tenant share its service account and room lists: step 0 waits for an explicit
# decision (the page's tick box or `onramp connect --share-microsoft-tenant`), kept in the step's inputs.
SHARE_INPUT = "share_microsoft_tenant"
SHARE_DECIDED_BY = "share_decided_by"
SHARED_RESULT = "shared_microsoft_tenant"
SHARE_ACTION = SHARE_DECISION_ACTION
SHARING_REASON = (
    "This Microsoft tenant is already connected to another Onramp organisation; the next steps would take over its "
    "service account and room lists. Tick “I know; share this Microsoft tenant” and run again, or connect another."
)
_GRAPH_FIX = (
    "In the Entra admin center: App registrations → {app} → API permissions → Add a permission → Microsoft Graph → "
    "Application permissions → {permissions} → Grant admin consent for your organisation. Then run this step again."
)
_EXCHANGE_FIX = (
    "In the Entra admin center: App registrations → {app} → API permissions → Add a permission → APIs my "
    "organization uses → Office 365 Exchange Online → Application permissions → Exchange.ManageAsApp → Grant admin "
    "consent; then Roles and administrators → Exchange Administrator → Add assignments → select the app. "
    "Then run this step again (a new role can take a few minutes to apply)."
)

_EXCHANGE_ROLE_FIX = (
    "In the Entra admin center: Roles and administrators → Exchange Administrator → Add assignments → select "
    "{app} (an active assignment, not an eligible one). Then run this step again (a new role can take a few minutes "
    "to apply)."
)


class CertificateInvalid(ValueError):
    """The uploaded private key or thumbprint cannot sign in as the connector app; the message says why."""


def certificate_credential(pem: str, thumbprint: str = "") -> str:
    """The connector app's certificate credential as stored (JSON for msal's `client_credential`): the RSA private
    key from `pem` (PKCS#8 PEM, unencrypted) and the certificate's SHA-1 thumbprint in hex (Entra's "Thumbprint"
    column), taken from the certificate when the PEM holds it too. Raises CertificateInvalid with the reason."""
    data = pem.encode()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as error:
        raise CertificateInvalid(
            "The private key is protected by a password: export it without one (openssl pkcs8 -topk8 -nocrypt)."
        ) from error
    except ValueError as error:
        raise CertificateInvalid("This is not a PEM private key (-----BEGIN PRIVATE KEY----- …).") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateInvalid("Entra ID certificate credentials use RSA keys; this key is not RSA.")
    wanted = re.sub(r"[\s:]", "", thumbprint).upper()
    if wanted and not re.fullmatch(r"[0-9A-F]{40}", wanted):
        raise CertificateInvalid("The thumbprint is the certificate's SHA-1 hash: 40 hexadecimal characters.")
    if b"-----BEGIN CERTIFICATE-----" in data:
        certificate = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE-----") :])
        if certificate.public_key().public_numbers() != key.public_key().public_numbers():
            raise CertificateInvalid("The certificate in the file is not the private key's certificate.")
        own = certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Entra's x5t thumbprint is SHA-1
        if wanted and wanted != own:
            raise CertificateInvalid(f"The thumbprint given is not the certificate's ({own}).")
        wanted = own
    if not wanted:
        raise CertificateInvalid(
            "Give the certificate's thumbprint (App registrations → the app → Certificates & secrets), or a PEM "
            "file that holds the certificate as well as the key."
        )
    private_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps({"private_key": private_key, "thumbprint": wanted})


def save_app_credentials(
    tenant: Tenant,
    *,
    actor: str,
    microsoft_tenant_id: str,
    client_id: str,
    client_secret: str | None,
    client_certificate: str | None = None,
    integration_app_id: str = "",
    integration_client_secret: str | None = None,
    cloud: str | None = None,
    custom_endpoints: dict[str, Any] | None = None,
) -> Tenant:
    """Save an app registration the admin made (pasted in the form or given to the CLI). Secrets go encrypted into
    tenants.secrets; a secret left empty keeps the one already stored. The connector app signs in with a client
    secret or a certificate (`client_certificate`, from `certificate_credential`): saving one removes the other, so
    Onramp holds one credential for the app.

    Credentials that would replace working ones are not applied here: the whole change is kept encrypted as
    PENDING_CREDENTIALS, and step 0 proves it at the token endpoint on the worker before anything changes
    (`apply_pending_credentials`). Proving means calling an authority someone typed, which must never happen inside
    a web request. Once credentials change, the tenant's token cache is dropped, so no token of the old ones is
    reused."""
    if is_installation_app(client_id):
        record_event(tenant, actor, "save_app_credentials", "refused", "connect", {"reason": "installation_app"})
        raise installation_app_pasted()
    change = {
        "microsoft_tenant_id": microsoft_tenant_id.strip(),
        "client_id": client_id.strip(),
        "client_secret": client_secret,
        "client_certificate": client_certificate,
        "integration_app_id": integration_app_id.strip(),
        "integration_client_secret": integration_client_secret,
        "cloud": cloud,
        "custom_endpoints": custom_endpoints,
    }
    candidate = _candidate(tenant, change)
    stored_secret = read_secret(tenant, SecretKind.CLIENT_SECRET)
    stored_certificate = read_secret(tenant, SecretKind.CLIENT_CERTIFICATE)
    new_credential = client_secret or client_certificate
    connector_changed = bool(new_credential and new_credential not in (stored_secret, stored_certificate)) or any(
        getattr(candidate, field) != getattr(tenant, field) for field in _CONNECTOR_FIELDS
    )
    if connector_changed and (stored_secret or stored_certificate):
        with transaction.atomic():
            store_secret(tenant, SecretKind.PENDING_CREDENTIALS, json.dumps(change))
            record_event(
                tenant,
                actor,
                "save_app_credentials",
                "pending_proof",
                "connect",
                {"microsoft_tenant_id": candidate.microsoft_tenant_id, "client_id": candidate.client_id},
            )
        return tenant
    return _apply_app_credentials(tenant, candidate, change, actor=actor, connector_changed=connector_changed)


def apply_pending_credentials(tenant: Tenant, actor: str) -> None:
    """Step 0, on the worker: prove the credentials saved to replace working ones (a new token from the token
    endpoint, every cache bypassed) and only then apply them. CredentialsRefused, naming Microsoft's AADSTS code,
    when Microsoft refuses them; the credentials that worked before stay, untouched. Either way the pending change is
    gone: a refused one is not tried again."""
    pending = read_secret(tenant, SecretKind.PENDING_CREDENTIALS)
    if not pending:
        return
    erase_secret(tenant, SecretKind.PENDING_CREDENTIALS)
    change = json.loads(pending)
    candidate = _candidate(tenant, change)
    stored = _credential(
        read_secret(tenant, SecretKind.CLIENT_SECRET), read_secret(tenant, SecretKind.CLIENT_CERTIFICATE)
    )
    try:
        _prove(candidate, _credential(change["client_secret"], change["client_certificate"]) or stored)
    except CredentialsRefused:
        record_event(tenant, actor, "save_app_credentials", "refused", "connect", {"client_id": candidate.client_id})
        raise
    _apply_app_credentials(tenant, candidate, change, actor=actor, connector_changed=True, proven=True)


def _candidate(tenant: Tenant, change: Mapping[str, Any]) -> Tenant:
    """The tenant as it would be with `change` applied (not saved)."""
    candidate = copy.copy(tenant)
    candidate.microsoft_tenant_id = change["microsoft_tenant_id"]
    candidate.client_id = change["client_id"]
    if change["integration_app_id"]:
        candidate.integration_app_id = change["integration_app_id"]
    if change["cloud"]:
        candidate.cloud = change["cloud"]
    if change["custom_endpoints"] is not None:
        candidate.custom_endpoints = change["custom_endpoints"]
    return candidate


def _apply_app_credentials(
    tenant: Tenant,
    candidate: Tenant,
    change: Mapping[str, Any],
    *,
    actor: str,
    connector_changed: bool,
    proven: bool = False,
) -> Tenant:
    client_secret, client_certificate = change["client_secret"], change["client_certificate"]
    integration_client_secret = change["integration_client_secret"]
    with transaction.atomic():
        if any(getattr(candidate, field) != getattr(tenant, field) for field in _CONNECTOR_FIELDS):
            # Proof was of the old tenant id, cloud, endpoints or app: step 0 proves the new ones again.
            _clear_binding(candidate)
        candidate.save()
        if client_secret:
            store_secret(candidate, SecretKind.CLIENT_SECRET, client_secret)
            erase_secret(candidate, SecretKind.CLIENT_CERTIFICATE)
        certificate_thumbprint = ""
        if client_certificate and not client_secret:
            store_secret(candidate, SecretKind.CLIENT_CERTIFICATE, client_certificate)
            erase_secret(candidate, SecretKind.CLIENT_SECRET)
            certificate_thumbprint = json.loads(client_certificate)["thumbprint"]
        if integration_client_secret:
            store_secret(candidate, SecretKind.INTEGRATION_CLIENT_SECRET, integration_client_secret)
        if connector_changed or integration_client_secret or candidate.integration_app_id != tenant.integration_app_id:
            erase_secret(candidate, SecretKind.TOKEN_CACHE)
        # Credentials saved now replace any change still waiting for its proof.
        erase_secret(candidate, SecretKind.PENDING_CREDENTIALS)
        record_event(
            candidate,
            actor,
            "save_app_credentials",
            "succeeded",
            "connect",
            {
                "microsoft_tenant_id": candidate.microsoft_tenant_id,
                "client_id": candidate.client_id,
                "integration_app_id": candidate.integration_app_id,
                "cloud": candidate.cloud,
                "client_secret_changed": bool(client_secret),
                "client_certificate_changed": bool(certificate_thumbprint),
                "certificate_thumbprint": certificate_thumbprint,
                "integration_client_secret_changed": bool(integration_client_secret),
                "proven": proven,
            },
        )
    for field in (*_CONNECTOR_FIELDS, *_BINDING_FIELDS, "integration_app_id", "updated_at"):
        setattr(tenant, field, getattr(candidate, field))
    return tenant


_BINDING_FIELDS = ("binding_proof", "binding_proven_at", "binding_proven_by")


def _clear_binding(tenant: Tenant) -> None:
    tenant.binding_proof, tenant.binding_proven_at, tenant.binding_proven_by = BindingProof.NONE, None, ""


def installation_app_pasted() -> StepError:
    return StepError(
        code="installation_app_pasted",
        message=gettext_noop("This is Onramp's own app: it cannot be connected by pasting its id."),
        explanation=gettext_noop(
            "Onramp acts in a Microsoft tenant through its own app only after an administrator of that "
            "tenant signed in and consented; a pasted id proves nothing about who administers the tenant."
        ),
        fix=gettext_noop(
            "Use “Connect with Microsoft” and sign in as a Global Administrator (or Privileged Role Administrator) "
            "of your organisation, or paste an app registration of your own organisation with its secret."
        ),
    )


def bind_microsoft_tenant(
    tenant: Tenant, *, microsoft_tenant_id: str, proof: str, proven_by: str, actor: str, client_id: str | None = None
) -> Tenant:
    """Record that this organisation proved `microsoft_tenant_id` is its own (BindingProof), audited. The only
    writer of the binding: a pasted id, a callback parameter or an endpoint someone typed never comes here."""
    with transaction.atomic():
        tenant.microsoft_tenant_id = microsoft_tenant_id
        if client_id is not None:
            tenant.client_id = client_id
        tenant.binding_proof, tenant.binding_proven_at, tenant.binding_proven_by = proof, timezone.now(), proven_by
        tenant.save(update_fields=["microsoft_tenant_id", "client_id", *_BINDING_FIELDS, "updated_at"])
        record_event(
            tenant,
            actor,
            "bind_microsoft_tenant",
            "succeeded",
            "connect",
            {"microsoft_tenant_id": microsoft_tenant_id, "proof": proof, "proven_by": proven_by},
        )
    return tenant


# What, besides its secret, decides which app a token is issued to and by whom.
_CONNECTOR_FIELDS = ("microsoft_tenant_id", "client_id", "cloud", "custom_endpoints")


class CredentialsRefused(StepError):
    """New credentials that Microsoft's token endpoint refused; the old ones were kept."""


_REFUSED = "Microsoft refused the new credentials"


def _credential(secret: str | None, certificate: str | None) -> str | dict[str, str] | None:
    """What msal signs in with: the client secret, or the stored certificate credential as a dict."""
    return secret or (json.loads(certificate) if certificate else None)


def _prove(candidate: Tenant, secret: str | dict[str, str]) -> None:
    try:
        prove_app_credentials(candidate, client_id=candidate.client_id, secret=secret)
    except StepError as refusal:
        raise CredentialsRefused(
            code=refusal.code,
            message=f"{_REFUSED}: {refusal.message}"
            if refusal.message.startswith(refusal.code)
            else f"{_REFUSED} ({refusal.code}): {refusal.message}",
            explanation=f"{refusal.explanation} The credentials that worked before are kept: run this step again "
            "to use them.".strip(),
            fix=refusal.fix,
            request_id=refusal.request_id,
        ) from refusal


def _refused(tenant: Tenant, actor: str, reason: str, detail: Mapping[str, Any], error: StepError) -> StepError:
    record_event(tenant, actor, "connect_with_microsoft", "refused", "connect", {"reason": reason, **detail})
    return error


@dataclass(frozen=True)
class AnotherSignIn:
    """Microsoft listed the administrator's directory roles without naming them (User.Read's limited information):
    they sign in once more, asked for ROLE_SCOPES, msal's `flow` for it kept server-side."""

    flow: dict[str, Any]


# What the installation's operator sets so that Onramp knows an administrator's roles.
_ROLES_FIX = (
    "Ask this installation's operator to set groupMembershipClaims to \"DirectoryRole\" in the manifest of Onramp's "
    "connector app, or have a Global Administrator grant admin consent to its delegated Microsoft Graph permission "
    "RoleManagement.Read.Directory. If you hold Global Administrator or Privileged Role Administrator through "
    "Privileged Identity Management, activate it and sign in again."
)


def prove_administrator(
    tenant: Tenant,
    *,
    flow: dict[str, Any],
    response: Mapping[str, str],
    actor: str,
    redirect_uri: str,
    roles_round: bool = False,
    for_step: str = "",
) -> MicrosoftPerson | AnotherSignIn:
    """Redeem the administrator's sign-in (msal checks state, PKCE and nonce; the ID token's signature, audience
    and issuer are checked) and require a role that may consent for the organisation. The Microsoft tenant id is
    the validated token's `tid`; nothing the browser sent decides it. When the roles were listed without names, the
    administrator signs in once more asking for the scope that reads them (`roles_round`), as sign-in does
    (wizard.people.views). The proven administrator's tokens are kept, encrypted, for the whole setup. A sign-in
    again to continue `for_step` must be of the Microsoft tenant the organisation is bound to."""
    app = connector_sign_in_app(tenant)
    try:
        person, kept = complete_and_keep(app, flow, dict(response))
    except SignInRefused as refusal:
        if roles_round:
            error = StepError(
                code="directory_roles_unreadable",
                message=f"Onramp asked Microsoft to read which administrator roles you hold, and Microsoft refused "
                f"({refusal}).",
                fix=_ROLES_FIX,
            )
            raise _refused(tenant, actor, error.code, {}, error) from refusal
        raise _refused(
            tenant,
            actor,
            "sign_in_refused",
            {},
            StepError(
                code="connect_sign_in_refused",
                message=str(refusal),
                fix=gettext_noop("Start “Connect with Microsoft” again."),
            ),
        ) from refusal
    if person.roles_unknown_because == ROLES_NOT_READABLE and not roles_round:
        try:
            return AnotherSignIn(
                begin_sign_in(app, redirect_uri, scopes=ROLE_SCOPES, login_hint=person.username or None)
            )
        except SignInRefused as refusal:
            raise StepError(
                code="sign_in_unreachable", message=str(refusal), fix=gettext_noop("Try again.")
            ) from refusal
    _require_consenting_role(tenant, person, actor)
    if for_step and person.tid.lower() != tenant.microsoft_tenant_id.lower():
        error = StepError(
            code="sign_in_of_another_tenant",
            message=f"{person.username} is not of the Microsoft tenant this organisation is connected to.",
            fix=gettext_noop(
                "Sign in again as a Global Administrator or Privileged Role Administrator of the organisation's own "
                "Microsoft tenant."
            ),
        )
        raise _refused(tenant, actor, error.code, {"microsoft_tenant_id": person.tid}, error)
    _keep_sign_in(tenant, person, kept, actor)
    return person


def _keep_sign_in(tenant: Tenant, person: MicrosoftPerson, kept: KeptSignIn, actor: str) -> None:
    admin_sign_in.keep(tenant, kept)
    record_event(
        tenant, actor, "keep_admin_sign_in", "succeeded", "connect", {"username": person.username, "oid": person.oid}
    )


def begin_connect_in_terminal(tenant: Tenant) -> dict[str, Any]:
    """The device code flow of "Connect with Microsoft", for `onramp connect --with-microsoft`: its `message` says
    where the administrator enters which code."""
    try:
        return begin_device_sign_in(connector_sign_in_app(tenant))
    except SignInRefused as refusal:
        raise StepError(
            code="connect_sign_in_refused", message=str(refusal), fix=gettext_noop("Try again.")
        ) from refusal


def complete_connect_in_terminal(tenant: Tenant, *, flow: dict[str, Any], actor: str) -> Tenant:
    """Wait for the administrator's device sign-in, require a role that may consent, and bind the organisation to
    the Microsoft tenant of the validated token. Admin consent is a separate, browser step (`consent_link`)."""
    app = connector_sign_in_app(tenant)
    try:
        person, kept = complete_device_and_keep(app, flow)
    except SignInRefused as refusal:
        raise _refused(
            tenant,
            actor,
            "sign_in_refused",
            {},
            StepError(code="connect_sign_in_refused", message=str(refusal), fix=gettext_noop("Run the command again.")),
        ) from refusal
    _require_consenting_role(tenant, person, actor)
    _keep_sign_in(tenant, person, kept, actor)
    return bind_microsoft_tenant(
        tenant,
        microsoft_tenant_id=person.tid,
        proof=BindingProof.ADMIN_SIGN_IN,
        proven_by=person.username or person.oid,
        actor=actor,
        client_id=settings.ONRAMP_CONNECTOR_CLIENT_ID,
    )


def consent_link(tenant: Tenant) -> str:
    """Microsoft's admin consent link for Onramp's app in the organisation's bound tenant, for a terminal: Microsoft
    sends the browser to a page that only says to return to the terminal (it trusts nothing it is sent)."""
    url, _ = admin_consent_url(
        tenant,
        microsoft_tenant_id=tenant.microsoft_tenant_id,
        redirect_uri=f"{settings.ONRAMP_BASE_URL.rstrip('/')}{CONSENTED_PAGE_PATH}",
    )
    return url


# Where Microsoft's admin consent sends the browser of an administrator who connected from a terminal.
CONSENTED_PAGE_PATH = "/connect/consented"
# Microsoft's answers to a token request for an app that has no service principal in the tenant (not consented),
# and to a person's token for a resource nobody consented to for them (AADSTS65001).
NOT_CONSENTED_CODES = ("AADSTS700016", "AADSTS7000229", "AADSTS65001")


def _require_consenting_role(tenant: Tenant, person: MicrosoftPerson, actor: str) -> None:
    """A role that may consent for the organisation, and, before anything is bound or written, roles for what every
    step will do with this person's rights (each missing one named)."""
    if not admin_roles.missing([admin_roles.CONSENT], person.wids):
        gaps = admin_roles.missing([need for step in steps_of(tenant) for need in step.admin_roles], person.wids)
        if gaps:
            error = roles_missing(person, gaps, before="connecting")
            detail = {"microsoft_tenant_id": person.tid, "oid": person.oid, "missing": error.extra["missing_roles"]}
            raise _refused(tenant, actor, error.code, detail, error)
    else:
        detail = {"microsoft_tenant_id": person.tid, "oid": person.oid, "username": person.username}
        if not person.roles_known:
            error = StepError(
                code="directory_roles_unknown",
                message=f"Microsoft did not say which administrator roles {person.username or 'you'} hold.",
                explanation=gettext_noop(
                    "The sign-in carried no `wids` claim: Microsoft sends active directory roles only when "
                    "Onramp's app asks for them (its manifest's groupMembershipClaims), or you hold none."
                ),
                fix=_ROLES_FIX,
            )
        else:
            error = StepError(
                code="not_a_consenting_administrator",
                message=f"{person.username or 'This account'} is not a Global Administrator or Privileged Role "
                "Administrator of its organisation.",
                explanation=gettext_noop(
                    "Connecting consents, for the whole organisation, to the Microsoft Graph and Exchange "
                    "permissions Onramp's app uses with your sign-in, which only those two roles may grant."
                ),
                fix=gettext_noop(
                    "Sign in with an account that holds one of them (activate it first if it is eligible in "
                    "Privileged Identity Management), or ask such an administrator to connect."
                ),
            )
        raise _refused(tenant, actor, error.code, detail, error)


def admin_consent_url(tenant: Tenant, *, microsoft_tenant_id: str, redirect_uri: str) -> tuple[str, str]:
    """The link that sends the proven administrator to Microsoft to consent to Onramp's app in their own tenant, and
    the `state` value the view keeps in the session to check the callback against."""
    if not settings.ONRAMP_CONNECTOR_CLIENT_ID:
        raise consent_unavailable()
    state = secrets.token_urlsafe(24)
    url = endpoints_for(tenant).admin_consent_url(
        settings.ONRAMP_CONNECTOR_CLIENT_ID, redirect_uri, state, microsoft_tenant_id
    )
    return url, state


def complete_admin_consent(
    tenant: Tenant,
    *,
    query: Mapping[str, str],
    expected_state: str,
    proven_tenant_id: str,
    proven_by: str,
    actor: str,
) -> Tenant:
    """Handle Microsoft's redirect back from /adminconsent: `tenant` and `admin_consent=True`, or `error`. The
    organisation is bound to the Microsoft tenant its administrator proved by signing in (`proven_tenant_id`);
    the answer's `tenant` parameter must name that same tenant and decides nothing on its own."""
    if not expected_state or not secrets.compare_digest(query.get("state", ""), expected_state):
        record_event(tenant, actor, "admin_consent", "refused", "connect", {"reason": "state mismatch"})
        raise StepError(
            code="consent_state_mismatch",
            message=gettext_noop("This consent answer does not belong to the request Onramp made."),
            explanation=gettext_noop(
                "The link was opened in another browser session, or it is older than your latest attempt."
            ),
            fix=gettext_noop("Start “Connect with Microsoft” again from this page."),
        )
    if query.get("error"):
        record_event(tenant, actor, "admin_consent", "failed", "connect", {"error": query["error"]})
        raise StepError(
            code=f"consent_{query['error']}",
            message=query.get("error_description") or "Microsoft did not grant admin consent.",
            explanation=gettext_noop(
                "The consent page was cancelled or the account that signed in may not grant consent."
            ),
            fix=gettext_noop(
                "Sign in as a Global Administrator or Privileged Role Administrator and accept the consent."
            ),
        )
    if query.get("admin_consent", "").lower() != "true" or not query.get("tenant"):
        raise StepError(
            code="consent_incomplete",
            message=gettext_noop("Microsoft's answer does not say that consent was granted."),
            fix=gettext_noop("Start “Connect with Microsoft” again from this page."),
        )
    if not proven_tenant_id or query["tenant"].lower() != proven_tenant_id.lower():
        record_event(
            tenant,
            actor,
            "admin_consent",
            "refused",
            "connect",
            {"reason": "tenant differs from the signed-in administrator's", "answered_tenant": query["tenant"][:64]},
        )
        raise StepError(
            code="consent_tenant_mismatch",
            message=gettext_noop(
                "This consent answer names another Microsoft tenant than the one whose administrator signed in."
            ),
            explanation=gettext_noop(
                "Onramp binds an organisation only to the Microsoft tenant its administrator proved by signing in."
            ),
            fix=gettext_noop("Start “Connect with Microsoft” again and consent with the same administrator account."),
        )
    return bind_microsoft_tenant(
        tenant,
        microsoft_tenant_id=proven_tenant_id,
        proof=BindingProof.ADMIN_SIGN_IN,
        proven_by=proven_by,
        actor=actor,
        client_id=settings.ONRAMP_CONNECTOR_CLIENT_ID,
    )


# How many enterprise apps a search lists: enough to pick from, few enough to read each one's grants.
INTEGRATION_SEARCH_LIMIT = 10


@dataclass(frozen=True)
class IntegrationCandidate:
    """An enterprise app of the tenant that could be the calendar product's, with what it already holds."""

    app_id: str
    name: str
    publisher: str
    verified_publisher: str
    mailbox_permissions: tuple[str, ...]


def integration_candidates(tenant: Tenant, name: str) -> list[IntegrationCandidate]:
    """The tenant's enterprise apps whose name starts with `name` (Graph servicePrincipal `startsWith` on
    displayName), each with its publisher, its verified publisher and the application permissions it already
    holds that reach mailbox content (calendars among them): so the admin picks the calendar product's app instead of
    pasting its id."""
    prefix = name.strip().replace("'", "''")
    if not prefix:
        return []
    query = urlencode(
        {
            "$filter": f"startswith(displayName,'{prefix}')",
            "$select": "id,appId,displayName,publisherName,verifiedPublisher",
            "$top": INTEGRATION_SEARCH_LIMIT,
        }
    )
    with connector_clients(tenant) as ms:
        found = ms.graph.get(f"/servicePrincipals?{query}").get("value", [])[:INTEGRATION_SEARCH_LIMIT]
        return [
            IntegrationCandidate(
                app_id=sp["appId"],
                name=sp.get("displayName") or "",
                publisher=sp.get("publisherName") or "",
                verified_publisher=(sp.get("verifiedPublisher") or {}).get("displayName") or "",
                mailbox_permissions=tuple(
                    finding.permission or finding.what
                    for finding in grants.entra_grants(ms.graph, sp["id"], sp["appId"], sp.get("displayName") or "")
                ),
            )
            for sp in found
        ]


def _licence(sku: Mapping[str, Any]) -> dict[str, Any]:
    enabled = int((sku.get("prepaidUnits") or {}).get("enabled") or 0)
    plans = [plan.get("servicePlanName", "") for plan in sku.get("servicePlans") or []]
    return {
        "sku_id": sku["skuId"],
        "sku_part_number": sku.get("skuPartNumber", ""),
        "free_units": max(0, enabled - int(sku.get("consumedUnits") or 0)),
        "has_exchange": any(plan in MAILBOX_PLANS for plan in plans),
    }


def licences_from_skus(skus: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [_licence(sku) for sku in skus]


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    ctx.progress(5, "Checking the new credentials")
    apply_pending_credentials(tenant, ctx.actor)
    ctx.progress(10, "Signing in and reading the organisation")
    reads: dict[str, Any] = {}
    missing: dict[str, str] = {}
    exchange_refused: PermissionMissing | None = None
    org_config: dict[str, Any] = {}
    with connector_clients(tenant) as ms:
        for name, path, permission in _GRAPH_PROBES:
            try:
                reads[name] = ms.graph.get(path).get("value", [])
            except PermissionMissing:
                missing[name] = permission
        # As a signed-in person Onramp waits for mailboxes through Exchange: delegated MailboxSettings.Read reads the
        # person's own settings only.
        if not ms.acts_as_person and not _may_read_mailbox_settings(ms.graph, reads.get("users") or []):
            missing["mailbox_settings"] = MAILBOX_SETTINGS_PERMISSION
        integration_in_tenant = _integration_in_tenant(ms.graph, tenant.integration_app_id)
        # An organisation whose admin makes the Exchange changes needs no Exchange admin access for Onramp's app.
        if not tenant.admin_runs_exchange_writes:
            ctx.progress(60, "Checking Exchange Online admin access")
            try:
                org_config = ms.exchange.invoke_one("Get-OrganizationConfig") or {}
            except PermissionMissing as error:
                exchange_refused = error
    if missing or exchange_refused:
        raise _missing_access(tenant, sorted(set(missing.values())), exchange_refused)
    organization = reads["organization"][0] if reads["organization"] else {}
    microsoft_tenant_id = organization.get("id") or tenant.microsoft_tenant_id
    if not tenant.binding_proof and _token_proves_tenant(tenant, ms.client_id, microsoft_tenant_id):
        bind_microsoft_tenant(
            tenant,
            microsoft_tenant_id=microsoft_tenant_id,
            proof=BindingProof.OWN_APP_TOKEN,
            proven_by=f"app {ms.client_id}",
            actor=ctx.actor,
        )
    # Only a proven binding is a claim on the Microsoft tenant: an organisation on explicit endpoints of its own
    # neither takes over nor is asked to share another organisation's tenant.
    sharing = tenants_bound_to(microsoft_tenant_id).exclude(pk=tenant.pk).count() if tenant.binding_proof else 0
    if sharing and not ctx.state.inputs.get(SHARE_INPUT):
        # Another organisation's service account and room lists live in this Microsoft tenant: later steps would
        # adopt them. The page names the other organisation to those allowed to see it (tenants.access).
        return NeedsInput(
            SHARING_REASON,
            {SHARED_RESULT: {"microsoft_tenant_id": microsoft_tenant_id, "organisations": sharing}},
        )
    if sharing:
        _record_sharing(tenant, microsoft_tenant_id, sharing, ctx.state.inputs.get(SHARE_DECIDED_BY) or ctx.actor)
    domains = [
        {"id": domain["id"], "is_default": bool(domain.get("isDefault")), "is_verified": bool(domain.get("isVerified"))}
        for domain in reads["domains"]
    ]
    return Done(
        {
            "organization_name": organization.get("displayName", ""),
            "microsoft_tenant_id": organization.get("id", tenant.microsoft_tenant_id),
            "country": organization.get("countryLetterCode") or "",
            "domains": domains,
            "verified_domains": [domain["id"] for domain in domains if domain["is_verified"]],
            "default_domain": next((d["id"] for d in domains if d["is_default"]), domains[0]["id"] if domains else ""),
            "licences": licences_from_skus(reads["licences"]),
            "exchange_organization": org_config.get("Name") or org_config.get("Identity") or "",
            "permissions_probed": [name for name, _ in REQUIRED_GRAPH_PERMISSIONS] + list(REQUIRED_EXCHANGE_ACCESS),
            SHARED_RESULT: {"microsoft_tenant_id": microsoft_tenant_id, "organisations": sharing} if sharing else None,
            "integration_in_tenant": integration_in_tenant,
        }
    )


def _integration_in_tenant(graph, app_id: str) -> bool | None:
    """Whether the integration's app has a service principal here (it was consented to); None without an app id or
    when Onramp may not read service principals (that permission is named on its own)."""
    if not app_id:
        return None
    try:
        graph.get(f"/servicePrincipals(appId='{app_id}')?$select=id")
    except NotFound:
        return False
    except MicrosoftError:
        return None
    return True


def _token_proves_tenant(tenant: Tenant, client_id: str, organization_id: str) -> bool:
    """Whether the token just used proves the organisation's tenant id: it was issued on an authority the
    installation trusts, for that very tenant, to an app of the organisation's own (not Onramp's, whose consent
    by someone else's administrator says nothing about who this organisation is)."""
    authority_tenant = endpoints_for(tenant).authority_tenant.lower()
    return (
        not is_installation_app(client_id)
        and trusted_by_installation(tenant)
        and organization_id.lower() == tenant.microsoft_tenant_id.lower() == authority_tenant
    )


def _record_sharing(tenant: Tenant, microsoft_tenant_id: str, organisations: int, actor: str) -> None:
    """The audited decision to share a Microsoft tenant with other organisations, once per Microsoft tenant."""
    already = AuditEvent.objects.filter(
        tenant=tenant, action=SHARE_ACTION, detail__microsoft_tenant_id=microsoft_tenant_id
    ).exists()
    if not already:
        detail = {"microsoft_tenant_id": microsoft_tenant_id, "other_organisations": organisations}
        record_event(tenant, actor, SHARE_ACTION, "succeeded", "connect", detail)


def _may_read_mailbox_settings(graph, users: list[dict[str, Any]]) -> bool:
    """Whether Graph lets the app read a user's mailbox settings: only a refusal says no (a user without a mailbox
    answers 404 MailboxNotEnabledForRESTAPI, which still proves the permission)."""
    if not users:
        return True
    try:
        graph.get(f"/users/{users[0]['id']}/mailboxSettings")
    except PermissionMissing:
        return False
    except MicrosoftError:
        return True
    return True


def _missing_access(
    tenant: Tenant, graph_permissions: list[str], exchange_refused: PermissionMissing | None
) -> StepError:
    app = tenant.client_id or "the connector app"
    parts, fixes = [], []
    if graph_permissions:
        parts.append(f"Microsoft Graph application permission(s) {', '.join(graph_permissions)}")
        fixes.append(_GRAPH_FIX.format(app=app, permissions=", ".join(graph_permissions)))
    if isinstance(exchange_refused, ExchangeRoleMissing):
        # Exchange accepted the app's token, so Exchange.ManageAsApp is granted: only the role is missing.
        parts.append("the Exchange Administrator role (Exchange accepted its token: Exchange.ManageAsApp is granted)")
        fixes.append(exchange_refused.fix or _EXCHANGE_ROLE_FIX.format(app=app))
    elif exchange_refused is not None:
        parts.append("the Exchange.ManageAsApp permission and the Exchange Administrator role")
        fixes.append(_EXCHANGE_FIX.format(app=app))
    return StepError(
        code="permissions_missing",
        message=f"Onramp's app is missing {' and '.join(parts)}.",
        explanation=gettext_noop(
            "Microsoft refused these reads with the app's current grants, so later steps would fail."
        ),
        fix=" ".join(fixes),
        request_id=getattr(exchange_refused, "request_id", ""),
        extra={
            "missing_graph_permissions": graph_permissions,
            "exchange_role_missing": exchange_refused is not None,
            "exchange_refused_for": getattr(exchange_refused, "permission", ""),
        },
    )


def verify(ctx: StepContext) -> dict[str, Any]:
    """The connection still works: a token is issued and Exchange answers."""
    with connector_clients(ctx.tenant) as ms:
        if ctx.tenant.admin_runs_exchange_writes:
            ms.graph.get("/organization")
        else:
            ms.exchange.invoke_one("Get-OrganizationConfig")
    return {"connection_verified": True}
