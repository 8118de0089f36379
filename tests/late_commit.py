"""A writer that holds an insert open under the events table's lock, as the recorder does,
so that tests can show what readers and later writers do meanwhile."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from adapters.event_store import EventStore


def hold_insert_open(store: EventStore, stream: UUID) -> psycopg.Connection[Any]:
    """Insert a copy of ``stream``'s events at version 99 in a transaction left open: the
    caller commits (or closes) the connection it gets."""
    location = store.location
    slow = psycopg.connect(
        host=location.host, port=location.port, user=location.user, dbname=location.dbname
    )
    slow.execute(f'SET search_path TO "{location.schema}"')
    slow.execute("LOCK TABLE stored_events IN EXCLUSIVE MODE")  # as the recorder does
    slow.execute(
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
        "SELECT originator_id, 99, topic, state FROM stored_events WHERE originator_id = %s",
        (stream,),
    )
    return slow
