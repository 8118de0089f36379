"""``projections.base.RowStore`` over a cursor of SQLite or PostgreSQL, with a write-behind
cache for the length of one batch.

A projection folds events one by one, often touching the same row many times in a batch
(a deal moving through five stages). Rows read or written by primary key are kept in
memory and written once, with one ``executemany`` per table, when the batch is flushed —
inside the same transaction as the tracking position, so exactly-once is unchanged.
Values are converted by declared column type, so a projection writes and reads Python
values (Decimal, UUID, aware datetimes) whatever the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from adapters.sql import PG_TYPES, Dialect, composed, execute, executemany, query, where_clause
from domain.events.base import DomainEvent
from projections.base import Row
from projections.schema import ColumnType, Table

if TYPE_CHECKING:
    from adapters.events_at import EventsAt

_ABSENT = object()
# Below this many rows per statement, executemany's pipelined inserts are as quick.
SET_BASED_FROM = 8
SET_BASED_CHUNK = 5000


class CursorRowStore:
    def __init__(
        self,
        cursor: Any,
        dialect: Dialect,
        tables: Mapping[str, Table],
        physical: Mapping[str, str],
        events_at: EventsAt | None = None,
    ) -> None:
        """``events_at``: how ``events_at`` reads the log (``adapters.events_at``), for the
        projections that read events back; without it, asking is an error."""
        self._cursor = cursor
        self._events_at = events_at
        self._dialect = dialect
        self._tables = dict(tables)
        self._physical = dict(physical)
        # Resolved once: a batch asks for them tens of thousands of times.
        self._resolved = {
            name: (spec, dialect.table(self._physical[name]))
            for name, spec in self._tables.items()
            if name in self._physical
        }
        self._types = {
            name: {c.name: c.type for c in spec.columns} for name, spec in self._tables.items()
        }
        # (table, primary key values) -> row, or _ABSENT when known not to exist
        self._cache: dict[tuple[str, tuple[Any, ...]], Any] = {}
        # table -> primary key values -> row to write, or None to delete; by table, since
        # a batch flushes one table before each of its many set-based reads
        self._dirty: dict[str, dict[tuple[Any, ...], Row | None]] = {}
        # (table, leading key column) -> values whose rows are all in the cache, so that a
        # cache miss on such a value means "no row" without asking the database
        self._loaded: dict[str, set[Any]] = {}

    # ---- RowStore -----------------------------------------------------------------

    def get(self, table: str, key: Mapping[str, Any]) -> Row | None:
        spec, _ = self._table(table)
        if set(key) != set(spec.primary_key):
            rows = self.select(table, key)
            return rows[0] if rows else None
        cache_key = (table, tuple(key[k] for k in spec.primary_key))
        cached = self._cache.get(cache_key)
        if cached is None and key[spec.primary_key[0]] in self._loaded.get(table, ()):
            cached = self._cache[cache_key] = _ABSENT
        if cached is None:
            rows = self._select(table, key)
            cached = rows[0] if rows else _ABSENT
            self._cache[cache_key] = cached
        return None if cached is _ABSENT else dict(cached)  # type: ignore[arg-type]

    def prefetch(self, table: str, values: Iterable[Any]) -> None:
        """Read, in a few round trips, every row whose leading primary-key column is one of
        ``values``; later ``get`` calls for them are answered from memory, including "no
        such row". Rows already in the cache (perhaps changed in this batch) are kept."""
        spec, physical = self._table(table)
        column = spec.primary_key[0]
        loaded = self._loaded.setdefault(table, set())
        wanted = [v for v in dict.fromkeys(values) if v not in loaded]
        if not wanted:
            return
        for row in self._where_in(spec, physical, column, wanted):
            self._cache.setdefault((table, tuple(row[k] for k in spec.primary_key)), row)
        loaded.update(wanted)

    def select(self, table: str, where: Mapping[str, Any]) -> list[Row]:
        self.flush(table)
        return self._select(table, where)

    def select_in(
        self,
        table: str,
        column: str,
        values: Sequence[Any],
        columns: Sequence[str] | None = None,
    ) -> list[Row]:
        self.flush(table)
        spec, physical = self._table(table)
        return self._where_in(spec, physical, column, list(dict.fromkeys(values)), columns)

    def _where_in(
        self,
        spec: Table,
        physical: str,
        column: str,
        values: list[Any],
        columns: Sequence[str] | None = None,
    ) -> list[Row]:
        """Rows whose ``column`` is one of ``values``: on PostgreSQL one statement with one
        array parameter (a list of placeholders costs the driver a parse per value); on
        SQLite ``IN (?, ...)`` in chunks below its parameter limit."""
        if not values:
            return []
        d = self._dialect
        types = self._types[spec.name]
        column_type = types[column]
        unknown = [c for c in columns or () if c not in types]
        if unknown:
            raise KeyError(f"table {spec.name} has no columns {unknown}")
        wanted = "*" if columns is None else ", ".join(d.quote(c) for c in columns)
        where = f"SELECT {wanted} FROM {physical} WHERE {d.quote(column)}"  # noqa: S608 # nosec B608 # checked identifiers
        if d.kind == "postgres":
            rows = query(self._cursor, d, f"{where} = ANY(%b::{PG_TYPES[column_type]}[])", [values])
            return [self._decode(spec, row) for row in rows]
        found: list[Row] = []
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ", ".join(d.param for _ in chunk)
            rows = query(
                self._cursor, d, f"{where} IN ({marks})", [d.to_db(column_type, v) for v in chunk]
            )
            found.extend(self._decode(spec, row) for row in rows)
        return found

    def select_due(
        self, table: str, column: str, until: datetime, *, present: Sequence[str] = ()
    ) -> list[Row]:
        self.flush(table)
        spec, physical = self._table(table)
        types = {c.name: c.type for c in spec.columns}
        d = self._dialect
        unknown = [c for c in present if c not in types]
        if unknown:
            raise KeyError(f"table {spec.name} has no columns {unknown}")
        statement = (
            f"SELECT * FROM {physical} WHERE {d.quote(column)} IS NOT NULL "  # noqa: S608 # nosec B608 # checked identifiers
            f"AND {d.quote(column)} <= {d.param}"
            + "".join(f" AND {d.quote(c)} IS NOT NULL" for c in present)
        )
        rows = query(self._cursor, d, statement, [d.to_db(types[column], until)])
        return [self._decode(spec, row) for row in rows]

    def upsert(self, table: str, row: Mapping[str, Any]) -> None:
        spec, _ = self._table(table)
        cache_key = (table, tuple(row[k] for k in spec.primary_key))
        previous = self._cache.get(cache_key)
        merged = dict(previous) if isinstance(previous, dict) else {}
        merged.update(row)
        self._cache[cache_key] = merged
        self._dirty.setdefault(table, {})[cache_key[1]] = merged

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        self.upsert(table, row)

    def delete(self, table: str, where: Mapping[str, Any]) -> None:
        spec, physical = self._table(table)
        if set(where) == set(spec.primary_key):
            cache_key = (table, tuple(where[k] for k in spec.primary_key))
            self._cache[cache_key] = _ABSENT
            self._dirty.setdefault(table, {})[cache_key[1]] = None
            return
        self.flush(table)
        self._cache = {k: v for k, v in self._cache.items() if k[0] != table}
        self._loaded.pop(table, None)
        execute(
            self._cursor,
            self._dialect,
            f"DELETE FROM {physical}{where_clause(self._dialect, where)}",  # noqa: S608 # nosec B608 # checked identifiers
            self._encode(spec, where),
        )

    def events_at(self, keys: Sequence[tuple[UUID, int]]) -> list[DomainEvent]:
        if self._events_at is None:
            raise RuntimeError("this row store was opened without access to the log")
        return self._events_at(keys) if keys else []

    # ---- flushing -----------------------------------------------------------------

    def flush(self, only: str | None = None) -> None:
        """Write pending rows: deletions first, then one upsert statement per column set."""
        tables = list(self._dirty) if only is None else [only]
        deletions: dict[str, list[tuple[Any, ...]]] = {}
        upserts: dict[tuple[str, tuple[str, ...]], list[Row]] = {}
        for table in tables:
            for key_values, row in self._dirty.pop(table, {}).items():
                if row is None:
                    deletions.setdefault(table, []).append(key_values)
                else:
                    upserts.setdefault((table, tuple(row)), []).append(row)
        for table, doomed in deletions.items():
            spec, physical = self._table(table)
            condition = where_clause(self._dialect, dict.fromkeys(spec.primary_key))
            types = {c.name: c.type for c in spec.columns}
            executemany(
                self._cursor,
                self._dialect,
                f"DELETE FROM {physical}{condition}",  # noqa: S608 # nosec B608 # checked identifiers
                [
                    [
                        self._dialect.to_db(types[k], v)
                        for k, v in zip(spec.primary_key, values, strict=True)
                    ]
                    for values in doomed
                ],
            )
        for (table, columns), rows in upserts.items():
            self._upsert_rows(table, columns, rows)

    def _upsert_rows(self, table: str, columns: tuple[str, ...], rows: list[Row]) -> None:
        spec, physical = self._table(table)
        d = self._dialect
        q = d.quote
        conflict = ", ".join(q(k) for k in spec.primary_key)
        updates = ", ".join(
            f"{q(c)} = excluded.{q(c)}" for c in columns if c not in spec.primary_key
        )
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"  # nosec B608 # checked identifiers
        into = f"INSERT INTO {physical} ({', '.join(q(c) for c in columns)}) "
        if d.kind == "sqlite" or len(rows) < SET_BASED_FROM:
            executemany(
                self._cursor,
                d,
                f"{into}VALUES ({', '.join(d.param for _ in columns)}) "
                f"ON CONFLICT ({conflict}) {action}",
                [self._encode(spec, row) for row in rows],
            )
            return
        # PostgreSQL: one statement per chunk, each column sent as one typed array, so the
        # server plans once and the client makes one round trip instead of one per row.
        types = {c.name: c.type for c in spec.columns}
        # %b: binary parameters; psycopg's text array format escapes every item by regex.
        arrays = ", ".join(f"%b::{PG_TYPES[types[c]]}[]" for c in columns)
        statement = f"{into}SELECT * FROM unnest({arrays}) ON CONFLICT ({conflict}) {action}"  # noqa: S608 # nosec B608 # checked identifiers
        for start in range(0, len(rows), SET_BASED_CHUNK):
            chunk = rows[start : start + SET_BASED_CHUNK]
            self._cursor.execute(
                composed(statement),
                [_column_array(types[c], [row[c] for row in chunk]) for c in columns],
            )

    # ---- helpers ------------------------------------------------------------------

    def _table(self, name: str) -> tuple[Table, str]:
        try:
            return self._resolved[name]
        except KeyError:
            raise KeyError(f"the projection does not own a table {name!r}") from None

    def _select(self, table: str, where: Mapping[str, Any]) -> list[Row]:
        spec, physical = self._table(table)
        statement = f"SELECT * FROM {physical}{where_clause(self._dialect, where)}"  # noqa: S608 # nosec B608 # checked identifiers
        rows = query(self._cursor, self._dialect, statement, self._encode(spec, where))
        return [self._decode(spec, row) for row in rows]

    def _encode(self, table: Table, row: Mapping[str, Any]) -> list[Any]:
        types = self._types[table.name]
        to_db = self._dialect.to_db
        return [to_db(types[k], v) for k, v in row.items()]

    def _decode(self, table: Table, row: Mapping[str, Any]) -> Row:
        types = self._types[table.name]
        from_db = self._dialect.from_db
        return {name: from_db(types[name], value) for name, value in row.items()}


def _column_array(type_: ColumnType, values: list[Any]) -> list[Any]:
    """psycopg types a list by its first item: keep a numeric column all ``Decimal`` and
    an enum's value a plain ``str``, whatever a projection wrote. Other columns go as they
    are (no call per value: a batch sends hundreds of thousands)."""
    if type_ is ColumnType.DECIMAL:
        return [v if v is None or isinstance(v, Decimal) else Decimal(v) for v in values]
    if type_ is ColumnType.TEXT:
        return [str(v.value) if isinstance(v, Enum) else v for v in values]
    return values
