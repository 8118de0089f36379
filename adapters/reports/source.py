"""What every report builder is given: the open CRM, the instant it is as of, and
whether that instant was asked for (a report that cannot look back refuses it)."""

from __future__ import annotations

from dataclasses import dataclass
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
        """``as_of``, but no later than now on today's date: ``--as-of`` today means the
        end of today, most of which has not happened yet (what has is now)."""
        if self.as_of is None or (self.as_of > self.now and self.as_of.date() == self.now.date()):
            return self.now
        return self.as_of

    @property
    def as_of_text(self) -> str:
        return self.at.isoformat(timespec="seconds").replace("+00:00", "Z")
