"""``EventStore.append_encoded(before_insert=...)``: the hook runs in the append's own
transaction once no other writer can insert, so what it looks at cannot move before the
rows are in; what it raises leaves nothing stored."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from adapters.event_store import EventStore, connect
from adapters.keys import KEYS_TABLE, new_key
from adapters.sql import dialect_of, execute, query, read_transaction
from tests.erasure.test_mapper import registration


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    with EventStore(store_url) as opened:
        yield opened


def another_writer_is_kept_out(store: EventStore) -> bool:
    """Whether a writer on a connection of its own, waiting a tenth of a second at most,
    fails to insert a row into the events table."""
    location = store.location
    row = (uuid4(), 1, "Probe", b"{}")
    try:
        if location.kind == "sqlite":
            connection = sqlite3.connect(location.sqlite_name, timeout=0.1)
            with contextlib.closing(connection), connection:
                connection.execute(
                    "INSERT INTO stored_events VALUES (?, ?, ?, ?)", (row[0].hex, *row[1:])
                )
            return False
        with connect(location) as other, other.transaction():
            other.execute(f'SET LOCAL search_path TO "{location.schema}"')
            other.execute("SET LOCAL lock_timeout = '100ms'")
            other.execute("LOCK TABLE stored_events IN EXCLUSIVE MODE")  # as writers do
            other.execute(
                "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)",
                row,
            )
        return False
    except (sqlite3.OperationalError, psycopg.errors.LockNotAvailable):
        return True


def test_the_hook_runs_when_no_other_writer_can_insert_and_the_rows_follow(
    store: EventStore,
) -> None:
    customer_id = uuid4()
    seen: list[bool] = []

    def hook(cursor: Any) -> None:
        seen.append(another_writer_is_kept_out(store))

    store.append_encoded(store.encode([registration(customer_id)]), before_insert=hook)

    assert seen == [True]
    assert [e.version for e in store.load(customer_id)] == [1]
    assert not another_writer_is_kept_out(store)  # and the lock went with the transaction


def keys_held(store: EventStore) -> int:
    with read_transaction(store) as cursor:
        d = dialect_of(store)
        (row,) = query(cursor, d, f"SELECT COUNT(*) AS n FROM {d.table(KEYS_TABLE)}")
    return int(row["n"])


def test_what_the_hook_raises_leaves_nothing_stored_not_even_what_it_wrote(
    store: EventStore,
) -> None:
    customer_id = uuid4()
    before = keys_held(store)

    def write_then_refuse(cursor: Any) -> None:
        d = dialect_of(store)
        execute(
            cursor,
            d,
            f"INSERT INTO {d.table(KEYS_TABLE)} (customer_id, key, created_at) "
            f"VALUES ({d.param}, {d.param}, {d.param})",
            (str(uuid4()), new_key(), datetime.now(UTC).isoformat()),
        )
        raise LookupError("moved")

    with pytest.raises(LookupError, match="moved"):
        store.append_encoded(
            store.encode([registration(customer_id)]), before_insert=write_then_refuse
        )

    assert store.load(customer_id) == []
    assert keys_held(store) == before
    store.append_encoded(store.encode([registration(customer_id)]))  # the stream is still free
    assert [e.version for e in store.load(customer_id)] == [1]


def test_postgres_database_functions_which_would_skip_keys_and_hook_are_refused(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EventStore(postgres_url) as store:
        monkeypatch.setattr(store.recorder.datastore, "enable_db_functions", True)
        with pytest.raises(TypeError, match="POSTGRES_ENABLE_DB_FUNCTIONS off"):
            store.append([registration(uuid4())])  # a new customer's key is written with it
