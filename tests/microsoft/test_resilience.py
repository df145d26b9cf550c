"""Throttling and faults from the sandbox over real HTTPS: waited out by Retry-After, retried, and bounded."""

import threading
import time

import pytest

from tests.microsoft.conftest import tenant_for
from wizard.microsoft import BusyWait, busy_listener, connector_clients, parallel
from wizard.microsoft.errors import UNREACHABLE, ServiceUnavailable, Throttled


def rejections(sandbox):
    calls = sandbox.control.calls()
    return calls["throttled"], calls["faults"]


@pytest.mark.django_db
def test_throttled_calls_wait_out_retry_after_and_all_succeed(sandbox_tenant, tenant, rate):
    sandbox_tenant.control.set_knobs(throttle_fraction=0.3)
    sandbox_tenant.control.reset_calls()
    with connector_clients(tenant) as ms:
        ms.credentials.token(ms.endpoints.graph_scope)  # the token request is not under test
        started = time.monotonic()
        for _ in range(10):
            assert ms.graph.get("/organization")["value"]
        elapsed = time.monotonic() - started
        stats = ms.stats()
    throttled, _ = rejections(sandbox_tenant)
    assert throttled > 0
    assert stats["graph_throttled"] == throttled  # each 429 seen once, then waited out
    # The sandbox says Retry-After: 1 for these; one thread, so the waits add up.
    assert elapsed >= throttled * 1.0
    assert stats["graph_throttle_wait"] == pytest.approx(throttled * 1.0)


@pytest.mark.django_db
def test_throttling_with_a_tight_budget_from_several_threads(sandbox_tenant, tenant, rate):
    # Onramp paces at 40/s but the tenant only takes 5/s, and 30 % of calls are throttled at random as well.
    rate(40)
    sandbox_tenant.control.set_knobs(throttle_fraction=0.3, budget_rps=5)
    sandbox_tenant.control.reset_calls()
    rooms = sandbox_tenant.control.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox")
    with connector_clients(tenant) as ms:
        outcomes = parallel(lambda room: ms.graph.get(f"/users/{room['PrimarySmtpAddress']}"), rooms)
        stats = ms.stats()
    assert all(outcome.ok for outcome in outcomes), [o.error for o in outcomes if not o.ok]
    assert [o.value["userPrincipalName"].lower() for o in outcomes] == [
        room["PrimarySmtpAddress"].lower() for room in rooms
    ]
    throttled, _ = rejections(sandbox_tenant)
    assert throttled > 0 and stats["graph_throttled"] == throttled


@pytest.mark.django_db
def test_throttling_inside_a_batch_is_retried(sandbox_tenant, tenant, rate):
    sandbox_tenant.control.set_knobs(budget_rps=5)  # 5 a second, burst 5: most of a batch of 20 gets 429
    rooms = sandbox_tenant.control.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox")
    sandbox_tenant.control.reset_calls()
    with connector_clients(tenant) as ms:
        answers = ms.graph.batch([{"method": "GET", "url": f"/users/{r['PrimarySmtpAddress']}"} for r in rooms])
    assert [a.status for a in answers] == [200] * 20
    throttled, _ = rejections(sandbox_tenant)
    assert throttled >= 10
    assert sandbox_tenant.control.calls()["calls"]["POST /$batch"] >= 2


@pytest.mark.django_db
def test_batches_paced_at_the_tenants_budget_are_not_refused(sandbox_tenant, tenant, rate):
    """Onramp paced at the tenant's own budget sends batches of half a second of it, each when its last slot is
    due: Graph counts every request inside a batch, so none is refused."""
    rate(10)
    sandbox_tenant.control.set_knobs(budget_rps=10)  # 10 a second, burst 10
    rooms = sandbox_tenant.control.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox")
    sandbox_tenant.control.reset_calls()
    with connector_clients(tenant) as ms:
        answers = ms.graph.batch([{"method": "GET", "url": f"/users/{r['PrimarySmtpAddress']}"} for r in rooms])
    assert [a.status for a in answers] == [200] * 20
    assert rejections(sandbox_tenant) == (0, 0)
    assert sandbox_tenant.control.calls()["calls"]["POST /$batch"] == 4  # 20 requests, 5 a batch


