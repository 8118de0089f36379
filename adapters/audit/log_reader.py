"""Reads the stored log in pages, raw, so audits stream over any size in constant memory.

Two orders: by position (the notification id, i.e. commit order) for export, and by stream
(``originator_id, originator_version``, the primary key) for verification, which then needs
to hold only one stream at a time. Each page is a keyset query on an index, so the cost of
a page does not grow with how far into the log it is. Rows are plain tuples (no row
objects) with the stream id as its canonical text, which is all a hash or an export line
needs: decoding is the caller's business.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import tuple_row

from adapters.event_store import EVENTS_TABLE, EventStore

PAGE = 5_000

# (aggregate id as canonical text, version, topic, state)
StreamRow = tuple[str, int, str, bytes]
# (position, aggregate id as canonical text, version, topic, state)
LogRow = tuple[int, str, int, str, bytes]


def rows_by_stream(store: EventStore, *, page: int = PAGE) -> Iterator[StreamRow]:
    """Every stored event, stream after stream, each stream in version order."""
    first, after = _stream_queries(store)
    key: tuple[Any, int] | None = None
    while True:
        if key is None:
            rows = _fetch(store, first, (page,))
        else:
            rows = _fetch(store, after, (key[0], key[1], page))
        for raw_id, version, topic, state in rows:
            yield _text(raw_id), version, topic, state
        if len(rows) < page:
            return
        key = (rows[-1][0], rows[-1][1])


def rows_by_position(
    store: EventStore,
    *,
    after: int = 0,
    aggregate_id: UUID | None = None,
    page: int = PAGE,
) -> Iterator[LogRow]:
    """Stored events in log order (of one stream, if given) after a position."""
    query = _position_query(store, one_stream=aggregate_id is not None)
    stream_key = _stream_key(store, aggregate_id) if aggregate_id is not None else None
    while True:
        params = (after, page) if stream_key is None else (after, stream_key, page)
        rows = _fetch(store, query, params)
        for position, raw_id, version, topic, state in rows:
            yield position, _text(raw_id), version, topic, state
        if len(rows) < page:
            return
        after = rows[-1][0]


def _fetch(store: EventStore, query: Any, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """One page as plain tuples: the library's row objects (``sqlite3.Row``, psycopg's
    ``dict_row``) cost more per row than everything an audit does with it."""
    if store.location.kind == "sqlite":
        with store.datastore.transaction(commit=False) as cursor:
            raw = cursor.sqlite_cursor
            raw.row_factory = None
            raw.execute(query, params)
            rows: list[tuple[Any, ...]] = raw.fetchall()
            return rows
    with (
        store.datastore.get_connection() as connection,
        connection.transaction(force_rollback=True),
        connection.cursor(row_factory=tuple_row) as cursor,
    ):
        cursor.execute(query, params)
        page: list[tuple[Any, ...]] = cursor.fetchall()
        return page


def _stream_queries(store: EventStore) -> tuple[Any, Any]:
    columns = "originator_id, originator_version, topic, state"
    order = "ORDER BY originator_id, originator_version"
    if store.location.kind == "sqlite":
        return (
            f"SELECT {columns} FROM {EVENTS_TABLE} {order} LIMIT ?",  # noqa: S608 # nosec B608 # constants
            f"SELECT {columns} FROM {EVENTS_TABLE} "  # noqa: S608 # nosec B608 # constants
            f"WHERE (originator_id, originator_version) > (?, ?) {order} LIMIT ?",
        )
    # The id as text straight from the server: cheaper than a UUID object per row. Aliased,
    # so that ORDER BY names the uuid column (and its index), not this text.
    pg_columns = sql.SQL("originator_id::text AS stream, originator_version, topic, state")
    table = _pg_table(store)
    return (
        sql.SQL("SELECT {} FROM {} {} LIMIT %s").format(pg_columns, table, sql.SQL(order)),
        sql.SQL(
            "SELECT {} FROM {} "
            "WHERE (originator_id, originator_version) > (%s::uuid, %s) {} LIMIT %s"
        ).format(pg_columns, table, sql.SQL(order)),
    )


def _position_query(store: EventStore, *, one_stream: bool) -> Any:
    if store.location.kind == "sqlite":
        stream = "AND originator_id = ? " if one_stream else ""
        return (
            "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608 # nosec B608 # constants
            f"FROM {EVENTS_TABLE} WHERE rowid > ? {stream}ORDER BY rowid LIMIT ?"
        )
    stream = "AND originator_id = %s " if one_stream else ""
    return sql.SQL(
        "SELECT notification_id, originator_id::text AS stream, originator_version, topic, state "
        "FROM {} WHERE notification_id > %s {}ORDER BY notification_id LIMIT %s"
    ).format(_pg_table(store), sql.SQL(stream))


def _pg_table(store: EventStore) -> sql.Composed:
    return sql.SQL("{}.{}").format(
        sql.Identifier(store.location.schema), sql.Identifier(EVENTS_TABLE)
    )


def _stream_key(store: EventStore, aggregate_id: UUID) -> Any:
    # The library stores SQLite ids as 32 hex digits, PostgreSQL ones as uuid.
    return aggregate_id.hex if store.location.kind == "sqlite" else aggregate_id


def _text(raw: Any) -> str:
    """The canonical text of a stored id: SQLite holds 32 hex digits, psycopg gives a UUID."""
    if isinstance(raw, str) and len(raw) == 32:
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return str(raw)
