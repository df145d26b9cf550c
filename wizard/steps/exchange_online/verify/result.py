"""What the verify step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import JsonObject, Record, StepResult, json_object, loaded_by, objects, strings


@dataclass(frozen=True)
class Drift(Record):
    """Rooms Exchange and Onramp disagree about since the rooms step: unlisted (in Exchange, in no list) and gone."""

    unlisted_rooms: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    gone_rooms: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))


@dataclass(frozen=True)
class VerifyResult(StepResult):
    STEP_ID = "verify"

    # None until a run got as far as checking the rooms.
    rooms_checked: int | None = None
    rooms_passed: int | None = None
    rooms_failed: int = 0
    failures: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    control_mailbox: str = ""
    control_out_of_scope: bool = False
    control_opened_over_ews: bool = False
    calendar_checked: bool = False
    grants: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    checks: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    checks_not_run: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    scope_holds_only_rooms: bool = False
    non_room_members: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    unplaced_rooms: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    drift: Drift = field(default_factory=Drift, metadata=loaded_by(Drift.from_json))
    places: JsonObject = field(default_factory=dict, metadata=loaded_by(json_object))
    warnings: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    # Rooms whose own mailbox has EWS switched off (Set-CASMailbox -EwsEnabled $false).
    rooms_ews_off: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    waiting_since: float | None = None
