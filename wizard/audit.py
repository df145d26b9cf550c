"""The audit trail: an append-only record of who did what to a tenant, written by the engine and the services."""

from tenants.models import Tenant
from wizard.models import AuditEvent

SYSTEM_ACTOR = "onramp"


def record_event(
    tenant: Tenant, actor: str, action: str, outcome: str, step_id: str = "", detail: dict | None = None
) -> AuditEvent:
    return AuditEvent.objects.create(
        tenant=tenant, actor=actor, step_id=step_id, action=action, outcome=outcome, detail=detail or {}
    )
