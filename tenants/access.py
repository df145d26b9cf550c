"""The one access check. Every view and every task entry point that takes a tenant goes through here."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from tenants.models import Membership, Role, Tenant


def is_support(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Support staff see every tenant, read-only on secrets."""
    return bool(user.is_authenticated and (user.is_staff or user.is_superuser))


def visible_tenants(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Tenant]:
    if not user.is_authenticated:
        return Tenant.objects.none()
    if is_support(user):
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user, memberships__role=Role.ADMIN)


def get_tenant_for(user: AbstractBaseUser | AnonymousUser, slug: str) -> Tenant:
    """The tenant if this user may see it; otherwise a 404, so another tenant's existence is not revealed."""
    tenant = visible_tenants(user).filter(slug=slug).first()
    if tenant is None:
        raise Http404("No such tenant")
    return tenant


def can_operate(user: AbstractBaseUser | AnonymousUser, tenant: Tenant) -> bool:
    """Run, retry and re-verify steps: the tenant's admins and support."""
    if is_support(user):
        return True
    return Membership.objects.filter(user=user, tenant=tenant, role=Role.ADMIN).exists()


def can_change_secrets(user: AbstractBaseUser | AnonymousUser, tenant: Tenant) -> bool:
    """Support is read-only on secrets; only the tenant's own admins enter them."""
    return bool(user.is_authenticated) and Membership.objects.filter(user=user, tenant=tenant, role=Role.ADMIN).exists()
