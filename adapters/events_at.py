"""Reading back particular events of the log inside a projection's transaction.

A projection that must see old events again (``customer_lifecycle`` recomputing a customer
after a restart) keeps only their keys and reads them back from the log, where they are
stored once, encrypted, and read as erased once their customer's key is gone: no copy of
a state, and of the personal values in it, in a read-model table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from adapters.event_store import EVENTS_TABLE, EventStore, as_uuid
from adapters.sql import Dialect, query
from domain.events.base import DomainEvent

# SQLite's parameter limit is far above this; PostgreSQL takes the ids as one array.
_CHUNK = 500

EventsAt = Callable[[Sequence[tuple[UUID, int]]], list[DomainEvent]]


def events_at_reader(
    store: EventStore, cursor: Any, dialect: Dialect, reads: frozenset[str] | None = None
) -> EventsAt:
    """``events_at(keys)``: the events at these (stream, version) keys, decoded with the
    store's keys as the runner decodes them (``reads``: the personal values the projection
    reads); in no particular order, the missing omitted."""

    def events_at(keys: Sequence[tuple[UUID, int]]) -> list[DomainEvent]:
        wanted = set(keys)
        streams = list(dict.fromkeys(stream for stream, _ in wanted))
        stored = [
            (row["topic"], as_uuid(row["originator_id"]), int(row["originator_version"]), row)
            for chunk in range(0, len(streams), _CHUNK)
            for row in _stream_rows(cursor, dialect, streams[chunk : chunk + _CHUNK])
        ]
        found = [
            (topic, stream, version, bytes(row["state"]))
            for topic, stream, version, row in stored
            if (stream, version) in wanted
        ]
        return store.decode_rows(found, reads)

    return events_at


def _stream_rows(cursor: Any, dialect: Dialect, streams: Sequence[UUID]) -> list[Any]:
    columns = "originator_id, originator_version, topic, state"
    table = dialect.table(EVENTS_TABLE)
    if dialect.kind == "postgres":
        return query(
            cursor,
            dialect,
            f"SELECT {columns} FROM {table} WHERE originator_id = ANY(%s::uuid[])",  # noqa: S608 # nosec B608 # constant identifiers
            [list(streams)],
        )
    marks = ", ".join(dialect.param for _ in streams)
    return query(
        cursor,
        dialect,
        f"SELECT {columns} FROM {table} WHERE originator_id IN ({marks})",  # noqa: S608 # nosec B608 # constant identifiers
        [stream.hex for stream in streams],  # how the library's SQLite recorder keeps ids
    )
