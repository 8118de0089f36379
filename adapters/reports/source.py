"""What every report builder is given: the open CRM, the instant it is as of, and
whether that instant was asked for (a report that cannot look back refuses it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from application import CRM


class ReportError(ValueError):
    """A report cannot be made as asked (unknown name, an unsupported option); the CLI
    shows the message on one line and exits with 2, like a usage error."""


@dataclass(frozen=True)
class Source:
    crm: CRM
    now: datetime
    as_of: datetime | None = None  # None: now
    currency: str = "CNY"
    customer: UUID | None = None

    @property
    def at(self) -> datetime:
        return self.now if self.as_of is None else self.as_of

    @property
    def as_of_text(self) -> str:
        return self.at.isoformat(timespec="seconds").replace("+00:00", "Z")
