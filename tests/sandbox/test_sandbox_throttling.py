"""The sandbox throttles per service as Microsoft documents (WIRE.md, "Throttling"): Outlook resources per app per
mailbox (requests per 10 minutes, concurrent requests), directory calls per app per tenant, the Exchange admin API
per tenant, EWS per user."""

import concurrent.futures

import pytest
from sandbox_client import MsClient
from test_sandbox_ews import PASSWORD, get_folder

ROOM = "room-001@contoso.onmicrosoft.com"
OTHER_ROOM = "room-002@contoso.onmicrosoft.com"
MAILBOX_CONCURRENCY_BODY = {
    "error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}
}


@pytest.fixture
def reader(sandbox_tenant) -> MsClient:
    """The integration's app, allowed to read every calendar."""
    info = sandbox_tenant.info
    sandbox_tenant.control.grant_permission("Calendars.Read", app_id=info["integration_app_id"])
    client = MsClient(info, info["integration_app_id"], info["integration_client_secret"])
    client.token(info["graph_scope"])  # signed in before the timed calls
    return client


def _calendars(client: MsClient, mailboxes: list[str]) -> list:
    with concurrent.futures.ThreadPoolExecutor(len(mailboxes)) as pool:
        return list(pool.map(lambda mailbox: client.graph("GET", f"/users/{mailbox}/calendar"), mailboxes))


def test_a_fifth_concurrent_request_to_one_mailbox_gets_mailbox_concurrency(sandbox_tenant, reader):
    sandbox_tenant.control.set_knobs(outlook_concurrent_requests=4, latency_ms=400)

    same = _calendars(reader, [ROOM] * 6)
    spread = _calendars(reader, [f"room-{i:03d}@contoso.onmicrosoft.com" for i in range(1, 7)])

    assert sorted(r.status_code for r in same) == [200] * 4 + [429] * 2
    refused = next(r for r in same if r.status_code == 429)
    error = refused.json()["error"]
    assert {"error": {"code": error["code"], "message": error["message"]}} == MAILBOX_CONCURRENCY_BODY
    assert int(refused.headers["Retry-After"]) >= 1
    assert [r.status_code for r in spread] == [200] * 6  # other mailboxes have their own four
    assert sandbox_tenant.control.calls()["throttled_by_service"] == {"outlook": 2}


def test_requests_per_mailbox_per_ten_minutes(sandbox_tenant, reader):
    sandbox_tenant.control.set_knobs(outlook_requests_per_10_minutes=3)

    statuses = [reader.graph("GET", f"/users/{ROOM}/calendar").status_code for _ in range(4)]
    refused = reader.graph("GET", f"/users/{ROOM}/events")

    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429 and 590 <= int(refused.headers["Retry-After"]) <= 600
    # Graph throttling guidance's sample answer (WIRE.md [D6]).
    error = refused.json()["error"]
    assert (error["code"], error["message"]) == ("TooManyRequests", "Please retry again later.")
    assert reader.graph("GET", f"/users/{OTHER_ROOM}/calendar").status_code == 200  # per mailbox
    connector = MsClient(sandbox_tenant.info)
    assert connector.graph("GET", f"/users/{ROOM}/mailboxSettings").status_code != 429  # per app
    assert reader.graph("GET", "/organization").status_code != 429  # not a directory limit


def test_batch_requests_to_one_mailbox_share_its_concurrency(sandbox_tenant, reader):
    """Graph hands four requests of a batch to Outlook at a time: a batch of eight to one mailbox stays within four
    concurrent requests, and takes two latencies."""
    sandbox_tenant.control.set_knobs(outlook_concurrent_requests=4, latency_ms=300)
    batch = [{"id": str(i), "method": "GET", "url": f"/users/{ROOM}/calendar"} for i in range(8)]

    response = reader.graph("POST", "/$batch", json={"requests": batch})

    assert [answer["status"] for answer in response.json()["responses"]] == [200] * 8
    assert response.elapsed.total_seconds() >= 0.6


def test_directory_calls_spend_resource_units_per_app_per_tenant(sandbox_tenant, reader):
    sandbox_tenant.control.set_knobs(directory_resource_units_per_10_seconds=3)
    connector = MsClient(sandbox_tenant.info)

    statuses = [connector.graph("GET", "/users?$top=1").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert reader.graph("GET", "/organization").status_code != 429  # another app has its own units
    assert reader.graph("GET", f"/users/{ROOM}/calendar").status_code == 200  # Outlook is not the directory
    assert sandbox_tenant.control.calls()["throttled_by_service"] == {"directory": 1}


def test_the_exchange_admin_api_has_one_budget_per_tenant(sandbox_tenant):
    sandbox_tenant.control.set_knobs(exchange_budget_rps=2)
    ms = MsClient(sandbox_tenant.info)

    answers = [ms.invoke_raw("Get-OrganizationConfig") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "TooManyRequests" and answers[2].headers["Retry-After"] == "1"
    assert ms.graph("GET", "/organization").status_code == 200  # Graph is another service


def test_ews_is_throttled_per_user(sandbox_tenant):
    ms = MsClient(sandbox_tenant.info)
    for name in ("svc-a", "svc-b"):
        created = ms.graph(
            "POST",
            "/users",
            json={
                "accountEnabled": True,
                "displayName": name,
                "mailNickname": name,
                "userPrincipalName": f"{name}@contoso.com",
                "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": False},
            },
        )
        assert created.status_code == 201
    sandbox_tenant.control.set_knobs(ews_budget_rps=1)
    info = sandbox_tenant.info

    first, second = (get_folder(info, ROOM, user="svc-a@contoso.com") for _ in range(2))
    other = get_folder(info, ROOM, user="svc-b@contoso.com")

    assert "ErrorServerBusy" not in first.text
    assert "ErrorServerBusy" in second.text and "BackOffMilliseconds" in second.text
    assert "ErrorServerBusy" not in other.text  # another user has its own budget
