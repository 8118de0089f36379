"""Our projection runner: batches, exactly-once, gap-safe, on SQLite and PostgreSQL.

The stock ``eventsourcing`` runner needs ``subscribe()`` (absent on SQLite) and commits
one event per transaction. This one reads the library's notification log in batches and,
for each batch, writes the projection's rows *and* its tracking position in one
transaction: a crash anywhere leaves the whole batch or none of it.

Gap safety comes from the store: the library's recorders give notification ids in commit
order (PostgreSQL inserts under an EXCLUSIVE table lock; SQLite has one writer), so once
an id is visible every smaller id is committed or gone for good, and reading
``after position`` never skips an event that commits late.

Tracking is compare-and-set: a batch locks the projection's tracking row, checks that the
position is the one its events follow, and moves it. Two runners of one projection, or a
runner and a rebuild, therefore never apply an event twice.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog

from adapters.catch_up_workers import (
    MIN_LAG_FOR_WORKERS,
    CatchUpWorkerFailed,
    Job,
    catch_up_in_processes,
    split,
)
from adapters.collector import Collections, collector_paused
from adapters.event_store import EVENTS_TABLE, EventStore, as_uuid, connect
from adapters.events_at import events_at_reader
from adapters.keys import forget_everywhere
from adapters.mapper import ERASURE_TOPIC
from adapters.row_store import CursorRowStore
from adapters.sql import Dialect, dialect_of, execute, query, read_transaction, write_transaction
from domain.events.base import DomainEvent, event_class
from projections.base import Projection, RowStore, handled_topics, personal_values_read
from projections.schema import ColumnType, Table, col

TRACKING = Table(
    "projection_tracking",
    (
        col("projection", ColumnType.TEXT, nullable=False),
        col("position", ColumnType.INTEGER, nullable=False),
        col("version", ColumnType.INTEGER, nullable=False),
        col("updated_at", ColumnType.TIMESTAMP),
        col("last_error", ColumnType.TEXT),
        col("last_error_at", ColumnType.TIMESTAMP),
    ),
    primary_key=("projection",),
)
REBUILD_SUFFIX = "__rebuild"
RETIRED_SUFFIX = "__retired"


# Measured (bench/projections.py, 100,000 events on PostgreSQL): 2,000 catches up about
# 2.5x faster than 500; a live follower's batches are smaller anyway.
DEFAULT_BATCH_SIZE = 2000
# A runner far behind doubles its batches while they come back full, up to this on
# PostgreSQL (the same 100,000 events: 6,800/s at 2,000, 8,000 at 10,000, 10,300 at
# 20,000; 2026-12-01, in one process: 12,700/s at 20,000, 14,400 at 50,000 for +88 MB
# of peak memory): each customer is recomputed once per batch, however many of its events
# the batch holds. SQLite stays at ``batch_size``: a batch holds its only write lock, and
# commands wait for it.
MAX_CATCH_UP_BATCH = 50_000


class TrackingMoved(Exception):
    """Another runner (or a rebuild) moved this projection's position first."""


@dataclass(frozen=True)
class ProjectionStatus:
    projection: str
    version: int
    code_version: int
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    last_error: str | None
    last_error_at: datetime | None
    updated_at: datetime | None


_TURNS: weakref.WeakKeyDictionary[Projection, threading.RLock] = weakref.WeakKeyDictionary()
_TURNS_GUARD = threading.Lock()


