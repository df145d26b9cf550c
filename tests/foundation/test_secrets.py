import pytest
from cryptography.fernet import Fernet
from django.db import connection

from tenants import secrets
from tenants.models import SecretKind, Tenant

pytestmark = pytest.mark.django_db

PLAINTEXT = "s3cret-Value~with.chars_0123456789"


@pytest.fixture
def tenant() -> Tenant:
    return Tenant.objects.create(slug="contoso", display_name="Contoso")


@pytest.fixture
def fresh_keys(settings):
    """Point the keyring at the given keys for one test (the MultiFernet is cached per process)."""

    def use(*keys: str) -> None:
        settings.ONRAMP_ENCRYPTION_KEYS = list(keys)
        secrets._fernet.cache_clear()

    yield use
    secrets._fernet.cache_clear()


def _all_database_text() -> str:
    """Every value of every column of every table, as the database stores it."""
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names come from introspection
            for row in cursor.fetchall():
                for value in row:
                    dump.append(bytes(value).decode("latin-1") if isinstance(value, bytes | memoryview) else str(value))
    return "\n".join(dump)


def test_secret_round_trips_and_is_not_stored_in_plain_text(tenant):
    secrets.store_secret(tenant, SecretKind.CLIENT_SECRET, PLAINTEXT)

    assert secrets.read_secret(tenant, SecretKind.CLIENT_SECRET) == PLAINTEXT
    assert PLAINTEXT not in _all_database_text()


def test_keys_rotate_first_encrypts_any_decrypts(tenant, fresh_keys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    fresh_keys(old)
    secrets.store_secret(tenant, SecretKind.CLIENT_SECRET, PLAINTEXT)

    fresh_keys(new, old)
    assert secrets.read_secret(tenant, SecretKind.CLIENT_SECRET) == PLAINTEXT
    assert secrets.rotate_secrets() == 1

    fresh_keys(new)
    assert secrets.read_secret(tenant, SecretKind.CLIENT_SECRET) == PLAINTEXT


def test_secret_unreadable_without_its_key(tenant, fresh_keys):
    fresh_keys(Fernet.generate_key().decode())
    secrets.store_secret(tenant, SecretKind.CLIENT_SECRET, PLAINTEXT)
    fresh_keys(Fernet.generate_key().decode())

    with pytest.raises(secrets.SecretUnreadable):
        secrets.read_secret(tenant, SecretKind.CLIENT_SECRET)


def test_erase_secret(tenant):
    secrets.store_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD, PLAINTEXT)

    assert secrets.erase_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD) is True
    assert secrets.read_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD) is None
    assert secrets.has_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD) is False
