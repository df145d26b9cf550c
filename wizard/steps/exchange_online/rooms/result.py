"""What the rooms step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import JsonObject, RoomListEntry, StepResult, json_object, loaded_by, objects, room_lists


@dataclass(frozen=True)
class RoomsResult(StepResult):
    STEP_ID = "rooms"

    lists: tuple[RoomListEntry, ...] = field(default=(), metadata=loaded_by(room_lists))
    source: str = ""
    rooms_selected: int = 0
    rooms_added: int = 0
    rooms_already_members: int = 0
    write_calls: int = 0
    members_changed_at: float | None = None
    preview: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    preview_summary: JsonObject = field(default_factory=dict, metadata=loaded_by(json_object))
    planned_lists: tuple[RoomListEntry, ...] = field(default=(), metadata=loaded_by(room_lists))
