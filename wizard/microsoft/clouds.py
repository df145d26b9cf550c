"""Where each Microsoft cloud lives. This is the only module in Onramp that names a Microsoft host.

A tenant's `cloud` picks one of Microsoft's clouds; `custom` takes every URL from `tenant.custom_endpoints`
(the sandbox's info file, or a customer's own endpoints), so a real tenant and the sandbox differ only in data.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings

from tenants.models import Cloud, Tenant
from wizard.errors import StepError

# Used in URLs before the tenant id is known (the admin-consent link of the connect step).
ANY_ORGANISATION = "organizations"


@dataclass(frozen=True)
class Endpoints:
    authority: str  # https://<login host>/<tenant>: what msal takes
    graph_url: str  # ends with /v1.0
    graph_scope: str
    exchange_admin_url: str  # ends with /adminapi/beta/<tenant>
    exchange_scope: str
    ews_url: str
    ca_bundle: str | None = None  # PEM file to trust instead of the public CAs (the sandbox, a private CA)

    @property
    def authority_host(self) -> str:
        return self.authority.rsplit("/", 1)[0]

    @property
    def authority_tenant(self) -> str:
        """The tenant the authority issues tokens for: the last segment of its URL."""
        return self.authority.rsplit("/", 1)[-1]

    @property
    def any_organisation_authority(self) -> str:
        """The multi-tenant authority of this cloud, where any organisation's people sign in."""
        return f"{self.authority_host}/{ANY_ORGANISATION}"

    def admin_consent_url(self, client_id: str, redirect_uri: str, state: str, microsoft_tenant_id: str) -> str:
        """Microsoft's admin-consent link for a multi-tenant app (the identity platform's /adminconsent) in one
        Microsoft tenant: the one whose administrator already proved who they are."""
        query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state})
        return f"{self.authority_host}/{microsoft_tenant_id}/adminconsent?{query}"


@dataclass(frozen=True)
class _Cloud:
    login: str
    graph: str
    exchange: str  # serves the Exchange admin API, EWS, and is the Exchange token audience


# Hosts from Microsoft's "national cloud deployments" pages (Graph and Entra ID) and the Exchange Online
# PowerShell connection settings for each environment.
_CLOUDS: dict[str, _Cloud] = {
    Cloud.WORLDWIDE: _Cloud(
        "https://login.microsoftonline.com", "https://graph.microsoft.com", "https://outlook.office365.com"
    ),
    Cloud.USGOV_HIGH: _Cloud(
        "https://login.microsoftonline.us", "https://graph.microsoft.us", "https://outlook.office365.us"
    ),
    Cloud.CHINA: _Cloud(
        "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn", "https://partner.outlook.cn"
    ),
}

# The sandbox issues tokens for the worldwide audiences, so a custom cloud that names no scope means these.
_DEFAULT_SCOPES = {
    "graph_scope": f"{_CLOUDS[Cloud.WORLDWIDE].graph}/.default",
    "exchange_scope": f"{_CLOUDS[Cloud.WORLDWIDE].exchange}/.default",
}
_CUSTOM_REQUIRED = ("authority", "graph_url", "exchange_admin_url", "ews_url")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), f"{(parts.hostname or '').lower()}:{parts.port or 443}"


def _trusted_origin(url: str, cloud: _Cloud | None) -> bool:
    if not url.startswith("https://"):
        return False
    host, host_port = _origin(url)
    if cloud is not None and any(
        _origin(known)[1] == host_port for known in (cloud.login, cloud.graph, cloud.exchange)
    ):
        return True
    vouched = {entry.lower() for entry in settings.ONRAMP_TRUSTED_ENDPOINT_HOSTS}
    return host in vouched or host_port in vouched


def trusted_by_installation(tenant: Tenant) -> bool:
    """Whether every endpoint Onramp would call for `tenant` is Microsoft's (a cloud of the table) or a host the
    installation vouches for (ONRAMP_TRUSTED_ENDPOINT_HOSTS). Explicit endpoints an organisation typed are its own
    business: the installation's credentials never go there, and a tenant id proven there proves nothing."""
    try:
        endpoints = endpoints_for(tenant)
    except CloudMisconfigured:
        return False
    cloud = _CLOUDS.get(tenant.cloud)
    urls = (endpoints.authority, endpoints.graph_url, endpoints.exchange_admin_url, endpoints.ews_url)
    return all(_trusted_origin(url, cloud) for url in urls)


class CloudMisconfigured(StepError):
    """A tenant on explicit endpoints is missing one of them."""


def endpoints_for(tenant: Tenant) -> Endpoints:
    """The URLs and scopes for talking to `tenant`'s Microsoft cloud."""
    if tenant.cloud == Cloud.CUSTOM:
        return _custom(tenant)
    cloud = _CLOUDS.get(tenant.cloud)
    if cloud is None:
        raise CloudMisconfigured(
            code="unknown_cloud",
            message=f"Tenant {tenant.slug} names an unknown Microsoft cloud {tenant.cloud!r}.",
            explanation="Onramp knows the worldwide, US Government GCC High and China clouds, or explicit URLs.",
            fix="Choose the tenant's cloud again in its settings.",
        )
    tenant_id = tenant.microsoft_tenant_id or ANY_ORGANISATION
    return Endpoints(
        authority=f"{cloud.login}/{tenant_id}",
        graph_url=f"{cloud.graph}/v1.0",
        graph_scope=f"{cloud.graph}/.default",
        exchange_admin_url=f"{cloud.exchange}/adminapi/beta/{tenant_id}",
        exchange_scope=f"{cloud.exchange}/.default",
        ews_url=f"{cloud.exchange}/EWS/Exchange.asmx",
    )


def _custom(tenant: Tenant) -> Endpoints:
    values = tenant.custom_endpoints or {}
    missing = [key for key in _CUSTOM_REQUIRED if not values.get(key)]
    if missing:
        raise CloudMisconfigured(
            code="custom_endpoints_incomplete",
            message=f"Tenant {tenant.slug} uses explicit endpoints but lacks {', '.join(missing)}.",
            explanation="A tenant on explicit endpoints needs every Microsoft URL spelled out.",
            fix="Connect the tenant again with a complete endpoints file (e.g. the sandbox's --info file).",
        )
    return Endpoints(
        authority=values["authority"].rstrip("/"),
        graph_url=values["graph_url"].rstrip("/"),
        graph_scope=values.get("graph_scope") or _DEFAULT_SCOPES["graph_scope"],
        exchange_admin_url=values["exchange_admin_url"].rstrip("/"),
        exchange_scope=values.get("exchange_scope") or _DEFAULT_SCOPES["exchange_scope"],
        ews_url=values["ews_url"],
        ca_bundle=values.get("ca_bundle") or None,
    )
