"""The base of what each step saves as its result; each step declares its own in its folder (result.py).

A result is stored as JSON in StepState.result. `from_json` reads any row ever saved: a missing key takes the
field's default and an unknown key is ignored, so an old row (or one a newer release wrote) still reads. Imports
only the standard library, so every layer may use it (tests/test_architecture.py checks that).
"""

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

JsonObject = Mapping[str, Any]


def strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value or ())


def objects(value: object) -> tuple[JsonObject, ...]:
    return tuple(dict(item) for item in value or () if isinstance(item, Mapping))


def json_object(value: object) -> JsonObject:
    return dict(value) if isinstance(value, Mapping) else {}


def _json(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _json(item) for key, item in value.items()}
    return value


def loaded_by(load: Callable[[object], object]) -> dict[str, Any]:
    return {"load": load}


@dataclass(frozen=True)
class Record:
    """Reads itself from a stored JSON object and writes itself back. A field's metadata may name a `load`
    function for values that need more than the stored value (tuples, nested records)."""

    @classmethod
    def from_json(cls, data: JsonObject | None) -> Self:
        stored = data if isinstance(data, Mapping) else {}
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            if spec.name not in stored or not spec.init:
                continue
            load = spec.metadata.get("load")
            values[spec.name] = load(stored[spec.name]) if load is not None else stored[spec.name]
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return _json(self)  # type: ignore[return-value]


@dataclass(frozen=True)
class RoomListEntry(Record):
    """One room list, in either profile: as the rooms step left it, or as its preview plans it (`rooms_to_add`,
    `adding`). `member_count` is len(members), except where only the count is saved (Exchange Online's lists
    before the members were kept, and the preview's planned lists)."""

    name: str = ""
    address: str = ""
    members: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    member_count: int = 0
    dn: str = ""
    alias: str = ""
    number: int = 0
    created: bool = False
    rooms_to_add: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    adding: int = 0

    @classmethod
    def from_json(cls, data: JsonObject | None) -> Self:
        stored = dict(data) if isinstance(data, Mapping) else {}
        members = stored.get("members")
        if isinstance(members, int):
            stored["members"], stored["member_count"] = (), members
        elif "member_count" not in stored:
            stored["member_count"] = len(members or ())
        return super().from_json(stored)

    @classmethod
    def of(cls, name: str, address: str, members: tuple[str, ...] | list[str], **more: Any) -> Self:
        return cls(name=name, address=address, members=tuple(members), member_count=len(members), **more)


def room_lists(value: object) -> tuple[RoomListEntry, ...]:
    return tuple(RoomListEntry.from_json(item) for item in value or () if isinstance(item, Mapping))


@dataclass(frozen=True)
class StepResult(Record):
    """A step's result. STEP_ID names the step that saves it (the profile's Step.result_type points back here)."""

    STEP_ID: ClassVar[str]


@dataclass(frozen=True)
class Confirmed(StepResult):
    """What a manual (Exchange Server) step keeps of the admin's "I ran it"."""

    script_sha256: str = ""
    confirmed_by: str = ""
    confirmed_at: str = ""
