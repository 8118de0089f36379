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
    command, only a fingerprint, so it never stores personal data twice.

    The fingerprint of a command that carried a customer's personal values is itself one
    of them (``subject_id`` names whose): stored under that customer's key, it reads as
    ``None`` once the customer is erased. (A hash of a name and a phone number can be
    checked against guesses; the key's destruction must end that too.)"""

    bookkeeping: ClassVar[bool] = True
    class_version: ClassVar[int] = 2

    command_type: str
    fingerprint: str | None
    result_aggregate_id: UUID
    result_version: int
    events: tuple[EventRef, ...]
    subject_id: UUID | None = None
    # With ``subject_id``: the fingerprint of the command's other fields, in clear, so that
    # a command under the same id that differs in them is still told apart once the
    # fingerprint is erased.
    shape: str | None = None

    @staticmethod
    def upcast_v1_v2(data: dict[str, object]) -> None:
        """Records from before version 2 name no subject: their fingerprints are clear."""
        data["subject_id"] = None
        data["shape"] = None
