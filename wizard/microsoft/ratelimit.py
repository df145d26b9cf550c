"""Call budgets keyed the way Microsoft throttles, shared by every worker of a deployment.

Microsoft throttles per service, not per Onramp process: the Exchange admin API per tenant, Graph's directory per app
per tenant, Outlook resources in Graph (calendars, mailbox settings) per app per MAILBOX, EWS per user (Microsoft
Graph throttling limits; EWS throttling policies). Two workers each keeping "10 calls a second" would together get
429s, so each budget lives in Redis when `settings.REDIS_URL` is set, and in this process otherwise (an embedded
install has one worker). `Budget` names one of them; `wait_for` reserves a request's slots in each budget it spends.

Outlook also caps the requests an app has IN FLIGHT to one mailbox (4): a cap, not a burst on a rate, so slow answers
must hold a fifth request back however long they take. `in_flight` holds a slot of each such budget for as long as
the request runs: a counting semaphore, in Redis (a sorted set of leases that expire, so a crashed worker's slots come
back) or in this process.

The algorithm is GCRA used as a reservation: one atomic Redis call moves the tenant's "theoretical arrival time"
one interval forward and tells the caller how long to sleep before its slot. A request that spends several budgets
(a $batch of twenty calendar reads spends twenty mailboxes' and the app's) reserves in all of them, and takes its
in-flight slots in all of them, in one round trip each: three calls to Redis a room made a fleet's nightly checks
spend more worker CPU on Redis than on the answers. Callers never poll, so N threads or
processes are served in arrival order at exactly the configured rate, with one round trip each. Redis's own clock
(`TIME`) is used, so workers on different machines need not agree on the time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import redis
from django.conf import settings

log = logging.getLogger(__name__)

DEFAULT_CALLS_PER_SECOND = 10.0
KEY_PREFIX = "onramp:ratelimit:"

# KEYS the budgets' keys; for KEYS[i], ARGV[3i-2] its interval in µs, ARGV[3i-1] its tolerance (burst - 1) *
# interval in µs, ARGV[3i] the calls spent in it. Returns the µs to wait before the last reserved slot of any budget.
# Calls sent together (a $batch) wait for the last of their slots, so they never arrive ahead of a budget all at once.
_GCRA_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local longest = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local tolerance = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local wait = tat + (cost - 1) * interval - tolerance - now
  if wait > longest then longest = wait end
  local new_tat = tat + cost * interval
  redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
end
return longest
"""


# KEYS the budgets' sets of leases (holder -> expiry in ms); ARGV[1] the lease in ms, then for each key in turn its
# cap, the number n of holders to add, and those n holders. Expired leases (a worker that died holding them) are
# dropped first. Returns 1 when every holder of every key got a slot, else 0 and nothing is taken (the caller polls).
_SEMAPHORE_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local lease = tonumber(ARGV[1])
local at = 2
for _, key in ipairs(KEYS) do
  local cap, count = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) + count > cap then return 0 end
  at = at + 2 + count
end
at = 2
for _, key in ipairs(KEYS) do
  local count = tonumber(ARGV[at + 1])
  for i = at + 2, at + 1 + count do redis.call('ZADD', key, now + lease, ARGV[i]) end
  redis.call('PEXPIRE', key, lease)
  at = at + 2 + count
end
return 1
"""
IN_FLIGHT_PREFIX = KEY_PREFIX + "inflight:"
IN_FLIGHT_POLL_SECONDS = 0.01  # between tries for a slot in Redis; a slot frees when an answer arrives
LEASE_MARGIN_SECONDS = 30.0  # beyond the longest a request may take, before its slot is presumed lost

# Microsoft's Outlook limits per app per mailbox (Microsoft Graph throttling limits, Outlook service limits): a rate,
# and a cap on requests in flight (`in_flight`). The rate allows no burst of its own: the cap is not one.
MAILBOX_REQUESTS_PER_10_MINUTES = 10_000
MAILBOX_CONCURRENT_REQUESTS = 4

EXCHANGE = "exchange"  # the Exchange admin API: one budget per tenant, whichever app calls
DIRECTORY = "graph"  # Graph outside Outlook resources: per app per tenant
OUTLOOK = "outlook"  # Graph's Outlook resources: per app per mailbox
EWS = "ews"  # per user: the account signing in, or the mailbox an app acts on


@dataclass(frozen=True)
class Budget:
    """One of Microsoft's budgets, as `key`; `per_mailbox` budgets pace at Outlook's rate, the others at the
    deployment's ONRAMP_CALLS_PER_SECOND (read when a slot is reserved, so settings may change at run time)."""

    key: str
    per_mailbox: bool = False

    def rate(self) -> float:
        return MAILBOX_REQUESTS_PER_10_MINUTES / 600 if self.per_mailbox else calls_per_second()

    def burst(self) -> int:
        return 1 if self.per_mailbox else burst()

    def concurrency(self) -> int:
        """How many requests of this budget may be in flight at once; 0 for no cap."""
        return MAILBOX_CONCURRENT_REQUESTS if self.per_mailbox else 0


