"""Per-customer keys for personal data, and the cipher that uses them (DESIGN §2.1).

Each customer gets a random 256-bit key in ``customer_keys`` (customer id, key,
created_at), written in the same transaction as the customer's first event. Personal
values are stored as ``{"$enc": base64(nonce + ciphertext)}``: AES-256-GCM from the
``cryptography`` package (audited, maintained; no home-made crypto), a random 96-bit
nonce per value, and the customer id and field path as associated data, so that a value
cannot be moved to another field or customer and still decrypt. Erasure deletes the row in
the same transaction as the ``CustomerPersonalDataErased`` event; what the key encrypted is
unreadable from then on, while the stored bytes (and so the hash chains over them) stay.

Keys never leave this module: no log line, error message or export carries one.

Key rows are written by the event store's own recorder, inside its insert transaction
(``KeyedSQLiteApplicationRecorder``, ``KeyedPostgresApplicationRecorder``, chosen through
the library's recorder-topic setting), so events and keys commit or fail together. On
PostgreSQL the key rows are written after the events table's lock is taken, never before:
two writers creating keys cannot then wait on each other in opposite orders.

Decoding happens in places that hold no store (the projection runner decodes with the
mapper's static ``decode``), so every open ``KeyStore`` joins a process-wide ring and a
value is decrypted with whichever ring member's key authenticates it: customer ids can
repeat across stores, keys do not, and GCM refuses a wrong key.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteConnectionPool, SQLiteCursor
from psycopg import sql

KEYS_TABLE = "customer_keys"
# adapters/snapshot_store.py's table: a customer's snapshot holds its profile in clear
# text, so erasure deletes it with the key.
SNAPSHOTS_TABLE = "aggregate_snapshots"
ENCRYPTED = "$enc"
KEY_BYTES = 32
NONCE_BYTES = 12
CACHED_KEYS = 50_000
_MISSING: Any = object()

SQLITE_CREATE = (
    "CREATE TABLE IF NOT EXISTS customer_keys "
    "(customer_id TEXT PRIMARY KEY, key BLOB NOT NULL, created_at TEXT NOT NULL)"
)
SQLITE_INSERT = "INSERT INTO customer_keys (customer_id, key, created_at) VALUES (?, ?, ?)"
SQLITE_DELETE = "DELETE FROM customer_keys WHERE customer_id = ?"
SQLITE_SELECT = "SELECT key FROM customer_keys WHERE customer_id = ?"
SQLITE_SELECT_MANY = "SELECT customer_id, key FROM customer_keys WHERE customer_id IN"
SQLITE_CHUNK = 500  # below SQLite's limit on bound parameters
SQLITE_DROP_SNAPSHOT = "DELETE FROM aggregate_snapshots WHERE aggregate_id = ?"
SQLITE_HAS_SNAPSHOTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def _aad(customer_id: UUID, path: str) -> bytes:
    return f"{customer_id}|{path}".encode()


def encrypt(cipher: AESGCM, customer_id: UUID, path: str, plaintext: bytes) -> dict[str, str]:
    nonce = os.urandom(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, plaintext, _aad(customer_id, path))
    return {ENCRYPTED: base64.b64encode(nonce + sealed).decode("ascii")}


def is_encrypted(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ENCRYPTED in value


def decrypt(cipher: AESGCM, customer_id: UUID, path: str, value: dict[str, str]) -> bytes | None:
    """The plaintext, or ``None`` if this key did not encrypt it (GCM's tag says so)."""
    blob = base64.b64decode(value[ENCRYPTED])
    try:
        return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(customer_id, path))
    except InvalidTag:
        return None


@dataclass
class KeyChanges:
    """What an append does to keys, in its own transaction."""

    created: dict[UUID, bytes] = field(default_factory=dict)
    destroyed: list[UUID] = field(default_factory=list)
    drop_snapshots: bool = False

    def __bool__(self) -> bool:
        return bool(self.created or self.destroyed)


