"""What the rooms step saves as its result."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from wizard.results import Confirmed, JsonObject, RoomListEntry, loaded_by, room_lists


@dataclass(frozen=True)
class ExchangeServerRoomsResult(Confirmed):
    STEP_ID = "rooms"

    lists: tuple[RoomListEntry, ...] = field(default=(), metadata=loaded_by(room_lists))
    rooms: int = 0
    left_out: int = 0

    @classmethod
    def from_json(cls, data: JsonObject | None) -> Self:
        stored = dict(data) if isinstance(data, Mapping) else {}
        # Rows saved before the two profiles shared RoomListEntry named the lists "room_lists".
        if "lists" not in stored and "room_lists" in stored:
            stored["lists"] = stored["room_lists"]
        return super().from_json(stored)
