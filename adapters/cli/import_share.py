"""Some rows of an import file, checked against the store and then written.

An import is done in one process, or split among several on PostgreSQL
(``adapters/cli/import_workers.py``). Either way each process holds a share of the file's
rows and does the same two steps with it: ``check`` (every row's format and business
rules, by deciding its command against the store as it is; nothing written) and, once
every share has passed, ``write`` (what the checks decided, in batches, each one
transaction). Rows are shared out by their key — all the lines of an order, all the rows
of one ``external_ref`` — so what one row's check depends on is in the same share.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import cast
from uuid import UUID

from adapters.cli.import_plans import Plan, command_errors, customer_plans, order_plans
from adapters.imports.csv_file import CsvRow, RowError
from adapters.imports.streams import load_streams
from application import CRM, Actor, Role
from application.batch import BatchOutcome, CheckedCommand
from application.commands.order import ImportOrder
from application.handlers.customer import EXTERNAL_REF_SCOPE
from domain.events.customer import CustomersMerged
from domain.events.reservations import UniqueValueClaimed, reservation_id

IMPORTER = Actor(id="crm-import", roles=frozenset({Role.ADMIN}))

# A chain of merges longer than this is not a data set anyone keeps.
MAX_MERGE_HOPS = 16
# An order refused for these may be one of a customer merged since the claim was made.
MERGE_SENSITIVE_RULES = frozenset({"customer_merged", "command_id_unique"})


@dataclass(frozen=True, slots=True)
class ShareChecked:
    """What checking rows found: their problems, how many customers or orders they make,
    and how many of those are new (the others were imported before)."""

    errors: list[RowError]
    things: int
    fresh: int

    def __add__(self, other: ShareChecked) -> ShareChecked:
        return ShareChecked(
            self.errors + other.errors, self.things + other.things, self.fresh + other.fresh
        )


@dataclass(frozen=True, slots=True)
class ShareWritten:
    """What writing a share stored: new customers or orders, their events, transactions."""

    new: int
    events: int
    batches: int


class ImportShare:
    """The rows one process checks (in one go, or a bucket at a time) and then writes."""

    def __init__(self, crm: CRM, what: str, batch_id: str) -> None:
        self._crm = crm
        self._what = what
        self._batch_id = batch_id
        self._fresh: list[tuple[Plan, CheckedCommand]] = []

    def check(self, rows: list[CsvRow]) -> ShareChecked:
        """Every problem of these rows; the rows that are well-formed are checked against
        the rules even when others are not, so that one run lists every problem of the
        file. The check keeps what each new command would store, for ``write``: it does
        not run them again. Rows that belong together (one order's lines, one ref's rows)
        must come in the same call."""
        if self._what == "customers":
            plans, errors = customer_plans(rows)
        else:
            customers = _customers_by_ref(self._crm, rows)
            plans, errors = order_plans(rows, customers, self._batch_id)
        # Every command was made by model_validate (import_plans): not validated twice.
        checked = self._crm.check_batch([p.command for p in plans], actor=IMPORTER, validated=True)
        if self._what == "orders":
            plans, checked = self._merged_since(plans, checked)
        errors += _failures(plans, [c.outcome for c in checked])
        # Rows imported before are not sent again: their records say they are done.
        fresh = [
            (plan, item)
            for plan, item in zip(plans, checked, strict=True)
            if item.outcome.result is not None and not item.outcome.result.replayed
        ]
        self._fresh += fresh
        return ShareChecked(errors, len(plans), len(fresh))

    def _merged_since(
        self, plans: list[Plan], checked: list[CheckedCommand]
    ) -> tuple[list[Plan], list[CheckedCommand]]:
        """Orders are first decided for the customer their ``customer_ref`` claims, so that
        a file imported before that customer was merged into another is the same commands
        again (nothing new, nothing "imported before with other values"). Those refused
        for a merged customer (new orders), or found recorded for another customer (an
        order imported after a merge), are decided again one merge further on, until one
        passes or the chain ends: a chain A -> B -> C may have recorded an order for B."""
        plans, checked = list(plans), list(checked)
        again = [i for i, item in enumerate(checked) if _merge_sensitive(item)]
        at = {i: cast(ImportOrder, plans[i].command).customer_id for i in again}
        for _ in range(MAX_MERGE_HOPS):
            onward = _merged_into(self._crm, {at[i] for i in again})
            again = [i for i in again if at[i] in onward]
            if not again:
                break
            for i in again:
                at[i] = onward[at[i]]
                command = plans[i].command.model_copy(update={"customer_id": at[i]})
                plans[i] = replace(plans[i], command=command)
            decided = self._crm.check_batch(
                [plans[i].command for i in again], actor=IMPORTER, validated=True
            )
            for i, item in zip(again, decided, strict=True):
                checked[i] = item
            again = [i for i in again if _merge_sensitive(checked[i])]
        return plans, checked

    def write(
        self, batch_size: int, progress: Callable[[int], None] | None = None
    ) -> ShareWritten | list[RowError]:
        """What the check kept, ``batch_size`` commands a transaction; ``progress`` hears
        how many commands are stored so far. A batch runs again only if the store changed
        where the check read it; the problems of one that then fails are returned (the
        batches before it are stored: a re-run of the import completes it)."""
        plans = self._fresh
        new = events = batches = done = 0
        chunks = [plans[start : start + batch_size] for start in range(0, len(plans), batch_size)]
        written = self._crm.write_checked_batches(
            ([item for _, item in chunk] for chunk in chunks), actor=IMPORTER
        )
        # Closing the writer on the way out stores no batch whose predecessor was not seen.
        with contextlib.closing(written):
            for chunk, outcomes in zip(chunks, written, strict=True):
                errors = _failures([plan for plan, _ in chunk], outcomes)
                if errors:
                    return errors
                fresh = [
                    o.result for o in outcomes if o.result is not None and not o.result.replayed
                ]
                new += len(fresh)
                events += sum(len(result.events) for result in fresh)
                batches += 1
                done += len(chunk)
                if progress is not None:
                    progress(done)
        return ShareWritten(new, events, batches)


def _failures(plans: Sequence[Plan], outcomes: Sequence[BatchOutcome]) -> list[RowError]:
    errors: list[RowError] = []
    for plan, outcome in zip(plans, outcomes, strict=True):
        if outcome.error is not None:
            errors.extend(command_errors(plan, outcome.error))
    return errors


def _customers_by_ref(crm: CRM, rows: list[CsvRow]) -> dict[str, UUID]:
    """customer_ref -> the customer its claim names, from the external_ref reservations,
    in bulk (a customer merged since is followed by ``ImportShare._merged_since``)."""
    refs = {row.cells["customer_ref"] for row in rows if "customer_ref" in row.cells}
    ids = {reservation_id(EXTERNAL_REF_SCOPE, ref): ref for ref in refs}
    found: dict[str, UUID] = {}
    # Claims and merges hold no personal value this looks at: none is decrypted.
    for stream_id, events in load_streams(crm.store, ids, reads=frozenset()).items():
        claim = events[0]
        if isinstance(claim, UniqueValueClaimed):
            found[ids[stream_id]] = claim.owner_id
    return found


def _merge_sensitive(item: CheckedCommand) -> bool:
    return getattr(item.outcome.error, "rule", None) in MERGE_SENSITIVE_RULES


def _merged_into(crm: CRM, customers: set[UUID]) -> dict[UUID, UUID]:
    """The customer each of these was merged into, for those merged (one merge on)."""
    found: dict[UUID, UUID] = {}
    merges = load_streams(
        crm.store, customers, topics=(CustomersMerged.event_type(),), reads=frozenset()
    )
    for stream_id, events in merges.items():
        for event in events:
            if isinstance(event, CustomersMerged) and event.duplicate_id == stream_id:
                found[stream_id] = event.survivor_id
    return found
