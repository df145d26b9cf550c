"""What the service_account step saves as its result."""

from dataclasses import dataclass

from wizard.results import Confirmed


@dataclass(frozen=True)
class ExchangeServerServiceAccountResult(Confirmed):
    STEP_ID = "service_account"

    service_account_upn: str = ""
    display_name: str = ""
