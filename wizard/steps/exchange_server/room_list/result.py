"""What the room_list step saves as its result."""

from dataclasses import dataclass

from wizard.results import Confirmed


@dataclass(frozen=True)
class ExchangeServerRoomListResult(Confirmed):
    STEP_ID = "room_list"

    name: str = ""
    alias: str = ""
    address: str = ""
    manager: str = ""
