"""Everything one command touches, saved in one transaction or not at all."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from adapters.event_store import EventStore
from application.errors import NotFound
from application.result import CommandResult
from application.settings import Settings
from application.snapshots import AggregateLoader
from domain.aggregates.base import Aggregate
from domain.context import CommandContext
from domain.errors import RuleViolation
from domain.events.base import DomainEvent
from domain.events.reservations import UniqueValueClaimed, reservation_id

A = TypeVar("A", bound=Aggregate)


class UnitOfWork:
    def __init__(
        self,
        store: EventStore,
        context: CommandContext,
        settings: Settings,
        *,
        loader: AggregateLoader | None = None,
    ) -> None:
        self._store = store
        self._context = context
        self.settings = settings
        self._loader = loader
        self._aggregates: dict[UUID, Aggregate] = {}
        self._claims: list[UniqueValueClaimed] = []
        # The version each aggregate had before this command (0: new), to tell when a
        # command moved a stream past a snapshot interval.
        self.versions_before: dict[UUID, int] = {}

    def use_context(self, context: CommandContext) -> None:
        """For handlers that restate the business time of everything the command records."""
        self._context = context

    def get(self, kind: type[A], aggregate_id: UUID, *, field: str) -> A:
        """Load an existing aggregate, or ``NotFound`` naming the field that pointed at it."""
        tracked = self._aggregates.get(aggregate_id)
        if tracked is not None:
            if not isinstance(tracked, kind):
                raise NotFound(kind.kind, aggregate_id, field=field)
            return tracked
        if self._loader is not None:
            loaded = self._loader.load(kind, aggregate_id)
        else:
            events = self._store.load(aggregate_id)
            ok = bool(events) and isinstance(events[0], kind.starts_with)
            loaded = kind.replay(events) if ok else None
        if loaded is None:
            raise NotFound(kind.kind, aggregate_id, field=field)
        self._aggregates[aggregate_id] = loaded
        self.versions_before[aggregate_id] = loaded.version
        return loaded

    def add(self, aggregate: Aggregate) -> None:
        self._aggregates[aggregate.id] = aggregate
        self.versions_before.setdefault(aggregate.id, 0)

    @property
    def aggregates(self) -> list[Aggregate]:
        return list(self._aggregates.values())

    def claim_unique(self, scope: str, value: str, owner_id: UUID, *, field: str) -> None:
        """Reserve a store-wide unique value in the same transaction as the command."""
        self._check_unclaimed(scope, value, field=field)
        self._claims.append(
            UniqueValueClaimed(
                aggregate_id=reservation_id(scope, value),
                version=1,
                recorded_at=self._context.now,
                occurred_at=self._context.business_time,
                actor_id=self._context.actor_id,
                command_id=self._context.command_id,
                scope=scope,
                value=value,
                owner_id=owner_id,
            )
        )

    def recheck_claims(self) -> None:
        """After a write conflict: was it one of our unique values that got taken?"""
        for claim in self._claims:
            self._check_unclaimed(claim.scope, claim.value, field=claim.scope)

    def _check_unclaimed(self, scope: str, value: str, *, field: str) -> None:
        existing = self._store.load(reservation_id(scope, value))
        if existing:
            owner = existing[0].owner_id if isinstance(existing[0], UniqueValueClaimed) else None
            raise RuleViolation(
                f"{scope}_unique", f"{value!r} already belongs to {owner}", field=field
            )

    def business_events(self) -> list[DomainEvent]:
        events: list[DomainEvent] = []
        for aggregate in self._aggregates.values():
            events.extend(aggregate.pending_events)
        return events

    def result(self, aggregate: Aggregate, command_id: str) -> CommandResult:
        """What the caller gets back: the aggregate the command was about, and every
        business event it recorded (claims and command records are bookkeeping)."""
        return CommandResult(
            aggregate_id=aggregate.id,
            version=aggregate.version,
            events=tuple(self.business_events()),
            command_id=command_id,
        )

    def all_events(self) -> list[DomainEvent]:
        return [*self.business_events(), *self._claims]

    @property
    def touched_ids(self) -> list[UUID]:
        return list(self._aggregates)
