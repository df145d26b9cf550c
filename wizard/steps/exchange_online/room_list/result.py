"""What the room_list step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import JsonObject, StepResult, loaded_by, objects, strings


@dataclass(frozen=True)
class RoomListResult(StepResult):
    STEP_ID = "room_list"

    name: str = ""
    alias: str = ""
    address: str = ""
    dn: str = ""
    guid: str = ""
    manager: str = ""
    manager_identities: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    adopted: bool = False
    removed_members: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    non_room_members: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
