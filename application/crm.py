"""The one object a host embeds: open a store by URL, execute commands, read aggregates."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, TypeVar
from uuid import UUID, uuid4

import structlog

from adapters.event_store import AppendConflict, EventStore
from adapters.imports.streams import unmoved
from adapters.snapshot_store import SnapshotStore
from application import handlers as _handlers
from application.actor import Actor
from application.audit import Audit
from application.batch import BatchExecutor, BatchOutcome, CheckedCommand, looked_at
from application.command_log import (
    CommandRecorded,
    EventRef,
    command_stream_id,
    fingerprint,
    same_command,
    shape_of,
)
from application.commands.base import Command
from application.commands.customer import EraseCustomerPersonalData
from application.errors import ConcurrencyConflict, NotFound, PermissionDenied
from application.group_commit import GroupCommitter
from application.permissions import authorise
from application.read_models import CustomerLifecycle, ReadModels
from application.result import CommandResult
from application.settings import Settings
from application.snapshots import AggregateLoader, Snapshotter
from application.unit_of_work import UnitOfWork
from domain.aggregates.base import Aggregate
from domain.aggregates.complaint import Complaint
from domain.context import CommandContext
from domain.errors import CRMError, RuleViolation
from domain.events.base import DomainEvent
from domain.events.customer import CustomerPersonalDataErased
from domain.sla import SlaStatus, sla_status
from domain.time import ensure_utc

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class CRM:
    """An embedded CRM over one event store. Holds no global state: several may coexist."""

    def __init__(
        self,
        store: EventStore,
        *,
        clock: Clock = utc_now,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or Settings()
        self._clock = clock
        self.read_models = ReadModels(store, clock)
        self.audit = Audit(store)
        self._log = structlog.get_logger("crm").bind(store=store.location.kind)
        interval = self.settings.snapshot_interval
        snapshot_store = SnapshotStore(store) if interval else None
        self.snapshots = Snapshotter(snapshot_store, interval) if snapshot_store else None
        self._loader = AggregateLoader(store, snapshot_store)
        self.group = (
            GroupCommitter(
                store,
                self.settings,
                clock,
                self._loader,
                execute_alone=self._execute,
                record_for=self._command_record,
                after_commit=self._snapshot_if_due,
            )
            if self.settings.group_commit
            else None
        )

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock = utc_now,
        settings: Settings | None = None,
        max_attempts: int | None = None,
        pool_size: int = 5,
    ) -> Self:
        """``memory://``, ``sqlite:///path/crm.db`` or ``postgresql://user@host:port/db?schema=s``."""
        settings = settings or Settings()
        if max_attempts is not None:
            settings = settings.model_copy(update={"max_attempts": max_attempts})
        return cls(EventStore(url, pool_size=pool_size), clock=clock, settings=settings)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self.snapshots is not None:
            self.snapshots.close()
        self.store.close()

    # ---- commands -----------------------------------------------------------------

    def execute(self, command: Command, *, actor: Actor) -> CommandResult:
        """Validate, authorise, apply the rules, record the events atomically.

        Raises pydantic ``ValidationError``, ``PermissionDenied``, ``NotFound``,
        ``RuleViolation`` or ``ConcurrencyConflict``; whichever it raises, nothing was
        recorded.
        """
        result = self._execute_logged(command, actor)
        if isinstance(command, EraseCustomerPersonalData) and not result.replayed:
            self._complete_erasure()
        return result

    def _execute_logged(self, command: Command, actor: Actor) -> CommandResult:
        """``execute`` but for completing an erasure: a batch settling its commands one by
        one completes its erasures once, afterwards."""
        started = time.perf_counter()
        log = self._log.bind(command=type(command).__name__, actor_id=actor.id)
        try:
            # Re-validate: a model built with model_construct() skips validation.
            command = type(command).model_validate(command.model_dump(exclude_unset=True))
            authorise(actor, command)
            if self.group is not None:
                result, attempts = self.group.execute(command, actor)
            else:
                result, attempts = self._execute(command, actor)
        except CRMError as error:
            log.info(
                "command",
                outcome=_outcome(error),
                rule=getattr(error, "rule", None),
                field=getattr(error, "field", None),
                duration_ms=_ms(started),
            )
            raise
        log.info(
            "command",
            outcome="replayed" if result.replayed else "applied",
            aggregate_id=str(result.aggregate_id),
            version=result.version,
            events=len(result.events),
            attempts=attempts,
            duration_ms=_ms(started),
        )
        return result

    def _complete_erasures(self, outcomes: Sequence[BatchOutcome]) -> None:
        """A batch that erased someone (an erasure among the events it stored) completes
        it as ``execute`` does, once."""
        if any(
            outcome.result is not None
            and not outcome.result.replayed
            and any(
                isinstance(event, CustomerPersonalDataErased) for event in outcome.result.events
            )
            for outcome in outcomes
        ):
            self._complete_erasure()

    def _complete_erasure(self) -> None:
        """The erasure is recorded and the key gone; now the read models blank the values
        they hold, and SQLite's write-ahead log drops the pages that held them, so that no
        table or database file keeps them in clear text. Best effort: the erasure stands if
        this fails, and the next catch-up blanks them."""
        try:
            self.read_models.catch_up()
            complete = self.store.checkpoint()
        except Exception as error:  # the command succeeded: report, go on
            self._log.warning("erasure_cleanup_deferred", error=type(error).__name__)
            return
        self._log.info("erasure_cleanup", checkpoint_complete=complete)

    def _execute(self, command: Command, actor: Actor) -> tuple[CommandResult, int]:
        handler = _handlers.HANDLERS.get(type(command))
        if handler is None:
            raise PermissionDenied(actor.id, command.type_name(), "no handler for this command")
        if command.command_id is None:
            # Every execution gets a key, so that a write whose commit succeeded but whose
            # acknowledgement was lost (the driver retries, the retry collides) is
            # recognised as done and not applied a second time.
            command = command.model_copy(update={"command_id": f"auto-{uuid4().hex}"})
        else:
            earlier = self._earlier_result(command)
            if earlier is not None:
                return earlier, 0
        assert command.command_id is not None  # noqa: S101 # nosec B101 # narrowing for mypy, never false here
        touched: list[UUID] = []
        for attempt in range(1, self.settings.max_attempts + 1):
            context = actor.context(
                now=self._clock(), command_id=command.command_id, occurred_at=command.occurred_at
            )
            uow = UnitOfWork(self.store, context, self.settings, loader=self._loader)
            try:
                aggregate = handler(uow, command, context)
            except RuleViolation as violation:
                if _clock_raced(violation, command, attempt, self.settings.max_attempts):
                    continue
                raise
            result = uow.result(aggregate, command.command_id)
            to_store = uow.all_events()
            to_store.append(self._command_record(command.command_id, command, context, result))
            # What the decision read and does not write (an order's customer) must not have
            # moved either: a merge committed meanwhile would otherwise go unseen.
            read = looked_at(to_store, [uow.versions_before], continued=False)
            try:
                self.store.append(to_store, before_insert=unmoved(self.store, read))
            except AppendConflict:
                touched = uow.touched_ids
                earlier = self._earlier_result(command)
                if earlier is not None:
                    return earlier, attempt
                uow.recheck_claims()
                time.sleep(random.uniform(0, 0.002 * attempt))  # noqa: S311 # nosec B311 # retry jitter, not crypto
                continue
            self._snapshot_if_due(uow)
            return result, attempt
        raise ConcurrencyConflict(command.type_name(), touched, self.settings.max_attempts)

    def _snapshot_if_due(self, uow: UnitOfWork) -> None:
        """After the commit, not before: a snapshot never holds an event the store lacks.
        The writing happens on a background thread, off this command's path."""
        if self.snapshots is None:
            return
        for aggregate in uow.aggregates:
            if self.snapshots.due(uow.versions_before.get(aggregate.id, 0), aggregate.version):
                self.snapshots.take(aggregate)

    def execute_batch(
        self, commands: Sequence[Command], *, actor: Actor, dry_run: bool = False
    ) -> list[BatchOutcome]:
        """Many commands in one transaction, for bulk work such as imports.

        Returns one outcome per command, in order: its result, or the typed error that
        stopped it alone (the others are still recorded). ``dry_run`` checks everything
        and records nothing. See ``application/batch.py``.
        """
        outcomes = self._batch().run(commands, actor=actor, dry_run=dry_run)
        if not dry_run:
            self._complete_erasures(outcomes)
        return outcomes

    def check_batch(
        self, commands: Sequence[Command], *, actor: Actor, validated: bool = False
    ) -> list[CheckedCommand]:
        """Decide many commands as ``execute_batch`` would, recording nothing, and keep what
        each would store: ``write_checked`` stores it without running the commands again
        (an import checks its whole file, then writes it in batches). ``validated``: the
        caller made every command with ``model_validate`` just now (the importer does), so
        they are not validated a second time; otherwise each is, as ``execute`` does, since
        ``model_construct`` makes a command without validation."""
        return self._batch().check(commands, actor=actor, validated=validated)

    def write_checked(
        self, checked: Sequence[CheckedCommand], *, actor: Actor
    ) -> list[BatchOutcome]:
        """Store checked commands in one transaction; if the store has changed since the
        check where their decisions read it, they run again as by ``execute_batch``."""
        outcomes = self._batch().write(checked, actor=actor)
        self._complete_erasures(outcomes)
        return outcomes

    def write_checked_batches(
        self, batches: Iterable[Sequence[CheckedCommand]], *, actor: Actor
    ) -> Generator[list[BatchOutcome], None, None]:
        """``write_checked`` for each batch in turn, yielding its outcomes, the next batch
        encoded while the one before is stored. A batch is stored only after the outcomes
        of the one before were taken: stop (or close the iterator) and nothing more is."""
        for outcomes in self._batch().write_all(batches, actor=actor):
            self._complete_erasures(outcomes)
            yield outcomes

    def _batch(self) -> BatchExecutor:
        return BatchExecutor(
            self.store,
            self.settings,
            self._clock,
            execute=self._execute_logged,
            record_for=self._command_record,
            snapshots=self.snapshots,
        )

    @staticmethod
    def _command_record(
        command_id: str,
        command: Command,
        context: CommandContext,
        result: CommandResult,
        stamp: str | None = None,
    ) -> CommandRecorded:
        """``stamp``: the command's fingerprint, when the caller has computed it already."""
        personal = command.carries_personal_values()
        return CommandRecorded(
            aggregate_id=command_stream_id(command_id),
            version=1,
            recorded_at=context.now,
            occurred_at=context.now,
            actor_id=context.actor_id,
            command_id=command_id,
            command_type=command.type_name(),
            fingerprint=stamp if stamp is not None else fingerprint(command),
            subject_id=result.aggregate_id if personal else None,
            shape=shape_of(command) if personal else None,
            result_aggregate_id=result.aggregate_id,
            result_version=result.version,
            events=tuple(
                EventRef(aggregate_id=e.aggregate_id, version=e.version) for e in result.events
            ),
        )

    def _earlier_result(self, command: Command) -> CommandResult | None:
        if command.command_id is None:
            return None
        stored = self.store.load(command_stream_id(command.command_id))
        if not stored:
            return None
        record = stored[0]
        if not isinstance(record, CommandRecorded):
            raise TypeError(f"stream of command {command.command_id!r} holds {record!r}")
        if not same_command(record, command, fingerprint(command)):
            raise RuleViolation(
                "command_id_unique",
                f"command id {command.command_id!r} was already used for a different "
                f"{record.command_type} command",
                field="command_id",
            )
        events = tuple(self._load_event(ref) for ref in record.events)
        return CommandResult(
            aggregate_id=record.result_aggregate_id,
            version=record.result_version,
            events=events,
            command_id=command.command_id,
            replayed=True,
        )

    def _load_event(self, ref: EventRef) -> DomainEvent:
        (event,) = self.store.load(ref.aggregate_id, to_version=ref.version)[-1:]
        return event

    # ---- reading ------------------------------------------------------------------

    def load(self, kind: type[A], aggregate_id: UUID, *, version: int | None = None) -> A:
        """An aggregate rebuilt from its events (up to ``version`` if given), starting from
        its latest snapshot when one is usable."""
        aggregate = self._loader.load(kind, aggregate_id, version=version)
        if aggregate is None:
            raise NotFound(kind.kind, aggregate_id)
        return aggregate

    def events(self, aggregate_id: UUID) -> list[DomainEvent]:
        return self.store.load(aggregate_id)

    def lifecycle(self, customer_id: UUID, *, as_of: datetime | None = None) -> CustomerLifecycle:
        """Lifecycle stage and history of a customer, now or as of ``as_of`` (DESIGN §3)."""
        return self.read_models.lifecycle(customer_id, as_of=as_of)

    def complaint_sla(self, complaint_id: UUID, *, at: datetime | None = None) -> SlaStatus:
        """A complaint's SLA clock as it stood at ``at`` (default: now), from its events alone."""
        events = self.store.load(complaint_id)
        moment = self._clock() if at is None else ensure_utc(at)
        if not events or not isinstance(events[0], Complaint.starts_with):
            raise NotFound(Complaint.kind, complaint_id)
        # Not filed yet at that instant: there was no such complaint then (as the
        # lifecycle of a customer not yet registered is not found).
        if events[0].occurred_at > moment:
            raise NotFound(Complaint.kind, complaint_id, field="at")
        return sla_status(events, moment)


def _clock_raced(violation: RuleViolation, command: Command, attempt: int, attempts: int) -> bool:
    """A command that sets no business time takes "now" before loading its aggregate; if
    another writer committed a later event in between, the aggregate refuses the earlier
    time. That is a race, not the caller's mistake: read the clock again and retry."""
    return (
        violation.rule == "occurred_at_in_order"
        and command.occurred_at is None
        and attempt < attempts
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _outcome(error: CRMError) -> str:
    return {
        RuleViolation: "rejected",
        NotFound: "not_found",
        PermissionDenied: "denied",
        ConcurrencyConflict: "conflict",
    }.get(type(error), "failed")
