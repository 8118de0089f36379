"""What ``CRM.execute`` hands back."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.events.base import DomainEvent


@dataclass(frozen=True, slots=True)
class CommandResult:
    """``replayed`` is true when the command id had been executed before: nothing new was
    recorded and the events are those of the first execution."""

    aggregate_id: UUID
    version: int
    events: tuple[DomainEvent, ...]
    command_id: str | None = None
    replayed: bool = False
