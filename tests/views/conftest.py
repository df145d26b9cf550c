"""Users and tenants for the view tests: an admin with a tenant, a second tenant's admin, and support staff."""

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from tenants.models import Tenant
from wizard.actions import create_tenant


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_user("alice", password="pw-alice-1234")


@pytest.fixture
def other_admin(db):
    return get_user_model().objects.create_user("mallory", password="pw-mallory-1234")


@pytest.fixture
def support_user(db):
    return get_user_model().objects.create_user("sam", password="pw-sam-1234", is_staff=True)


@pytest.fixture
def tenant(admin_user) -> Tenant:
    return create_tenant(creator=admin_user, display_name="Contoso", slug="contoso")


@pytest.fixture
def other_tenant(other_admin) -> Tenant:
    return create_tenant(creator=other_admin, display_name="Fabrikam", slug="fabrikam")


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def other_client(other_admin) -> Client:
    client = Client()
    client.force_login(other_admin)
    return client


@pytest.fixture
def support_client(support_user) -> Client:
    client = Client()
    client.force_login(support_user)
    return client


@pytest.fixture
def pending_sends(db) -> Callable[[], int]:
    """How many task sends the views have queued on commit. The test's transaction never commits, so they stay
    pending and no worker is involved: these tests look at pages."""
    return lambda: len(connection.run_on_commit)
