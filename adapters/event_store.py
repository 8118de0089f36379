"""The event store: the library's recorders behind a small, typed interface.

We use ``eventsourcing``'s SQLite and PostgreSQL application recorders as they are (their
table layout, gap-free notification ids and locking) and add what the application needs:
appending many streams' events in one transaction, loading a stream up to a version, and
telling a version conflict apart from other failures.

Appending seals every event into its stream's hash chain (``adapters/audit/chain.py``).
The predecessor's hash is known without a read in the common case: loading a stream
remembers the hash of its last event, and so does a successful append, in a small bounded
cache of stream heads. A stored event never changes, so a remembered (stream, version,
hash) stays true whatever other writers do; a miss costs one indexed read.

Appending also keeps the customer keys (``adapters/keys.py``) in step, in the same
transaction: a customer's first event with personal data creates its key, and
``CustomerPersonalDataErased`` destroys it (with the customer's snapshot).
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    Notification,
    StoredEvent,
)
from psycopg import sql

from adapters.audit.chain import GENESIS, stored_link, unseal
from adapters.keys import (
    BeforeInsert,
    KeyChanges,
    KeyStore,
    forget_everywhere,
    new_key,
    postgres_has_snapshots,
    postgres_many_reader,
    postgres_reader,
    refresh_everywhere,
    secure_deletes,
    sqlite_checkpoint,
    sqlite_has_snapshots,
    sqlite_many_reader,
    sqlite_reader,
)
from adapters.mapper import ERASURE_TOPIC, PydanticEventMapper, encrypted_subjects, json_instant
from adapters.store_url import StoreLocation, parse_store_url
from domain.events.base import DomainEvent
from domain.personal_data import COMMAND_RECORD

EVENTS_TABLE = "stored_events"
HEADS_CACHED = 20_000


@dataclass(frozen=True, slots=True)
class EncodedAppend:
    """Rows encoded for one append (``EventStore.encode``), with the key changes they take."""

    rows: list[StoredEvent]
    keys: KeyChanges


class AppendConflict(Exception):
    """Some (stream, version) being appended already exists: another writer came first."""


class StreamsMoved(AppendConflict):
    """A stream the appended decision read (and does not write) has moved on since: another
    writer came first there. Nothing was stored; decide again, as after any conflict."""

    def __init__(self, moved: int) -> None:
        super().__init__(f"{moved} stream(s) read by this decision moved since")
        self.moved = moved


class EventStore:
    """Owns the connection pool of one store; close it (or use ``with``) when done."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url  # as given: what a process of our own opens the same store with
        self.location = parse_store_url(url)
        self._factory = InfrastructureFactory.construct(_environment(self.location, pool_size))
        if self.location.kind == "postgres":
            _create_schema(self.location)
            self.keys = KeyStore(
                postgres_reader(self.datastore), read_many=postgres_many_reader(self.datastore)
            )
        elif self.datastore.pool.is_sqlite_memory_mode:
            self.keys = KeyStore(lambda _: None, capacity=None)
        else:
            secure_deletes(self.datastore.pool)
            self.keys = KeyStore(
                sqlite_reader(self.datastore.pool),
                read_many=sqlite_many_reader(self.datastore.pool),
            )
        self.mapper = PydanticEventMapper(self.keys)
        with self.setup_lock():
            self.recorder: ApplicationRecorder = self._factory.application_recorder()
        self._heads: OrderedDict[UUID, tuple[int, str]] = OrderedDict()
        self._heads_lock = threading.Lock()

    @contextlib.contextmanager
    def setup_lock(self) -> Iterator[None]:
        """Serialise creating tables and functions across processes opening one store at
        once: PostgreSQL's CREATE ... IF NOT EXISTS / CREATE OR REPLACE race each other
        ("tuple concurrently updated"). SQLite's write lock already serialises its DDL."""
        if self.location.kind != "postgres":
            yield
            return
        with connect(self.location) as connection:
            key = f"crm-core set-up {self.location.schema}"
            connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.keys.close()
        self._factory.close()

    @property
    def datastore(self) -> Any:
        """The library's datastore (pool); projections and audit reuse its connections."""
        return self._factory.datastore  # type: ignore[attr-defined]

    def append(
        self, events: Sequence[DomainEvent], *, before_insert: BeforeInsert | None = None
    ) -> list[int]:
        """Append events of any number of streams atomically; returns their positions.
        ``before_insert``: as for ``append_encoded``."""
        return self.append_encoded(self.encode(events), before_insert=before_insert)

    def encode(
        self,
        events: Sequence[DomainEvent],
        in_flight_keys: Mapping[UUID, bytes] | None = None,
        *,
        recorded_at: datetime | None = None,
    ) -> EncodedAppend:
        """The first half of ``append``: the rows of these events, personal values
        encrypted (keys of new customers created), not yet chained or stored. Nothing here
        depends on the stream heads, so a bulk writer may encode its next batch while the
        one before is being stored (``append_encoded``). ``in_flight_keys``: keys that
        append creates, used rather than created again (the writer must not store these
        rows unless that append was stored). ``recorded_at``: stored as every event's
        ``recorded_at`` instead of its own (a bulk writer stamps what it decided a while
        ago), as ``event.restamped(recorded_at)`` would be stored."""
        keys = KeyChanges()
        ciphers: dict[UUID, AESGCM] = {}
        # A stream this append starts has no key yet (a key is written with the first
        # personal value, in the same transaction): no need to look for one.
        starting = {event.aggregate_id for event in events if event.version == 1}

        def cipher_for(customer_id: UUID) -> AESGCM:
            cipher = ciphers.get(customer_id)
            if cipher is None and in_flight_keys and customer_id in in_flight_keys:
                cipher = AESGCM(in_flight_keys[customer_id])
            if cipher is None and customer_id not in starting:
                cipher = self.keys.cipher(customer_id, remember_absent=False)
            if cipher is None:  # the first personal value of this customer
                keys.created[customer_id] = new_key()
                cipher = AESGCM(keys.created[customer_id])
            ciphers[customer_id] = cipher
            return cipher

        stamp = json_instant(recorded_at) if recorded_at is not None else None
        rows: list[StoredEvent] = []
        for event in events:
            if event.event_type() == ERASURE_TOPIC:
                keys.destroyed.append(event.aggregate_id)
            rows.append(self.mapper.to_stored_event(event, cipher_for, recorded_at=stamp))
        return EncodedAppend(rows, keys)

    def append_encoded(
        self, encoded: EncodedAppend, *, before_insert: BeforeInsert | None = None
    ) -> list[int]:
        """The second half of ``append``: chain the rows into their streams and store
        them, with their key changes, in one transaction; returns their positions. A key
        another append created meanwhile for the same customer makes this one conflict.
        ``before_insert(cursor)`` runs in that transaction once no other writer can insert
        (a bulk writer checking that what it decided on has not moved); what it raises
        leaves nothing stored."""
        stored: list[StoredEvent] = []
        heads: dict[UUID, tuple[int, str]] = {}
        keys = encoded.keys
        for row in encoded.rows:
            aggregate_id = as_uuid(row.originator_id)
            version = row.originator_version
            head = heads.get(aggregate_id)
            if head is not None and head[0] == version - 1:
                prev = head[1]
            else:
                prev = self._hash_of(aggregate_id, version - 1)
            sealed, hash_ = self.mapper.sealed(row, prev)
            stored.append(sealed)
            heads[aggregate_id] = (version, hash_)
        if keys.destroyed:
            keys.drop_snapshots = self._has_snapshots()
        try:
            positions = self.recorder.insert_events(
                stored, key_changes=keys, before_insert=before_insert
            )
        except IntegrityError as error:
            raise AppendConflict(str(error)) from error
        self._remember(heads)
        self.keys.remember(keys.created)
        self.keys.forget(keys.destroyed, destroyed=True)
        return list(positions or [])

    def checkpoint(self) -> bool:
        """After an erasure: on SQLite, leave no superseded page in the write-ahead log
        (``sqlite_checkpoint``); True when that was done. PostgreSQL keeps old row versions
        until VACUUM, outside this library's reach (README, Personal data and erasure)."""
        if self.location.kind != "sqlite":
            return True
        return sqlite_checkpoint(self.datastore.pool)

    def _has_snapshots(self) -> bool:
        if self.location.kind == "postgres":
            return postgres_has_snapshots(self.datastore)
        return sqlite_has_snapshots(self.datastore.pool)

    def _decoded(self, rows: Sequence[StoredEvent]) -> list[DomainEvent]:
        """A stream's events; an erasure among them first drops the key from every cache
        here, so that no earlier event of it decrypts with a key another process destroyed."""
        for row in rows:
            if row.topic == ERASURE_TOPIC:
                forget_everywhere(as_uuid(row.originator_id))
        _refresh_record_subjects((row.topic, row.originator_id, row.state) for row in rows)
        return [self.mapper.to_domain_event(stored) for stored in rows]

    def load(self, aggregate_id: UUID, *, to_version: int | None = None) -> list[DomainEvent]:
        rows = self.recorder.select_events(aggregate_id, lte=to_version)
        self.remember_loaded(rows)
        return self._decoded(rows)

    def load_after(
        self, aggregate_id: UUID, after_version: int, *, to_version: int | None = None
    ) -> list[DomainEvent]:
        """The events of a stream after a version (a snapshot's): the tail only."""
        rows = self.recorder.select_events(aggregate_id, gt=after_version, lte=to_version)
        if rows and to_version is None and unseal(rows[-1].state) is not None:
            self._remember(
                {as_uuid(rows[-1].originator_id): (rows[-1].originator_version, _last_hash(rows))}
            )
        return self._decoded(rows)

    def remember_loaded(self, rows: Sequence[StoredEvent]) -> None:
        """Note the head of one stream read from version 1 on, so that the next append to
        it chains without a read. ``load`` does this; a reader that fetches streams itself
        (in bulk) may call it with each stream's rows."""
        if rows:
            stream = as_uuid(rows[-1].originator_id)
            self._remember({stream: (rows[-1].originator_version, _last_hash(rows))})

    def _hash_of(self, aggregate_id: UUID, version: int) -> str:
        """The chain hash of one stored event (``GENESIS`` before version 1)."""
        if version < 1:
            return GENESIS
        with self._heads_lock:
            head = self._heads.get(aggregate_id)
        if head is not None and head[0] == version:
            return head[1]
        rows = self.recorder.select_events(aggregate_id, gt=version - 1, lte=version)
        if not rows:  # nothing to chain to: the insert will conflict or leave a gap
            return GENESIS
        sealed = unseal(rows[-1].state)
        if sealed is not None:
            return sealed[0]
        return _last_hash(self.recorder.select_events(aggregate_id, lte=version))

    def _remember(self, heads: dict[UUID, tuple[int, str]]) -> None:
        with self._heads_lock:
            for aggregate_id, head in heads.items():
                self._heads[aggregate_id] = head
                self._heads.move_to_end(aggregate_id)
            # popitem, not ``del d[next(iter(d))]``: a plain dict's first live entry is
            # found by scanning past every slot deleted before it, which made appending
            # 270,000 new streams spend over a second here.
            while len(self._heads) > HEADS_CACHED:
                self._heads.popitem(last=False)

    def read(self, *, after: int = 0, limit: int = 1000) -> Sequence[Notification]:
        """Notifications (stored rows with their log position) after a position."""
        return self.recorder.select_notifications(after, limit, inclusive_of_start=False)

    def prefetch_keys(self, rows: Iterable[tuple[str, UUID | str, bytes]]) -> None:
        """Before decoding many rows (topic, stream, stored state): read the keys of the
        customers whose personal values they hold in one round trip."""
        rows = list(rows)
        _refresh_record_subjects(rows)
        self.keys.prefetch(encrypted_subjects(rows))

    def decode_rows(
        self,
        rows: Sequence[tuple[str, UUID | str, int, bytes]],
        reads: frozenset[str] | None = None,
    ) -> list[DomainEvent]:
        """Many stored rows (topic, stream, version, state) decoded, the keys their personal
        values need read in one go first. ``reads``: the personal values the reader looks
        at (None: all); the others read as erased, undecrypted."""
        if reads is None or reads:
            self.prefetch_keys((topic, stream, state) for topic, stream, _, state in rows)
        return [
            self.mapper.decode(topic, stream, version, state, keys=self.keys, reads=reads)
            for topic, stream, version, state in rows
        ]

    def decode(self, notification: Notification) -> DomainEvent:
        return self.mapper.decode(
            notification.topic,
            notification.originator_id,
            notification.originator_version,
            notification.state,
            keys=self.keys,
        )

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def count_events(self) -> int:
        """Exact number of stored events (positions may have gaps after rollbacks)."""
        if self.location.kind == "sqlite":
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM {EVENTS_TABLE}")  # noqa: S608 # nosec B608 # a constant table name, no value
                return int(cursor.fetchone()[0])
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                sql.SQL("SELECT COUNT(*) AS n FROM {}.{}").format(
                    sql.Identifier(self.location.schema), sql.Identifier(EVENTS_TABLE)
                )
            )
            row = cursor.fetchone()
            return int(row["n"])


