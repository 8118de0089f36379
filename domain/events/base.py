"""The envelope every domain event shares, and the registry that names event types.

Events are pydantic models so that their payloads are typed and validated on the way in
*and* on the way back from storage. Each concrete class is registered under its own class
name; that name is its stored type, so moving a class between modules never breaks the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.time import ensure_utc

EVENT_TYPES: dict[str, type[DomainEvent]] = {}


class DomainEvent(BaseModel):
    """A fact that happened to one aggregate; immutable once made.

    ``class_version`` is bumped whenever a class's stored shape changes; a stored event of
    an older version is brought up to date by ``upcast_v{n}_v{n+1}(state)`` static methods,
    applied in order by the mapper before validation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    class_version: ClassVar[int] = 1
    abstract: ClassVar[bool] = True
    # Bookkeeping records (command log, unique-value claims) are not business facts:
    # projections and business queries skip them.
    bookkeeping: ClassVar[bool] = False

    aggregate_id: UUID
    version: int = Field(ge=1)
    recorded_at: datetime
    occurred_at: datetime
    actor_id: str = Field(min_length=1, max_length=100)
    command_id: str | None = Field(default=None, max_length=200)

    @field_validator("recorded_at", "occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return ensure_utc(value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        name = cls.__name__
        existing = EVENT_TYPES.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TypeError(f"event type name {name!r} is already taken by {existing!r}")
        EVENT_TYPES[name] = cls

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    def restamped(self, recorded_at: datetime) -> Self:
        """The same event, taken by the store at ``recorded_at`` (a bulk writer stamps what
        it decided a while ago just before storing it). Copies no more than that field:
        ``model_copy`` deep-copies pydantic's bookkeeping, which on an import of 90,000
        orders cost about a second."""
        copy = type(self).__new__(type(self))
        fields = {**self.__dict__, "recorded_at": ensure_utc(recorded_at)}
        object.__setattr__(copy, "__dict__", fields)
        object.__setattr__(copy, "__pydantic_fields_set__", self.__pydantic_fields_set__)
        object.__setattr__(copy, "__pydantic_extra__", None)
        object.__setattr__(copy, "__pydantic_private__", None)
        return copy

    def payload(self) -> dict[str, Any]:
        """The event's own fields, without the envelope, as JSON-ready values."""
        return self.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))


ENVELOPE_FIELDS: tuple[str, ...] = (
    "aggregate_id",
    "version",
    "recorded_at",
    "occurred_at",
    "actor_id",
    "command_id",
)


def event_class(event_type: str) -> type[DomainEvent]:
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise LookupError(f"unknown event type {event_type!r}") from None
