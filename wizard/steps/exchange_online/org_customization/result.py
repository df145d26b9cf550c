"""What the org_customization step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import StepResult, loaded_by, strings


@dataclass(frozen=True)
class OrgCustomizationResult(StepResult):
    STEP_ID = "org_customization"

    is_dehydrated: bool | None = None
    customization_requested_at: float | None = None
    # When Exchange answered that customisation was already done while IsDehydrated still read True (a replica).
    customization_confirmed_at: float | None = None
    ews_enabled: bool | None = None
    ews_application_access_policy: str | None = None
    ews_allow_list: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    ews_allowed_app_ids: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    ews_summary: str = ""
    ews_note: str = ""
    integration_ews_now: bool = False
    integration_ews_after_shutdown: bool = False
    integration_ews_summary: str = ""
    integration_ews_fix: str = ""
