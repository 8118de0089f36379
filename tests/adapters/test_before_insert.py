"""``EventStore.append_encoded(before_insert=...)``: the hook runs in the append's own
transaction once no other writer can insert, so what it looks at cannot move before the
rows are in; what it raises leaves nothing stored."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from adapters.event_store import EventStore
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
            with sqlite3.connect(location.sqlite_name, timeout=0.1) as other:
                other.execute(
                    "INSERT INTO stored_events VALUES (?, ?, ?, ?)", (row[0].hex, *row[1:])
                )
            return False
        with psycopg.connect(
            host=location.host, port=location.port, user=location.user, dbname=location.dbname
        ) as other:
            other.execute(f'SET search_path TO "{location.schema}"')
            other.execute("SET lock_timeout = '100ms'")
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


def test_what_the_hook_raises_leaves_nothing_stored(store: EventStore) -> None:
    customer_id = uuid4()

    def refuse(cursor: Any) -> None:
        raise LookupError("moved")

    with pytest.raises(LookupError, match="moved"):
        store.append_encoded(store.encode([registration(customer_id)]), before_insert=refuse)

    assert store.load(customer_id) == []
    store.append_encoded(store.encode([registration(customer_id)]))  # the stream is still free
    assert [e.version for e in store.load(customer_id)] == [1]
