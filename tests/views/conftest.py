"""Users and tenants for the view tests: an admin with a tenant, a second tenant's admin, and support staff."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tenants.models import Tenant
from tenants.services import create_tenant


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
def sent_tasks(monkeypatch) -> list[tuple[int, str]]:
    """Tasks the views queue, captured instead of sent: these tests look at pages, not at the worker."""
    sent: list[tuple[int, str]] = []
    # The test's transaction never commits, so on-commit sends run at once here.
    monkeypatch.setattr("django.db.transaction.on_commit", lambda func, using=None, robust=False: func())
    monkeypatch.setattr(
        "wizard.engine._send_run_task", lambda state_id, task_id, countdown=None: sent.append((state_id, task_id))
    )
    return sent


@pytest.fixture(autouse=True)
def plain_static_storage(settings) -> None:
    """Production settings hash static names from collectstatic's manifest, which a test run does not build."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
