"""The aggregate base: state rebuilt from events, commands that record new ones.

This is deliberately not ``eventsourcing.domain.Aggregate``: our events are pydantic
models defined in ``domain/events`` (the public, documented contract), and the domain must
not depend on a persistence framework. The shape is the same as the library's —
``id``, ``version``, ``collect_events()`` — so the adapters can store it with the
library's recorders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID

from domain.context import CommandContext
from domain.errors import RuleViolation
from domain.events.base import DomainEvent

E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[Any, Any], None]


def applies(
    event_type: type[DomainEvent],
) -> Callable[[Callable[[Any, E], None]], Callable[[Any, E], None]]:
    """Mark a method as the one that folds ``event_type`` into the aggregate's state."""

    def mark(method: Callable[[Any, E], None]) -> Callable[[Any, E], None]:
        method.__applies__ = event_type  # type: ignore[attr-defined]
        return method

    return mark


class Aggregate:
    """Consistency boundary: every rule that needs only this aggregate's history is checked here."""

    # The event type(s) a stream of this kind can begin with.
    starts_with: ClassVar[type[DomainEvent] | tuple[type[DomainEvent], ...]]
    kind: ClassVar[str]
    _handlers: ClassVar[dict[type[DomainEvent], Handler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[type[DomainEvent], Handler] = {}
        for klass in reversed(cls.__mro__):
            for member in vars(klass).values():
                event_type = getattr(member, "__applies__", None)
                if event_type is not None:
                    handlers[event_type] = member
        cls._handlers = handlers

    def __init__(self, aggregate_id: UUID) -> None:
        self.id = aggregate_id
        self.version = 0
        self.last_occurred_at: datetime | None = None
        self._pending: list[DomainEvent] = []

    @classmethod
    def handled_event_types(cls) -> frozenset[type[DomainEvent]]:
        return frozenset(cls._handlers)

    @classmethod
    def replay(cls, events: Iterable[DomainEvent]) -> Self:
        """Rebuild from a stream; the first event must be the one that starts this kind."""
        iterator = iter(events)
        first = next(iterator, None)
        if first is None:
            raise ValueError(f"cannot replay a {cls.kind} from no events")
        if not isinstance(first, cls.starts_with):
            raise ValueError(
                f"stream {first.aggregate_id} starts with {type(first).__name__}: "
                f"it is not a {cls.kind}"
            )
        aggregate = cls(first.aggregate_id)
        aggregate._apply(first)
        for event in iterator:
            aggregate._apply(event)
        return aggregate

    def advance(self, events: Iterable[DomainEvent]) -> None:
        """Fold the events recorded after this state (a snapshot's) into it, in order."""
        for event in events:
            self._apply(event)

    def collect_events(self) -> list[DomainEvent]:
        pending, self._pending = self._pending, []
        return pending

    @property
    def pending_events(self) -> tuple[DomainEvent, ...]:
        return tuple(self._pending)

    def _apply(self, event: DomainEvent) -> None:
        if event.aggregate_id != self.id or event.version != self.version + 1:
            raise ValueError(
                f"event {type(event).__name__} v{event.version} of {event.aggregate_id} "
                f"does not follow {self.kind} {self.id} v{self.version}"
            )
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"{self.kind} has no handler for {type(event).__name__}")
        handler(self, event)
        self.version = event.version
        self.last_occurred_at = event.occurred_at

    def _record(self, event_type: type[E], context: CommandContext, **payload: Any) -> E:
        """Make the event, fold it in, and keep it for saving."""
        occurred_at = self._business_time(context)
        event = event_type(
            aggregate_id=self.id,
            version=self.version + 1,
            recorded_at=context.now,
            occurred_at=occurred_at,
            actor_id=context.actor_id,
            command_id=context.command_id,
            **payload,
        )
        self._apply(event)
        self._pending.append(event)
        return event

    def _business_time(self, context: CommandContext) -> datetime:
        """Business time may be set back for imports, but never ahead of now, and never
        before this aggregate's own last event: as-of questions rely on each stream's
        business time running forward."""
        occurred_at = context.business_time
        if occurred_at > context.now:
            raise RuleViolation(
                "occurred_at_not_in_future",
                f"business time {occurred_at.isoformat()} is after now ({context.now.isoformat()})",
                field="occurred_at",
            )
        if self.last_occurred_at is not None and occurred_at < self.last_occurred_at:
            raise RuleViolation(
                "occurred_at_in_order",
                f"business time {occurred_at.isoformat()} is before this {self.kind}'s "
                f"previous event ({self.last_occurred_at.isoformat()})",
                field="occurred_at",
            )
        return occurred_at
