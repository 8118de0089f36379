"""Group commit: commands that arrive together share one transaction.

On PostgreSQL the recorder locks the events table for every insert transaction; that lock
keeps notification ids gap-free for the projections, and it is also why concurrent writers
queue one behind another, each paying a whole transaction. With group commit
(``Settings(group_commit=True)``) the callers of ``CRM.execute`` hand their validated,
authorised command to a queue and wait. One of them at a time leads: it takes everything
queued (at most ``MAX_GROUP``), runs each command's handler against fresh state plus what
the commands before it in the group recorded, and stores the group's events with ONE
append. Each caller then gets its own result or its own error.

- A lone caller never waits for company: with nothing else queued its command runs at
  once, on the plain path.
- A command whose handler raises fails alone; the others are stored.
- If the append conflicts (another writer changed a stream the group writes), nothing was
  stored. The leader re-reads the versions of the streams the group writes; the commands
  that wrote a changed stream, and any later one that read or wrote what they wrote, go
  back to their own callers, who execute them alone with the plain path's retries. The
  rest are stored with the events already decided: their streams did not move.
- Idempotency is the plain path's own: a command id already recorded, or given twice in
  one group, is executed alone, which replays the first result (or refuses a different
  command under the same id).
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

import structlog

from adapters.event_store import AppendConflict, EventStore
from adapters.imports.streams import load_streams, moved_since, unmoved
from adapters.sql import dialect_of, read_transaction
from application import handlers as _handlers
from application.actor import Actor
from application.batch import CLAIM_SCOPES, looked_at
from application.command_log import CommandRecorded, command_stream_id
from application.commands.base import Command
from application.result import CommandResult
from application.settings import Settings
from application.snapshots import AggregateLoader
from application.unit_of_work import UnitOfWork
from domain.aggregates.base import Aggregate
from domain.context import CommandContext
from domain.errors import RuleViolation
from domain.events.base import DomainEvent
from domain.events.reservations import reservation_id

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]
ExecuteAlone = Callable[[Command, Actor], tuple[CommandResult, int]]
RecordFor = Callable[[str, Command, CommandContext, CommandResult], CommandRecorded]
AfterCommit = Callable[[UnitOfWork], None]

# Bounds one transaction's size and the wait of the last caller in a group.
MAX_GROUP = 64
# A thread that queued a command this recently counts as a caller a leader waits for, at
# most GATHER_WAIT_S (a fraction of one PostgreSQL insert transaction under load).
ACTIVE_WINDOW_S = 0.05
GATHER_WAIT_S = 0.002


@dataclass(eq=False)
class _Ticket:
    """One caller's command on its way through a group, and what became of it."""

    command: Command
    actor: Actor
    done: bool = False
    # Settled by its own caller on the plain path (a replay, a conflict, a failed group).
    alone: bool = False
    result: CommandResult | None = None
    error: Exception | None = None
    attempts: int = 0
    decided: CommandResult | None = None
    events: list[DomainEvent] = field(default_factory=list)
    uow: UnitOfWork | None = None
    reads: set[UUID] = field(default_factory=set)
    fresh_id: bool = False  # a key given here, so no earlier record can exist

    @property
    def writes(self) -> set[UUID]:
        return {event.aggregate_id for event in self.events}


class _GroupState:
    """The store as a group's commands see it: read once, fresh, plus what the commands
    before each one in the group recorded."""

    def __init__(
        self, store: EventStore, loader: AggregateLoader, streams: dict[UUID, list[DomainEvent]]
    ) -> None:
        self._store = store
        self._loader = loader
        self._streams = streams  # small streams read whole: command records, reservations
        self._aggregates: dict[UUID, Aggregate] = {}

    def stream(self, stream_id: UUID) -> list[DomainEvent]:
        if stream_id not in self._streams:
            self._streams[stream_id] = self._store.load(stream_id)
        return self._streams[stream_id]

    def aggregate(self, kind: type[A], aggregate_id: UUID) -> A | None:
        known = self._aggregates.get(aggregate_id)
        if known is None:
            known = self._loader.load(kind, aggregate_id)
            if known is None:
                return None
            self._aggregates[aggregate_id] = known
        if not isinstance(known, kind):
            return None
        # A copy: a handler that fails half-way must not leave its changes to the next one.
        clone = kind.__new__(type(known))
        state = {k: v for k, v in vars(known).items() if k != "_pending"}
        clone.__dict__.update(copy.deepcopy(state))
        clone._pending = []
        return clone

    def record(self, uow: UnitOfWork, events: Sequence[DomainEvent]) -> None:
        """What a command decided becomes the state the next command of the group sees."""
        for aggregate in uow.aggregates:
            self._aggregates[aggregate.id] = aggregate
        for event in events:
            if event.aggregate_id in self._streams or event.version == 1:
                self._streams.setdefault(event.aggregate_id, []).append(event)


