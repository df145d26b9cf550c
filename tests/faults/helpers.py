"""Helpers for the fault tests: steps run through the engine and the worker, where every room ended up (read
from the sandbox itself), and a recorder of the sandbox's traffic that tells whether every Retry-After was respected.
"""

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from sandbox.server import Sandbox
from tenants.models import Tenant
from tests.helpers import Worker, wait_for
from wizard import engine
from wizard.models import FINISHED_STATUSES, StepState, StepStatus
from wizard.steps.exchange_online.rooms import service as rooms_service
from wizard.steps.registry import steps_for

ADMIN = "alice"
STEP_INPUTS = {"rooms": rooms_service.all_rooms_inputs(confirmed=True)}
STOPPED = (*FINISHED_STATUSES, StepStatus.FAILED, StepStatus.NEEDS_INPUT, StepStatus.INTERRUPTED)


def step(tenant: Tenant, step_id: str) -> StepState:
    return StepState.objects.get(tenant=tenant, step_id=step_id)


def ended(tenant: Tenant, step_id: str, watchdog: bool = False, supervised: Worker | None = None) -> StepState | None:
    """The step once it has stopped running. With `watchdog`, first do what the periodic watch task does in
    production (beat is not running in the tests): mark dead steps interrupted, send lost messages again. With a
    `supervised` worker, start it again if it has exited, as the deployment's restart policy does."""
    if supervised is not None and supervised.process is not None and supervised.process.poll() is not None:
        supervised.start()
    if watchdog:
        engine.mark_interrupted_steps()
        engine.redeliver_lost_tasks()
    state = step(tenant, step_id)
    return state if state.status in STOPPED else None


def run_step(
    tenant: Tenant, step_id: str, timeout: float = 120, watchdog: bool = False, supervised: Worker | None = None
) -> StepState:
    """Queue a step as the Run button does, wait for it to stop, and insist it succeeded."""
    engine.enqueue_step(tenant, step_id, ADMIN, inputs=STEP_INPUTS.get(step_id))
    return finished(tenant, step_id, timeout, watchdog, supervised)


def finished(
    tenant: Tenant, step_id: str, timeout: float = 120, watchdog: bool = False, supervised: Worker | None = None
) -> StepState:
    state = wait_for(
        lambda: ended(tenant, step_id, watchdog, supervised),
        timeout,
        interval=1 if watchdog else 0.1,
        what=f"step {step_id}",
    )
    assert state.status in FINISHED_STATUSES, f"{step_id} {state.status}: {state.error_code} {state.error_message}"
    return state


def step_ids(tenant: Tenant) -> list[str]:
    """The steps of a run to activation: optional steps after it (handing access back) are not part of one."""
    return [s.id for s in steps_for(tenant.profile) if not s.optional]


def run_through(tenant: Tenant, last: str) -> None:
    ids = step_ids(tenant)
    for step_id in ids[: ids.index(last) + 1]:
        run_step(tenant, step_id)


@dataclass(frozen=True)
class Placement:
    rooms: int
    lists: int
    largest_list: int
    lost: list[str]
    duplicated: list[str]


def room_placement(snapshot: dict[str, Any]) -> Placement:
    """Where every room mailbox of the sandbox is, from the sandbox's own state."""
    rooms = {user["userPrincipalName"].lower() for user in snapshot["users"] if user["kind"] == "room"}
    lists = [group for group in snapshot["groups"] if group["recipientTypeDetails"] == "RoomList"]
    placements = Counter(member.lower() for group in lists for member in group["members"])
    return Placement(
        rooms=len(rooms),
        lists=len(lists),
        largest_list=max((len(group["members"]) for group in lists), default=0),
        lost=sorted(rooms - placements.keys()),
        duplicated=sorted(room for room in rooms if placements[room] > 1),
    )


@dataclass
class _Refusal:
    retry_after: float
    answered_at: float
    what: str


@dataclass
class RetryAfterRecorder:
    """Wraps the sandbox's request routing: every request that is answered 429 or 503 with `Retry-After: R`
    (whole responses, and requests inside a Graph $batch) must not arrive again, identical, within R seconds of
    the answer leaving the sandbox. Identical = same method, path and body (for $batch items: method, url, body).
    """

    refusals: int = 0
    retried: int = 0
    violations: list[str] = field(default_factory=list)
    _pending: dict[tuple, _Refusal] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        route = Sandbox.route

        def recording_route(sandbox: Sandbox, req):
            arrived = time.monotonic()
            response = route(sandbox, req)
            self._record(req, response, arrived, time.monotonic())
            return response

        monkeypatch.setattr(Sandbox, "route", recording_route)

    def _record(self, req, response, arrived: float, answered: float) -> None:
        key = (req.method, req.path, req.query_string, req.body)
        requests = [(key, response.status, response.headers, f"{req.method} {req.path}")]
        if req.path.endswith("/$batch") and response.status == 200:
            inner = json.loads(req.body)["requests"]
            answers = {answer["id"]: answer for answer in json.loads(response.body)["responses"]}
            for item in inner:
                answer = answers[str(item["id"])]
                item_key = ("batch", item["method"], item["url"], json.dumps(item.get("body"), sort_keys=True))
                requests.append((item_key, answer["status"], answer.get("headers", {}), f"$batch {item['url']}"))
        with self._lock:
            for request_key, status, headers, what in requests:
                self._check(request_key, arrived, what)
                if status in (429, 503) and "Retry-After" in headers:
                    self.refusals += 1
                    self._pending[request_key] = _Refusal(float(headers["Retry-After"]), answered, what)

    def _check(self, key: tuple, arrived: float, what: str) -> None:
        refusal = self._pending.pop(key, None)
        if refusal is None:
            return
        self.retried += 1
        waited = arrived - refusal.answered_at
        if waited < refusal.retry_after:
            self.violations.append(f"{what}: sent again {waited:.2f} s after Retry-After: {refusal.retry_after:g}")