@pytest.mark.django_db
def test_random_503s_are_retried(sandbox_tenant, tenant, rate):
    sandbox_tenant.control.set_knobs(error_fraction=0.3)
    sandbox_tenant.control.reset_calls()
    with connector_clients(tenant) as ms:
        for _ in range(5):
            assert ms.graph.get("/domains")["value"]
            assert ms.exchange.invoke_one("Get-OrganizationConfig")["Name"]
    _, faults = rejections(sandbox_tenant)
    assert faults > 0


@pytest.mark.django_db
def test_throttling_is_bounded_by_the_wait_budget(sandbox_tenant, tenant, rate, settings):
    settings.ONRAMP_THROTTLE_WAIT_SECONDS = 2
    sandbox_tenant.control.set_knobs(throttle_fraction=1.0)
    with connector_clients(tenant) as ms:
        with pytest.raises(Throttled) as caught:
            ms.exchange.invoke("Get-OrganizationConfig")
        assert ms.stats()["exchange_attempts"] == 3  # waited 1 s twice, the third 429 would exceed 2 s
    assert caught.value.code == "TooManyRequests"
    assert "waiting 2 s" in caught.value.message
    assert caught.value.explanation and caught.value.fix


@pytest.mark.django_db
def test_unreachable_service_is_retried_with_backoff_then_reported(sandbox_tenant, db, rate, settings):
    settings.ONRAMP_TRANSIENT_RETRIES = 2
    settings.ONRAMP_BACKOFF_BASE_SECONDS = 0.01
    tenant = tenant_for(sandbox_tenant.info)
    tenant.custom_endpoints["graph_url"] = "https://127.0.0.1:9/v1.0"  # discard port: connection refused
    tenant.save()
    with connector_clients(tenant) as ms:
        with pytest.raises(ServiceUnavailable) as caught:
            ms.graph.get("/organization")
        assert ms.stats()["graph_attempts"] == 3
        assert ms.stats()["graph_transient"] == 2
    assert caught.value.service == "graph"
    # The same words whatever failed (refused, timed out, not TLS): they must not tell what listens on a port.
    assert caught.value.message == f"GET https://127.0.0.1:9/v1.0/organization: {UNREACHABLE}"


class Heard:
    """A busy listener that keeps what it is told, and from which thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waits: list[tuple[int, BusyWait, bool]] = []
        self.over_calls = 0

    def waiting(self, wait: BusyWait, *, first: bool) -> None:
        with self.lock:
            self.waits.append((threading.get_ident(), wait, first))

    def over(self) -> None:
        with self.lock:
            self.over_calls += 1


@pytest.mark.django_db
def test_waits_in_parallels_helper_threads_reach_the_callers_busy_listener(sandbox_tenant, tenant, rate):
    sandbox_tenant.control.set_knobs(throttle_fraction=0.5)
    sandbox_tenant.control.reset_calls()
    heard = Heard()
    listening = busy_listener.set(heard)
    try:
        with connector_clients(tenant) as ms:
            ms.credentials.token(ms.endpoints.graph_scope)  # the token request is not under test
            outcomes = parallel(lambda _: ms.graph.get("/organization"), range(12))
    finally:
        busy_listener.reset(listening)

    assert all(outcome.ok for outcome in outcomes)
    throttled, _ = rejections(sandbox_tenant)
    assert throttled > 0 and len(heard.waits) == throttled
    assert {thread for thread, _, _ in heard.waits} - {threading.get_ident()}, "no helper thread was heard"
    assert {(wait.service, wait.status, wait.seconds, wait.asked) for _, wait, _ in heard.waits} == {
        ("graph", 429, 1.0, True)
    }
    # Each call that waited is told over once, after its first wait.
    assert heard.over_calls == sum(first for _, _, first in heard.waits) > 0
