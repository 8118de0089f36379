"""The typed errors ``CRM.execute`` raises. Each names what failed; none leaves a write behind.

``pydantic.ValidationError`` (malformed input) and ``RuleViolation`` (a business rule) are
re-exported here so that a host can import every error from one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from pydantic import ValidationError

from domain.errors import CRMError, RuleViolation


class NotFound(CRMError):
    def __init__(self, kind: str, aggregate_id: UUID, *, field: str | None = None) -> None:
        self.kind = kind
        self.aggregate_id = aggregate_id
        self.field = field
        where = f" (field {field!r})" if field else ""
        super().__init__(f"{kind} {aggregate_id} not found{where}")


class PermissionDenied(CRMError):
    def __init__(self, actor_id: str, action: str, reason: str) -> None:
        self.actor_id = actor_id
        self.action = action
        super().__init__(f"actor {actor_id!r} may not {action}: {reason}")


class ConcurrencyConflict(CRMError):
    def __init__(self, command: str, aggregate_ids: Iterable[UUID], attempts: int) -> None:
        self.command = command
        self.aggregate_ids = tuple(aggregate_ids)
        self.attempts = attempts
        ids = ", ".join(str(i) for i in self.aggregate_ids) or "a new stream"
        super().__init__(
            f"{command} lost the race for {ids} {attempts} times in a row; "
            "nothing was recorded, try again"
        )


__all__ = [
    "CRMError",
    "ConcurrencyConflict",
    "NotFound",
    "PermissionDenied",
    "RuleViolation",
    "ValidationError",
]
