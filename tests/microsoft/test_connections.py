"""Connections to Microsoft: each step builds new clients, and they reuse the connections an earlier step's clients
opened (a TLS handshake saved per step and host); a session that signs in with Windows authentication, which
authenticates the connection itself, keeps its connections to itself."""

import pytest
import urllib3

from tenants.models import Cloud, Tenant
from wizard.microsoft import _exchange_server_session, connector_clients
from wizard.microsoft.clouds import endpoints_for
from wizard.microsoft.http import build_session


@pytest.fixture
def connections_opened(monkeypatch) -> list[str]:
    """The hosts of the TLS connections opened while the test runs, one entry each (urllib3's connect counted)."""
    opened: list[str] = []
    connect = urllib3.connection.HTTPSConnection.connect

    def counted(self) -> None:
        opened.append(self.host)
        connect(self)

    monkeypatch.setattr(urllib3.connection.HTTPSConnection, "connect", counted)
    return opened


@pytest.mark.django_db
def test_clients_of_successive_steps_reuse_one_connection(sandbox_tenant, tenant, rate, connections_opened):
    for _ in range(3):
        with connector_clients(tenant) as ms:
            ms.graph.get("/organization")
    # A step's calls (its token's included) go one after another here: one connection at most, for all three.
    assert len(connections_opened) <= 1, connections_opened


def test_a_windows_authenticated_session_shares_no_connection():
    url = "https://exchange.example.com/EWS/Exchange.asmx"
    on_premises = [_exchange_server_session(Tenant(custom_endpoints={})) for _ in range(2)]
    cloud = build_session(endpoints_for(Tenant(cloud=Cloud.WORLDWIDE)))
    adapters = {id(session.get_adapter(url)) for session in [*on_premises, cloud]}
    assert len(adapters) == 3
