"""What the scoped_access step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import Confirmed, loaded_by, strings


@dataclass(frozen=True)
class ExchangeServerScopedAccessResult(Confirmed):
    STEP_ID = "scoped_access"

    scope_name: str = ""
    room_list_dns: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
