"""One sandbox process, many Microsoft tenants (issue 29 point 1): each its own ids, directory, apps and budgets, and
nothing of one reachable with another's credentials or tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from sandbox_client import MsClient
from test_sandbox_ews import _body as get_folder_body

from sandbox.control import SandboxControl
from sandbox.server import RunningSandbox, TenantRooms, tenant_room_counts
from sandbox.state import TENANT_ID


@pytest.fixture
def fleet(make_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return make_sandbox(tenants=3, tenant_rooms=(3, 5, 7), equipment=1, users=1)


def _session(info: dict[str, Any]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_bundle"]
    return session


def test_a_single_tenant_sandbox_keeps_its_info(sandbox_tenant: RunningSandbox) -> None:
    info = sandbox_tenant.info
    assert info["tenant_id"] == TENANT_ID
    assert info["domain"] == "contoso.onmicrosoft.com"
    assert info["control_url"].endswith("/_sandbox")
    assert "tenants" not in info


def test_each_tenant_has_its_own_ids_domain_directory_and_apps(fleet: RunningSandbox) -> None:
    tenants = fleet.info["tenants"]
    assert [t["domain"] for t in tenants] == [f"contoso-000{n}.onmicrosoft.com" for n in (1, 2, 3)]
    assert len({t["tenant_id"] for t in tenants}) == 3
    assert len({t["client_id"] for t in tenants}) == 3 and len({t["client_secret"] for t in tenants}) == 3
    # The calendar product's app is multi-tenant: one id everywhere, a service principal in each tenant.
    assert len({t["integration_app_id"] for t in tenants}) == 1
    assert {k: v for k, v in fleet.info.items() if k != "tenants"} == {
        k: v for k, v in tenants[0].items() if k != "rooms"
    } | {"control_url": fleet.info["control_url"]}
    seen_ids: set[str] = set()
    for tenant, rooms in zip(tenants, (3, 5, 7), strict=True):
        ms = MsClient(tenant)
        organisation = ms.graph("GET", "/organization").json()["value"][0]
        assert organisation["id"] == tenant["tenant_id"]
        users = ms.graph_all("/users")
        assert sum(u["userPrincipalName"].startswith("room-") for u in users) == rooms == tenant["rooms"]
        assert all(u["userPrincipalName"].endswith("@" + tenant["domain"]) for u in users)
        ids = {u["id"] for u in users}
        assert not ids & seen_ids, "two tenants share an object id"
        seen_ids |= ids
        config = ms.invoke("Get-OrganizationConfig")[0]
        assert (config["Guid"], config["Name"]) == (tenant["tenant_id"], tenant["domain"])


def test_an_app_of_one_tenant_is_not_found_in_another(fleet: RunningSandbox) -> None:
    first, second = fleet.info["tenants"][:2]
    answer = _session(first).post(
        second["authority"] + "/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": first["client_id"],
            "client_secret": first["client_secret"],
            "scope": first["graph_scope"],
        },
        timeout=30,
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "unauthorized_client" and body["error_codes"] == [700016]
    assert f"was not found in the directory '{second['domain']}'" in body["error_description"]


def test_a_token_of_one_tenant_is_refused_by_another_exchange(fleet: RunningSandbox) -> None:
    first, second = fleet.info["tenants"][:2]
    ms = MsClient(first)
    assert ms.invoke_raw("Get-OrganizationConfig").status_code == 200
    refused = ms.invoke_raw("Get-OrganizationConfig", url=second["exchange_admin_url"] + "/InvokeCommand")
    assert refused.status_code == 401
    assert "does not match the token's tenant" in refused.text
    assert SandboxControl.from_info(second).calls()["calls"] == {}


def test_graph_serves_the_token_s_own_tenant_only(fleet: RunningSandbox) -> None:
    first, second = fleet.info["tenants"][:2]
    stranger = MsClient(second).graph_all("/users")[0]
    ms = MsClient(first)
    assert ms.graph("GET", f"/users/{stranger['id']}").status_code == 404
    assert ms.graph("GET", f"/users/{stranger['userPrincipalName']}").status_code == 404
    # A token whose tid names a tenant the sandbox does not serve cannot be forged: its signature is checked.
    assert ms.graph("GET", "/organization", headers={"Authorization": "Bearer a.b.c"}).status_code == 401


def test_ews_serves_the_token_s_own_tenant_only(fleet: RunningSandbox) -> None:
    first, second = fleet.info["tenants"][:2]
    ms = MsClient(first)
    token = ms.token(first["exchange_scope"])

    def get_folder(mailbox: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/xml", "X-AnchorMailbox": mailbox}
        return ms.session.post(first["ews_url"], data=get_folder_body(mailbox).encode(), headers=headers, timeout=30)

    # Its own room: refused for want of a grant; the other tenant's room of the same name does not exist for it.
    assert get_folder("room-001@" + first["domain"]).status_code == 403
    stranger = get_folder("room-001@" + second["domain"])
    assert stranger.status_code == 500 and "ErrorNonExistentMailbox" in stranger.text


def test_writes_and_budgets_stay_in_their_tenant(fleet: RunningSandbox) -> None:
    first, second, third = fleet.info["tenants"]
    MsClient(first).invoke("New-DistributionGroup", Name="Rooms North", RoomList=True)
    assert [g["Name"] for g in MsClient(first).invoke("Get-DistributionGroup")] == ["Rooms North"]
    assert MsClient(second).invoke("Get-DistributionGroup") == []
    assert SandboxControl.from_info(first).calls()["writes"] == 1
    assert SandboxControl.from_info(second).calls()["writes"] == 0
    # One tenant throttled to nothing leaves the others' budgets whole.
    SandboxControl.from_info(third).set_knobs(throttle_fraction=1.0)
    assert MsClient(third).graph("GET", "/organization").status_code == 429
    assert MsClient(second).graph("GET", "/organization").status_code == 200
    assert SandboxControl.from_info(second).calls()["throttled"] == 0


def test_rooms_per_tenant_listed_or_spread() -> None:
    assert tenant_room_counts("20,2000").counts(5) == [20, 2000, 20, 2000, 20]
    spread = tenant_room_counts("20-2000").counts(5)
    assert spread == [20, 63, 200, 632, 2000]
    assert TenantRooms(low=50, high=50).counts(1) == [50]