class KeyStore:
    """Reads keys of one store, with a bounded cache of ciphers (and of known absences:
    a key that is absent once ciphertext exists was destroyed, and never comes back)."""

    def __init__(
        self,
        read: Callable[[UUID], bytes | None],
        *,
        read_many: Callable[[Sequence[UUID]], dict[UUID, bytes]] | None = None,
        capacity: int | None = CACHED_KEYS,
    ) -> None:
        """``capacity=None``: keep every key (an in-memory store, whose keys all come from
        this process, and whose table cannot be read while a writer holds the database).
        ``read_many`` reads many keys in one round trip (``prefetch``)."""
        self._read = read
        self._read_many = read_many
        self._capacity = capacity
        self._cache: OrderedDict[UUID, AESGCM | None] = OrderedDict()
        self._lock = threading.Lock()
        _RING.add(self)

    def cipher(self, customer_id: UUID, *, remember_absent: bool = True) -> AESGCM | None:
        """The customer's cipher, ``None`` without a key. A reader that met ciphertext
        remembers an absence (the key was destroyed); a writer must not (the key may be
        about to be created, by itself or another writer)."""
        with self._lock:
            cached = self._cache.get(customer_id, _MISSING)
        if cached is not _MISSING and (cached is not None or remember_absent):
            return cast("AESGCM | None", cached)
        key = self._read(customer_id)
        cipher = AESGCM(key) if key is not None else None
        if cipher is not None or remember_absent:
            self._put_read(customer_id, cipher)
        return cipher

    def prefetch(self, customer_ids: Iterable[UUID]) -> None:
        """Read the keys of many customers in one go, so that decoding a page of the log
        costs one round trip rather than one per customer met for the first time. Keys not
        found are not remembered as absent: ``cipher`` decides that, one customer at a
        time, as before."""
        if self._read_many is None:
            return
        with self._lock:
            wanted = [c for c in dict.fromkeys(customer_ids) if c not in self._cache]
        if self._capacity is not None:
            wanted = wanted[: self._capacity]
        if not wanted:
            return
        for customer_id, key in self._read_many(wanted).items():
            self._put_read(customer_id, AESGCM(key))

    def remember(self, created: dict[UUID, bytes]) -> None:
        for customer_id, key in created.items():
            self._put(customer_id, AESGCM(key))

    def forget(self, customer_ids: Iterable[UUID], *, destroyed: bool = False) -> None:
        """Drop cached keys: ``destroyed`` ones are known absent from now on; otherwise the
        next use reads the table again (another process may have destroyed them). A key
        known destroyed stays so: it never comes back."""
        for customer_id in customer_ids:
            if destroyed:
                self._put(customer_id, None)
            else:
                with self._lock:
                    if self._cache.get(customer_id, _MISSING) is not None:
                        self._cache.pop(customer_id, None)

    def refresh(self, customer_ids: Iterable[UUID]) -> None:
        """Drop cached keys, so that the next use reads the table: another process may
        have destroyed them. Not in memory, where this cache holds every key there is."""
        if self._capacity is None:
            return
        self.forget(customer_ids)

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
        _RING.discard(self)

    def _put_read(self, customer_id: UUID, cipher: AESGCM | None) -> None:
        """Cache what a read found, unless something was cached for the customer while the
        read was under way: an erasure committed meanwhile marks its key destroyed, and a
        key read just before must not bring it back."""
        with self._lock:
            if customer_id not in self._cache:
                self._insert(customer_id, cipher)

    def _put(self, customer_id: UUID, cipher: AESGCM | None) -> None:
        with self._lock:
            self._cache.pop(customer_id, None)
            self._insert(customer_id, cipher)

    def _insert(self, customer_id: UUID, cipher: AESGCM | None) -> None:
        """Under ``_lock``: add as the newest entry, evicting the oldest past capacity."""
        self._cache[customer_id] = cipher
        while self._capacity is not None and len(self._cache) > self._capacity:
            self._cache.popitem(last=False)


_RING: weakref.WeakSet[KeyStore] = weakref.WeakSet()


def open_key_stores(first: KeyStore | None = None) -> list[KeyStore]:
    """The key stores to try, ``first`` (the decoding store's own) ahead of the others."""
    others = [ks for ks in list(_RING) if ks is not first]
    return [first, *others] if first is not None else others


def refresh_everywhere(customer_ids: Iterable[UUID]) -> None:
    """Keys about to decrypt something whose stream cannot say they were destroyed: read
    them from their tables again (``KeyStore.refresh``)."""
    wanted = list(customer_ids)
    if wanted:
        for key_store in list(_RING):
            key_store.refresh(wanted)


def forget_everywhere(customer_id: UUID) -> None:
    """A reader met an erasure: no cache in this process may decrypt for it any longer."""
    for key_store in list(_RING):
        key_store.forget([customer_id])


