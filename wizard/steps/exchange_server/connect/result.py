"""What the connect step saves as its result."""

from dataclasses import dataclass

from wizard.results import StepResult


@dataclass(frozen=True)
class ExchangeServerConnectResult(StepResult):
    STEP_ID = "connect"

    ews_url: str = ""
    ews_url_source: str = ""
    service_account_upn: str = ""
