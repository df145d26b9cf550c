"""Two tenants with their own admins (one per profile for the other admin), and support staff."""

import pytest
from django.contrib.auth import get_user_model

from tenants.models import Profile, Tenant
from wizard.actions import create_tenant


@pytest.fixture
def users(db):
    model = get_user_model()
    return {
        "alice": model.objects.create_user("alice", password="pw-alice-1234"),
        "bob": model.objects.create_user("bob", password="pw-bob-1234"),
        "support": model.objects.create_user("sam", password="pw-sam-1234", is_staff=True),
    }


@pytest.fixture
def tenants(users) -> dict[str, Tenant]:
    """Alice's tenant, and Bob's two: one per profile, so every step id of both profiles is walked."""
    return {
        "contoso": create_tenant(creator=users["alice"], display_name="Contoso", slug="contoso"),
        "fabrikam": create_tenant(creator=users["bob"], display_name="Fabrikam", slug="fabrikam"),
        "northwind": create_tenant(
            creator=users["bob"], display_name="Northwind", slug="northwind", profile=Profile.EXCHANGE_SERVER
        ),
    }


@pytest.fixture(autouse=True)
def plain_static_storage(settings) -> None:
    """Production settings hash static names from collectstatic's manifest, which a test run does not build."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
