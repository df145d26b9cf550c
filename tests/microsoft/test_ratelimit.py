"""The per-tenant budget shared by threads and processes, in Redis (and in-process without Redis)."""

import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis

from wizard.microsoft import connector_clients, integration_clients, parallel, ratelimit

ROOT = Path(__file__).resolve().parents[2]


def within_budget(stamps: list[float], rate: float, burst: int = 1) -> bool:
    """No window holds more calls than the budget allows, give or take ONE call: call i+k starts at least
    (k - burst) / rate after call i. The one call of tolerance absorbs the thread's wake-up jitter after its slot
    (the stamps are taken after sleeping); a limiter that let a second extra call through would still fail."""
    stamps = sorted(stamps)
    return all(
        stamps[i + k] - stamps[i] >= (k - burst) / rate - 0.002
        for i in range(len(stamps))
        for k in range(1, len(stamps) - i)
    )


def slots_from_threads(key: str, threads: int, each: int) -> list[float]:
    stamps: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(each):
            ratelimit.wait_for_slot(key)
            with lock:
                stamps.append(time.monotonic())

    workers = [threading.Thread(target=take) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return stamps


def test_two_threads_share_the_budget_through_redis(redis_server, settings):
    settings.REDIS_URL = redis_server.url
    settings.ONRAMP_CALLS_PER_SECOND = 20
    settings.ONRAMP_CALLS_BURST = 1
    assert isinstance(ratelimit.limiter(), ratelimit.RedisLimiter)
    stamps = slots_from_threads(f"test-{uuid.uuid4()}", threads=2, each=15)
    assert len(stamps) == 30
    assert within_budget(stamps, 20)
    assert 28 / 20 <= max(stamps) - min(stamps) <= 1.2 * 30 / 20


def test_two_processes_share_the_budget_through_redis(redis_server, settings):
    settings.REDIS_URL = redis_server.url
    key, go = f"test-{uuid.uuid4()}", f"onramp:test:go:{uuid.uuid4()}"
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "ONRAMP_CALLS_PER_SECOND": "20",
        "ONRAMP_CALLS_BURST": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.microsoft.limiter_worker", key, go, "15"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready"
        redis.Redis.from_url(redis_server.url).rpush(go, 1, 1)
        outputs = [process.communicate(timeout=60)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    per_process = [[float(line) for line in out.split()] for out in outputs]
    stamps = [s for out in per_process for s in out]
    assert [len(out) for out in per_process] == [15, 15]
    assert within_budget(stamps, 20)
    assert max(stamps) - min(stamps) >= 28 / 20
    # Both processes really ran at the same time: their slots interleave.
    assert min(per_process[0]) < max(per_process[1]) and min(per_process[1]) < max(per_process[0])


def test_in_process_limiter_without_redis(settings):
    settings.REDIS_URL = ""
    settings.ONRAMP_CALLS_PER_SECOND = 20
    settings.ONRAMP_CALLS_BURST = 1
    assert ratelimit.limiter() is ratelimit._local
    stamps = slots_from_threads(f"test-{uuid.uuid4()}", threads=3, each=8)
    assert within_budget(stamps, 20)


def test_burst_lets_a_few_calls_through_at_once(settings):
    settings.REDIS_URL = ""
    settings.ONRAMP_CALLS_PER_SECOND = 2
    settings.ONRAMP_CALLS_BURST = 4
    key = f"test-{uuid.uuid4()}"
    waits = [ratelimit.limiter().reserve([ratelimit.Reservation(key, 2, 4)]) for _ in range(6)]
    assert waits[:4] == [0, 0, 0, 0]
    assert waits[4] == pytest.approx(0.5, abs=0.05) and waits[5] == pytest.approx(1.0, abs=0.05)


def test_lost_redis_falls_back_to_pacing_this_process(settings, caplog, monkeypatch):
    monkeypatch.setattr(ratelimit, "_redis_down_until", 0.0)
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    settings.ONRAMP_CALLS_PER_SECOND = 50
    with caplog.at_level(logging.WARNING, logger="wizard.microsoft.ratelimit"):
        stamps = slots_from_threads(f"test-{uuid.uuid4()}", threads=1, each=3)
    assert within_budget(stamps, 50)
    assert caplog.text.count("Redis unavailable") == 1  # then local pacing, without retrying Redis each call


@pytest.mark.django_db
def test_parallel_calls_stay_inside_the_budget_and_hide_latency(sandbox_tenant, tenant, redis_server, settings):
    """The rooms step's shape: 4 calls in flight, 250 ms each, 10 calls a second allowed by the tenant."""
    settings.REDIS_URL = redis_server.url
    settings.ONRAMP_CALLS_PER_SECOND = 10
    settings.ONRAMP_CALLS_BURST = 1
    sandbox_tenant.control.set_knobs(latency_ms=250, budget_rps=10)
    rooms = sandbox_tenant.control.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox")
    calls = [room["PrimarySmtpAddress"] for room in rooms] * 2  # 40 calls
    with connector_clients(tenant) as ms:
        ms.credentials.token(ms.endpoints.graph_scope)
        ratelimit.wait_for({ms.graph.transport.budget: 1})  # start from an idle budget
        sandbox_tenant.control.reset_calls()
        started = time.monotonic()
        outcomes = parallel(lambda upn: ms.graph.get(f"/users/{upn}"), calls, max_workers=4)
        elapsed = time.monotonic() - started
    assert all(outcome.ok for outcome in outcomes)
    assert sandbox_tenant.control.calls()["throttled"] == 0  # the limiter kept us inside the tenant's budget
    ideal = len(calls) / 10
    print(f"\n40 calls, 4 threads, 250 ms latency, 10/s budget: {elapsed:.2f} s (ideal {ideal:.1f} s)")
    assert elapsed <= 1.2 * ideal


@pytest.mark.django_db
def test_budgets_are_keyed_per_service_and_per_mailbox_in_redis(sandbox_tenant, tenant, redis_server, settings):
    """Microsoft throttles calendars per app per mailbox, the directory per app per tenant and the Exchange admin API
    per tenant: a slow tenant budget paces the directory and Exchange calls, not reads of different calendars; each
    budget is a key in the shared Redis."""
    settings.REDIS_URL = redis_server.url
    settings.ONRAMP_CALLS_PER_SECOND = 2
    settings.ONRAMP_CALLS_BURST = 1
    sandbox_tenant.control.set_knobs(latency_ms=100, outlook_concurrent_requests=4, exchange_budget_rps=2)
    sandbox_tenant.control.grant_permission("Calendars.Read", app_id=sandbox_tenant.info["integration_app_id"])
    rooms = [room["PrimarySmtpAddress"] for room in sandbox_tenant.control.invoke("Get-Mailbox")][:12]
    client = redis.Redis.from_url(redis_server.url)
    with integration_clients(tenant) as app, connector_clients(tenant) as ms:
        app.credentials.token(app.endpoints.graph_scope)
        ms.credentials.token(ms.endpoints.exchange_scope)
        ratelimit.wait_for({ms.exchange.transport.budget: 1})  # start from an idle budget
        sandbox_tenant.control.reset_calls()
        started = time.monotonic()
        reads = parallel(lambda room: app.graph.get(f"/users/{room}/calendar"), rooms, max_workers=12)
        read_seconds = time.monotonic() - started
        keys = {key.decode().removeprefix(ratelimit.KEY_PREFIX) for key in client.scan_iter(f"{ratelimit.KEY_PREFIX}*")}
        started = time.monotonic()
        parallel(lambda _: ms.exchange.invoke("Get-OrganizationConfig"), range(4), max_workers=4)
        exchange_seconds = time.monotonic() - started
    assert all(outcome.ok for outcome in reads)
    assert read_seconds < 12 / 2 / 2  # far faster than 12 calls of a 2-a-second budget
    assert exchange_seconds >= 3 / 2 - 0.05  # four Exchange calls at 2 a second, one at once
    assert sandbox_tenant.control.calls()["throttled"] == 0
    app_id = tenant.integration_app_id.lower()
    assert {f"{tenant.microsoft_tenant_id}:outlook:{app_id}:{room.lower()}" for room in rooms} <= keys
    assert f"{tenant.microsoft_tenant_id}:exchange" in keys


def test_a_batch_spends_the_budget_of_each_mailbox_it_reads():
    budgets = {
        ratelimit.mailbox_budget("t", "app", "room-1@x"): 1,
        ratelimit.mailbox_budget("t", "app", "room-2@x"): 1,
    }
    assert all(budget.per_mailbox and budget.rate() == 10_000 / 600 for budget in budgets)
    # Four requests in flight is a cap (ratelimit.in_flight), not a burst on the rate.
    assert all(budget.concurrency() == 4 and budget.burst() == 1 for budget in budgets)
    assert ratelimit.service_budget("t", ratelimit.DIRECTORY, "App") == ratelimit.Budget("t:graph:app")


@pytest.mark.django_db
@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
def test_slow_answers_never_let_a_fifth_request_to_one_mailbox_start(
    sandbox_tenant, tenant, redis_server, settings, shared
):
    """Outlook allows an app 4 requests in flight per mailbox; the sandbox refuses a fifth with 429
    MailboxConcurrency. Answers take 300 ms, far longer than the rate's spacing, so only a cap keeps the fifth out."""
    settings.REDIS_URL = redis_server.url if shared else ""
    sandbox_tenant.control.set_knobs(latency_ms=300, outlook_concurrent_requests=4)
    sandbox_tenant.control.grant_permission("Calendars.Read", app_id=sandbox_tenant.info["integration_app_id"])
    room = sandbox_tenant.control.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox")[0]["PrimarySmtpAddress"]
    with integration_clients(tenant) as app:
        app.credentials.token(app.endpoints.graph_scope)
        sandbox_tenant.control.reset_calls()
        reads = parallel(lambda _: app.graph.get(f"/users/{room}/calendar"), range(12), max_workers=12)
    assert all(outcome.ok for outcome in reads)
    calls = sandbox_tenant.control.calls()
    assert calls["throttled"] == 0, "a fifth request was in flight at once"
    assert calls["total"] == 12


def held_at_once(key: str, threads: int, hold: float) -> int:
    """The most threads seen inside `in_flight` of one mailbox budget at once."""
    budget = ratelimit.mailbox_budget("t", "app", key)
    inside, peak = 0, 0
    lock = threading.Lock()

    def request() -> None:
        nonlocal inside, peak
        with ratelimit.in_flight({budget: 1}):
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(hold)
            with lock:
                inside -= 1

    workers = [threading.Thread(target=request) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return peak


def test_the_in_flight_cap_holds_across_threads_with_and_without_redis(redis_server, settings):
    settings.REDIS_URL = redis_server.url
    assert held_at_once(f"room-{uuid.uuid4()}@x", threads=10, hold=0.1) == 4
    settings.REDIS_URL = ""
    assert held_at_once(f"room-{uuid.uuid4()}@x", threads=10, hold=0.1) == 4


def test_a_crashed_holders_slots_come_back_when_their_lease_ends(redis_server, settings, monkeypatch):
    """Another process took all four slots and died without giving them back: they expire with their lease."""
    settings.REDIS_URL = redis_server.url
    budget = ratelimit.mailbox_budget("t", "app", f"room-{uuid.uuid4()}@x")
    semaphores = ratelimit.semaphores()
    assert isinstance(semaphores, ratelimit.RedisSemaphores)
    assert semaphores.try_acquire([ratelimit.Slots(budget.key, 4, tuple(f"dead-{i}" for i in range(4)))], lease=0.5)
    assert not semaphores.try_acquire([ratelimit.Slots(budget.key, 4, ("live",))], lease=0.5)
    started = time.monotonic()
    with ratelimit.in_flight({budget: 1}):
        waited = time.monotonic() - started
    assert 0.3 <= waited <= 2.0


def test_a_batch_holds_at_most_the_cap_of_one_mailbox(settings):
    """A $batch of ten requests to one mailbox holds four slots (Graph hands Outlook four at a time), so it neither
    waits forever for ten nor lets another request in beside it."""
    settings.REDIS_URL = ""
    budget = ratelimit.mailbox_budget("t", "app", f"room-{uuid.uuid4()}@x")
    another = [ratelimit.Slots(budget.key, 4, ("another",))]
    with ratelimit.in_flight({budget: 10}):
        assert not ratelimit.semaphores().try_acquire(another, lease=1)
    assert ratelimit.semaphores().try_acquire(another, lease=1)


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
def test_a_request_spending_several_budgets_reserves_in_each_and_waits_for_the_longest(redis_server, settings, shared):
    settings.REDIS_URL = redis_server.url if shared else ""
    limiter = ratelimit.limiter()
    app = ratelimit.Reservation(f"t:graph:{uuid.uuid4()}", rate=2, burst=1)
    rooms = [ratelimit.Reservation(f"t:outlook:room-{n}-{uuid.uuid4()}", rate=10, burst=1) for n in range(3)]
    assert limiter.reserve([app]) == 0
    # The app's next slot is half a second away; the mailboxes' are free: the request waits for the app's.
    assert limiter.reserve([app, *rooms]) == pytest.approx(0.5, abs=0.05)
    # Each mailbox's budget was spent by it too: the next call to one waits its interval.
    assert limiter.reserve([rooms[1]]) == pytest.approx(0.1, abs=0.05)


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
def test_in_flight_slots_of_several_mailboxes_are_taken_all_at_once_or_not_at_all(redis_server, settings, shared):
    """A $batch reading two mailboxes, one of them full: it takes no slot of the other while it waits."""
    settings.REDIS_URL = redis_server.url if shared else ""
    free, full = (ratelimit.mailbox_budget("t", "app", f"room-{n}-{uuid.uuid4()}@x") for n in range(2))
    semaphores = ratelimit.semaphores()
    assert semaphores.try_acquire([ratelimit.Slots(full.key, 4, tuple(f"busy-{i}" for i in range(4)))], lease=5)
    wanted = [ratelimit.Slots(free.key, 4, ("a",)), ratelimit.Slots(full.key, 4, ("b",))]

    assert not semaphores.try_acquire(wanted, lease=5)
    assert semaphores.try_acquire([ratelimit.Slots(free.key, 4, ("c", "d", "e", "f"))], lease=5)

    semaphores.release([ratelimit.Slots(full.key, 4, ("busy-0",)), ratelimit.Slots(free.key, 4, ("c",))])
    assert semaphores.try_acquire(wanted, lease=5)
