"""Rebuild every read model from the log into scratch tables and compare them with the live
ones, row by row (DESIGN §6).

The scratch tables live in a scratch store holding a copy of the log (PostgreSQL: a schema
of its own in the same database, filled server-side; SQLite: a temporary file), so the
rebuild runs through the public runner API (``ProjectionRunner.catch_up``) exactly as a
fresh deployment would, and never touches the live tables' names. The live projections
are first brought up to date with the same clock, so that time-driven columns (churn, SLA
breaches, birthdays) are compared as of the same instant; the scratch log is the live log
up to the position the live tables then stand at.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from adapters.audit.log_reader import rows_by_position
from adapters.event_store import EVENTS_TABLE, EventStore
from adapters.projection_runner import ProjectionRunner
from adapters.sql import dialect_of, query, read_transaction
from projections import all_projections
from projections.base import Projection
from projections.schema import Table

SHOWN_PER_TABLE = 20


@dataclass(frozen=True)
class RowDifference:
    table: str
    key: dict[str, Any]
    kind: str  # "changed" | "missing" (rebuilt has it, live lacks it) | "extra" (live only)
    columns: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name: (live, rebuilt)


@dataclass
class TableDiff:
    table: str
    live_rows: int = 0
    rebuilt_rows: int = 0
    differences: int = 0
    shown: list[RowDifference] = field(default_factory=list)


@dataclass
class DiffReport:
    position: int
    at: datetime
    tables: list[TableDiff]

    @property
    def differences(self) -> int:
        return sum(t.differences for t in self.tables)


def diff_projections(
    store: EventStore,
    *,
    projections: Sequence[Projection] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> DiffReport:
    """Catch the live projections up, rebuild them from the log into a scratch store at
    the same position and clock, and compare every table."""
    at = (clock or (lambda: datetime.now(UTC)))()
    selected = list(projections) if projections is not None else all_projections()
    fixed: Callable[[], datetime] = lambda: at  # noqa: E731 (both runners see one instant)
    positions = ProjectionRunner(store, selected, clock=fixed).catch_up()
    position = max(positions.values(), default=0)
    with _scratch_store(store, position) as scratch:
        ProjectionRunner(scratch, selected, clock=fixed).catch_up()
        tables = [_diff_table(store, scratch, table) for p in selected for table in p.tables]
    return DiffReport(position=position, at=at, tables=tables)


def _diff_table(live: EventStore, rebuilt: EventStore, table: Table) -> TableDiff:
    result = TableDiff(table.name)
    live_rows = _rows(live, table)
    rebuilt_rows = _rows(rebuilt, table)
    result.live_rows, result.rebuilt_rows = len(live_rows), len(rebuilt_rows)
    for key in sorted(live_rows.keys() | rebuilt_rows.keys(), key=repr):
        mine, theirs = live_rows.get(key), rebuilt_rows.get(key)
        if mine == theirs:
            continue
        named_key = dict(zip(table.primary_key, key, strict=True))
        if mine is None:
            difference = RowDifference(table.name, named_key, "missing")
        elif theirs is None:
            difference = RowDifference(table.name, named_key, "extra")
        else:
            changed = {
                name: (mine[name], theirs[name])
                for name in table.column_names
                if mine[name] != theirs[name]
            }
            difference = RowDifference(table.name, named_key, "changed", changed)
        result.differences += 1
        if len(result.shown) < SHOWN_PER_TABLE:
            result.shown.append(difference)
    return result


def _rows(store: EventStore, table: Table) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every row of one table, typed, by primary key."""
    d = dialect_of(store)
    with read_transaction(store) as cursor:
        rows = query(cursor, d, f"SELECT * FROM {d.table(table.name)}")  # noqa: S608 # nosec B608 # a declared, quoted table name
        typed = [{c.name: d.from_db(c.type, row[c.name]) for c in table.columns} for row in rows]
    return {tuple(row[k] for k in table.primary_key): row for row in typed}


@contextlib.contextmanager
def _scratch_store(live: EventStore, position: int) -> Iterator[EventStore]:
    """A store of its own holding the live log up to ``position``; removed afterwards."""
    location = live.location
    if location.kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="crm-audit-diff-") as directory:
            path = Path(directory) / "scratch.db"
            EventStore(f"sqlite:///{path}").close()  # the library creates its table
            with sqlite3.connect(path) as connection:
                connection.executemany(
                    f"INSERT INTO {EVENTS_TABLE} "  # noqa: S608 # nosec B608 # constant table, values bound
                    "(rowid, originator_id, originator_version, topic, state) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        (pos, stream.replace("-", ""), version, topic, state)
                        for pos, stream, version, topic, state in rows_by_position(live)
                        if pos <= position
                    ),
                )
            with EventStore(f"sqlite:///{path}") as scratch:
                yield scratch
        return
    schema = f"{location.schema}__audit_diff_{uuid.uuid4().hex[:8]}"[:63]
    secret = f":{quote(location.password, safe='')}" if location.password else ""
    url = (
        f"postgresql://{quote(location.user, safe='')}{secret}@{location.host}:{location.port}/"
        f"{quote(location.dbname, safe='')}?schema={schema}"
    )
    connect: dict[str, Any] = {
        "host": location.host,
        "port": location.port,
        "user": location.user,
        "password": location.password or None,
        "dbname": location.dbname,
        "autocommit": True,
    }
    try:
        with EventStore(url) as scratch:
            with psycopg.connect(**connect) as connection:
                connection.execute(
                    sql.SQL(
                        "INSERT INTO {} (originator_id, originator_version, topic, state, "
                        "notification_id) SELECT originator_id, originator_version, topic, "
                        "state, notification_id FROM {} WHERE notification_id <= %s"
                    ).format(
                        sql.Identifier(schema, EVENTS_TABLE),
                        sql.Identifier(location.schema, EVENTS_TABLE),
                    ),
                    (position,),
                )
            yield scratch
    finally:
        with psycopg.connect(**connect) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