# ---- reading and writing the table ------------------------------------------------------


def sqlite_reader(pool: SQLiteConnectionPool) -> Callable[[UUID], bytes | None]:
    def read(customer_id: UUID) -> bytes | None:
        connection = pool.get_connection(is_writer=False)
        try:
            with connection.transaction(commit=False) as cursor:
                cursor.execute(SQLITE_SELECT, (str(customer_id),))
                row = cursor.fetchone()
        finally:
            pool.put_connection(connection)
        return bytes(row[0]) if row is not None else None

    return read


def postgres_reader(datastore: PostgresDatastore) -> Callable[[UUID], bytes | None]:
    statement = sql.SQL("SELECT key FROM {}.{} WHERE customer_id = %s").format(
        sql.Identifier(datastore.schema), sql.Identifier(KEYS_TABLE)
    )

    def read(customer_id: UUID) -> bytes | None:
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (customer_id,))
            row = cursor.fetchone()
        return bytes(row["key"]) if row is not None else None

    return read


def sqlite_many_reader(pool: SQLiteConnectionPool) -> Callable[[Sequence[UUID]], dict[UUID, bytes]]:
    def read_many(customer_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        found: dict[UUID, bytes] = {}
        connection = pool.get_connection(is_writer=False)
        try:
            with connection.transaction(commit=False) as cursor:
                for start in range(0, len(customer_ids), SQLITE_CHUNK):
                    chunk = [str(c) for c in customer_ids[start : start + SQLITE_CHUNK]]
                    marks = ", ".join("?" for _ in chunk)
                    cursor.execute(f"{SQLITE_SELECT_MANY} ({marks})", chunk)
                    found.update((UUID(row[0]), bytes(row[1])) for row in cursor.fetchall())
        finally:
            pool.put_connection(connection)
        return found

    return read_many


def postgres_many_reader(
    datastore: PostgresDatastore,
) -> Callable[[Sequence[UUID]], dict[UUID, bytes]]:
    statement = sql.SQL("SELECT customer_id, key FROM {}.{} WHERE customer_id = ANY(%s)").format(
        sql.Identifier(datastore.schema), sql.Identifier(KEYS_TABLE)
    )

    def read_many(customer_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (list(customer_ids),))
            return {row["customer_id"]: bytes(row["key"]) for row in cursor.fetchall()}

    return read_many


def sqlite_has_snapshots(pool: SQLiteConnectionPool) -> bool:
    connection = pool.get_connection(is_writer=False)
    try:
        with connection.transaction(commit=False) as cursor:
            cursor.execute(SQLITE_HAS_SNAPSHOTS, (SNAPSHOTS_TABLE,))
            return cursor.fetchone() is not None
    finally:
        pool.put_connection(connection)


def postgres_has_snapshots(datastore: PostgresDatastore) -> bool:
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL AS found",
            (f'"{datastore.schema}"."{SNAPSHOTS_TABLE}"',),
        )
        row = cursor.fetchone()
    return row is not None and bool(row["found"])


def _now() -> str:
    return datetime.now(UTC).isoformat()


# What a writer runs in the insert's transaction, on its cursor, once no other writer can
# insert (after the table lock on PostgreSQL): it raises to insert nothing.
BeforeInsert = Callable[[Any], None]


class KeyedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's recorder, also writing ``customer_keys`` in the insert transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), SQLITE_CREATE]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        before_insert: BeforeInsert | None = kwargs.get("before_insert")
        if before_insert is not None:
            # The write lock first (a statement that writes nothing takes it): a read
            # before it would pin a snapshot that a writer of another connection could
            # make stale, and the insert after it would then fail as "database is locked".
            c.execute(f"UPDATE {self.events_table_name} SET topic = topic WHERE 0")  # noqa: S608 # nosec B608 # the recorder's own table name
            before_insert(c)  # no other writer until this transaction ends
        positions = super()._insert_events(c, stored_events, **kwargs)
        changes: KeyChanges | None = kwargs.get("key_changes")
        if changes:
            now = _now()
            c.executemany(
                SQLITE_INSERT, [(str(cid), key, now) for cid, key in changes.created.items()]
            )
            for customer_id in changes.destroyed:
                c.execute(SQLITE_DELETE, (str(customer_id),))
                if changes.drop_snapshots:
                    c.execute(SQLITE_DROP_SNAPSHOT, (str(customer_id),))
        return positions


class KeyedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """The library's recorder, also writing ``customer_keys`` in the insert transaction,
    after the events table's lock (see the module's notes)."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema, keys = sql.Identifier(datastore.schema), sql.Identifier(KEYS_TABLE)
        self.sql_create_statements.append(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (customer_id uuid PRIMARY KEY, "
                "key bytea NOT NULL, created_at timestamptz NOT NULL)"
            ).format(schema, keys)
        )
        self._insert_keys = sql.SQL(
            "INSERT INTO {}.{} (customer_id, key, created_at) VALUES (%s, %s, %s)"
        ).format(schema, keys)
        self._delete_key = sql.SQL("DELETE FROM {}.{} WHERE customer_id = %s").format(schema, keys)
        self._drop_snapshot = sql.SQL("DELETE FROM {}.{} WHERE aggregate_id = %s").format(
            schema, sql.Identifier(SNAPSHOTS_TABLE)
        )
        # The library's insert statement, fed four binary column arrays instead of one
        # array of composite values, which psycopg dumps as text in Python, escaping every
        # byte of every state by regular expression: 1,500 rows took 37 ms that way, 5 ms
        # this way. Same rows, same order, same RETURNING of their notification ids.
        self._insert_columns = sql.SQL(
            "INSERT INTO {}.{} AS t (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(schema, sql.Identifier(events_table_name))

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # The library's database functions insert without ``_insert_stored_events``: key
        # changes and the writer's hook would be skipped without a word.
        if self.datastore.enable_db_functions and (
            kwargs.get("key_changes") or kwargs.get("before_insert")
        ):
            raise TypeError("key changes and before_insert need POSTGRES_ENABLE_DB_FUNCTIONS off")
        positions: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        return positions

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        if self.datastore.originator_id_type == "uuid":
            # What the library's own method does (PostgresApplicationRecorder), with the
            # rows sent as columns: lock the table, notify, insert.
            self._lock_table(curs)
            before_insert: BeforeInsert | None = kwargs.get("before_insert")
            if before_insert is not None:
                # Under the table's lock: no other writer until this transaction ends. In a
                # savepoint: the library commits the transaction of an insert that raised
                # (it re-raises after the block), so what the hook did must be undone here.
                with curs.connection.transaction(), curs.connection.cursor() as looking:
                    before_insert(looking)
            self._notify_channel(curs)
            curs.execute(
                self._insert_columns,
                (
                    [_as_uuid(e.originator_id) for e in stored_events],
                    [e.originator_version for e in stored_events],
                    [e.topic for e in stored_events],
                    [e.state for e in stored_events],
                ),
            )
        else:
            if kwargs.get("before_insert") is not None:
                raise TypeError("before_insert runs only where originator ids are UUIDs")
            super()._insert_stored_events(curs, stored_events, **kwargs)
        changes: KeyChanges | None = kwargs.get("key_changes")
        if not changes:
            return
        # Another cursor: the library reads the insert's status from ``curs`` afterwards.
        with curs.connection.cursor() as keys:
            now = datetime.now(UTC)
            if changes.created:
                keys.executemany(
                    self._insert_keys, [(cid, key, now) for cid, key in changes.created.items()]
                )
            for customer_id in changes.destroyed:
                keys.execute(self._delete_key, (customer_id,))
                if changes.drop_snapshots:
                    keys.execute(self._drop_snapshot, (customer_id,))


def _as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def secure_deletes(pool: SQLiteConnectionPool) -> None:
    """Every SQLite connection overwrites what it deletes (``PRAGMA secure_delete``), so a
    destroyed key or a blanked read-model value does not linger in free pages. Many builds
    default to it; this does not rely on that."""
    create = pool._create_connection

    def create_secure() -> Any:
        connection = create()
        raw: sqlite3.Connection = connection._sqlite_conn
        raw.execute("PRAGMA secure_delete = ON")
        return connection

    pool._create_connection = create_secure  # type: ignore[method-assign]


def sqlite_checkpoint(pool: SQLiteConnectionPool) -> bool:
    """Copy the write-ahead log into the database file and truncate it: pages superseded
    since the last checkpoint (say, a read-model row before its personal values were
    blanked) stay in the log until then. True when complete (no reader held old pages)."""
    connection = pool.get_connection(is_writer=True)
    try:
        raw: sqlite3.Connection = connection._sqlite_conn
        busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        pool.put_connection(connection)
    return int(busy) == 0
