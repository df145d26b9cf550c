"""Microsoft's throttling, per service and keyed the way Microsoft keys it (sources in WIRE.md, "Throttling"):

- Graph, Outlook resources (a user's calendar, events, mail, mailbox settings...): per app per mailbox, a number of
  requests per 10 minutes and a number of concurrent requests; past either, 429 with Retry-After (the concurrency one
  with the `ApplicationThrottled` / "MailboxConcurrency" body Microsoft sends). Inside a $batch, Graph hands up to
  four requests to Outlook at a time.
- Graph, everything else (the directory): per app per tenant, resource units per 10 seconds.
- The Exchange admin API (InvokeCommand): per tenant, a budget of calls a second (the knob; Microsoft publishes no
  number).
- EWS: per user (the account, or the mailbox an app acts on), a budget of calls a second.

Each limit is off (0) unless its knob is set; `MICROSOFT_LIMITS` are the documented values, for benchmarks.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

OUTLOOK_WINDOW_SECONDS = 600.0
DIRECTORY_WINDOW_SECONDS = 10.0
BATCH_OUTLOOK_PARALLEL = 4  # requests of one $batch Graph hands to Outlook at a time
CONCURRENCY_RETRY_AFTER = 1  # seconds; Microsoft's value for MailboxConcurrency is unconfirmed

MICROSOFT_LIMITS: dict[str, Any] = {
    "outlook_requests_per_10_minutes": 10_000,
    "outlook_concurrent_requests": 4,
    "directory_resource_units_per_10_seconds": 8_000,  # a tenant of more than 500 users
    "exchange_budget_rps": 10.0,  # unconfirmed: Microsoft publishes no number for InvokeCommand
    "ews_budget_rps": 10.0,  # unconfirmed: EWS budgets are in time, not calls
}
LIMITS_OFF: dict[str, Any] = dict.fromkeys(MICROSOFT_LIMITS, 0)


@dataclass(frozen=True)
class Rejection:
    """A call Microsoft would refuse for now: its HTTP status, error code and message, and Retry-After."""

    status: int
    code: str
    message: str
    retry_after: int


MAILBOX_CONCURRENCY = ("ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
# Graph's documented throttling answer (Microsoft Graph throttling guidance, "Sample response").
TOO_MANY_REQUESTS = ("TooManyRequests", "Please retry again later.")


def retry_after_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


class TokenBucket:
    """Token buckets by key: `rate` tokens a second, at most `burst` (default max(1, rate)) saved up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, burst: float | None = None, cost: float = 1.0) -> float:
        """Take `cost` tokens; return 0 when granted, else the seconds until they are available."""
        if rate <= 0:
            return 0.0
        size = max(1.0, rate if burst is None else burst, cost)
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (size, now))
            tokens = min(size, tokens + (now - stamp) * rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / rate

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


class SlidingWindow:
    """At most `limit` calls by key in any `window` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}

    def take(self, key: str, limit: int, window: float) -> float:
        """0 when the call is admitted, else the seconds until the oldest call leaves the window."""
        if limit <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) >= limit:
                return calls[0] + window - now
            calls.append(now)
            return 0.0

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


class Concurrency:
    """Calls in flight by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}

    def enter(self, key: str, limit: int) -> bool:
        with self._lock:
            if limit > 0 and self._active.get(key, 0) >= limit:
                return False
            self._active[key] = self._active.get(key, 0) + 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            left = self._active.get(key, 0) - 1
            if left > 0:
                self._active[key] = left
            else:
                self._active.pop(key, None)


class ServiceThrottle:
    """Every per-service limit of one tenant; `knobs` is the tenant's Knobs (read on each call)."""

    def __init__(self, on_reject: Callable[[str], None]) -> None:
        """`on_reject(service)` counts each refused call."""
        self.buckets = TokenBucket()
        self.windows = SlidingWindow()
        self.in_flight = Concurrency()
        self.on_reject = on_reject

    def clear(self) -> None:
        self.buckets.clear()
        self.windows.clear()

    def _reject(self, service: str, status: int, body: tuple[str, str], wait: float) -> Rejection:
        self.on_reject(service)
        return Rejection(status, body[0], body[1], retry_after_seconds(wait))

    @contextlib.contextmanager
    def outlook(self, knobs: Any, app_id: str, mailbox: str) -> Iterator[Rejection | None]:
        """Admit one Outlook request of `app_id` to `mailbox` for as long as the block runs (it holds one of the
        mailbox's concurrent requests); yields the rejection instead when a limit is reached."""
        key = f"{app_id}|{mailbox}".lower()
        if not self.in_flight.enter(key, int(knobs.outlook_concurrent_requests)):
            yield self._reject("outlook", 429, MAILBOX_CONCURRENCY, CONCURRENCY_RETRY_AFTER)
            return
        try:
            wait = self.windows.take(key, int(knobs.outlook_requests_per_10_minutes), OUTLOOK_WINDOW_SECONDS)
            yield self._reject("outlook", 429, TOO_MANY_REQUESTS, wait) if wait > 0 else None
        finally:
            self.in_flight.leave(key)

    def directory(self, knobs: Any, app_id: str, cost: int = 1) -> Rejection | None:
        """One directory request of `app_id` costing `cost` resource units."""
        units = int(knobs.directory_resource_units_per_10_seconds)
        wait = self.buckets.take(f"directory|{app_id}", units / DIRECTORY_WINDOW_SECONDS, units, cost)
        return self._reject("directory", 429, TOO_MANY_REQUESTS, wait) if wait > 0 else None

    def exchange(self, knobs: Any) -> Rejection | None:
        """One InvokeCommand call in this tenant, whichever app makes it."""
        wait = self.buckets.take("exchange", float(knobs.exchange_budget_rps))
        return self._reject("exchange", 429, TOO_MANY_REQUESTS, wait) if wait > 0 else None

    def ews(self, knobs: Any, user: str) -> Rejection | None:
        """One EWS request charged to `user`."""
        wait = self.buckets.take(f"ews|{user.lower()}", float(knobs.ews_budget_rps))
        return self._reject("ews", 429, TOO_MANY_REQUESTS, wait) if wait > 0 else None
