"""Calling the integration's webhook safely: the address is resolved once, refused if it is internal (loopback,
private, link-local such as the cloud metadata service, site-local, translation prefixes that lead into the
operator's network, and IPv6 forms that embed such an IPv4 address), and the request then goes to exactly the
address that was checked, so a name that resolves elsewhere a moment later (DNS rebinding) cannot redirect it. TLS
still verifies the certificate for the host name."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

# NAT64's well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches the IPv4 address a.b.c.d.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Prefixes Python still counts as global that lead into the operator's own network, refused whatever they carry:
# local-use NAT64 (RFC 8215) and SIIT (RFC 6145's ::ffff:0:0:0/96) translate through a gateway of the operator's,
# with the IPv4 address placed where that operator chose; site-local (deprecated by RFC 3879) is still routed
# inside some networks.
_INTERNAL_IPV6 = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
    ipaddress.IPv6Network("fec0::/10"),
)


class WebhookAddressRefused(Exception):
    """Why Onramp will not call this URL, in words for the admin."""


@dataclass(frozen=True)
class CheckedAddress:
    host: str
    address: str


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: IPv4-mapped, 6to4, Teredo (client), NAT64 or IPv4-compatible."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in network for network in _INTERNAL_IPV6):
        return False
    inner = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    return inner is None or inner.is_global


def check_address(url: str) -> CheckedAddress:
    """Resolve the URL's host once and pick the address to call; WebhookAddressRefused when it must not be called."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise WebhookAddressRefused("The webhook URL has no host name.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        answers = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        raise WebhookAddressRefused(f"The webhook's host name {host} does not resolve.") from None
    addresses = list(dict.fromkeys(answer[4][0].split("%")[0] for answer in answers))
    if not settings.ONRAMP_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address)):
                raise WebhookAddressRefused(
                    f"The webhook's host {host} resolves to {address}, an internal address Onramp does not call."
                )
    return CheckedAddress(host=host, address=addresses[0])


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to the checked address whatever the host name resolves to now; the URL, the Host header and the
    TLS certificate check keep the host name."""

    def __init__(self, checked: CheckedAddress) -> None:
        self.checked = checked
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = self.checked.address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self.checked.host
            pool_kwargs["assert_hostname"] = self.checked.host
        return host_params, pool_kwargs


def post(checked: CheckedAddress, url: str, body: bytes, headers: dict[str, str], timeout: float) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # a proxy would resolve the name itself
        adapter = PinnedAddressAdapter(checked)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # Named explicitly: the connection is to the address, and would otherwise announce the address.
        host_header = urlsplit(url).netloc.rpartition("@")[2]
        headers = {**headers, "Host": host_header}
        return session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