def _turn_of(projection: Projection) -> threading.RLock:
    """The lock a projection object's batches take turns on, whichever runner runs it."""
    with _TURNS_GUARD:
        turn = _TURNS.get(projection)
        if turn is None:
            turn = _TURNS[projection] = threading.RLock()
        return turn


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ProjectionRunner:
    def __init__(
        self,
        store: EventStore,
        projections: Iterable[Projection],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_size: int | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        """``max_batch_size``: how far batches grow while they come back full (default
        ``MAX_CATCH_UP_BATCH`` on PostgreSQL, ``batch_size`` on SQLite)."""
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        if max_batch_size is None:
            postgres = store.location.kind == "postgres"
            max_batch_size = max(batch_size, MAX_CATCH_UP_BATCH) if postgres else batch_size
        self.max_batch_size = max(batch_size, max_batch_size)
        # Each thread's batches grow on their own: a request thread's short catch-up does
        # not shrink a long one's batches, nor it the other's.
        self._limits = threading.local()
        self._clock = clock
        self._dialect: Dialect = dialect_of(store)
        self._log = structlog.get_logger("crm.projections")
        self._skip_topics = frozenset(
            name for name in _registered_topics() if event_class(name).bookkeeping
        )
        self._handled = {p.name: handled_topics(p) for p in self.projections.values()}
        personal_values_read(self.projections.values())  # a misspelt value refused here
        # The same, as classes: a batch's events are sorted out by their type, not by a
        # call per event and projection.
        self._handled_classes = {
            name: None if topics is None else frozenset(event_class(t) for t in topics)
            for name, topics in self._handled.items()
        }
        # Topics this code has no class for (a newer crm-core wrote them) are decoded, so
        # that the batch fails as it should, instead of being skipped as unhandled.
        self._known_topics = frozenset(_registered_topics())
        self._workers_ok = True
        self._set_up()

    @property
    def _limit(self) -> int:
        """How many events this thread's next batch reads."""
        return int(getattr(self._limits, "value", self.batch_size))

    @_limit.setter
    def _limit(self, value: int) -> None:
        self._limits.value = value

    # ---- public -------------------------------------------------------------------

    def catch_up(self, name: str | None = None, *, workers: int = 1) -> dict[str, int]:
        """Apply everything recorded so far; returns each projection's new position.
        A projection whose code version differs from the recorded one is rebuilt first.

        ``workers`` > 1: on PostgreSQL, when far behind (``MIN_LAG_FOR_WORKERS``), the
        projections are first caught up in that many processes, this one included, a
        group each (``adapters.catch_up_workers``); this process then applies what was
        recorded meanwhile. On SQLite a batch holds the only write lock: one process it is."""
        selected = self._selected(name)
        for projection in selected:
            if self._tracking(projection.name)["version"] != projection.version:
                self.rebuild(projection.name)
        if workers > 1:
            self._catch_up_in_processes(selected, workers)
        self._catch_up_in_lockstep(selected)
        result = {}
        for projection in selected:
            with self._batch_transaction(projection) as (cursor, on_commit):
                tracking = self._lock_tracking(cursor, projection.name)
                self._tick(cursor, on_commit, projection, projection.name, tracking["position"])
            result[projection.name] = int(self._tracking(projection.name)["position"])
        self._workers_ok = True  # every projection caught up: processes may serve again
        return result

    def _catch_up_in_processes(self, selected: Sequence[Projection], workers: int) -> None:
        """After a group failed, this runner stays in one process until a catch-up ends
        well: a projection that keeps failing far behind would otherwise start processes
        at every retry of ``run_forever``."""
        if self._dialect.kind != "postgres" or len(selected) < 2 or not self._workers_ok:
            return
        lowest = min(int(self._tracking(p.name)["position"]) for p in selected)
        # Ids, not a count: gaps (rolled-back inserts) only make it look further behind.
        if self.store.max_position() - lowest < MIN_LAG_FOR_WORKERS:
            return
        # Far behind by construction: the processes read full batches from the first one
        # (each customer's lifecycle is recomputed once per batch it appears in).
        size = self.max_batch_size
        # This process takes the heaviest group: one interpreter fewer to start, and what
        # its projections learn while catching up stays for the batches that follow.
        groups = split(selected, workers)
        mine = max(groups, key=lambda group: sum(p.catch_up_weight for p in group))
        theirs = [group for group in groups if group is not mine]

        def catch_up_mine() -> None:
            self._limit = size
            try:
                self._catch_up_in_lockstep(mine)
            except Exception:
                self._workers_ok = False
                raise

        try:
            catch_up_in_processes(
                [Job(self.store.url, tuple(group), self._clock, size, size) for group in theirs],
                meanwhile=catch_up_mine,
                meanwhile_names=[p.name for p in mine],
            )
        except CatchUpWorkerFailed:
            self._workers_ok = False
            raise
        finally:
            self._forget_erased_after(lowest)

    def _catch_up_in_lockstep(self, selected: Sequence[Projection]) -> None:
        """The projections furthest behind share each batch (one read, one decode, one
        transaction); the others wait for them to arrive at their position."""

        def next_group() -> int:
            positions = {p.name: int(self._tracking(p.name)["position"]) for p in selected}
            lowest = min(positions.values())
            # 0 once nothing follows the lowest position: every projection is current
            return self._process_group([p for p in selected if positions[p.name] == lowest])

        self._drain(selected, next_group)

    def _forget_erased_after(self, position: int) -> None:
        """The workers read the erasures recorded after ``position``, not this process:
        the keys it may hold of those customers must go, as its own read would have made
        them (``PydanticEventMapper.decode``)."""
        d = self._dialect
        with read_transaction(self.store) as cursor:
            rows = query(
                cursor,
                d,
                f"SELECT originator_id FROM {d.table(EVENTS_TABLE)} "  # noqa: S608 # nosec B608 # checked identifiers
                f"WHERE notification_id > {d.param} AND topic = {d.param}",
                (position, ERASURE_TOPIC),
            )
        for row in rows:
            forget_everywhere(as_uuid(row["originator_id"]))

    def rebuild(self, name: str) -> int:
        """Blue/green: build fresh tables from position zero while the live ones keep
        serving, then swap them in one transaction. Returns the rebuilt position."""
        projection = self.projections[name]
        shadow = name + REBUILD_SUFFIX
        with write_transaction(self.store) as cursor:
            for table in projection.tables:
                execute(
                    cursor, self._dialect, self._dialect.drop_table(table.name + REBUILD_SUFFIX)
                )
                for statement in self._dialect.create_table(table, table.name + REBUILD_SUFFIX):
                    execute(cursor, self._dialect, statement)
            self._upsert_tracking(cursor, shadow, 0, projection.version)
        self._drain([projection], lambda: self._process_batch(projection, shadow, live=False))
        with self._batch_transaction(projection) as (cursor, on_commit):
            self._lock_tracking(cursor, name)
            # Whatever was recorded since the loop above, applied under the swap's lock.
            while self._apply_next_batch(cursor, on_commit, projection, shadow, live=False):
                pass
            position = self._read_tracking(cursor, shadow)["position"]
            self._tick(cursor, on_commit, projection, shadow, position)
            self._drop_views(cursor, projection)
            for table in projection.tables:
                d = self._dialect
                execute(cursor, d, d.drop_table(table.name + RETIRED_SUFFIX))
                execute(cursor, d, d.rename_table(table.name, table.name + RETIRED_SUFFIX))
                execute(cursor, d, d.rename_table(table.name + REBUILD_SUFFIX, table.name))
                execute(cursor, d, d.drop_table(table.name + RETIRED_SUFFIX))
                # Indexes keep the names they were made with: give them the live table's,
                # or the next start would add a second copy of each under those names.
                for index in table.indexes:
                    shadow_index = d.index_name(table.name + REBUILD_SUFFIX, index)
                    execute(cursor, d, d.drop_index(shadow_index))
                for statement in d.create_table(table, table.name):
                    execute(cursor, d, statement)
            self._create_views(cursor, projection)
            self._upsert_tracking(cursor, name, position, projection.version)
            execute(
                cursor,
                self._dialect,
                f"DELETE FROM {self._dialect.table(TRACKING.name)} "  # noqa: S608 # nosec B608 # checked identifiers
                f"WHERE projection = {self._dialect.param}",
                (shadow,),
            )
        self._log.info(
            "projection_rebuilt", projection=name, position=position, version=projection.version
        )
        return int(position)

    def status(self) -> list[ProjectionStatus]:
        head = self.store.max_position()
        now = self._clock()
        result = []
        for projection in self.projections.values():
            row = self._tracking(projection.name)
            position = int(row["position"])
            pending = self.store.read(after=position, limit=1)
            lag_seconds = 0.0
            if pending:
                oldest = self.store.decode(pending[0])
                lag_seconds = max(0.0, (now - oldest.recorded_at).total_seconds())
            result.append(
                ProjectionStatus(
                    projection=projection.name,
                    version=int(row["version"]),
                    code_version=projection.version,
                    position=position,
                    head=head,
                    lag_events=self._count_after(position),
                    lag_seconds=lag_seconds,
                    last_error=row["last_error"],
                    last_error_at=row["last_error_at"],
                    updated_at=row["updated_at"],
                )
            )
        return result

    def run_forever(
        self, *, should_stop: Callable[[], bool], poll_seconds: float = 0.5, workers: int = 1
    ) -> None:
        """Follow new events: LISTEN/NOTIFY on PostgreSQL, polling on SQLite. ``workers``:
        as for ``catch_up`` (processes only when far behind)."""
        waiter = _Waiter(self.store, poll_seconds)
        try:
            while not should_stop():
                try:
                    before = self.store.max_position()
                    self.catch_up(workers=workers)
                    idle = self.store.max_position() == before
                except Exception:  # logged and recorded; try again after a pause
                    self._log.exception("projection_batch_failed")
                    time.sleep(poll_seconds)
                    continue
                if idle:
                    waiter.wait()
        finally:
            waiter.close()

    # ---- batches ------------------------------------------------------------------

    def _process_group(self, group: Sequence[Projection]) -> int:
        """One batch for several projections at the same position, in one transaction.
        If any of them fails, each is retried alone, so that the healthy ones move on and
        the failing one records its error."""
        started = time.perf_counter()
        try:
            with self._batch_transaction(*group) as (cursor, on_commit):
                positions = {int(self._lock_tracking(cursor, p.name)["position"]) for p in group}
                if len(positions) != 1:
                    raise TrackingMoved("positions moved apart")
                (position,) = positions
                notifications = self._read_log(cursor, position)
                if notifications:
                    events = self._decode(notifications, group)
                    for projection in group:
                        self._apply(
                            cursor,
                            on_commit,
                            projection,
                            projection.name,
                            self._handled_by(projection, events),
                            (position, notifications[-1][0]),
                            live=True,
                        )
        except TrackingMoved:
            return 1
        except Exception:
            for projection in group:
                self._process_batch(projection, projection.name, live=True)
            return 1
        if notifications:
            self._log.info(
                "projection_batch",
                projections=[p.name for p in group],
                events=len(notifications),
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
        return len(notifications)

    def _process_batch(self, projection: Projection, tracking_name: str, *, live: bool) -> int:
        started = time.perf_counter()
        try:
            with self._batch_transaction(projection) as (cursor, on_commit):
                done = self._apply_next_batch(
                    cursor, on_commit, projection, tracking_name, live=live
                )
        except TrackingMoved:
            return 1  # someone else advanced it: re-read from the new position
        except Exception as error:
            self._record_error(tracking_name, error)
            self._limit = self.batch_size  # retried at the first size, not a grown one
            raise
        if done:
            self._log.info(
                "projection_batch",
                projection=tracking_name,
                events=done,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
        return done

    def _drop_views(self, cursor: Any, projection: Projection) -> None:
        if self._dialect.kind != "postgres":
            return
        for view in projection.views:
            execute(cursor, self._dialect, f"DROP VIEW IF EXISTS {self._dialect.table(view.name)}")

    def _create_views(self, cursor: Any, projection: Projection) -> None:
        """Views exist on PostgreSQL only; they are dropped and made again around a rebuild's
        swap, because a view follows the table it was made on, not the table's name."""
        if self._dialect.kind != "postgres":
            return
        schema = self._dialect.quote(self._dialect.schema)
        for view in projection.views:
            execute(
                cursor,
                self._dialect,
                f"CREATE VIEW {self._dialect.table(view.name)} AS {view.sql.format(schema=schema)}",
            )

    @contextlib.contextmanager
    def reading(self, name: str) -> Iterator[RowStore]:
        """A projection's live tables to read in a transaction of their own, between its
        batches (it takes its turn as a batch does), with the log's events decoded as its
        batches decode them: a query may use what the projection remembers, and what it
        reads back stays remembered as the projection's batches would have it."""
        projection = self.projections[name]
        with _turn_of(projection), read_transaction(self.store) as cursor:
            yield self._rows(cursor, projection, live=True)

    def _rows(self, cursor: Any, projection: Projection, *, live: bool) -> CursorRowStore:
        suffix = "" if live else REBUILD_SUFFIX
        return CursorRowStore(
            cursor,
            self._dialect,
            {t.name: t for t in projection.tables},
            {t.name: t.name + suffix for t in projection.tables},
            events_at_reader(self.store, cursor, self._dialect, projection.personal_values),
        )

    def _drain(self, projections: Sequence[Projection], step: Callable[[], int]) -> None:
        """Run ``step`` (one batch; returns its events) until it finds nothing left: the
        projections told the runner's clock first, the cyclic collector paused meanwhile."""
        now = self._clock()
        for projection in projections:
            projection.catch_up_begins(now)
        collections = Collections()
        with collector_paused():
            while applied := step():
                collections.applied(applied)

    @contextlib.contextmanager
    def _batch_transaction(
        self, *projections: Projection
    ) -> Iterator[tuple[Any, list[Callable[[], None]]]]:
        """A write transaction whose projections learn, once it has committed (and only
        then), which position their tables now hold: what a projection keeps in memory
        between batches is worth keeping only while nobody else has written them.

        Threads of this process take turns with each projection object (taken in one
        order, before any database lock, so they cannot deadlock): a live batch and a
        rebuild lock different tracking rows, and would otherwise fold events into one
        projection's memory at once."""
        with contextlib.ExitStack() as held:
            for lock in sorted({id(p): _turn_of(p) for p in projections}.items()):
                held.enter_context(lock[1])
            on_commit: list[Callable[[], None]] = []
            with write_transaction(self.store) as cursor:
                if self._dialect.kind == "postgres":
                    # Read models are rebuilt from the log, and a batch's rows and position
                    # commit together: a server crash may lose the last batches, never part
                    # of one, and the runner applies them again. So no waiting for the WAL's
                    # flush at each commit (PostgreSQL's asynchronous commit).
                    execute(cursor, self._dialect, "SET LOCAL synchronous_commit TO OFF")
                yield cursor, on_commit
            for committed in on_commit:
                committed()

    def _tick(
        self,
        cursor: Any,
        on_commit: list[Callable[[], None]],
        projection: Projection,
        tracking_name: str,
        position: int,
    ) -> None:
        token = projection.batch_begins(tracking_name, int(position))
        rows = self._rows(cursor, projection, live=tracking_name == projection.name)
        projection.tick(self._clock(), rows)
        rows.flush()
        on_commit.append(
            functools.partial(projection.batch_committed, token, tracking_name, int(position))
        )

    def _apply_next_batch(
        self,
        cursor: Any,
        on_commit: list[Callable[[], None]],
        projection: Projection,
        tracking_name: str,
        *,
        live: bool,
    ) -> int:
        position = int(self._lock_tracking(cursor, tracking_name)["position"])
        notifications = self._read_log(cursor, position)
        if not notifications:
            return 0
        events = self._decode(notifications, [projection])
        self._apply(
            cursor,
            on_commit,
            projection,
            tracking_name,
            self._handled_by(projection, events),
            (position, notifications[-1][0]),
            live=live,
        )
        return len(notifications)

    def _decode(
        self,
        notifications: Sequence[tuple[int, str, UUID, int, bytes]],
        projections: Sequence[Projection],
    ) -> list[DomainEvent]:
        """The events of the batch that one of ``projections`` handles, decoded. An erasure
        always is: decoding it is what makes this process forget the erased customer's key."""
        topics: set[str] = {ERASURE_TOPIC}
        for projection in projections:
            handled = self._handled[projection.name]
            if handled is None:
                wanted = [n for n in notifications if n[1] not in self._skip_topics]
                break
            topics |= handled
        else:
            known = self._known_topics
            wanted = [n for n in notifications if n[1] in topics or n[1] not in known]
        return self.store.decode_rows(
            [row[1:] for row in wanted], personal_values_read(projections)
        )

    def _handled_by(
        self, projection: Projection, events: Sequence[DomainEvent]
    ) -> Sequence[DomainEvent]:
        classes = self._handled_classes[projection.name]
        if classes is None:
            return events
        return [event for event in events if type(event) in classes]

    def _apply(
        self,
        cursor: Any,
        on_commit: list[Callable[[], None]],
        projection: Projection,
        tracking_name: str,
        events: Sequence[DomainEvent],
        positions: tuple[int, int],
        *,
        live: bool,
    ) -> None:
        """The projection's rows for these events and its new position, in ``cursor``'s
        transaction; ``positions``: the tracked one (locked) and the batch's last."""
        position, new_position = positions
        token = projection.batch_begins(tracking_name, position)
        rows = self._rows(cursor, projection, live=live)
        if events:
            projection.apply(events, rows)
            rows.flush()
        on_commit.append(
            functools.partial(projection.batch_committed, token, tracking_name, new_position)
        )
        d = self._dialect
        execute(
            cursor,
            d,
            f"UPDATE {d.table(TRACKING.name)} SET position = {d.param}, updated_at = {d.param}, "  # noqa: S608 # nosec B608 # checked identifiers
            f"last_error = NULL, last_error_at = NULL WHERE projection = {d.param}",
            (new_position, d.to_db(ColumnType.TIMESTAMP, self._clock()), tracking_name),
        )

    def _read_log(self, cursor: Any, position: int) -> list[tuple[int, str, UUID, int, bytes]]:
        """The next batch of the log, read in the batch's own transaction (on an in-memory
        SQLite store a second connection would wait for this one)."""
        d = self._dialect
        column = "notification_id" if d.kind == "postgres" else "rowid"
        rows = query(
            cursor,
            d,
            f"SELECT {column} AS id, topic, originator_id, originator_version, state "  # noqa: S608 # nosec B608 # checked identifiers
            f"FROM {d.table(EVENTS_TABLE)} WHERE {column} > {d.param} "
            f"ORDER BY {column} LIMIT {d.param}",
            (position, limit := self._limit),
        )
        # Full: far behind, so read more next time; otherwise back to the first size.
        self._limit = min(limit * 2, self.max_batch_size) if len(rows) == limit else self.batch_size
        return [
            (
                int(row["id"]),
                row["topic"],
                as_uuid(row["originator_id"]),
                int(row["originator_version"]),
                bytes(row["state"]),
            )
            for row in rows
        ]

    # ---- tracking -----------------------------------------------------------------

    def _set_up(self) -> None:
        with self.store.setup_lock(), write_transaction(self.store) as cursor:
            for statement in self._dialect.create_table(TRACKING, TRACKING.name):
                execute(cursor, self._dialect, statement)
            for projection in self.projections.values():
                for table in projection.tables:
                    for statement in self._dialect.create_table(table, table.name):
                        execute(cursor, self._dialect, statement)
                    self._drop_stray_rebuild_indexes(cursor, table)
                self._drop_views(cursor, projection)
                self._create_views(cursor, projection)
                d = self._dialect
                execute(
                    cursor,
                    d,
                    f"INSERT INTO {d.table(TRACKING.name)} (projection, position, version) "  # noqa: S608 # nosec B608 # checked identifiers
                    f"VALUES ({d.param}, 0, {d.param}) ON CONFLICT (projection) DO NOTHING",
                    (projection.name, projection.version),
                )

    def _drop_stray_rebuild_indexes(self, cursor: Any, table: Table) -> None:
        """Before indexes were renamed at the swap (stores rebuilt before that fix), a
        rebuilt table kept its shadow's index names and gained the live names at the next
        start: two copies of each index, both slowing every write. With no rebuild under
        way (no shadow table), an index under a shadow name is such a copy."""
        d = self._dialect
        shadow = table.name + REBUILD_SUFFIX
        if d.kind == "postgres":
            found = query(
                cursor, d, "SELECT to_regclass(%s) IS NOT NULL AS found", [d.table(shadow)]
            )
        else:
            found = query(
                cursor,
                d,
                "SELECT COUNT(*) > 0 AS found FROM sqlite_master WHERE type = 'table' AND name = ?",
                [shadow],
            )
        if found and found[0]["found"]:
            return
        for index in table.indexes:
            execute(cursor, d, d.drop_index(d.index_name(shadow, index)))

    def _lock_tracking(self, cursor: Any, name: str) -> dict[str, Any]:
        """Read the tracking row inside the write transaction, locked against other runners
        (SQLite: the transaction already holds the write lock; PostgreSQL: FOR UPDATE)."""
        lock = " FOR UPDATE" if self._dialect.kind == "postgres" else ""
        return self._read_tracking(cursor, name, lock)

    def _read_tracking(self, cursor: Any, name: str, suffix: str = "") -> dict[str, Any]:
        d = self._dialect
        rows = query(
            cursor,
            d,
            f"SELECT * FROM {d.table(TRACKING.name)} WHERE projection = {d.param}{suffix}",  # noqa: S608 # nosec B608 # checked identifiers
            (name,),
        )
        if not rows:
            raise TrackingMoved(f"no tracking row for {name}")
        return {c.name: d.from_db(c.type, rows[0][c.name]) for c in TRACKING.columns}

    def _tracking(self, name: str) -> dict[str, Any]:
        with read_transaction(self.store) as cursor:
            return self._read_tracking(cursor, name)

    def _upsert_tracking(self, cursor: Any, name: str, position: int, version: int) -> None:
        d = self._dialect
        execute(
            cursor,
            d,
            f"INSERT INTO {d.table(TRACKING.name)} (projection, position, version, updated_at) "  # noqa: S608 # nosec B608 # checked identifiers
            f"VALUES ({d.param}, {d.param}, {d.param}, {d.param}) "
            "ON CONFLICT (projection) DO UPDATE SET position = excluded.position, "
            "version = excluded.version, updated_at = excluded.updated_at, "
            "last_error = NULL, last_error_at = NULL",
            (name, position, version, d.to_db(ColumnType.TIMESTAMP, self._clock())),
        )

    def _record_error(self, name: str, error: Exception) -> None:
        d = self._dialect
        message = f"{type(error).__name__}: {error}"[:2000]
        with write_transaction(self.store) as cursor:
            execute(
                cursor,
                d,
                f"UPDATE {d.table(TRACKING.name)} SET last_error = {d.param}, "  # noqa: S608 # nosec B608 # checked identifiers
                f"last_error_at = {d.param} WHERE projection = {d.param}",
                (message, d.to_db(ColumnType.TIMESTAMP, self._clock()), name),
            )

    def _count_after(self, position: int) -> int:
        d = self._dialect
        column = "notification_id" if d.kind == "postgres" else "rowid"
        with read_transaction(self.store) as cursor:
            rows = query(
                cursor,
                d,
                f"SELECT COUNT(*) AS n FROM {d.table(EVENTS_TABLE)} WHERE {column} > {d.param}",  # noqa: S608 # nosec B608 # checked identifiers
                (position,),
            )
        return int(rows[0]["n"])

    def _selected(self, name: str | None) -> Sequence[Projection]:
        if name is None:
            return list(self.projections.values())
        if name not in self.projections:
            raise KeyError(f"unknown projection {name!r}; known: {', '.join(self.projections)}")
        return [self.projections[name]]


def _registered_topics() -> list[str]:
    from domain.events.base import EVENT_TYPES

    return list(EVENT_TYPES)


class _Waiter:
    """Blocks until new events may be there: NOTIFY on PostgreSQL, a pause on SQLite."""

    def __init__(self, store: EventStore, poll_seconds: float) -> None:
        self._poll_seconds = poll_seconds
        self._location = store.location
        self._connection: Any = None
        self._log = structlog.get_logger("crm.projections")
        if self._location.kind == "postgres":
            self._listen()

    def _listen(self) -> None:
        self._connection = connect(self._location)
        channel = EVENTS_TABLE.replace(".", "_")
        self._connection.execute(f'LISTEN "{channel}"')

    def wait(self) -> None:
        """A lost LISTEN connection (the server restarted) is not the end of the runner:
        it polls until it can listen again, and a catch-up after each wait finds anything
        committed meanwhile."""
        if self._location.kind != "postgres":
            time.sleep(self._poll_seconds)
            return
        import psycopg

        try:
            if self._connection is None:
                self._listen()
            for _ in self._connection.notifies(timeout=self._poll_seconds, stop_after=1):
                pass
        except psycopg.Error as error:
            self._log.warning("projection_listen_lost", error=type(error).__name__)
            self.close()
            time.sleep(self._poll_seconds)

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
