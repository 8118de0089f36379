"""The latest snapshot of each long stream, in one table beside the events.

One row per aggregate, replaced when a newer snapshot is written (an older one can only
arrive late from a slow writer, and then it loses). Rows are disposable: deleting the
table only makes long streams load slower until the next snapshots are taken.

A customer's snapshot holds its personal values in clear, and an erasure deletes it in the
erasure's own transaction. A snapshot taken before the erasure but written after it, by
any process, would bring them back: writing one first makes sure the customer was not
erased since, in the same transaction (``_erased_since``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from adapters.event_store import EVENTS_TABLE, EventStore
from adapters.keys import KEYS_TABLE
from adapters.mapper import ERASURE_TOPIC
from adapters.sql import Dialect, dialect_of, execute, query, read_transaction, write_transaction

TABLE = "aggregate_snapshots"
CUSTOMER_KIND = "customer"
PG_COLUMNS = (
    "aggregate_id uuid PRIMARY KEY, kind text NOT NULL, version integer NOT NULL, "
    "fingerprint text NOT NULL, state text NOT NULL, taken_at text NOT NULL"
)
SQLITE_COLUMNS = (
    "aggregate_id TEXT PRIMARY KEY, kind TEXT NOT NULL, version INTEGER NOT NULL, "
    "fingerprint TEXT NOT NULL, state TEXT NOT NULL, taken_at TEXT NOT NULL"
)


@dataclass(frozen=True)
class StoredSnapshot:
    aggregate_id: UUID
    kind: str
    version: int
    fingerprint: str
    state: str


class SnapshotStore:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._dialect: Dialect = dialect_of(store)
        d = self._dialect
        columns = PG_COLUMNS if d.kind == "postgres" else SQLITE_COLUMNS
        with store.setup_lock(), write_transaction(store) as cursor:
            execute(cursor, d, f"CREATE TABLE IF NOT EXISTS {d.table(TABLE)} ({columns})")

    def get(self, aggregate_id: UUID) -> StoredSnapshot | None:
        d = self._dialect
        with read_transaction(self._store) as cursor:
            rows = query(
                cursor,
                d,
                f"SELECT kind, version, fingerprint, state FROM {d.table(TABLE)} "  # noqa: S608 # nosec B608 # quoted constant name
                f"WHERE aggregate_id = {d.param}",
                [self._id(aggregate_id)],
            )
        if not rows:
            return None
        row = rows[0]
        return StoredSnapshot(
            aggregate_id, row["kind"], int(row["version"]), row["fingerprint"], row["state"]
        )

    def put(
        self, aggregate_id: UUID, kind: str, version: int, fingerprint: str, state: str
    ) -> None:
        d = self._dialect
        with write_transaction(self._store) as cursor:
            if kind == CUSTOMER_KIND and self._erased_since(cursor, aggregate_id, version):
                return
            execute(
                cursor,
                d,
                f"INSERT INTO {d.table(TABLE)} "  # noqa: S608 # nosec B608 # quoted constant name
                "(aggregate_id, kind, version, fingerprint, state, taken_at) "
                f"VALUES ({', '.join(d.param for _ in range(6))}) "
                "ON CONFLICT (aggregate_id) DO UPDATE SET "
                "kind = excluded.kind, version = excluded.version, "
                "fingerprint = excluded.fingerprint, state = excluded.state, "
                f"taken_at = excluded.taken_at WHERE {d.table(TABLE)}.version < excluded.version",
                [
                    self._id(aggregate_id),
                    kind,
                    version,
                    fingerprint,
                    state,
                    datetime.now(UTC).isoformat(),
                ],
            )

    def _erased_since(self, cursor: object, customer_id: UUID, version: int) -> bool:
        """Whether the customer was erased after ``version``, the snapshot's (one taken after
        the erasure holds only blanked values, and is kept). A customer with a key: the
        key row is locked (PostgreSQL: FOR SHARE), so an erasure, which deletes it, waits
        for this transaction and then deletes the snapshot written here; one that deleted
        it first makes this wait, then finds no key. A customer without one: its stream's
        tail is read for the erasure. One committing meanwhile can be missed there, but
        such a customer has never had a personal value (its key comes with the first, in
        the same transaction), so its snapshot holds none. On SQLite the write transaction
        serialises the two."""
        d = self._dialect
        lock = " FOR SHARE" if d.kind == "postgres" else ""
        keyed = query(
            cursor,
            d,
            f"SELECT 1 AS one FROM {d.table(KEYS_TABLE)} WHERE customer_id = {d.param}{lock}",  # noqa: S608 # nosec B608 # quoted constant name
            [self._id(customer_id)],
        )
        if keyed:
            return False
        stream = customer_id if d.kind == "postgres" else customer_id.hex
        return bool(
            query(
                cursor,
                d,
                f"SELECT 1 AS one FROM {d.table(EVENTS_TABLE)} "  # noqa: S608 # nosec B608 # quoted constant name
                f"WHERE originator_id = {d.param} AND originator_version > {d.param} "
                f"AND topic = {d.param} LIMIT 1",
                [stream, version, ERASURE_TOPIC],
            )
        )

    def _id(self, aggregate_id: UUID) -> object:
        return aggregate_id if self._dialect.kind == "postgres" else str(aggregate_id)
