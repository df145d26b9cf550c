"""The people rules of tenants.access on their own: which directory roles make an admin, who of the installation's
tenant is support."""

from tenants import access
from tenants.models import SupportRole

SUPPORT_TENANT = "11111111-1111-1111-1111-111111111111"
OPERATORS = "22222222-2222-2222-2222-222222222222"
SUPPORT = "33333333-3333-3333-3333-333333333333"


def test_only_global_and_exchange_administrators_join_as_admin():
    assert access.admin_roles_held(["62e90394-69f5-4237-9190-012177145e10"]) == ["Global Administrator"]
    assert access.admin_roles_held(["29232cdf-9323-42fd-ade2-1d097af3e4de"]) == ["Exchange Administrator"]
    # Global Reader and User Administrator are not enough.
    assert (
        access.admin_roles_held(["f2ef992c-3afb-46b9-b7cf-a126ee74c451", "fe930be7-5e62-47db-91af-98c3a49a38b1"]) == []
    )


def test_support_comes_from_the_installations_own_tenant_and_its_groups(settings):
    settings.ONRAMP_SUPPORT_TENANT_ID = SUPPORT_TENANT
    assert access.support_role_from_microsoft("44444444-4444-4444-4444-444444444444", [OPERATORS]) is None
    assert access.support_role_from_microsoft(SUPPORT_TENANT.upper(), []) == SupportRole.VIEWER
    settings.ONRAMP_SUPPORT_OPERATOR_GROUP_ID = OPERATORS
    settings.ONRAMP_SUPPORT_GROUP_ID = SUPPORT
    assert access.support_role_from_microsoft(SUPPORT_TENANT, [OPERATORS]) == SupportRole.OPERATOR
    assert access.support_role_from_microsoft(SUPPORT_TENANT, [SUPPORT]) == SupportRole.VIEWER
    assert access.support_role_from_microsoft(SUPPORT_TENANT, []) is None


def test_without_a_support_tenant_nobody_is_support_by_signing_in(settings):
    settings.ONRAMP_SUPPORT_TENANT_ID = ""
    assert not access.is_support_tenant(SUPPORT_TENANT)
    assert access.support_role_from_microsoft(SUPPORT_TENANT, [OPERATORS]) is None
