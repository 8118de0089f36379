"""The record of an executed command, stored beside its events.

It is bookkeeping rather than a business fact (projections skip it), but it lives with the
events so that any reader of the log, the audit tools included, can decode every row.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.events.base import DomainEvent


class EventRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    aggregate_id: UUID
    version: int


class CommandRecorded(DomainEvent):
    """Bookkeeping, not a business fact: projections ignore it. It holds no payload of the
    command, only a fingerprint, so it never stores personal data twice."""

    bookkeeping: ClassVar[bool] = True

    command_type: str
    fingerprint: str
    result_aggregate_id: UUID
    result_version: int
    events: tuple[EventRef, ...]
