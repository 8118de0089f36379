"""Who acts, when, and under which idempotency key: the facts stamped on every event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.time import ensure_utc


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Passed into every aggregate command method.

    Aggregates never read a clock themselves: the application decides what "now" is, so
    that tests can freeze it and imports can record history with its own business time.
    """

    actor_id: str
    now: datetime
    command_id: str | None = None
    occurred_at: datetime | None = None
    # The actor's roles, for rules that depend on who acts (separation of duties in
    # approvals), as opposed to who may act at all (the application's permission matrix).
    actor_roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "now", ensure_utc(self.now))
        if self.occurred_at is not None:
            object.__setattr__(self, "occurred_at", ensure_utc(self.occurred_at))

    @property
    def business_time(self) -> datetime:
        return self.occurred_at if self.occurred_at is not None else self.now
