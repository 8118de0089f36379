"""Read-model tables described once, created the same way on SQLite and PostgreSQL.

Reporting tools query these tables directly, so columns get real SQL types on PostgreSQL
(numeric, timestamptz, uuid, boolean) and their nearest SQLite affinity; a projection
declares them here and never writes DDL itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    TIMESTAMP = "timestamp"
    DATE = "date"
    BOOLEAN = "boolean"
    UUID = "uuid"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = field(default=())

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        missing = [
            k for k in (*self.primary_key, *(c for i in self.indexes for c in i)) if k not in names
        ]
        if missing:
            raise ValueError(f"table {self.name}: unknown columns {missing}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def col(name: str, type_: ColumnType, *, nullable: bool = True) -> Column:
    return Column(name, type_, nullable)
