"""Secrets at rest: MultiFernet over ONRAMP_ENCRYPTION_KEYS (encrypt with the first key, decrypt with any)."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from tenants.models import SecretKind, Tenant, TenantSecret


class SecretUnreadable(Exception):
    """No configured key decrypts the stored value (a key was removed before re-encryption)."""


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.ONRAMP_ENCRYPTION_KEYS])


def store_secret(tenant: Tenant, kind: SecretKind, value: str) -> None:
    TenantSecret.objects.update_or_create(
        tenant=tenant, kind=kind, defaults={"ciphertext": _fernet().encrypt(value.encode())}
    )


def read_secret(tenant: Tenant, kind: SecretKind) -> str | None:
    return read_secrets(tenant, kind)[kind]


def read_secrets(tenant: Tenant, *kinds: SecretKind) -> dict[SecretKind, str | None]:
    """Several of the tenant's secrets in one query (None for one not stored): a worker building a step's Microsoft
    clients reads three."""
    found = dict(TenantSecret.objects.filter(tenant=tenant, kind__in=kinds).values_list("kind", "ciphertext"))
    return {kind: _decrypted(tenant, kind, found.get(kind)) for kind in kinds}


def _decrypted(tenant: Tenant, kind: SecretKind, ciphertext: bytes | None) -> str | None:
    if ciphertext is None:
        return None
    try:
        return _fernet().decrypt(bytes(ciphertext)).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(f"{kind} of {tenant.slug} cannot be decrypted with the configured keys") from exc


def has_secret(tenant: Tenant, kind: SecretKind) -> bool:
    return TenantSecret.objects.filter(tenant=tenant, kind=kind).exists()


def erase_secret(tenant: Tenant, kind: SecretKind) -> bool:
    deleted, _ = TenantSecret.objects.filter(tenant=tenant, kind=kind).delete()
    return deleted > 0


def rotate_secrets() -> int:
    """Re-encrypt every secret with the first key, so older keys can be retired."""
    rotated = 0
    for row in TenantSecret.objects.all():
        row.ciphertext = _fernet().rotate(bytes(row.ciphertext))
        row.save(update_fields=["ciphertext", "updated_at"])
        rotated += 1
    return rotated
