"""The one access check. Every view and every task entry point that takes a tenant goes through here, and so does
every decision about people: who is support, who may join an organisation on their first visit, who manages its
members."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from tenants.models import Membership, Role, SupportGrant, SupportRole, Tenant

AnyUser = AbstractBaseUser | AnonymousUser

# Microsoft directory roles (role template ids, the ID token's `wids`) whose holders may join their tenant's
# organisation as admin on their first visit.
ADMIN_DIRECTORY_ROLES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
}
# The audit action of step 0's explicit decision to share a Microsoft tenant with another organisation.
SHARE_DECISION_ACTION = "share_microsoft_tenant"


def support_role(user: AnyUser) -> str | None:
    """support_operator, support_viewer, or None. Django's superusers and staff (accounts from before support
    roles) are operators."""
    if not user.is_authenticated:
        return None
    grant = SupportGrant.objects.filter(user=user).values_list("role", flat=True).first()
    if grant:
        return grant
    if user.is_superuser or user.is_staff:
        return SupportRole.OPERATOR
    return None


def is_support(user: AnyUser) -> bool:
    """Support staff see every tenant, read-only on secrets."""
    return support_role(user) is not None


def visible_tenants(user: AnyUser) -> QuerySet[Tenant]:
    if not user.is_authenticated:
        return Tenant.objects.none()
    if is_support(user):
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user)


# Every page and every progress poll (each admin with a running step asks every second) starts here, so this is
# one hand-written query: the ORM spends about three times as long building it as the database takes to answer.
_MEMBERSHIP_TABLE, _TENANT_TABLE = Membership._meta.db_table, Tenant._meta.db_table
# Table names from the models; the person and the slug are parameters.
_TENANT_FOR_MEMBER_SQL = (
    f'SELECT t.*, EXISTS (SELECT 1 FROM "{_MEMBERSHIP_TABLE}" m WHERE m.user_id = %s AND m.tenant_id = t.id)'  # noqa: S608
    f' AS is_member FROM "{_TENANT_TABLE}" t WHERE t.slug = %s'
)


def get_tenant_for(user: AnyUser, slug: str) -> Tenant:
    """The tenant if this user may see it; otherwise a 404, so another tenant's existence is not revealed.

    One query for a member (the common case); support's role is looked up only when the person is not a member."""
    if not user.is_authenticated:
        raise Http404("No such tenant")
    tenant = next(iter(Tenant.objects.raw(_TENANT_FOR_MEMBER_SQL, [user.pk, slug])), None)
    if tenant is None or not (tenant.is_member or is_support(user)):
        raise Http404("No such tenant")
    return tenant


def member_role(user: AnyUser, tenant: Tenant) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True).first()


def is_tenant_admin(user: AnyUser, tenant: Tenant) -> bool:
    return member_role(user, tenant) == Role.ADMIN


def can_operate(user: AnyUser, tenant: Tenant) -> bool:
    """Run, retry and re-verify steps: the tenant's admins and support operators (not viewers of either kind)."""
    return support_role(user) == SupportRole.OPERATOR or is_tenant_admin(user, tenant)


def can_change_secrets(user: AnyUser, tenant: Tenant) -> bool:
    """Support is read-only on secrets; only the tenant's own admins enter them."""
    return is_tenant_admin(user, tenant)


def can_change_inputs(user: AnyUser, tenant: Tenant) -> bool:
    """Choose what a step works on (its form: rooms, the control mailbox, converting a group, credentials): the
    tenant's own admins. Support operators retry and re-verify with the inputs the admin gave, nothing more."""
    return is_tenant_admin(user, tenant)


def can_manage_members(user: AnyUser, tenant: Tenant) -> bool:
    """Invite, change roles, remove members: the tenant's own admins."""
    return is_tenant_admin(user, tenant)


def admin_roles_held(wids: Iterable[str]) -> list[str]:
    """The names of the Microsoft directory roles among `wids` that make a person an admin on first visit."""
    return [ADMIN_DIRECTORY_ROLES[w] for w in wids if w in ADMIN_DIRECTORY_ROLES]


