"""Many commands, one transaction: how bulk imports record thousands of aggregates quickly.

``CRM.execute`` pays one transaction, and several reads, per command. An import of 90,000
rows cannot afford that, so a batch does the same work in bulk:

1. every command is validated and authorised on its own (a bad one fails alone);
2. the streams the batch will read — earlier command records, unique-value reservations,
   the aggregates the commands name — are read in a few bulk queries;
3. each handler runs on its own unit of work against that fresh state, plus what the
   commands before it in the batch recorded, so a duplicate inside the batch is caught
   exactly as it would be across two transactions;
4. all the events, claims and command records go to the store in ONE ``append``.

If that append conflicts (another writer took a stream the batch wrote, or moved one its
decisions read: looked at in the append's own transaction, once no other writer can
insert), nothing of the batch was stored, and the batch runs again command by command
through ``execute``, whose idempotency and retries settle each one: nothing is lost and
nothing is written twice.

An import checks a whole file before it writes any of it, then writes it in batches. Rather
than run every command twice (once to check, once to write), ``check`` keeps what each
command would store — its events, claims and command record — and the streams its decision
read, at the versions it read them; ``write`` then stores a run of checked commands in ONE
append, whose transaction first confirms, once no other writer can insert, that none of
those streams has moved on since. If one has, or the append conflicts, nothing of that run
is stored and its commands run again through ``run``, against the store as it is now.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast
from uuid import UUID, uuid4

import structlog
from pydantic import ValidationError

from adapters.event_store import AppendConflict, EncodedAppend, EventStore, StreamsMoved
from adapters.imports.streams import load_streams, unmoved
from application import handlers as _handlers
from application.actor import Actor
from application.command_log import CommandRecorded, command_stream_id, fingerprint, same_command
from application.commands.base import Command
from application.commands.customer import RegisterCustomer
from application.commands.order import ImportOrder
from application.errors import PermissionDenied
from application.handlers.customer import EXTERNAL_REF_SCOPE
from application.handlers.order import ORDER_EXTERNAL_REF_SCOPE
from application.permissions import authorise
from application.result import CommandResult
from application.settings import Settings
from application.snapshots import Snapshotter
from application.unit_of_work import UnitOfWork
from domain.aggregates.base import Aggregate
from domain.context import CommandContext
from domain.errors import CRMError, RuleViolation
from domain.events.base import DomainEvent
from domain.events.reservations import reservation_id

BatchError = CRMError | ValidationError
Execute = Callable[..., CommandResult]
RecordFor = Callable[[str, Command, CommandContext, CommandResult, str], CommandRecorded]
Clock = Callable[[], datetime]

# The unique values a command claims, so that their reservations are read in bulk too.
# A command not listed here still works: its claim is checked by a read of its own.
CLAIM_SCOPES: dict[type[Command], str] = {
    RegisterCustomer: EXTERNAL_REF_SCOPE,
    ImportOrder: ORDER_EXTERNAL_REF_SCOPE,
}


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One command's fate in a batch: its result, or the typed error that stopped it alone."""

    result: CommandResult | None = None
    error: BatchError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class CheckedCommand:
    """A command checked against the store by ``BatchExecutor.check``: its outcome, what
    writing it stores (nothing when it failed or was recorded before), and the existing
    streams its decision read with the version each had then."""

    command: Command
    outcome: BatchOutcome
    events: tuple[DomainEvent, ...] = ()
    reads: Mapping[UUID, int] = field(default_factory=dict)
    # Aggregates this command moved across a snapshot interval: snapshotted once stored.
    due: tuple[Aggregate, ...] = ()


@dataclass(frozen=True, slots=True)
class _Write:
    checked: Sequence[CheckedCommand]
    encoded: EncodedAppend | None
    read: dict[UUID, int]
    events: int
    outcomes: list[BatchOutcome]  # as checked, with the events as stored


@dataclass(frozen=True, slots=True)
class _Decided:
    events: list[DomainEvent]
    reads: dict[UUID, int]
    due: tuple[Aggregate, ...] = ()


