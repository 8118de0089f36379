"""SQL for read models on both stores: types, DDL, row conversion, transactions.

One place knows the differences between SQLite and PostgreSQL (placeholders, column
types, schema qualification, how a write transaction begins), so projections and the
runner never do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import sql as pgsql

from adapters.event_store import EventStore
from projections.schema import ColumnType, Table

PG_TYPES = {
    ColumnType.TEXT: "text",
    ColumnType.INTEGER: "bigint",
    ColumnType.DECIMAL: "numeric",
    ColumnType.TIMESTAMP: "timestamptz",
    ColumnType.DATE: "date",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.UUID: "uuid",
}
# Decimals are TEXT on SQLite: its NUMERIC affinity would turn money into binary floats.
SQLITE_TYPES = {
    ColumnType.TEXT: "TEXT",
    ColumnType.INTEGER: "INTEGER",
    ColumnType.DECIMAL: "TEXT",
    ColumnType.TIMESTAMP: "TEXT",
    ColumnType.DATE: "TEXT",
    ColumnType.BOOLEAN: "INTEGER",
    ColumnType.UUID: "TEXT",
}


@dataclass(frozen=True)
class Dialect:
    kind: str  # "sqlite" or "postgres"
    schema: str = "public"

    @property
    def param(self) -> str:
        return "?" if self.kind == "sqlite" else "%s"

    def quote(self, name: str) -> str:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain SQL identifier: {name!r}")
        return f'"{name}"'

    def table(self, name: str) -> str:
        if self.kind == "postgres":
            return f"{self.quote(self.schema)}.{self.quote(name)}"
        return self.quote(name)

    def create_table(self, table: Table, physical: str) -> list[str]:
        types = PG_TYPES if self.kind == "postgres" else SQLITE_TYPES
        columns = [
            f"{self.quote(c.name)} {types[c.type]}{'' if c.nullable else ' NOT NULL'}"
            for c in table.columns
        ]
        key = ", ".join(self.quote(k) for k in table.primary_key)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self.table(physical)} "
            f"({', '.join(columns)}, PRIMARY KEY ({key}))"
        ]
        for index in table.indexes:
            name = self.index_name(physical, index)
            cols = ", ".join(self.quote(c) for c in index)
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {self.quote(name)} ON {self.table(physical)} ({cols})"
            )
        return statements

    @staticmethod
    def index_name(physical: str, columns: tuple[str, ...]) -> str:
        return f"ix_{physical}_{'_'.join(columns)}"[:63]

    def drop_index(self, name: str) -> str:
        return f"DROP INDEX IF EXISTS {self.table(name)}"

    def drop_table(self, physical: str) -> str:
        return f"DROP TABLE IF EXISTS {self.table(physical)}"

    def rename_table(self, old: str, new: str) -> str:
        return f"ALTER TABLE {self.table(old)} RENAME TO {self.quote(new)}"

    def to_db(self, type_: ColumnType, value: Any) -> Any:
        if value is None or self.kind == "postgres":
            return value
        if type_ in (ColumnType.DECIMAL, ColumnType.UUID):
            return str(value)
        if type_ is ColumnType.TIMESTAMP:
            # Fixed width, always UTC: SQLite compares these as text, so order must hold.
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        if type_ is ColumnType.DATE:
            return value.isoformat()
        if type_ is ColumnType.BOOLEAN:
            return int(value)
        return value

    def from_db(self, type_: ColumnType, value: Any) -> Any:
        if value is None:
            return None
        if type_ is ColumnType.DECIMAL:
            return Decimal(value) if not isinstance(value, Decimal) else value
        if type_ is ColumnType.UUID:
            return value if isinstance(value, UUID) else UUID(value)
        if type_ is ColumnType.TIMESTAMP:
            # PostgreSQL hands back the session's time zone (the server's TimeZone, PGTZ):
            # UTC here, so that a month or a day read off it is the UTC one.
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            return moment.astimezone(UTC)
        if type_ is ColumnType.DATE:
            return value if isinstance(value, date) else date.fromisoformat(value)
        if type_ is ColumnType.BOOLEAN:
            return bool(value)
        return value


def dialect_of(store: EventStore) -> Dialect:
    return Dialect(store.location.kind, store.location.schema)


@contextlib.contextmanager
def write_transaction(store: EventStore) -> Iterator[Any]:
    """A cursor in a write transaction, committed on success, rolled back on any error.

    On SQLite the transaction begins IMMEDIATE, taking the write lock up front: a deferred
    transaction that reads and then writes can fail at once under a concurrent writer.
    """
    if store.location.kind == "postgres":
        with store.datastore.transaction(commit=True) as cursor:
            yield cursor
        return
    connection = store.datastore.pool.get_connection(is_writer=True)
    try:
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
    finally:
        store.datastore.pool.put_connection(connection)


@contextlib.contextmanager
def read_transaction(store: EventStore) -> Iterator[Any]:
    with store.datastore.transaction(commit=False) as cursor:
        yield cursor


def composed(statement: str) -> pgsql.Composable:
    """Statements here are built from identifiers checked by ``Dialect.quote`` and
    placeholders only; this marks them as such for psycopg."""
    return pgsql.SQL(statement)  # type: ignore[arg-type,unused-ignore]


def execute(cursor: Any, dialect: Dialect, statement: str, params: Sequence[Any] = ()) -> None:
    if dialect.kind == "postgres":
        cursor.execute(composed(statement), tuple(params))
    else:
        cursor.execute(statement, tuple(params))


def executemany(
    cursor: Any, dialect: Dialect, statement: str, rows: Sequence[Sequence[Any]]
) -> None:
    if not rows:
        return
    if dialect.kind == "postgres":
        cursor.executemany(composed(statement), [tuple(r) for r in rows])
    else:
        cursor.executemany(statement, [tuple(r) for r in rows])


def query(
    cursor: Any, dialect: Dialect, statement: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    execute(cursor, dialect, statement, params)
    return [dict(row) for row in cursor.fetchall()]


def where_clause(dialect: Dialect, where: Mapping[str, Any]) -> str:
    if not where:
        return ""
    return " WHERE " + " AND ".join(f"{dialect.quote(k)} = {dialect.param}" for k in where)
