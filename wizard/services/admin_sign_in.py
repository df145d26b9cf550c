"""The sign-in of the administrator who connected the organisation with Microsoft, kept for the whole setup.

Connected with Microsoft, the steps act with this sign-in (`clients_as_administrator`): Onramp's app holds only
delegated permissions in the organisation, so what it can do there is what the person may do. Before a run's writes
Onramp asks Microsoft whether the sign-in still stands and reads the person's directory roles against what the step
does (a revoked session, a password change, removed consent, a conditional access policy or a role taken away stops
the writes), and the audit trail names whose sign-in each write ran under. Its tokens are msal's cache, encrypted at
rest like every secret (SecretKind.ADMIN_SIGN_IN).
"""

import contextlib
from collections.abc import Iterator

from django.conf import settings
from django.utils.translation import gettext_noop

from tenants.models import BindingProof, SecretKind, Tenant
from tenants.secrets import erase_secret, read_secret, store_secret
from wizard import admin_roles
from wizard.admin_roles import RoleNeed
from wizard.audit import ran_under
from wizard.errors import StepError
from wizard.microsoft import (
    DelegatedTokens,
    KeptSignIn,
    MicrosoftClients,
    MicrosoftPerson,
    SignInAgainNeeded,
    SignInApp,
    delegated_clients,
    endpoints_for,
    installation_app_unproven,
    installation_connector_secret,
    trusted_by_installation,
)
from wizard.microsoft.errors import IDENTITY


def consent_unavailable() -> StepError:
    return StepError(
        code="consent_unavailable",
        message=gettext_noop("“Connect with Microsoft” is not configured on this Onramp installation."),
        explanation=gettext_noop(
            "Onramp's own multi-tenant app (ONRAMP_CONNECTOR_CLIENT_ID) is not set, so there is nothing to consent to."
        ),
        fix=gettext_noop("Paste the tenant id, client id and client secret of an app registration you made instead."),
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
            message=gettext_noop(
                "Onramp's own app connects only through Microsoft's clouds, not through explicit endpoints."
            ),
            explanation=gettext_noop(
                "Explicit endpoints are chosen by whoever fills in the form; Onramp's credentials must never "
                "be sent to them."
            ),
            fix=gettext_noop(
                "Choose your organisation's Microsoft cloud, or use an app registration of your own with explicit "
                "endpoints."
            ),
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
    if tenant.binding_proof != BindingProof.ADMIN_SIGN_IN:
        return None
    text = read_secret(tenant, SecretKind.ADMIN_SIGN_IN)
    if not text:
        return None
    kept = KeptSignIn.from_text(text)
    return kept if kept.tid.lower() == tenant.microsoft_tenant_id.lower() else None


def forget(tenant: Tenant) -> bool:
    return erase_secret(tenant, SecretKind.ADMIN_SIGN_IN)


def delegated_tokens(tenant: Tenant) -> DelegatedTokens | None:
    kept = kept_sign_in(tenant)
    return DelegatedTokens(connector_sign_in_app(tenant), kept) if kept else None


def clients_as_administrator(tenant: Tenant) -> MicrosoftClients:
    """Clients acting as the administrator of the kept sign-in; SignInAgainNeeded when Onramp keeps none (a person
    must sign in before the step can go on). Onramp's app acts only in a Microsoft tenant an administrator proved
    by signing in, and only through Microsoft's clouds."""
    if tenant.binding_proof != BindingProof.ADMIN_SIGN_IN or not trusted_by_installation(tenant):
        raise installation_app_unproven()
    tokens = delegated_tokens(tenant)
    if tokens is None:
        raise SignInAgainNeeded(
            code="no_kept_sign_in",
            message="Onramp keeps no administrator's sign-in for this organisation.",
            explanation="Onramp acts in the organisation as the administrator who connected it, and that sign-in is "
            "no longer kept.",
            fix="Press “Sign in again to continue” and sign in as an administrator of the organisation.",
            service=IDENTITY,
            extra={"error": "no_kept_sign_in"},
        )
    return delegated_clients(tenant, tokens, lambda kept: keep(tenant, kept))


@contextlib.contextmanager
def keeping(tenant: Tenant, tokens: DelegatedTokens) -> Iterator[DelegatedTokens]:
    """Use `tokens`, then store the cache again if a refresh replaced the refresh token (Microsoft rotates them)."""
    try:
        yield tokens
    finally:
        if tokens.changed:
            keep(tenant, tokens.kept())


def confirm_before_writes(tenant: Tenant, needs: tuple[RoleNeed, ...] = ()) -> str:
    """Whose sign-in a run's writes run under, after asking Microsoft that it still stands and that the person still
    holds roles for what the run does (`needs`). "" when the organisation keeps no administrator's sign-in (its own
    app registration). SignInAgainNeeded when Microsoft refuses the sign-in; StepError naming each missing role."""
    tokens = delegated_tokens(tenant)
    if tokens is None:
        return ""
    with keeping(tenant, tokens):
        person = tokens.confirm()
    gaps = admin_roles.missing(needs, person.wids)
    if gaps:
        raise roles_missing(person, gaps)
    return person.username or person.oid


def still_signed_in(tenant: Tenant) -> None:
    """Between writes of a long run: SignInAgainNeeded once Microsoft refuses the kept sign-in's refresh token (it
    asks Microsoft each time: a revocation shows at the refresh, not while an access token lasts)."""
    tokens = delegated_tokens(tenant)
    if tokens is None:
        return
    with keeping(tenant, tokens):
        tokens.refresh()


def roles_missing(person: MicrosoftPerson, gaps: list[RoleNeed], before: str = "changing anything") -> StepError:
    """What the signed-in person cannot do, each with the roles that would allow it."""
    who = person.username or "The administrator who connected"
    held = admin_roles.names_of(person.wids)
    holds = f"holds {', '.join(held)}" if held else "holds no administrator role Onramp needs"
    lacking = "; ".join(f"to {gap.does}, {gap.role_names}" for gap in gaps)
    return StepError(
        code="administrator_roles_missing",
        message=f"{who} {holds}, so Onramp stops before {before}. Missing: {lacking}.",
        explanation=gettext_noop(
            "Connected with Microsoft, Onramp acts in the organisation with the rights of the administrator "
            "whose sign-in it keeps, and reads that person's directory roles before each step's writes."
        ),
        fix=gettext_noop(
            "Give the missing role (an active assignment: activate it first if it is eligible in Privileged Identity "
            "Management), or have a Global Administrator press “Sign in again to continue”."
        ),
        extra={"missing_roles": [gap.role_names for gap in gaps], "held_roles": held},
    )


@contextlib.contextmanager
def writes_under(tenant: Tenant, needs: tuple[RoleNeed, ...] = ()) -> Iterator[str]:
    """A run's writes: under a kept sign-in, every audit event recorded inside names whose sign-in they ran under
    (on the app-only path there is none: the organisation's own app registration and its credentials)."""
    who = confirm_before_writes(tenant, needs)
    with ran_under(who):
        yield who
