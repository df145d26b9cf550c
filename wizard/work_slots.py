"""A cap on how much of one Microsoft tenant's work runs at once, across every worker (issue 29, fairness).

Each Microsoft tenant has its own call budgets (wizard.microsoft.ratelimit): when Microsoft throttles a tenant, or a
large organisation spends its budget, that tenant's calls wait, inside the worker slots running its tasks. Without a
cap, enough of one tenant's work (the checks of many organisations on one tenant, a 10,000-room organisation's check
beside its steps) would hold every slot of every worker waiting on that one budget, and every other tenant's work
would queue behind it. So a task first takes one of ONRAMP_TENANT_WORK_SLOTS slots of its tenant; a task that finds
none free is sent again a heartbeat later instead of holding a worker slot, and the worker takes the next message,
another tenant's.

A slot is a lease in Redis (a sorted set per tenant: holder → expiry, on Redis's clock), renewed by a heartbeat while
the work runs, so a worker killed holding one gives it back within ONRAMP_HEARTBEAT_TIMEOUT_SECONDS. Without Redis
(the embedded install: one worker) the slots are this process's."""

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

from tenants.models import Tenant
from wizard.heartbeat import Heartbeat

logger = logging.getLogger(__name__)

KEY_PREFIX = "onramp:work-slots:"

# KEYS[1] the tenant's slots; ARGV[1] the cap; ARGV[2] the lease in ms; ARGV[3] the holder. Expired leases (a worker
# that died holding them) are dropped first; a holder already in renews its lease. 1 when the holder holds a slot.
_TAKE_OR_RENEW = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
"""


def tenant_key(tenant: Tenant) -> str:
    """The Microsoft tenant whose slots the organisation's work takes: organisations on one tenant share them, as
    they share its call budgets."""
    return tenant.microsoft_tenant_id or f"onramp:{tenant.pk}"


class _RedisSlots:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self.client.register_script(_TAKE_OR_RENEW)

    def take(self, key: str, holder: str, cap: int, lease: float) -> bool:
        return bool(self._script(keys=[KEY_PREFIX + key], args=[cap, max(1, int(lease * 1000)), holder]))

    def release(self, key: str, holder: str) -> None:
        self.client.zrem(KEY_PREFIX + key, holder)


class _LocalSlots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, dict[str, float]] = {}

    def take(self, key: str, holder: str, cap: int, lease: float) -> bool:
        with self._lock:
            now = time.monotonic()
            held = {h: until for h, until in self._held.get(key, {}).items() if until > now}
            if holder not in held and len(held) >= cap:
                return False
            held[holder] = now + lease
            self._held[key] = held
            return True

    def release(self, key: str, holder: str) -> None:
        with self._lock:
            self._held.get(key, {}).pop(holder, None)


_local = _LocalSlots()
_shared: dict[str, _RedisSlots] = {}
_shared_lock = threading.Lock()


def _slots() -> _RedisSlots | _LocalSlots:
    url = settings.REDIS_URL
    if not url:
        return _local
    with _shared_lock:
        if url not in _shared:
            _shared[url] = _RedisSlots(url)
        return _shared[url]


class _Renewal(Heartbeat):
    def __init__(self, key: str, holder: str) -> None:
        super().__init__(f"work-slot-{key}")
        self.key, self.holder = key, holder

    def beat(self) -> None:
        try:
            if not _slots().take(self.key, self.holder, _cap(), settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS):
                logger.warning("the work slot of %s lapsed while its work ran (a stalled beat)", self.key)
        except redis.RedisError as error:
            logger.warning("work slot of %s not renewed: %s", self.key, type(error).__name__)


def _cap() -> int:
    return settings.ONRAMP_TENANT_WORK_SLOTS


@contextmanager
def tenant_slot(tenant: Tenant) -> Iterator[bool]:
    """Hold one of the tenant's work slots while the block runs: True when one was free, False when the tenant's
    work already fills its slots (the caller sends its task again later and runs nothing). Always True without a
    cap (ONRAMP_TENANT_WORK_SLOTS = 0), or when Redis does not answer: the cap is fairness, not safety, and work
    is not held up for it."""
    if _cap() <= 0:
        yield True
        return
    key, holder, slots = tenant_key(tenant), uuid.uuid4().hex, _slots()
    try:
        taken = slots.take(key, holder, _cap(), settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS)
    except redis.RedisError as error:
        logger.warning("work slots of %s not read (%s): running without the cap", key, type(error).__name__)
        yield True
        return
    if not taken:
        yield False
        return
    try:
        with _Renewal(key, holder):
            yield True
    finally:
        try:
            slots.release(key, holder)
        except redis.RedisError as error:
            # The lease lapses on its own within the heartbeat timeout.
            logger.warning("work slot of %s not given back (%s)", key, type(error).__name__)
