"""Claims on values that must be unique across the whole store.

An event store only guarantees uniqueness of (stream, version). To make ``external_ref``
unique, a registration also writes version 1 of a stream whose id is derived from the
value; a second registration of the same value collides on that row in the same
transaction, so no race can create a duplicate.
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar
from uuid import UUID

from domain.events.base import DomainEvent
from domain.ids import name_based_id
from domain.values import Code, ShortText

RESERVATIONS_NAMESPACE = UUID("0f6a5a3e-7f52-4a53-9d3c-3bd0c54b8a51")


class UniqueValueClaimed(DomainEvent):
    bookkeeping: ClassVar[bool] = True

    scope: Code
    value: ShortText
    owner_id: UUID


def reservation_id(scope: str, value: str) -> UUID:
    return _reservation_id(f"{scope}\x1f{value}")


@lru_cache(maxsize=4096)
def _reservation_id(name: str) -> UUID:
    """Cached by the name as formatted (a str subclass may format otherwise than it
    compares): a bulk import asks for each value's id several times in a row."""
    return name_based_id(RESERVATIONS_NAMESPACE, name)
