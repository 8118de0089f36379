"""Reading a projection's public table by its declared name, in primary-key order.

Names come only from the projections' own table declarations (``known_tables``), and
``Dialect.quote`` refuses anything but a plain identifier, so no text a user typed is
ever formatted into SQL: an unknown name is refused before a statement is built.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from adapters.event_store import EventStore
from adapters.sql import dialect_of, execute, read_transaction
from projections import all_projections
from projections.schema import Table

BATCH = 2000


class UnknownTable(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no read-model table {name!r}; known tables: {', '.join(known)}")
        self.name = name


def known_tables() -> Mapping[str, Table]:
    """The read-model tables reporting tools may query: every projection's tables except
    its private bookkeeping (named ``<projection>__<part>``)."""
    return {
        table.name: table
        for projection in all_projections()
        for table in projection.tables
        if "__" not in table.name
    }


def table_named(name: str) -> Table:
    tables = known_tables()
    if name not in tables:
        raise UnknownTable(name, sorted(tables))
    return tables[name]


def read_rows(store: EventStore, table: Table) -> Iterator[dict[str, Any]]:
    """Rows as Python values (Decimal, UUID, aware datetime), fetched in batches so that a
    large table is never held in memory at once."""
    d = dialect_of(store)
    columns = ", ".join(d.quote(c.name) for c in table.columns)
    order = ", ".join(d.quote(k) for k in table.primary_key)
    # Only quoted identifiers of a declared table are formatted in, never a value.
    statement = f"SELECT {columns} FROM {d.table(table.name)} ORDER BY {order}"  # noqa: S608 # nosec B608
    with read_transaction(store) as cursor:
        execute(cursor, d, statement)
        # The library's SQLite cursor wrapper has no fetchmany; the sqlite3 cursor has.
        raw_cursor = getattr(cursor, "sqlite_cursor", cursor)
        while batch := raw_cursor.fetchmany(BATCH):
            for raw in batch:
                row = dict(raw)
                yield {c.name: d.from_db(c.type, row[c.name]) for c in table.columns}
