"""Given/when/then over events, for domain tests.

    given(registered).when(lambda c: c.join_membership(ctx)).then(MembershipJoined, ...)

``given`` takes past events; ``when`` runs one command method on the aggregate rebuilt
from them (or a factory for a new aggregate); ``then`` compares the new events' types and
payloads, ``then_rejected`` the rule (and field) of the ``RuleViolation``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from domain.aggregates.base import Aggregate
from domain.context import CommandContext
from domain.errors import RuleViolation
from domain.events.base import DomainEvent

A = TypeVar("A", bound=Aggregate)

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ACTOR = "rep-1"


def context(
    *, now: datetime = NOW, occurred_at: datetime | None = None, command_id: str | None = None
) -> CommandContext:
    return CommandContext(actor_id=ACTOR, now=now, occurred_at=occurred_at, command_id=command_id)


def event(
    event_type: type[DomainEvent],
    aggregate_id: UUID,
    version: int,
    *,
    at: datetime = NOW,
    **payload: Any,
) -> DomainEvent:
    """A past event with a plausible envelope, for ``given``."""
    return event_type(
        aggregate_id=aggregate_id,
        version=version,
        recorded_at=at,
        occurred_at=at,
        actor_id=ACTOR,
        **payload,
    )


@dataclass
class Scenario(Generic[A]):
    kind: type[A]
    history: list[DomainEvent] = field(default_factory=list)
    produced: list[DomainEvent] | None = None
    error: RuleViolation | None = None
    aggregate: A | None = None

    def given(self, *events: DomainEvent) -> Scenario[A]:
        self.history.extend(events)
        return self

    def when(self, command: Callable[[A], Any]) -> Scenario[A]:
        aggregate = self.kind.replay(self.history)
        return self._run(lambda: (command(aggregate), aggregate)[1])

    def when_created(self, factory: Callable[[], A]) -> Scenario[A]:
        assert not self.history, "a creating command has no history"
        return self._run(factory)

    def _run(self, run: Callable[[], A]) -> Scenario[A]:
        try:
            self.aggregate = run()
        except RuleViolation as error:
            self.error = error
            return self
        self.produced = self.aggregate.collect_events()
        return self

    def then(self, *expected: tuple[type[DomainEvent], dict[str, Any]]) -> list[DomainEvent]:
        """Each expected item is (event type, the payload fields to check)."""
        assert self.error is None, f"expected events, got {self.error}"
        assert self.produced is not None
        assert [type(e) for e in self.produced] == [t for t, _ in expected]
        for produced, (_, fields) in zip(self.produced, expected, strict=True):
            actual = {name: getattr(produced, name) for name in fields}
            assert actual == fields
        return self.produced

    def then_rejected(self, rule: str, *, field: str | None = None) -> RuleViolation:
        assert self.error is not None, f"expected {rule!r} to be violated, got {self.produced}"
        assert self.error.rule == rule, str(self.error)
        assert self.error.field == field, str(self.error)
        assert self.aggregate is None or not self.aggregate.pending_events
        return self.error


def given(kind: type[A], *events: DomainEvent) -> Scenario[A]:
    return Scenario(kind).given(*events)


def new_id() -> UUID:
    return uuid4()
