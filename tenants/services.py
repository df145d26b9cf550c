from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from tenants.models import Membership, Profile, Role, Tenant


@transaction.atomic
def create_tenant(
    *, creator: AbstractBaseUser, display_name: str, slug: str, profile: str = Profile.EXCHANGE_ONLINE
) -> Tenant:
    """A new tenant, with its creator as admin, its step rows and an audit entry."""
    from wizard.engine import ensure_states, record_event

    tenant = Tenant.objects.create(display_name=display_name, slug=slug, profile=profile)
    Membership.objects.create(user=creator, tenant=tenant, role=Role.ADMIN)
    ensure_states(tenant)
    record_event(tenant, creator.get_username(), "create_tenant", "succeeded", detail={"profile": profile})
    return tenant
