"""People: who signs in with Microsoft, who joins an organisation, invitations and roles. tenants.access decides;
this module acts and records each change in the organisation's audit trail."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.utils import timezone

from tenants import access
from tenants.models import Invitation, Membership, MicrosoftIdentity, Role, SupportGrant, Tenant
from wizard import notifications
from wizard.audit import record_event
from wizard.microsoft.signin import MicrosoftPerson

log = logging.getLogger(__name__)

INVITATION_SALT = "onramp.invitation"


class InvitationUnusable(Exception):
    """The link is forged, expired, used, or revoked; the message says which, for the page."""


class InvitationForSomeoneElse(Exception):
    """The signed-in person is not the one the invitation is addressed to; the message says whose it is, for the
    page, without giving the whole address away."""


class MembershipChangeRefused(Exception):
    """The change would leave an organisation without an admin."""


def _actor(user: AbstractBaseUser) -> str:
    return user.get_username()


@transaction.atomic
def user_for_microsoft_person(person: MicrosoftPerson) -> AbstractBaseUser:
    """The Onramp account of this (tid, oid), created on first sign-in; the support role follows the settings."""
    users = get_user_model()
    identity = MicrosoftIdentity.objects.select_related("user").filter(tid=person.tid, oid=person.oid).first()
    if identity is None:
        base = (person.username or person.oid)[:140]
        username = base if not users.objects.filter(username=base).exists() else f"{base[:130]}#{person.oid[:8]}"
        # No password: this account signs in through Microsoft only.
        user = users.objects.create_user(username, email=person.email or person.username, first_name=person.name[:150])
        identity = MicrosoftIdentity.objects.create(user=user, tid=person.tid, oid=person.oid)
    identity.username = person.username
    identity.last_sign_in = timezone.now()
    identity.save(update_fields=["username", "last_sign_in"])
    if access.is_support_tenant(person.tid):
        if not person.groups_known:
            # Fails closed (no support role), but says why: past 200 groups the token lists none, and Graph did not
            # answer for the support groups.
            log.warning("support groups of %s could not be read through Microsoft Graph", person.oid)
        # The tenant's groups decide at every sign-in; grants of other people (support_user) are left alone.
        _sync_support_grant(identity.user, access.support_role_from_microsoft(person.tid, person.groups))
    return identity.user


def support_groups() -> tuple[str, ...]:
    """The groups of the installation's own tenant whose members are support (ONRAMP_SUPPORT_GROUP_ID,
    ONRAMP_SUPPORT_OPERATOR_GROUP_ID): what a sign-in must find out when its token's group list overflowed."""
    configured = (settings.ONRAMP_SUPPORT_GROUP_ID, settings.ONRAMP_SUPPORT_OPERATOR_GROUP_ID)
    return tuple(group for group in configured if group)


def _sync_support_grant(user: AbstractBaseUser, role: str | None) -> None:
    if role is None:
        SupportGrant.objects.filter(user=user).delete()
    else:
        SupportGrant.objects.update_or_create(user=user, defaults={"role": role})


def join_as_admin_where_allowed(user: AbstractBaseUser, person: MicrosoftPerson) -> list[Tenant]:
    """On a visit by a Global or Exchange Administrator of a Microsoft tenant, make them admin of the
    organisations bound to that tenant (audited); returns the organisations joined."""
    joined = []
    roles = access.admin_roles_held(person.wids)
    for tenant in access.joinable_as_admin(user, person.tid, person.wids):
        with transaction.atomic():
            _, created = Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Role.ADMIN})
            if created:
                record_event(
                    tenant,
                    _actor(user),
                    "member_joined",
                    "admin",
                    detail={"via": "microsoft_directory_role", "directory_roles": roles, "oid": person.oid},
                )
                joined.append(tenant)
    return joined


def invitation_expires_at(invitation: Invitation) -> datetime:
    return invitation.created_at + timedelta(days=settings.ONRAMP_INVITATION_DAYS)


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(invitation.pk, salt=INVITATION_SALT)


@transaction.atomic
def invite(
    tenant: Tenant, email: str, role: str, by: AbstractBaseUser, accept_url_for: Callable[[str], str]
) -> Invitation:
    """Create an invitation and email its link (`accept_url_for(token)` makes it absolute)."""
    invitation = Invitation.objects.create(tenant=tenant, email=email.strip().lower(), role=role, invited_by=by)
    record_event(tenant, _actor(by), "member_invited", "pending", detail={"email": invitation.email, "role": role})
    notifications.invitation_made(invitation, accept_url_for(invitation_token(invitation)))
    return invitation


