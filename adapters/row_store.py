"""``projections.base.RowStore`` over a cursor of SQLite or PostgreSQL.

Values are converted by declared column type, so a projection writes and reads Python
values (Decimal, UUID, aware datetimes) whatever the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.sql import Dialect, execute, query, where_clause
from projections.base import Row
from projections.schema import Table


class CursorRowStore:
    def __init__(
        self,
        cursor: Any,
        dialect: Dialect,
        tables: Mapping[str, Table],
        physical: Mapping[str, str],
    ) -> None:
        self._cursor = cursor
        self._dialect = dialect
        self._tables = dict(tables)
        self._physical = dict(physical)

    def _table(self, name: str) -> tuple[Table, str]:
        try:
            return self._tables[name], self._dialect.table(self._physical[name])
        except KeyError:
            raise KeyError(f"the projection does not own a table {name!r}") from None

    def _encode(self, table: Table, row: Mapping[str, Any]) -> list[Any]:
        types = {c.name: c.type for c in table.columns}
        return [self._dialect.to_db(types[k], v) for k, v in row.items()]

    def _decode(self, table: Table, row: Mapping[str, Any]) -> Row:
        return {c.name: self._dialect.from_db(c.type, row[c.name]) for c in table.columns}

    def get(self, table: str, key: Mapping[str, Any]) -> Row | None:
        rows = self.select(table, key)
        return rows[0] if rows else None

    def select(self, table: str, where: Mapping[str, Any]) -> list[Row]:
        spec, physical = self._table(table)
        statement = f"SELECT * FROM {physical}{where_clause(self._dialect, where)}"  # noqa: S608
        rows = query(self._cursor, self._dialect, statement, self._encode(spec, where))
        return [self._decode(spec, row) for row in rows]

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        spec, physical = self._table(table)
        columns = ", ".join(self._dialect.quote(c) for c in row)
        marks = ", ".join(self._dialect.param for _ in row)
        execute(
            self._cursor,
            self._dialect,
            f"INSERT INTO {physical} ({columns}) VALUES ({marks})",  # noqa: S608
            self._encode(spec, row),
        )

    def upsert(self, table: str, row: Mapping[str, Any]) -> None:
        spec, physical = self._table(table)
        q = self._dialect.quote
        columns = ", ".join(q(c) for c in row)
        marks = ", ".join(self._dialect.param for _ in row)
        keys = ", ".join(q(k) for k in spec.primary_key)
        updates = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in row if c not in spec.primary_key)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        execute(
            self._cursor,
            self._dialect,
            f"INSERT INTO {physical} ({columns}) VALUES ({marks}) "  # noqa: S608
            f"ON CONFLICT ({keys}) {action}",
            self._encode(spec, row),
        )

    def delete(self, table: str, where: Mapping[str, Any]) -> None:
        spec, physical = self._table(table)
        execute(
            self._cursor,
            self._dialect,
            f"DELETE FROM {physical}{where_clause(self._dialect, where)}",  # noqa: S608
            self._encode(spec, where),
        )
