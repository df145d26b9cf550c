"""Call budgets keyed the way Microsoft throttles, shared by every worker of a deployment.

Microsoft throttles per service, not per Onramp process: the Exchange admin API per tenant, Graph's directory per app
per tenant, Outlook resources in Graph (calendars, mailbox settings) per app per MAILBOX, EWS per user (Microsoft
Graph throttling limits; EWS throttling policies). Two workers each keeping "10 calls a second" would together get
429s, so each budget lives in Redis when `settings.REDIS_URL` is set, and in this process otherwise (an embedded
install has one worker). `Budget` names one of them; `wait_for` reserves a request's slots in each budget it spends.

The algorithm is GCRA used as a reservation: one atomic Redis call moves the tenant's "theoretical arrival time"
one interval forward and tells the caller how long to sleep before its slot. Callers never poll, so N threads or
processes are served in arrival order at exactly the configured rate, with one round trip each. Redis's own clock
(`TIME`) is used, so workers on different machines need not agree on the time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import redis
from django.conf import settings

log = logging.getLogger(__name__)

DEFAULT_CALLS_PER_SECOND = 10.0
KEY_PREFIX = "onramp:ratelimit:"

# KEYS[1] the tenant's key; ARGV[1] interval in µs; ARGV[2] tolerance (burst - 1) * interval in µs; ARGV[3] cost.
# Returns the µs to wait before the reserved slots. Calls sent together (a $batch) wait for the last of their slots,
# so they never arrive ahead of the budget all at once.
_GCRA_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat + (cost - 1) * interval - tolerance - now
if wait < 0 then wait = 0 end
local new_tat = tat + cost * interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return wait
"""


# Microsoft's Outlook limits per app per mailbox (Microsoft Graph throttling limits, Outlook service limits).
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
        return MAILBOX_CONCURRENT_REQUESTS if self.per_mailbox else burst()


def service_budget(tenant_key: str, service: str, identity: str = "") -> Budget:
    """The budget of `service` in a tenant: EXCHANGE per tenant, DIRECTORY per app (`identity`), EWS per user."""
    return Budget(":".join(part for part in (tenant_key, service, identity.lower()) if part))


def mailbox_budget(tenant_key: str, app_id: str, mailbox: str) -> Budget:
    """An app's Outlook budget for one mailbox."""
    return Budget(f"{tenant_key}:{OUTLOOK}:{app_id.lower()}:{mailbox.lower()}", per_mailbox=True)


class Limiter(Protocol):
    def reserve(self, key: str, rate: float, burst: int, cost: int = 1) -> float:
        """Reserve `cost` calls for `key`; return the seconds to wait before making them."""


class LocalLimiter:
    """The same GCRA in this process, for installs without Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}

    def reserve(self, key: str, rate: float, burst: int, cost: int = 1) -> float:
        interval = 1.0 / rate
        tolerance = (burst - 1) * interval
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(key, now), now)
            self._tat[key] = tat + cost * interval
            return max(0.0, tat + (cost - 1) * interval - tolerance - now)


class RedisLimiter:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self.client.register_script(_GCRA_RESERVE)

    def reserve(self, key: str, rate: float, burst: int, cost: int = 1) -> float:
        interval_us = int(1_000_000 / rate)
        waited_us = self._script(keys=[KEY_PREFIX + key], args=[interval_us, (burst - 1) * interval_us, cost])
        return int(waited_us) / 1_000_000


_local = LocalLimiter()
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


def _reserve(budget: Budget, cost: int) -> float:
    global _redis_down_until
    rate, size = budget.rate(), budget.burst()
    shared = limiter()
    if shared is not _local and time.monotonic() < _redis_down_until:
        shared = _local  # Redis failed recently: do not wait for its connect timeout on every call
    try:
        return shared.reserve(budget.key, rate, size, cost)
    except redis.RedisError as exc:
        # Losing Redis must not stop a setup half-way: pace this process alone for a while, and say so.
        _redis_down_until = time.monotonic() + _REDIS_RETRY_AFTER
        log.warning(
            "rate limiter: Redis unavailable (%s); pacing this process only for %.0f s",
            type(exc).__name__,
            _REDIS_RETRY_AFTER,
        )
        return _local.reserve(budget.key, rate, size, cost)


def wait_for(costs: Mapping[Budget, int]) -> float:
    """Block until a request may spend `costs` (calls per budget: a $batch spends in the budget of each of its
    requests); return the seconds waited."""
    delay = max((_reserve(budget, cost) for budget, cost in costs.items()), default=0.0)
    if delay > 0:
        time.sleep(delay)
    return delay


def wait_for_slot(key: str, cost: int = 1) -> float:
    """Block until the budget `key` may make `cost` more calls at the deployment's rate; return the seconds waited."""
    return wait_for({Budget(key): cost})
