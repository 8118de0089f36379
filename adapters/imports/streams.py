"""Read many streams in one query per chunk, for work that touches thousands at a time.

``EventStore.load`` reads one stream per query: right for a command, but a batch of 500
imported orders would pay 1,500 round trips for the streams it checks (its command records,
its reservations, its customers). This reads them with ``originator_id IN (...)`` and
decodes each row through the store's own mapper, so the events are the ones ``load``
would return.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from adapters.event_store import EVENTS_TABLE, EventStore
from adapters.sql import dialect_of, query, read_transaction
from domain.events.base import DomainEvent

# SQLite allows 32,766 parameters per statement; PostgreSQL takes an array. Chunks keep
# each statement's plan and result small on both.
CHUNK = 900


def load_streams(store: EventStore, stream_ids: Iterable[UUID]) -> dict[UUID, list[DomainEvent]]:
    """Every event of each given stream, in version order; streams with no event are absent."""
    wanted = list(dict.fromkeys(stream_ids))
    dialect = dialect_of(store)
    table = dialect.table(EVENTS_TABLE)
    found: dict[UUID, list[DomainEvent]] = {}
    with read_transaction(store) as cursor:
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            params: list[Any]
            if dialect.kind == "postgres":
                # Text, cast by the server: psycopg's UUID array dumper is far slower.
                where = "originator_id = ANY(%s::uuid[])"
                params = [[str(stream_id) for stream_id in chunk]]
            else:
                # The library stores SQLite ids as 32 hex digits.
                where = f"originator_id IN ({', '.join('?' * len(chunk))})"
                params = [stream_id.hex for stream_id in chunk]
            # The table is a checked identifier and the ids are bound parameters.
            statement = (
                f"SELECT originator_id, originator_version, topic, state FROM {table} "  # noqa: S608 # nosec B608
                f"WHERE {where} ORDER BY originator_id, originator_version"
            )
            rows = query(cursor, dialect, statement, params)
            for row in rows:
                stream_id = _uuid(row["originator_id"])
                stored = StoredEvent(
                    originator_id=stream_id,
                    originator_version=int(row["originator_version"]),
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                found.setdefault(stream_id, []).append(store.mapper.to_domain_event(stored))
    return found


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
