"""Fixtures for the Microsoft client tests: an Onramp tenant pointing at a running sandbox over HTTPS."""

from collections.abc import Callable
from typing import Any

import pytest

from tenants.models import Cloud, SecretKind, Tenant
from tenants.secrets import store_secret

ENDPOINT_KEYS = (
    "authority",
    "graph_url",
    "exchange_admin_url",
    "ews_url",
    "ca_bundle",
    "graph_scope",
    "exchange_scope",
)


def tenant_for(info: dict[str, Any], slug: str = "contoso", *, client_secret: str | None = None) -> Tenant:
    tenant = Tenant.objects.create(
        slug=slug,
        display_name="Contoso",
        microsoft_tenant_id=info["tenant_id"],
        cloud=Cloud.CUSTOM,
        custom_endpoints={key: info[key] for key in ENDPOINT_KEYS},
        client_id=info["client_id"],
        integration_app_id=info["integration_app_id"],
    )
    store_secret(tenant, SecretKind.CLIENT_SECRET, client_secret or info["client_secret"])
    store_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET, info["integration_client_secret"])
    return tenant


@pytest.fixture
def tenant(sandbox_tenant, db) -> Tenant:
    return tenant_for(sandbox_tenant.info)


@pytest.fixture
def rate(settings) -> Callable[[float], None]:
    """Set the shared budget (calls per second) for this test."""

    def set_rate(calls_per_second: float, burst: int = 1) -> None:
        settings.ONRAMP_CALLS_PER_SECOND = calls_per_second
        settings.ONRAMP_CALLS_BURST = burst

    set_rate(1000)  # tests not about pacing run unpaced
    return set_rate
