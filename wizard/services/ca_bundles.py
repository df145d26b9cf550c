"""CA bundles uploaded for a tenant on explicit endpoints (the sandbox's throwaway CA, an organisation's private CA).
Each is a PEM file under ONRAMP_VAR_DIR, which the web server and the worker share; the tenant's
custom_endpoints["ca_bundle"] names it, and the HTTP session trusts it instead of the public CAs."""

import hashlib
from pathlib import Path

from django.conf import settings

from tenants.models import Tenant

DIRECTORY = "ca-bundles"


def store_ca_bundle(tenant: Tenant, pem: str) -> str:
    """Write the bundle (named by its content, so an upload never changes a file a running step reads) and return
    its path."""
    directory = Path(settings.VAR_DIR) / DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{tenant.slug}-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    path.write_text(pem, encoding="ascii")
    return str(path)
