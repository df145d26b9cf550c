"""The audit trail: an append-only record of who did what to a tenant, written by the engine and the services."""

import contextlib
import contextvars
from collections.abc import Iterator

from tenants.models import Tenant
from wizard.models import AuditEvent

SYSTEM_ACTOR = "onramp"
# Whose sign-in the events being recorded ran under (an administrator's username, or "app <client id>"), set for a
# step run's writes by wizard.services.admin_sign_in.writes_under.
_ran_under: contextvars.ContextVar[str] = contextvars.ContextVar("ran_under", default="")
RAN_UNDER = "ran_under"


@contextlib.contextmanager
def ran_under(who: str) -> Iterator[None]:
    token = _ran_under.set(who)
    try:
        yield
    finally:
        _ran_under.reset(token)


def record_event(
    tenant: Tenant, actor: str, action: str, outcome: str, step_id: str = "", detail: dict | None = None
) -> AuditEvent:
    detail = dict(detail or {})
    if who := _ran_under.get():
        detail.setdefault(RAN_UNDER, who)
    return AuditEvent.objects.create(
        tenant=tenant, actor=actor, step_id=step_id, action=action, outcome=outcome, detail=detail
    )


# A write to Microsoft whose answer may never arrive (the worker killed while the call is in flight) is recorded as
# requested before it is sent, and as succeeded once Microsoft confirms it: by its answer, or by a later attempt that
# finds what it wrote. So every write Onramp made is in the trail, whichever attempt made it.
REQUESTED = "requested"
SUCCEEDED = "succeeded"


def unconfirmed_writes(tenant: Tenant, step_id: str, action: str, key: str) -> set[str]:
    """What the requested writes of `action` were for (their detail's `key`), among those whose latest event is the
    request: no answer confirmed them, so whoever finds them done records their success."""
    latest: dict[str, str] = {}
    events = AuditEvent.objects.filter(tenant=tenant, step_id=step_id, action=action).order_by("pk")
    for detail, outcome in events.values_list("detail", "outcome"):
        if target := (detail or {}).get(key):
            latest[target] = outcome
    return {target for target, outcome in latest.items() if outcome == REQUESTED}
