"""Any aggregate as it stood at an instant or a version, from its events alone (DESIGN §6).

The kind is read from the stream's first event, so an auditor needs only an id. "As of"
uses business time (``occurred_at``), like every other as-of question: within a stream
business time never runs backwards, so the events up to an instant are a prefix.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from adapters.event_store import EventStore
from application.errors import NotFound
from domain.aggregates.base import Aggregate
from domain.aggregates.complaint import Complaint
from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity
from domain.aggregates.order import Order
from domain.time import ensure_utc

KINDS: tuple[type[Aggregate], ...] = (Customer, Opportunity, Order, Complaint)


class AggregateAsOf(BaseModel):
    """A JSON-ready view of a reconstructed aggregate: its kind, coordinates and state."""

    model_config = ConfigDict(frozen=True)

    kind: str
    aggregate_id: UUID
    version: int
    at: datetime | None
    last_occurred_at: datetime | None
    state: dict[str, Any]


class Audit:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    def as_of(
        self, aggregate_id: UUID, *, at: datetime | None = None, version: int | None = None
    ) -> Aggregate:
        """The aggregate after its events up to ``version`` and with ``occurred_at`` ≤ ``at``
        (either, both or neither). ``NotFound`` when the id is no aggregate, or when it
        did not exist yet at that instant."""
        if version is not None and version < 1:
            raise ValueError(f"version must be 1 or more, not {version}")
        events = self._store.load(aggregate_id, to_version=version)
        kind = _kind_of(events[0]) if events else None
        if kind is None:
            raise NotFound("aggregate", aggregate_id)
        if at is not None:
            cutoff = ensure_utc(at)
            events = [event for event in events if event.occurred_at <= cutoff]
            if not events:
                raise NotFound(kind.kind, aggregate_id, field="at")
        return kind.replay(events)

    def view(
        self, aggregate_id: UUID, *, at: datetime | None = None, version: int | None = None
    ) -> AggregateAsOf:
        aggregate = self.as_of(aggregate_id, at=at, version=version)
        return AggregateAsOf(
            kind=aggregate.kind,
            aggregate_id=aggregate.id,
            version=aggregate.version,
            at=ensure_utc(at) if at is not None else None,
            last_occurred_at=aggregate.last_occurred_at,
            state={
                name: _plain(value)
                for name, value in sorted(vars(aggregate).items())
                if not name.startswith("_") and name not in {"id", "version", "last_occurred_at"}
            },
        )


def _kind_of(first: object) -> type[Aggregate] | None:
    for kind in KINDS:
        if isinstance(first, kind.starts_with):
            return kind
    return None


def _plain(value: Any) -> Any:
    """JSON-ready: models, dataclasses, enums, sets, money and times as an auditor reads them."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(_plain(key)): _plain(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_plain(item) for item in value), key=str)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