def _last_hash(rows: Sequence[StoredEvent]) -> str:
    """The chain hash of the last of a stream's rows (read from version 1 on). A sealed
    row states its own; an unhashed one (written before chains) needs the links before it."""
    sealed = unseal(rows[-1].state)
    if sealed is not None:
        return sealed[0]
    aggregate_id = as_uuid(rows[-1].originator_id)
    prev = GENESIS
    for row in rows:
        computed, stored_hash, _, _ = stored_link(
            prev, row.topic, aggregate_id, row.originator_version, row.state
        )
        prev = stored_hash or computed
    return prev


def as_uuid(value: UUID | str) -> UUID:
    """A stream id as the recorders give it back (a UUID, or its text on SQLite)."""
    return value if isinstance(value, UUID) else UUID(value)


def _environment(location: StoreLocation, pool_size: int) -> dict[str, str]:
    if location.kind == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": "adapters.keys:KeyedSQLiteApplicationRecorder",
            "SQLITE_DBNAME": location.sqlite_name,
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "adapters.keys:KeyedPostgresApplicationRecorder",
        "POSTGRES_DBNAME": location.dbname,
        "POSTGRES_HOST": location.host,
        "POSTGRES_PORT": str(location.port),
        "POSTGRES_USER": location.user,
        "POSTGRES_PASSWORD": location.password,
        "POSTGRES_SCHEMA": location.schema,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size * 2),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "10",
        # The library's insert function loses events under concurrency in 9.5.6: keep it off.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }


def connect(location: StoreLocation) -> psycopg.Connection[Any]:
    """A connection of its own (autocommit), beside the pool: schema set-up, advisory
    locks, LISTEN."""
    return psycopg.connect(
        host=location.host,
        port=location.port,
        user=location.user,
        password=location.password or None,
        dbname=location.dbname,
        autocommit=True,
        connect_timeout=10,
    )


def _create_schema(location: StoreLocation) -> None:
    with connect(location) as connection:
        # Held until this connection closes: concurrent CREATE SCHEMA IF NOT EXISTS race.
        key = f"crm-core set-up {location.schema}"
        connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        connection.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(location.schema))
        )


def _refresh_record_subjects(rows: Iterable[tuple[str, UUID | str, bytes]]) -> None:
    """A command record's fingerprint is decrypted with its customer's key from the table,
    never from a cache: the record's stream holds no erasure to tell this process that
    another one destroyed the key, and a fingerprint still readable after an erasure lets
    a guess of the erased values be checked. (The customer's own stream does hold it.)"""
    refresh_everywhere(encrypted_subjects([row for row in rows if row[0] == COMMAND_RECORD]))