def service_budget(tenant_key: str, service: str, identity: str = "") -> Budget:
    """The budget of `service` in a tenant: EXCHANGE per tenant, DIRECTORY per app (`identity`), EWS per user."""
    return Budget(":".join(part for part in (tenant_key, service, identity.lower()) if part))


def mailbox_budget(tenant_key: str, app_id: str, mailbox: str) -> Budget:
    """An app's Outlook budget for one mailbox."""
    return Budget(f"{tenant_key}:{OUTLOOK}:{app_id.lower()}:{mailbox.lower()}", per_mailbox=True)


@dataclass(frozen=True)
class Reservation:
    """`cost` calls in the budget `key`, paced at `rate` calls a second with bursts of `burst`."""

    key: str
    rate: float
    burst: int
    cost: int = 1


class Limiter(Protocol):
    def reserve(self, reservations: Sequence[Reservation]) -> float:
        """Reserve each one's calls in its budget; return the seconds to wait before making them (the longest)."""


class LocalLimiter:
    """The same GCRA in this process, for installs without Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}

    def reserve(self, reservations: Sequence[Reservation]) -> float:
        longest = 0.0
        with self._lock:
            now = time.monotonic()
            for one in reservations:
                interval = 1.0 / one.rate
                tat = max(self._tat.get(one.key, now), now)
                self._tat[one.key] = tat + one.cost * interval
                longest = max(longest, tat + (one.cost - 1) * interval - (one.burst - 1) * interval - now)
        return longest


class RedisLimiter:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self.client.register_script(_GCRA_RESERVE)
        self.semaphores = RedisSemaphores(self.client)

    def reserve(self, reservations: Sequence[Reservation]) -> float:
        args: list[int] = []
        for one in reservations:
            interval_us = int(1_000_000 / one.rate)
            args += [interval_us, (one.burst - 1) * interval_us, one.cost]
        waited_us = self._script(keys=[KEY_PREFIX + one.key for one in reservations], args=args)
        return int(waited_us) / 1_000_000


@dataclass(frozen=True)
class Slots:
    """One slot of the budget `key` for each of `holders`, within its `cap`."""

    key: str
    cap: int
    holders: tuple[str, ...]


class Semaphores(Protocol):
    def try_acquire(self, wanted: Sequence[Slots], lease: float) -> bool:
        """Take every slot wanted, all or none, if each budget's cap allows; slots expire after `lease` seconds."""

    def release(self, taken: Sequence[Slots]) -> None: ...


class LocalSemaphores:
    """Slots in flight in this process, for installs without Redis (a thread that dies still leaves its block)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}

    def try_acquire(self, wanted: Sequence[Slots], lease: float) -> bool:
        with self._lock:
            if any(len(self._held.get(slots.key, ())) + len(slots.holders) > slots.cap for slots in wanted):
                return False
            for slots in wanted:
                self._held.setdefault(slots.key, set()).update(slots.holders)
            return True

    def release(self, taken: Sequence[Slots]) -> None:
        with self._lock:
            for slots in taken:
                held = self._held.get(slots.key, set())
                held.difference_update(slots.holders)
                if not held:
                    self._held.pop(slots.key, None)


class RedisSemaphores:
    """Slots in flight shared by every worker: a sorted set of leases per budget (redis-py offers a lock only)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_SEMAPHORE_ACQUIRE)

    def try_acquire(self, wanted: Sequence[Slots], lease: float) -> bool:
        args: list[int | str] = [max(1, int(lease * 1000))]
        for slots in wanted:
            args += [slots.cap, len(slots.holders), *slots.holders]
        return bool(self._script(keys=[IN_FLIGHT_PREFIX + slots.key for slots in wanted], args=args))

    def release(self, taken: Sequence[Slots]) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            for slots in taken:
                pipe.zrem(IN_FLIGHT_PREFIX + slots.key, *slots.holders)
            pipe.execute()


_local = LocalLimiter()
_local_semaphores = LocalSemaphores()
_redis: dict[str, RedisLimiter] = {}
_redis_lock = threading.Lock()


