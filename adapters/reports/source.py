"""What every report builder is given: the open CRM, the instant it is as of, and
whether that instant was asked for (a report that cannot look back refuses it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from adapters.event_store import EventStore


class ReportError(ValueError):
    """A report cannot be made as asked (unknown name, an unsupported option); the CLI
    shows the message on one line and exits with 2, like a usage error."""


class Queries(Protocol):
    """What the reports ask of the application; ``application.CRM`` is one. Adapters serve
    the application and do not import it (an import contract), so the CLI hands it in."""

    @property
    def store(self) -> EventStore: ...

    @property
    def read_models(self) -> Any: ...

    def lifecycle(self, customer_id: UUID, *, as_of: datetime | None = None) -> Any: ...


@dataclass(frozen=True)
class Source:
    crm: Queries
    now: datetime
    as_of: datetime | None = None  # None: now
    currency: str = "CNY"
    customer: UUID | None = None

    @property
    def at(self) -> datetime:
        return self.now if self.as_of is None else self.as_of

    def settled(self) -> Source:
        """As of no later than now on today's date, for a report of what has happened:
        ``--as-of`` today means the end of today, and what of it has happened is now."""
        if (
            self.as_of is not None
            and self.as_of > self.now
            and self.as_of.date() == self.now.date()
        ):
            return replace(self, as_of=self.now)
        return self

    @property
    def as_of_text(self) -> str:
        return self.at.isoformat(timespec="seconds").replace("+00:00", "Z")
