"""What the service_account step saves as its result."""

from dataclasses import dataclass

from wizard.results import StepResult


@dataclass(frozen=True)
class ServiceAccountResult(StepResult):
    STEP_ID = "service_account"

    user_principal_name: str = ""
    user_id: str = ""
    display_name: str = ""
    usage_location: str = ""
    # None while the account is being created: not yet known whether Onramp created it or adopted an existing one.
    created: bool | None = None
    created_at: float | None = None
    sku_id: str = ""
    sku_part_number: str = ""
    mailbox_ready: bool = False
    mailbox_wait_started: float | None = None
    verified_user_principal_name: str = ""