class BatchView:
    """The store as the batch's commands see it: bulk-read streams, plus what the commands
    before this one in the batch recorded. Streams it did not read come from the store."""

    def __init__(
        self,
        store: EventStore,
        streams: dict[UUID, list[DomainEvent]],
        read: set[UUID],
        *,
        personal_values: bool = True,
    ):
        self._store = store
        self._streams = streams
        self._read = read
        # False when the bulk read left personal values encrypted: what is decided from it
        # is right, but its aggregates must not be snapshotted (a snapshot is a full state).
        self.personal_values = personal_values

    def load(self, aggregate_id: UUID, *, to_version: int | None = None) -> list[DomainEvent]:
        if aggregate_id not in self._read:
            self._streams[aggregate_id] = self._store.load(aggregate_id)
            self._read.add(aggregate_id)
        events = self._streams.get(aggregate_id, [])
        if to_version is not None:
            return [event for event in events if event.version <= to_version]
        return list(events)

    def record(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            self._streams.setdefault(event.aggregate_id, []).append(event)
            self._read.add(event.aggregate_id)

    def __getattr__(self, name: str) -> Any:
        # Anything else a unit of work asks of its store is the store's to answer.
        return getattr(self._store, name)


@dataclass
class _Pending:
    index: int
    command: Command
    handler: Any


class BatchExecutor:
    def __init__(
        self,
        store: EventStore,
        settings: Settings,
        clock: Clock,
        *,
        execute: Execute,
        record_for: RecordFor,
        snapshots: Snapshotter | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._execute = execute
        self._record_for = record_for
        self._snapshots = snapshots
        self._log = structlog.get_logger("crm").bind(store=store.location.kind)

    def run(
        self, commands: Sequence[Command], *, actor: Actor, dry_run: bool = False
    ) -> list[BatchOutcome]:
        started = time.perf_counter()
        outcomes: list[BatchOutcome | None] = [None] * len(commands)
        pending: list[_Pending] = []
        for index, command in enumerate(commands):
            try:
                pending.append(self._prepare(index, command, actor))
            except (CRMError, ValidationError) as error:
                outcomes[index] = BatchOutcome(error=error)
        # A stream only read that moved meanwhile (a busy customer) is no reason to give
        # up the batch: it is decided again once, in bulk, against the store as it is.
        for attempt in (1, 2):
            decided = self._decide(pending, outcomes, actor, record=not dry_run)
            to_store = [event for index in sorted(decided) for event in decided[index].events]
            if not to_store or dry_run:
                break
            read = looked_at(to_store, (d.reads for d in decided.values()), continued=False)
            try:
                self._store.append(to_store, before_insert=unmoved(self._store, read))
            except AppendConflict as conflict:  # a stream written was taken, or one read moved
                moved = conflict.moved if isinstance(conflict, StreamsMoved) else 0
                again = bool(moved) and attempt == 1
                self._log.info(
                    "batch_conflict",
                    commands=len(pending),
                    moved_streams=moved,
                    then="decide_again" if again else "one_by_one",
                )
                if again:
                    continue
                self._one_by_one(pending, outcomes, actor)
            else:
                self._snapshot(d.due for d in decided.values())
            break
        settled = [cast(BatchOutcome, o) for o in outcomes]
        self._report(settled, len(to_store), started, dry_run=dry_run)
        return settled

    def check(
        self, commands: Sequence[Command], *, actor: Actor, validated: bool = False
    ) -> list[CheckedCommand]:
        """Every command's outcome, as ``run`` would decide it, and what storing it takes;
        nothing is stored (``write`` does that)."""
        started = time.perf_counter()
        outcomes: list[BatchOutcome | None] = [None] * len(commands)
        pending: list[_Pending] = []
        prepared: dict[int, Command] = {}
        for index, command in enumerate(commands):
            try:
                item = self._prepare(index, command, actor, validated=validated)
            except (CRMError, ValidationError) as error:
                outcomes[index] = BatchOutcome(error=error)
                continue
            pending.append(item)
            prepared[index] = item.command
        decided = self._decide(pending, outcomes, actor, record=True)
        settled = [cast(BatchOutcome, o) for o in outcomes]
        events = sum(len(d.events) for d in decided.values())
        self._report(settled, events, started, dry_run=True)
        empty = _Decided([], {})
        return [
            CheckedCommand(
                command=prepared.get(index, command),
                outcome=outcome,
                events=tuple(decided.get(index, empty).events),
                reads=decided.get(index, empty).reads,
                due=decided.get(index, empty).due,
            )
            for index, (command, outcome) in enumerate(zip(commands, settled, strict=True))
        ]

    def write(self, checked: Sequence[CheckedCommand], *, actor: Actor) -> list[BatchOutcome]:
        """Store what ``check`` decided for these commands in ONE append. If a stream their
        decisions read has moved on since, or another writer took a stream they write,
        nothing is stored and they run again through ``run``."""
        return self._finish_write(self._prepare_write(checked), actor)[0]

    def write_all(
        self, batches: Iterable[Sequence[CheckedCommand]], *, actor: Actor
    ) -> Generator[list[BatchOutcome], None, None]:
        """``write`` for each batch in turn, yielding its outcomes; the events of the next
        batch are encoded while the one before is being stored (in a thread of its own,
        which mostly waits for the database). A batch is stored only once the outcomes of
        the one before were taken: stop iterating and nothing more is written."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-batch-write") as writer:
            storing: Future[tuple[list[BatchOutcome], bool]] | None = None
            # Once a batch was decided again, what the check decided for the later ones
            # may rest on events that were never stored: they are decided again too.
            redecide = False
            # Keys the batch in flight creates: the next one encrypts with them rather than
            # minting a second key for the same customer (its append would then conflict).
            # Should the batch in flight not be stored, the next is decided again anyway.
            in_flight_keys: dict[UUID, bytes] = {}
            pending = iter(batches)
            while True:
                try:
                    # Taking the next batch may fail too (the caller's reader, say).
                    checked = next(pending, None)
                    if checked is None:
                        break
                    prepared = self._prepare_write(checked, in_flight_keys)
                except Exception:
                    # The batch in flight is stored all the same: say so before failing.
                    if storing is not None:
                        yield storing.result()[0]
                    raise
                if storing is not None:
                    outcomes, again = storing.result()
                    redecide = redecide or again
                    yield outcomes
                if redecide:
                    storing = writer.submit(self._run_again, prepared, actor)
                else:
                    storing = writer.submit(self._finish_write, prepared, actor)
                in_flight_keys = prepared.encoded.keys.created if prepared.encoded else {}
            if storing is not None:
                yield storing.result()[0]

    def _prepare_write(
        self, checked: Sequence[CheckedCommand], in_flight_keys: Mapping[UUID, bytes] | None = None
    ) -> _Write:
        """What a write stores, encoded, and the streams to look at first. Reads nothing
        that another write in flight could change (see ``EventStore.encode``)."""
        # ``recorded_at`` is when the store took an event (DESIGN §2), not when it was
        # checked, which for an import can be a minute earlier: stamped now, just before
        # encoding. Business time (``occurred_at``) stays what the decision used.
        # The rows are encoded with that stamp; only the events a caller gets back (each
        # command's business events) are copied with it.
        now = self._clock()
        to_store = [event for item in checked for event in item.events]
        outcomes = [_with_stored_events(item.outcome, now) for item in checked]
        read = looked_at(to_store, (item.reads for item in checked))
        encoded = (
            self._store.encode(to_store, in_flight_keys, recorded_at=now) if to_store else None
        )
        return _Write(checked, encoded, read, len(to_store), outcomes)

    def _run_again(self, prepared: _Write, actor: Actor) -> tuple[list[BatchOutcome], bool]:
        return self.run([item.command for item in prepared.checked], actor=actor), True

    def _finish_write(self, prepared: _Write, actor: Actor) -> tuple[list[BatchOutcome], bool]:
        """The batch's outcomes, and whether it was decided again rather than stored as
        checked."""
        started = time.perf_counter()
        checked = prepared.checked
        if prepared.encoded is None:
            return prepared.outcomes, False
        moved = 0
        try:
            self._store.append_encoded(
                prepared.encoded, before_insert=unmoved(self._store, prepared.read)
            )
        except StreamsMoved as stale:
            moved = stale.moved
        except AppendConflict:
            moved = -1
        if moved:
            self._log.info("batch_stale", commands=len(checked), moved_streams=max(moved, 0))
            return self._run_again(prepared, actor)
        self._snapshot(item.due for item in checked)
        self._report(prepared.outcomes, prepared.events, started, dry_run=False)
        return prepared.outcomes, False

    def _decide(
        self,
        pending: Sequence[_Pending],
        outcomes: list[BatchOutcome | None],
        actor: Actor,
        *,
        record: bool,
    ) -> dict[int, _Decided]:
        """Each command's outcome, in order, against the bulk-read state; by index, the
        events each new command stores and the existing streams it read."""
        view = self._prefetch(pending)
        decided: dict[int, _Decided] = {}
        replays: dict[int, CommandRecorded] = {}
        first_of: dict[str, tuple[str, int, str]] = {}
        again: list[tuple[int, int]] = []
        for item in pending:
            command_id = cast(str, item.command.command_id)
            stamp = fingerprint(item.command)
            if command_id in first_of:
                # The same id twice in one batch: the second is the first one again.
                first_stamp, first_index, first_type = first_of[command_id]
                if first_stamp == stamp:
                    again.append((item.index, first_index))
                else:
                    outcomes[item.index] = BatchOutcome(error=_reused_id(command_id, first_type))
                continue
            first_of[command_id] = (stamp, item.index, item.command.type_name())
            earlier = view.load(command_stream_id(command_id))
            if earlier:
                try:
                    replays[item.index] = _check_record(item.command, command_id, stamp, earlier[0])
                except RuleViolation as error:
                    outcomes[item.index] = BatchOutcome(error=error)
                continue
            try:
                result, events, reads, due = self._handle(item, actor, view, stamp, record=record)
            except (CRMError, ValidationError) as error:
                outcomes[item.index] = BatchOutcome(error=error)
                continue
            view.record(events)
            decided[item.index] = _Decided(events, reads, due)
            outcomes[item.index] = BatchOutcome(result=result)

        for index, replay in self._replayed(replays).items():
            outcomes[index] = BatchOutcome(result=replay)
        for index, first_index in again:
            first = cast(BatchOutcome, outcomes[first_index])
            outcomes[index] = (
                BatchOutcome(result=replace(first.result, replayed=True))
                if first.result is not None
                else first
            )
        return decided

    def _report(
        self, outcomes: Sequence[BatchOutcome], events: int, started: float, *, dry_run: bool
    ) -> None:
        """One log event per refused command (rule and field, never the payload), one per
        batch."""
        for index, outcome in enumerate(outcomes):
            if outcome.error is not None:
                self._log.info(
                    "batch_command",
                    index=index,
                    outcome=type(outcome.error).__name__,
                    rule=getattr(outcome.error, "rule", None),
                    field=getattr(outcome.error, "field", None),
                )
        results = [o.result for o in outcomes if o.result is not None]
        self._log.info(
            "batch",
            outcome="checked" if dry_run else "applied",
            commands=len(outcomes),
            new=sum(1 for r in results if not r.replayed),
            replayed=sum(1 for r in results if r.replayed),
            failed=len(outcomes) - len(results),
            events=events,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def _prepare(
        self, index: int, command: Command, actor: Actor, *, validated: bool = False
    ) -> _Pending:
        if not validated:
            # Re-validate, as execute does: model_construct() makes a command unvalidated.
            command = type(command).model_validate(command.model_dump(exclude_unset=True))
        authorise(actor, command)
        handler = _handlers.HANDLERS.get(type(command))
        if handler is None:
            raise PermissionDenied(actor.id, command.type_name(), "no handler for this command")
        if command.command_id is None:
            command = command.model_copy(update={"command_id": f"auto-{uuid4().hex}"})
        return _Pending(index, command, handler)

    def _prefetch(self, pending: Sequence[_Pending]) -> BatchView:
        """One bulk read of every stream the batch is known to need."""
        wanted: set[UUID] = set()
        for item in pending:
            command = item.command
            wanted.add(command_stream_id(cast(str, command.command_id)))
            scope = CLAIM_SCOPES.get(type(command))
            value = getattr(command, "external_ref", None)
            if scope is not None and value is not None:
                wanted.add(reservation_id(scope, value))
            wanted.update(v for v in command.__dict__.values() if isinstance(v, UUID))
        # No personal value is decrypted for a batch none of whose commands looks at one.
        reads: frozenset[str] | None = (
            None if any(i.command.reads_personal_values for i in pending) else frozenset()
        )
        streams = load_streams(self._store, wanted, reads=reads)
        return BatchView(self._store, streams, wanted, personal_values=reads is None)

    def _handle(
        self, item: _Pending, actor: Actor, view: BatchView, stamp: str, *, record: bool
    ) -> tuple[CommandResult, list[DomainEvent], dict[UUID, int], tuple[Aggregate, ...]]:
        command = item.command
        command_id = cast(str, command.command_id)
        context = actor.context(
            now=self._clock(), command_id=command_id, occurred_at=command.occurred_at
        )
        uow = UnitOfWork(cast(EventStore, view), context, self._settings)
        aggregate = item.handler(uow, command, context)
        result = uow.result(aggregate, command_id)
        events = uow.all_events()
        if record:  # a dry run stores nothing, so it needs no idempotency record
            events.append(self._record_for(command_id, command, context, result, stamp))
        reads = {stream_id: v for stream_id, v in uow.versions_before.items() if v > 0}
        return result, events, reads, self._due(uow, view)

    def _due(self, uow: UnitOfWork, view: BatchView) -> tuple[Aggregate, ...]:
        """The aggregates this command moved across a snapshot interval, as ``execute``
        snapshots them. Each command decides on aggregates of its own (loaded from the
        batch's view), so a later command of the batch does not change these."""
        if self._snapshots is None or not view.personal_values:
            return ()
        due = self._snapshots.due
        before = uow.versions_before
        return tuple(a for a in uow.aggregates if due(before.get(a.id, 0), a.version))

    def _snapshot(self, due: Iterable[Sequence[Aggregate]]) -> None:
        """After the append: a snapshot never holds an event the store lacks. (One of a
        customer erased after it was taken is dropped by the snapshot store.)"""
        if self._snapshots is None:
            return
        for aggregates in due:
            for aggregate in aggregates:
                self._snapshots.take(aggregate)

    def _replayed(self, replays: dict[int, CommandRecorded]) -> dict[int, CommandResult]:
        """The first results of commands recorded before, their events read in bulk."""
        if not replays:
            return {}
        streams = load_streams(
            self._store, {ref.aggregate_id for r in replays.values() for ref in r.events}
        )
        by_key = {(e.aggregate_id, e.version): e for events in streams.values() for e in events}
        return {
            index: CommandResult(
                aggregate_id=record.result_aggregate_id,
                version=record.result_version,
                events=tuple(by_key[(ref.aggregate_id, ref.version)] for ref in record.events),
                command_id=record.command_id,
                replayed=True,
            )
            for index, record in replays.items()
        }

    def _one_by_one(
        self, pending: Sequence[_Pending], outcomes: list[BatchOutcome | None], actor: Actor
    ) -> None:
        """After a conflict nothing of the batch is stored: settle each command alone."""
        for item in pending:
            try:
                outcomes[item.index] = BatchOutcome(result=self._execute(item.command, actor=actor))
            except (CRMError, ValidationError) as error:
                outcomes[item.index] = BatchOutcome(error=error)


def looked_at(
    to_store: Sequence[DomainEvent],
    reads: Iterable[Mapping[UUID, int]],
    *,
    continued: bool = True,
) -> dict[UUID, int]:
    """The streams to look at in the append of these events, with the version each must
    still have (``adapters.imports.streams.unmoved``): those the decisions read and do not
    write, and (``continued``) those they continue. Decisions that loaded what they
    continue just now need no look at it: their first new version is taken if anyone
    wrote it since. Decisions checked earlier and written later (``write``) do."""
    # A stream written needs no look for its own sake: its first new version is taken if
    # anyone else has written to it since, and the append then conflicts.
    first_written: dict[UUID, int] = {}
    for event in to_store:
        first = first_written.get(event.aggregate_id)
        if first is None or event.version < first:
            first_written[event.aggregate_id] = event.version
    read: dict[UUID, int] = {}
    for versions in reads:
        for stream_id, version in versions.items():
            if stream_id not in first_written:
                read[stream_id] = version
    if not continued:
        return read
    # A stream continued must end where the decisions found it: an earlier batch they
    # built on may have been refused or decided again (its next version would then be
    # free, and the events would hang on nothing). A stream started needs no look: its
    # version 1 is taken if anyone wrote it since.
    for stream_id, first in first_written.items():
        if first > 1:
            read[stream_id] = first - 1
    return read


def _check_record(
    command: Command, command_id: str, stamp: str, record: DomainEvent
) -> CommandRecorded:
    if not isinstance(record, CommandRecorded):
        raise TypeError(f"stream of command {command_id!r} holds {record!r}")
    if not same_command(record, command, stamp):
        raise _reused_id(command_id, record.command_type)
    return record


def _reused_id(command_id: str, command_type: str) -> RuleViolation:
    return RuleViolation(
        "command_id_unique",
        f"command id {command_id!r} was already used for a different {command_type} command",
        field="command_id",
    )


def _with_stored_events(outcome: BatchOutcome, recorded_at: datetime) -> BatchOutcome:
    """The outcome with its result's events as they are stored, stamped ``recorded_at`` (a
    replay's are the first execution's, stored long ago)."""
    result = outcome.result
    if result is None or result.replayed:
        return outcome
    events = tuple(event.restamped(recorded_at) for event in result.events)
    return BatchOutcome(result=replace(result, events=events))