def limiter() -> Limiter:
    """The deployment's limiter, chosen at call time (settings.REDIS_URL may be set after import, e.g. by tests)."""
    url = getattr(settings, "REDIS_URL", "") or ""
    if not url:
        return _local
    with _redis_lock:
        if url not in _redis:
            _redis[url] = RedisLimiter(url)
        return _redis[url]


def calls_per_second() -> float:
    return float(getattr(settings, "ONRAMP_CALLS_PER_SECOND", DEFAULT_CALLS_PER_SECOND) or DEFAULT_CALLS_PER_SECOND)


def burst() -> int:
    return max(1, int(getattr(settings, "ONRAMP_CALLS_BURST", 1) or 1))


_REDIS_RETRY_AFTER = 30.0  # seconds of local pacing after Redis failed, before trying it again
_redis_down_until = 0.0


def _reserve(reservations: Sequence[Reservation]) -> float:
    global _redis_down_until
    shared = limiter()
    if shared is not _local and time.monotonic() < _redis_down_until:
        shared = _local  # Redis failed recently: do not wait for its connect timeout on every call
    try:
        return shared.reserve(reservations)
    except redis.RedisError as exc:
        # Losing Redis must not stop a setup half-way: pace this process alone for a while, and say so.
        _redis_down_until = time.monotonic() + _REDIS_RETRY_AFTER
        log.warning(
            "rate limiter: Redis unavailable (%s); pacing this process only for %.0f s",
            type(exc).__name__,
            _REDIS_RETRY_AFTER,
        )
        return _local.reserve(reservations)


def wait_for(costs: Mapping[Budget, int]) -> float:
    """Block until a request may spend `costs` (calls per budget: a $batch spends in the budget of each of its
    requests); return the seconds waited."""
    if not costs:
        return 0.0
    delay = _reserve([Reservation(budget.key, budget.rate(), budget.burst(), cost) for budget, cost in costs.items()])
    if delay > 0:
        time.sleep(delay)
    return delay


def semaphores() -> Semaphores:
    """The deployment's in-flight slots: Redis's when settings.REDIS_URL is set and Redis answers lately."""
    shared = limiter()
    if isinstance(shared, RedisLimiter) and time.monotonic() >= _redis_down_until:
        return shared.semaphores
    return _local_semaphores


def lease_seconds() -> float:
    """How long a slot stays taken if its holder never gives it back: longer than any request may take."""
    connect = float(getattr(settings, "ONRAMP_CONNECT_TIMEOUT_SECONDS", 10.0))
    read = float(getattr(settings, "ONRAMP_READ_TIMEOUT_SECONDS", 120.0))
    return connect + read + LEASE_MARGIN_SECONDS


def _acquire(store: Semaphores, wanted: Sequence[Slots], lease: float) -> Semaphores:
    """Wait until `store` gives every slot wanted at once; return the store that did (this process's after Redis
    failed, so the slots are given back where they were taken)."""
    global _redis_down_until
    while True:
        try:
            if store.try_acquire(wanted, lease):
                return store
        except redis.RedisError as exc:
            _redis_down_until = time.monotonic() + _REDIS_RETRY_AFTER
            log.warning("in-flight cap: Redis unavailable (%s); capping this process only", type(exc).__name__)
            store = _local_semaphores
            continue
        if isinstance(store, LocalSemaphores):
            time.sleep(IN_FLIGHT_POLL_SECONDS / 2)
        else:
            time.sleep(IN_FLIGHT_POLL_SECONDS)


@contextmanager
def in_flight(costs: Mapping[Budget, int]) -> Iterator[None]:
    """Hold, while the block runs (one HTTP request), a slot in each capped budget the request spends: one per call
    in it, at most the cap (Graph hands a $batch's requests to Outlook a few at a time). Every budget's slots are
    taken at once or none are, so two requests that each need several never hold one the other waits for."""
    wanted = [
        Slots(budget.key, budget.concurrency(), tuple(uuid.uuid4().hex for _ in range(min(cost, budget.concurrency()))))
        for budget, cost in costs.items()
        if budget.concurrency()
    ]
    if not wanted:
        yield
        return
    store = _acquire(semaphores(), wanted, lease_seconds())
    try:
        yield
    finally:
        try:
            store.release(wanted)
        except redis.RedisError as exc:
            # The leases expire on their own; the caps are only held a little longer.
            log.warning("in-flight cap: could not release %d slot(s) in Redis (%s)", len(wanted), type(exc).__name__)


def wait_for_slot(key: str, cost: int = 1) -> float:
    """Block until the budget `key` may make `cost` more calls at the deployment's rate; return the seconds waited."""
    return wait_for({Budget(key): cost})
