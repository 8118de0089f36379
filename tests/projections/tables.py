"""Reading whole read-model tables, for comparisons in tests."""

from __future__ import annotations

from typing import Any

from adapters.event_store import EventStore
from adapters.sql import dialect_of, query, read_transaction
from projections.base import Projection


def dump(store: EventStore, projection: Projection) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the projection, typed, in primary-key order."""
    d = dialect_of(store)
    tables = {}
    with read_transaction(store) as cursor:
        for table in projection.tables:
            order = ", ".join(d.quote(k) for k in table.primary_key)
            rows = query(cursor, d, f"SELECT * FROM {d.table(table.name)} ORDER BY {order}")
            tables[table.name] = [
                {c.name: d.from_db(c.type, row[c.name]) for c in table.columns} for row in rows
            ]
    return tables
