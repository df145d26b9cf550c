"""The sign-in of the administrator who connected the organisation with Microsoft, kept for the whole setup.

Steps still act as Onramp's app (app-only, wizard.services.connector), which the administrator consented to. What
the administrator's own sign-in is for: before a run's writes Onramp asks Microsoft whether that sign-in still
stands and reads the person's directory roles (a revoked session, a password change, removed consent, a conditional
access policy or a role taken away stops the writes), and the audit trail names whose sign-in each write ran under.
Its tokens are msal's cache, encrypted at rest like every secret (SecretKind.ADMIN_SIGN_IN).
"""

import contextlib
from collections.abc import Iterator

from django.conf import settings

from tenants.models import BindingProof, SecretKind, Tenant
from tenants.secrets import erase_secret, read_secret, store_secret
from wizard.audit import ran_under
from wizard.errors import StepError
from wizard.microsoft import (
    DelegatedTokens,
    KeptSignIn,
    MicrosoftPerson,
    SignInApp,
    endpoints_for,
    installation_connector_secret,
    trusted_by_installation,
)

# Directory roles (role template ids) whose holders may grant tenant-wide admin consent to Microsoft Graph application
# permissions ("Grant tenant-wide admin consent to an application", Microsoft Entra docs: Global Administrator or
# Privileged Role Administrator; Cloud Application and Application Administrators cannot for Graph app roles).
CONSENTING_ROLES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
}


def consent_unavailable() -> StepError:
    return StepError(
        code="consent_unavailable",
        message="“Connect with Microsoft” is not configured on this Onramp installation.",
        explanation="Onramp's own multi-tenant app (ONRAMP_CONNECTOR_CLIENT_ID) is not set, so there is nothing to "
        "consent to.",
        fix="Paste the tenant id, client id and client secret of an app registration you made instead.",
    )


def connector_sign_in_app(tenant: Tenant) -> SignInApp:
    """Onramp's connector app as a sign-in app on the multi-tenant authority of the organisation's cloud: an
    administrator proves who they are with it before Onramp's app may act in their Microsoft tenant. Only on
    Microsoft's clouds (or hosts the installation vouches for): the installation's secret never goes elsewhere."""
    if not settings.ONRAMP_CONNECTOR_CLIENT_ID:
        raise consent_unavailable()
    if not trusted_by_installation(tenant):
        raise StepError(
            code="installation_app_untrusted_endpoints",
            message="Onramp's own app connects only through Microsoft's clouds, not through explicit endpoints.",
            explanation="Explicit endpoints are chosen by whoever fills in the form; Onramp's credentials must never "
            "be sent to them.",
            fix="Choose your organisation's Microsoft cloud, or use an app registration of your own with explicit "
            "endpoints.",
        )
    endpoints = endpoints_for(tenant)
    return SignInApp(
        client_id=settings.ONRAMP_CONNECTOR_CLIENT_ID,
        client_secret=installation_connector_secret(tenant),
        authority=endpoints.any_organisation_authority,
        ca_bundle=endpoints.ca_bundle,
    )


def keep(tenant: Tenant, kept: KeptSignIn) -> None:
    store_secret(tenant, SecretKind.ADMIN_SIGN_IN, kept.to_text())


def kept_sign_in(tenant: Tenant) -> KeptSignIn | None:
    """The kept sign-in, if it is of the Microsoft tenant the organisation is bound to by an administrator's sign-in."""
    text = read_secret(tenant, SecretKind.ADMIN_SIGN_IN)
    if not text or tenant.binding_proof != BindingProof.ADMIN_SIGN_IN:
        return None
    kept = KeptSignIn.from_text(text)
    return kept if kept.tid.lower() == tenant.microsoft_tenant_id.lower() else None


def forget(tenant: Tenant) -> bool:
    return erase_secret(tenant, SecretKind.ADMIN_SIGN_IN)


def delegated_tokens(tenant: Tenant) -> DelegatedTokens | None:
    kept = kept_sign_in(tenant)
    return DelegatedTokens(connector_sign_in_app(tenant), kept) if kept else None


@contextlib.contextmanager
def keeping(tenant: Tenant, tokens: DelegatedTokens) -> Iterator[DelegatedTokens]:
    """Use `tokens`, then store the cache again if a refresh replaced the refresh token (Microsoft rotates them)."""
    try:
        yield tokens
    finally:
        if tokens.changed:
            keep(tenant, tokens.kept())


def confirm_before_writes(tenant: Tenant) -> str:
    """Whose sign-in a run's writes run under, after asking Microsoft that it still stands and that the person still
    holds a role that may consent for the organisation. "" when the organisation keeps no administrator's sign-in
    (its own app registration, or connected from a terminal). SignInAgainNeeded when Microsoft refuses the sign-in;
    StepError naming the role when it is gone."""
    tokens = delegated_tokens(tenant)
    if tokens is None:
        return ""
    with keeping(tenant, tokens):
        person = tokens.confirm()
    if not any(wid in CONSENTING_ROLES for wid in person.wids):
        raise role_gone(person)
    return person.username or person.oid


def still_signed_in(tenant: Tenant) -> None:
    """Between writes of a long run: SignInAgainNeeded once Microsoft refuses the kept sign-in's refresh token (it
    asks Microsoft each time: a revocation shows at the refresh, not while an access token lasts)."""
    tokens = delegated_tokens(tenant)
    if tokens is None:
        return
    with keeping(tenant, tokens):
        tokens.refresh()


def role_gone(person: MicrosoftPerson) -> StepError:
    return StepError(
        code="administrator_role_gone",
        message=f"{person.username or 'The administrator who connected'} no longer holds Global Administrator or "
        "Privileged Role Administrator, so Onramp stops before changing anything.",
        explanation="Onramp acts in the organisation under the sign-in of the administrator who connected it, and "
        "reads that person's directory roles before each step's writes.",
        fix="Give the role back (or activate it in Privileged Identity Management), or have another Global "
        "Administrator press “Sign in again to continue”.",
    )


@contextlib.contextmanager
def writes_under(tenant: Tenant) -> Iterator[str]:
    """A run's writes: under a kept sign-in, every audit event recorded inside names whose sign-in they ran under
    (on the app-only path there is none: the organisation's own app registration and its credentials)."""
    who = confirm_before_writes(tenant)
    with ran_under(who):
        yield who