def invitation_from_token(token: str) -> Invitation:
    max_age = timedelta(days=settings.ONRAMP_INVITATION_DAYS)
    try:
        pk = signing.loads(token, salt=INVITATION_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise InvitationUnusable("This invitation has expired. Ask for a new one.") from None
    except signing.BadSignature:
        raise InvitationUnusable("This invitation link is not valid.") from None
    invitation = Invitation.objects.select_related("tenant").filter(pk=pk).first()
    if invitation is None or invitation.revoked_at is not None:
        raise InvitationUnusable("This invitation was withdrawn. Ask for a new one.")
    if invitation.accepted_at is not None:
        raise InvitationUnusable("This invitation has already been used.")
    if timezone.now() > invitation_expires_at(invitation):
        raise InvitationUnusable("This invitation has expired. Ask for a new one.")
    return invitation


def account_addresses(user: AbstractBaseUser) -> set[str]:
    """The addresses an account holds, lower-cased: its email (a password account's own; a Microsoft account's ID
    token `email`, or `preferred_username`, at its first sign-in) and the `preferred_username` of its last Microsoft
    sign-in."""
    identity = MicrosoftIdentity.objects.filter(user_id=user.pk).first()
    return _lowered([user.email, identity.username if identity else ""])


def microsoft_addresses(person: MicrosoftPerson) -> set[str]:
    """The addresses a Microsoft sign-in vouches for: the ID token's `email` and `preferred_username`."""
    return _lowered([person.email, person.username])


def _lowered(addresses: Collection[str]) -> set[str]:
    return {address.strip().lower() for address in addresses if address and address.strip()}


def is_addressed_to(invitation: Invitation, addresses: Collection[str]) -> bool:
    return invitation.email.strip().lower() in _lowered(addresses)


def partly_hidden(address: str) -> str:
    """b…@contoso.com: enough for the right person to recognise, not the address itself for whoever holds the
    link."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


def check_addressed_to(invitation: Invitation, user: AbstractBaseUser, addresses: Collection[str]) -> None:
    """Raise InvitationForSomeoneElse, recorded in the organisation's audit trail, unless one of `addresses` (the
    signed-in person's) is the invited address: a link forwarded, leaked or opened in the wrong account joins
    no one."""
    if is_addressed_to(invitation, addresses):
        return
    held = sorted(_lowered(addresses))
    record_event(
        invitation.tenant,
        _actor(user),
        "invitation_refused",
        "not_the_invited_address",
        detail={"invitation": invitation.pk, "email": invitation.email, "signed_in_as": held},
    )
    signed_in_as = " and ".join(held) if held else f"{user.get_username()}, an account with no email address"
    raise InvitationForSomeoneElse(
        f"This invitation is for {partly_hidden(invitation.email)}; you are signed in as {signed_in_as}. "
        "Sign in as the invited person, or ask an admin of the organisation to invite this address."
    )


def accept(token: str, user: AbstractBaseUser, addresses: Collection[str]) -> Tenant:
    """Use the invitation once: `user`, who holds `addresses` (account_addresses, and a Microsoft sign-in's), becomes
    a member with the invited role (never a lower one they hold) if one of them is the invited address."""
    check_addressed_to(invitation_from_token(token), user, addresses)  # recorded outside the transaction below
    with transaction.atomic():
        invitation = invitation_from_token(token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at is not None or invitation.revoked_at is not None:
            raise InvitationUnusable("This invitation has already been used.")
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        membership, created = Membership.objects.get_or_create(
            user=user, tenant=invitation.tenant, defaults={"role": invitation.role}
        )
        if not created and invitation.role == Role.ADMIN and membership.role != Role.ADMIN:
            membership.role = Role.ADMIN
            membership.save(update_fields=["role"])
        record_event(
            invitation.tenant,
            _actor(user),
            "member_joined",
            membership.role,
            detail={"via": "invitation", "email": invitation.email, "invitation": invitation.pk},
        )
    return invitation.tenant


def revoke(invitation: Invitation, by: AbstractBaseUser) -> None:
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        record_event(invitation.tenant, _actor(by), "invitation_revoked", "revoked", detail={"email": invitation.email})


def _other_admins(membership: Membership) -> bool:
    return Membership.objects.filter(tenant=membership.tenant, role=Role.ADMIN).exclude(pk=membership.pk).exists()


def change_role(membership: Membership, role: str, by: AbstractBaseUser) -> None:
    if role == membership.role:
        return
    if membership.role == Role.ADMIN and not _other_admins(membership):
        raise MembershipChangeRefused("An organisation needs at least one admin: make someone else admin first.")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    record_event(
        membership.tenant,
        _actor(by),
        "member_role_changed",
        role,
        detail={"member": membership.user.get_username(), "from": before, "to": role},
    )


def remove(membership: Membership, by: AbstractBaseUser) -> None:
    if membership.role == Role.ADMIN and not _other_admins(membership):
        raise MembershipChangeRefused("An organisation needs at least one admin: make someone else admin first.")
    member = membership.user.get_username()
    tenant = membership.tenant
    membership.delete()
    record_event(tenant, _actor(by), "member_removed", "removed", detail={"member": member})


def set_notifications(membership: Membership, on: bool) -> None:
    if membership.notify != on:
        membership.notify = on
        membership.save(update_fields=["notify"])
        record_event(membership.tenant, _actor(membership.user), "notifications", "on" if on else "off", detail={})


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    username: str
    microsoft_username: str


def members_of(tenant: Tenant) -> list[MemberRow]:
    memberships = Membership.objects.filter(tenant=tenant).select_related("user", "user__microsoft_identity")
    rows = []
    for membership in memberships.order_by("user__username"):
        identity = getattr(membership.user, "microsoft_identity", None)
        rows.append(MemberRow(membership, membership.user.get_username(), identity.username if identity else ""))
    return rows


def pending_invitations(tenant: Tenant) -> list[Invitation]:
    cutoff = timezone.now() - timedelta(days=settings.ONRAMP_INVITATION_DAYS)
    return list(
        Invitation.objects.filter(tenant=tenant, accepted_at=None, revoked_at=None, created_at__gt=cutoff).order_by(
            "-created_at"
        )
    )
