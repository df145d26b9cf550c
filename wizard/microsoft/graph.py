"""Microsoft Graph v1.0: JSON in, JSON out, typed errors, paging and $batch."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from wizard.microsoft import ratelimit
from wizard.microsoft.errors import GRAPH, MicrosoftError, graph_error, still_throttled
from wizard.microsoft.http import Transport, response_json, retry_after_seconds

log = logging.getLogger(__name__)

BATCH_LIMIT = 20  # Graph refuses a $batch of more than 20 requests

# The application permission an operation needs, to name it when Graph answers 403 Authorization_RequestDenied
# (Graph's message never says which). First match wins; callers may pass `permission=` to be exact.
_PERMISSIONS: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/users/[^/]+/assignLicense"), "LicenseAssignment.ReadWrite.All"),
    ("GET", re.compile(r"^/users/[^/]+/mailboxSettings"), "MailboxSettings.Read"),
    ("GET", re.compile(r"^/users/[^/]+/calendar"), "Calendars.Read"),
    ("GET", re.compile(r"^/users"), "User.Read.All"),
    ("*", re.compile(r"^/users"), "User.ReadWrite.All"),
    ("GET", re.compile(r"^/domains"), "Domain.Read.All"),
    ("GET", re.compile(r"^/organization"), "Organization.Read.All"),
    ("GET", re.compile(r"^/subscribedSkus"), "Organization.Read.All"),
    ("GET", re.compile(r"^/places"), "Place.Read.All"),
    ("GET", re.compile(r"^/servicePrincipals"), "Application.Read.All"),
]


def permission_for(method: str, path: str) -> str:
    path = path.split("?", 1)[0]
    for verb, pattern, permission in _PERMISSIONS:
        if verb in (method.upper(), "*") and pattern.search(path):
            return permission
    return ""


@dataclass
class BatchResponse:
    """One answer inside a $batch, in the order of the requests given to `GraphClient.batch`."""

    id: str
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    error: MicrosoftError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> Any:
        """The body, or raise the typed error."""
        if self.error is not None:
            raise self.error
        return self.body


# Outlook resources of a mailbox, which Microsoft throttles per app per mailbox rather than as directory calls
# (Microsoft Graph throttling limits, Outlook service limits).
_OUTLOOK = re.compile(
    r"^/users/([^/?]+)/(calendar|calendars|calendarView|events|messages|mailFolders|mailboxSettings|contacts|"
    r"contactFolders|outlook|photo|people)(/|\?|$)",
    re.IGNORECASE,
)


def outlook_mailbox(path: str) -> str | None:
    """The mailbox an Outlook request reaches (as the path names it), or None for any other Graph request."""
    match = _OUTLOOK.match(path)
    return unquote(match.group(1)) if match else None


class GraphClient:
    def __init__(self, transport: Transport, base_url: str, app_id: str = "", limit_key: str = "") -> None:
        """`limit_key` names the tenant in the per-mailbox budgets of Outlook requests."""
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.limit_key = limit_key

    # -- plumbing -----------------------------------------------------------------------------------------------
    def budget(self, path: str) -> ratelimit.Budget:
        """The budget a request to `path` spends: its mailbox's for an Outlook resource, else the app's."""
        mailbox = outlook_mailbox(self._relative(path))
        if mailbox is None:
            return self.transport.budget
        return ratelimit.mailbox_budget(self.limit_key, self.app_id, mailbox)

    def _url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            # nextLinks are absolute; never send the tenant's token to a host that is not its Graph.
            if not path.startswith(self.base_url + "/"):
                raise ValueError(f"refusing to send a Graph token to {path.split('?', 1)[0]}")
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _relative(self, path: str) -> str:
        return "/" + (path[len(self.base_url) :] if path.startswith(self.base_url) else path).lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        permission: str = "",
        costs: Mapping[ratelimit.Budget, int] | None = None,
    ) -> Any:
        """Parsed JSON of a successful call ({} for an empty body); else raise the typed error. `costs`: the budgets
        it spends, when not just its own path's (a $batch)."""
        response = self.transport.request(
            method,
            self._url(path),
            params=params,
            json=json,
            headers=headers or {},
            costs=costs or {self.budget(path): 1},
        )
        if response.ok:
            return response_json(response) or {}
        raise graph_error(
            response.status_code,
            response_json(response),
            response.headers,
            permission=permission or permission_for(method, self._relative(path)),
            app=self.app_id,
        )

    # -- verbs --------------------------------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.request("GET", path, params=params, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def iter_all(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[dict]:
        """Every item of a collection, following `@odata.nextLink` (which already carries the query)."""
        page = self.get(path, params, **kwargs)
        while True:
            yield from page.get("value", [])
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            page = self.get(next_link, **kwargs)

    def get_all(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> list[dict]:
        return list(self.iter_all(path, params, **kwargs))

    # -- $batch -------------------------------------------------------------------------------------------------
    def batch(self, requests_: Sequence[dict[str, Any]]) -> list[BatchResponse]:
        """Run requests ({"method", "url", "body"?, "headers"?}) through $batch, 20 at a time.

        Answers come back in the order given, each with its own status and typed `error`; nothing is raised for a
        single failed request. A 429/503 inside a batch is retried after its Retry-After, within the transport's
        throttle wait budget; a batch that cannot be sent at all raises.
        """
        pending: list[tuple[str, dict[str, Any]]] = [
            (str(index), self._batch_item(str(index), item)) for index, item in enumerate(requests_)
        ]
        answers: dict[str, BatchResponse] = {}
        waited = 0.0
        budget = self.transport.policy.throttle_wait_budget
        while pending:
            retry: list[tuple[str, dict[str, Any]]] = []
            delay = 0.0
            by_id = dict(pending)
            budgets = {answer_id: self.budget(item["url"]) for answer_id, item in pending}
            # Graph counts each request inside a batch against its own limits, so a batch arrives as a burst: where
            # requests share the app's budget, at most half a second of it, which leaves the bucket headroom for
            # network jitter; requests to different mailboxes each spend their own mailbox's budget.
            shared = any(not budget.per_mailbox for budget in budgets.values())
            size = min(BATCH_LIMIT, max(1, int(ratelimit.calls_per_second() / 2))) if shared else BATCH_LIMIT
            for start in range(0, len(pending), size):
                chunk = [item for _, item in pending[start : start + size]]
                costs = Counter(budgets[item["id"]] for item in chunk)
                body = self.post("/$batch", {"requests": chunk}, costs=costs)
                for answer in body.get("responses", []):
                    answer_id = str(answer.get("id"))
                    status = int(answer.get("status") or 0)
                    headers = {k: str(v) for k, v in (answer.get("headers") or {}).items()}
                    if status in (429, 503) and answer_id in by_id:
                        retry.append((answer_id, by_id[answer_id]))
                        delay = max(delay, _retry_after(headers))
                        continue
                    error = None
                    if status >= 400:
                        item = by_id.get(answer_id, {})
                        error = graph_error(
                            status,
                            answer.get("body"),
                            headers,
                            permission=permission_for(item.get("method", "GET"), item.get("url", "")),
                            app=self.app_id,
                        )
                    answers[answer_id] = BatchResponse(answer_id, status, answer.get("body"), headers, error)
            if retry:
                if waited + delay > budget:
                    error = still_throttled(GRAPH, "POST /$batch", waited)
                    for answer_id, _ in retry:
                        answers[answer_id] = BatchResponse(answer_id, 429, None, {}, error)
                    break
                waited += delay
                self.transport.stats.add(throttled=len(retry), throttle_wait=delay)
                log.info("$batch: %d requests throttled, waiting %.1f s", len(retry), delay)
                time.sleep(delay)
            pending = retry
        return [answers.get(str(i)) or _missing(str(i)) for i in range(len(requests_))]

    def _batch_item(self, item_id: str, item: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": item_id,
            "method": item.get("method", "GET").upper(),
            "url": self._relative(item["url"]),
        }
        headers = dict(item.get("headers") or {})
        if item.get("body") is not None:
            entry["body"] = item["body"]
            headers.setdefault("Content-Type", "application/json")  # Graph requires it for a body in a batch
        if headers:
            entry["headers"] = headers
        return entry


def _retry_after(headers: dict[str, str]) -> float:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    seconds = retry_after_seconds(value)
    return 1.0 if seconds is None else seconds  # no usable Retry-After: a short pause, then the next round


def _missing(answer_id: str) -> BatchResponse:
    error = graph_error(
        502,
        {
            "error": {
                "code": "BatchResponseMissing",
                "message": "Graph returned no answer for this request of the batch.",
            }
        },
        {},
    )
    return BatchResponse(answer_id, 502, None, {}, error)