def tenants_bound_to(microsoft_tenant_id: str) -> QuerySet[Tenant]:
    """Organisations that proved this Microsoft tenant id is theirs (Tenant.binding_proof): an administrator's
    sign-in, or a token issued to their own app. An id someone pasted binds nothing until proven."""
    if not microsoft_tenant_id:
        return Tenant.objects.none()
    return Tenant.objects.filter(microsoft_tenant_id__iexact=microsoft_tenant_id).exclude(binding_proof="")


def tenants_holding(microsoft_tenant_id: str) -> QuerySet[Tenant]:
    """Organisations bound to this Microsoft tenant that hold it by right: the first one proven, and any later one
    whose step 0 recorded the explicit decision to share it. A later organisation still undecided may be anyone's
    organisation pointed at this tenant, so nobody joins it on their Microsoft directory role alone."""
    bound = tenants_bound_to(microsoft_tenant_id)
    first = bound.order_by("binding_proven_at", "pk").values("pk")[:1]
    decided = bound.filter(
        audit_events__action=SHARE_DECISION_ACTION,
        audit_events__detail__microsoft_tenant_id__iexact=microsoft_tenant_id,
    ).values("pk")
    return bound.filter(Q(pk__in=first) | Q(pk__in=decided))


@dataclass(frozen=True)
class SharingOrganisations:
    """The other Onramp organisations bound to an organisation's Microsoft tenant: the ones a person may see (named
    to them) and how many more there are (counted, never named)."""

    visible: list[Tenant]
    hidden: int

    def __bool__(self) -> bool:
        return bool(self.visible) or self.hidden > 0


def organisations_sharing(user: AnyUser, tenant: Tenant) -> SharingOrganisations:
    """Other organisations bound to the same Microsoft tenant as `tenant`, as `user` may know them."""
    others = list(tenants_bound_to(tenant.microsoft_tenant_id).exclude(pk=tenant.pk).order_by("display_name"))
    seen = set(visible_tenants(user).filter(pk__in=[other.pk for other in others]).values_list("pk", flat=True))
    visible = [other for other in others if other.pk in seen]
    return SharingOrganisations(visible=visible, hidden=len(others) - len(visible))


def joinable_as_admin(user: AnyUser, microsoft_tenant_id: str, wids: Iterable[str]) -> QuerySet[Tenant]:
    """The organisations holding the person's Microsoft tenant (`tenants_holding`) that they may join as admin now,
    by holding Global Administrator or Exchange Administrator there, and are not yet members of."""
    if not admin_roles_held(wids):
        return Tenant.objects.none()
    return tenants_holding(microsoft_tenant_id).exclude(memberships__user=user)


def is_support_tenant(tid: str) -> bool:
    """Whether `tid` is the installation's own Microsoft tenant (ONRAMP_SUPPORT_TENANT_ID)."""
    own = settings.ONRAMP_SUPPORT_TENANT_ID
    return bool(own) and tid.lower() == own.lower()


def support_role_from_microsoft(tid: str, groups: Iterable[str]) -> str | None:
    """Support staff are people of the installation's own Microsoft tenant (ONRAMP_SUPPORT_TENANT_ID), limited to
    a group when ONRAMP_SUPPORT_GROUP_ID is set; the operator group makes them operators."""
    if not is_support_tenant(tid):
        return None
    held = {g.lower() for g in groups}
    operator_group = settings.ONRAMP_SUPPORT_OPERATOR_GROUP_ID.lower()
    if operator_group and operator_group in held:
        return SupportRole.OPERATOR
    support_group = settings.ONRAMP_SUPPORT_GROUP_ID.lower()
    if support_group and support_group not in held:
        return None
    return SupportRole.VIEWER


def may_sign_in(user: AnyUser, microsoft_tenant_id: str) -> bool:
    """A person of a Microsoft tenant that an organisation is bound to gets in only as a member of an organisation
    (or as support); people of other tenants get in and may create their own organisation."""
    if is_support(user):
        return True
    return not tenants_bound_to(microsoft_tenant_id).exists() or visible_tenants(user).exists()