class _CommandView:
    """One command's window on the group state; notes every stream the command read."""

    def __init__(self, state: _GroupState) -> None:
        self._state = state
        self.reads: set[UUID] = set()
        self.loader = _CommandLoader(self)

    def load(self, aggregate_id: UUID, *, to_version: int | None = None) -> list[DomainEvent]:
        self.reads.add(aggregate_id)
        events = self._state.stream(aggregate_id)
        if to_version is not None:
            return [event for event in events if event.version <= to_version]
        return list(events)

    def aggregate(self, kind: type[A], aggregate_id: UUID) -> A | None:
        self.reads.add(aggregate_id)
        return self._state.aggregate(kind, aggregate_id)


class _CommandLoader:
    """Stands in for the ``AggregateLoader`` a unit of work asks for aggregates."""

    def __init__(self, view: _CommandView) -> None:
        self._view = view

    def load(self, kind: type[A], aggregate_id: UUID, *, version: int | None = None) -> A | None:
        if version is not None:  # pragma: no cover - units of work load the latest state only
            raise ValueError("a group loads aggregates at their latest version only")
        return self._view.aggregate(kind, aggregate_id)


class GroupCommitter:
    def __init__(
        self,
        store: EventStore,
        settings: Settings,
        clock: Clock,
        loader: AggregateLoader,
        *,
        execute_alone: ExecuteAlone,
        record_for: RecordFor,
        after_commit: AfterCommit,
        max_group: int = MAX_GROUP,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._loader = loader
        self._execute_alone = execute_alone
        self._record_for = record_for
        self._after_commit = after_commit
        self._max_group = max_group
        self._cond = threading.Condition()
        self._queue: deque[_Ticket] = deque()
        self._leading = False
        # When each calling thread queued its last two commands: whom to wait for (_gather).
        self._callers: dict[int, tuple[float, float]] = {}
        self._log = structlog.get_logger("crm").bind(store=store.location.kind)

    @property
    def queued(self) -> int:
        """Commands waiting for a leader (tests use it to know a group has formed)."""
        with self._cond:
            return len(self._queue)

    def execute(self, command: Command, actor: Actor) -> tuple[CommandResult, int]:
        """Queue the command; lead a group when no one else is leading; return its own
        outcome: (result, attempts) or its own error."""
        ticket = _Ticket(command, actor)
        caller = threading.get_ident()
        with self._cond:
            self._queue.append(ticket)
            now = time.monotonic()
            self._callers[caller] = (now, self._callers.get(caller, (-math.inf, 0.0))[0])
            self._cond.notify_all()
        while True:
            with self._cond:
                while self._leading and not ticket.done:
                    self._cond.wait()
                if ticket.done:
                    break
                self._leading = True
                self._gather()
                size = min(len(self._queue), self._max_group)
                group = [self._queue.popleft() for _ in range(size)]
            self._lead(group)
        return self._outcome(ticket)

    def _gather(self) -> None:
        """Wait a moment for the callers that were active a moment ago, the way a database
        delays a commit while sibling transactions are running: after a group commits,
        its callers come straight back with their next command, and a group that leaves
        without them is a group half as big. Only a thread that queued twice within the
        window counts, so a lone caller never waits. Holds the lock."""
        now = time.monotonic()
        for caller, (last, _) in list(self._callers.items()):
            if now - last > ACTIVE_WINDOW_S:
                del self._callers[caller]
        repeating = sum(
            1 for last, before in self._callers.values() if last - before <= ACTIVE_WINDOW_S
        )
        expected = min(max(repeating, 1), self._max_group)
        deadline = now + GATHER_WAIT_S
        while len(self._queue) < expected:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def execute_together(
        self, commands: Sequence[Command], *, actor: Actor
    ) -> list[CommandResult | Exception]:
        """Run these commands as one group, in order, in this thread; each one's result or
        error. The concurrent path does the same with whatever callers queued together.
        The commands must be validated and authorised already, as ``CRM.execute`` does."""
        tickets = [_Ticket(command, actor) for command in commands]
        with self._cond:
            while self._leading:
                self._cond.wait()
            self._leading = True
        self._lead(tickets)
        outcomes: list[CommandResult | Exception] = []
        for ticket in tickets:
            try:
                outcomes.append(self._outcome(ticket)[0])
            except Exception as error:  # each command's own error, as execute would raise it
                outcomes.append(error)
        return outcomes

    def _outcome(self, ticket: _Ticket) -> tuple[CommandResult, int]:
        if ticket.alone or (ticket.result is None and ticket.error is None):
            # Sent back, or its group was cut short: the plain path settles it, under the
            # same key, so that a write that did commit is replayed, not repeated.
            result, attempts = self._execute_alone(ticket.command, ticket.actor)
            return result, ticket.attempts + attempts
        if ticket.error is not None:
            raise ticket.error
        return cast(CommandResult, ticket.result), ticket.attempts

    # ---- the leader's work -----------------------------------------------------------

    def _lead(self, group: list[_Ticket]) -> None:
        """Settle a group, holding the lead; returns with every ticket of the group done and
        the lead given up."""
        started = time.perf_counter()
        try:
            if len(group) == 1:  # nobody to wait for: the plain path, at once
                self._alone_now(group[0])
                return
            self._decide(group)
            appends = self._commit(group)
        except Exception as error:
            # Whatever it was (the database gone, say), each caller meets it on its own path.
            self._log.warning(
                "group_commit_failed", commands=len(group), error=type(error).__name__
            )
            for ticket in group:
                if ticket.result is None:
                    ticket.alone, ticket.error = True, None
            return
        finally:
            with self._cond:
                self._leading = False
                for ticket in group:
                    ticket.done = True
                self._cond.notify_all()
        self._log.info(
            "group_commit",
            commands=len(group),
            committed=sum(1 for t in group if t.result is not None),
            failed=sum(1 for t in group if t.error is not None),
            alone=sum(1 for t in group if t.alone),
            appends=appends,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def _alone_now(self, ticket: _Ticket) -> None:
        try:
            ticket.result, ticket.attempts = self._execute_alone(ticket.command, ticket.actor)
        except Exception as error:  # its caller raises it
            ticket.error = error

    def _decide(self, group: list[_Ticket]) -> None:
        """Each command, in order, against the group's fresh state: its events or its error."""
        for ticket in group:
            if ticket.command.command_id is None:
                # As on the plain path: every execution gets a key (see CRM._execute).
                ticket.command = ticket.command.model_copy(
                    update={"command_id": f"auto-{uuid4().hex}"}
                )
                ticket.fresh_id = True
        state = _GroupState(self._store, self._loader, self._prefetch(group))
        seen: set[str] = set()
        for ticket in group:
            command = ticket.command
            command_id = cast(str, command.command_id)
            handler = _handlers.HANDLERS.get(type(command))
            if (
                handler is None
                or command_id in seen
                or (not ticket.fresh_id and state.stream(command_stream_id(command_id)))
            ):
                # No handler, an id given twice, or an id already recorded: the plain path
                # refuses, or replays the first result, exactly as it always does.
                ticket.alone = True
                continue
            seen.add(command_id)
            view = _CommandView(state)
            try:
                self._handle(ticket, handler, view)
            except RuleViolation as violation:
                if violation.rule == "occurred_at_in_order" and ticket.command.occurred_at is None:
                    # The group's clock read raced another writer's commit: the plain path
                    # reads the clock again (see CRM._execute).
                    ticket.alone = True
                    continue
                ticket.error = violation
            except Exception as error:  # this command's own error; the group goes on
                ticket.error = error
            ticket.reads = view.reads
            if ticket.error is None:
                state.record(cast(UnitOfWork, ticket.uow), ticket.events)

    def _prefetch(self, group: Sequence[_Ticket]) -> dict[UUID, list[DomainEvent]]:
        """One bulk read of the small streams the group checks: the records of the command
        ids given by callers, and the unique values the commands claim."""
        wanted: set[UUID] = set()
        for ticket in group:
            command = ticket.command
            if not ticket.fresh_id:
                wanted.add(command_stream_id(cast(str, command.command_id)))
            scope = CLAIM_SCOPES.get(type(command))
            value = getattr(command, "external_ref", None)
            if scope is not None and value is not None:
                wanted.add(reservation_id(scope, value))
        if not wanted:
            return {}
        found = load_streams(self._store, wanted)
        return {stream_id: found.get(stream_id, []) for stream_id in wanted}

    def _handle(self, ticket: _Ticket, handler: Any, view: _CommandView) -> None:
        command, actor = ticket.command, ticket.actor
        command_id = cast(str, command.command_id)
        context = actor.context(
            now=self._clock(), command_id=command_id, occurred_at=command.occurred_at
        )
        uow = UnitOfWork(
            cast(EventStore, view),
            context,
            self._settings,
            loader=cast(AggregateLoader, view.loader),
        )
        aggregate = handler(uow, command, context)
        result = uow.result(aggregate, command_id)
        events = uow.all_events()
        events.append(self._record_for(command_id, command, context, result))
        ticket.decided, ticket.events, ticket.uow = result, events, uow
        ticket.attempts = 1  # one decision, however many appends it takes to store it

    def _commit(self, group: Sequence[_Ticket]) -> int:
        """ONE append for everything the group decided; after a conflict, again without the
        commands that caused it. Returns how many appends it took."""
        pending = [t for t in group if t.events and not t.alone]
        appends = 0
        while pending:
            if appends == self._settings.max_attempts:
                for ticket in pending:
                    ticket.alone = True
                return appends
            appends += 1
            events = [event for t in pending for event in t.events]
            # What the decisions read and do not write must not have moved either.
            read = looked_at(
                events,
                (cast(UnitOfWork, t.uow).versions_before for t in pending),
                continued=False,
            )
            try:
                self._store.append(events, before_insert=unmoved(self._store, read))
            except AppendConflict:
                self._send_back_conflicting(group, pending, read)
                pending = [t for t in pending if not t.alone]
                continue
            for ticket in pending:  # every result first: all of them are stored now
                ticket.result = ticket.decided
            for ticket in pending:
                self._after_commit(cast(UnitOfWork, ticket.uow))
            return appends
        return appends

    def _send_back_conflicting(
        self, group: Sequence[_Ticket], pending: Sequence[_Ticket], read: dict[UUID, int]
    ) -> None:
        """Which commands lost the race: those that wrote or read a stream another writer
        has moved since, and those that built on them. They go back to their callers; the
        others keep what they decided."""
        changed = self._moved({**self._written_from(pending), **read})
        if not changed:  # no stream moved, so the cause is unknown: everyone goes alone
            changed = {stream for t in pending for stream in t.writes}
        given_up: set[UUID] = set()
        for ticket in group:
            if ticket.alone or (ticket.error is None and ticket not in pending):
                continue
            writes = ticket.writes
            if (ticket.reads | writes) & (changed | given_up):
                ticket.alone, ticket.error = True, None
                given_up |= writes
        self._log.info(
            "group_commit_conflict",
            streams=len(changed),
            sent_back=sum(1 for t in pending if t.alone),
        )

    def _moved(self, expected: dict[UUID, int]) -> set[UUID]:
        """The streams the group wrote or read that no longer end where it found them (one
        query, however many)."""
        with read_transaction(self._store) as cursor:
            return moved_since(cursor, dialect_of(self._store), expected)

    @staticmethod
    def _written_from(pending: Sequence[_Ticket]) -> dict[UUID, int]:
        """Each stream the group writes, and the version it found it at."""
        found_at: dict[UUID, int] = {}
        for ticket in pending:
            for event in ticket.events:
                before = event.version - 1
                found_at[event.aggregate_id] = min(found_at.get(event.aggregate_id, before), before)
        return found_at
