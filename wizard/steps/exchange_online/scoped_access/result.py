"""What the scoped_access step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import JsonObject, StepResult, json_object, loaded_by, strings


@dataclass(frozen=True)
class ScopedAccessResult(StepResult):
    STEP_ID = "scoped_access"

    app_id: str = ""
    service_principal_object_id: str = ""
    exchange_service_principal: str = ""
    scope_name: str = ""
    filter: str = ""
    room_list_dns: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    role: str = ""
    role_assignment: str = ""
    tenant_wide_calendar_roles: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    grants: JsonObject = field(default_factory=dict, metadata=loaded_by(json_object))
    access_changed_at: float | None = None
    scope_verified: bool = False
