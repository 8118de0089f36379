"""``crm import customers|orders FILE.csv``: check the whole file, then write it in batches.

The order of work is what makes a failed import harmless: read and check every row (its
format, then its business rules, by deciding every command against the store as it is,
``crm.check_batch``), report every problem with its line and column, and write only a file
that passed. Writing stores what the check decided, in batches, each ONE transaction
(``crm.write_checked``); a batch whose streams another writer changed since the check runs
again against the store as it is. Each row's command id comes from its key in the file
(``import:customer:<external_ref>``), so importing the same file again, or finishing an
import that was interrupted, records nothing twice.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from adapters.cli.import_plans import Plan, command_errors, customer_plans, order_plans
from adapters.collector import collector_paused
from adapters.imports.csv_file import CsvRow, RowError, read_csv
from adapters.imports.formats import CUSTOMERS, ORDERS
from adapters.imports.streams import load_streams
from application import CRM, Actor, Role
from application.batch import BatchOutcome, CheckedCommand
from application.handlers.customer import EXTERNAL_REF_SCOPE
from domain.events.customer import CustomersMerged
from domain.events.reservations import UniqueValueClaimed, reservation_id

IMPORTER = Actor(id="crm-import", roles=frozenset({Role.ADMIN}))


# A chain of merges longer than this is not a data set anyone keeps.
MAX_MERGE_HOPS = 16


def run_import(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"crm: no such file: {path}", file=sys.stderr)
        return 1
    # An import holds a whole file's commands and events (adapters/collector.py).
    try:
        with collector_paused():
            return _import(args, path)
    finally:
        gc.collect()


def _import(args: argparse.Namespace, path: Path) -> int:
    source = path.name
    started = time.perf_counter()
    content = read_csv(path, CUSTOMERS if args.what == "customers" else ORDERS)
    if content.fatal:
        return _reject(source, content.errors)
    with CRM.open(args.db) as crm:
        if args.what == "customers":
            plans, errors = customer_plans(content.rows)
        else:
            customers = _customers_by_ref(crm, content.rows)
            plans, errors = order_plans(content.rows, customers, args.batch_id or _batch_id(path))
        errors += content.errors
        # The rows that are well-formed are checked against the rules even when others are
        # not, so that one run lists every problem of the file. The check keeps what each
        # command would store, so that writing does not run the commands again.
        checked = crm.check_batch([p.command for p in plans], actor=IMPORTER)
        errors += _failures(plans, [c.outcome for c in checked])
        if errors:
            return _reject(source, errors)
        # Rows imported before are not sent again: their records say they are done.
        fresh = [
            (plan, item)
            for plan, item in zip(plans, checked, strict=True)
            if item.outcome.result is not None and not item.outcome.result.replayed
        ]
        things = _count(len(plans), args.what[:-1])
        if args.dry_run:
            print(
                f"{source}: {_count(len(content.rows), 'row')}, {things}, all valid; dry run: "
                f"{len(fresh)} would be new, {len(plans) - len(fresh)} already imported; "
                "nothing written"
            )
            return 0
        written = _write(crm, fresh, args.batch_size, source)
        if isinstance(written, list):
            return _reject(source, written, partial=True)
    new, events, batches = written
    print(
        f"{source}: imported {things}: {new} new, {len(plans) - new} already "
        f"imported ({_count(events, 'event')} in {_count(batches, 'transaction')}, "
        f"{time.perf_counter() - started:.1f}s)"
    )
    return 0


def _write(
    crm: CRM, plans: Sequence[tuple[Plan, CheckedCommand]], batch_size: int, source: str
) -> tuple[int, int, int] | list[RowError]:
    """Batches of ``batch_size`` checked commands, one transaction each: (new, events,
    batches). A batch runs again only if the store changed where the check read it."""
    new = events = batches = 0
    show_progress = sys.stderr.isatty()
    starts = range(0, len(plans), batch_size)
    chunks = [plans[start : start + batch_size] for start in starts]
    written = crm.write_checked_batches(
        ([item for _, item in chunk] for chunk in chunks), actor=IMPORTER
    )
    # Closing the writer on the way out stores no batch whose predecessor was not seen.
    with contextlib.closing(written):
        for start, chunk, outcomes in zip(starts, chunks, written, strict=True):
            errors = _failures([plan for plan, _ in chunk], outcomes)
            if errors:
                # Only another writer changing the store since the check gets here; the
                # batches before are stored, and a re-run after fixing the rows completes
                # the import.
                return errors
            fresh = [o.result for o in outcomes if o.result is not None and not o.result.replayed]
            new += len(fresh)
            events += sum(len(result.events) for result in fresh)
            batches += 1
            if show_progress:
                done = f"{min(start + batch_size, len(plans))}/{len(plans)}"
                print(f"\r{source}: {done} written", end="", file=sys.stderr, flush=True)
    if show_progress:
        print(file=sys.stderr)
    return new, events, batches


def _failures(plans: Sequence[Plan], outcomes: Sequence[BatchOutcome]) -> list[RowError]:
    errors: list[RowError] = []
    for plan, outcome in zip(plans, outcomes, strict=True):
        if outcome.error is not None:
            errors.extend(command_errors(plan, outcome.error))
    return errors


def _reject(source: str, errors: list[RowError], *, partial: bool = False) -> int:
    errors = sorted(errors, key=lambda e: (e.line, e.column))
    for error in errors:
        print(error.render(source), file=sys.stderr)
    lines = len({e.line for e in errors})
    if partial:
        print(
            f"{source}: {_count(lines, 'line')} refused while writing (the store changed since the "
            "check); earlier batches are stored, re-run the import to finish it",
            file=sys.stderr,
        )
    else:
        print(
            f"{source}: {_count(len(errors), 'problem')} on {_count(lines, 'line')}; "
            "nothing was written",
            file=sys.stderr,
        )
    return 1


def _customers_by_ref(crm: CRM, rows: list[CsvRow]) -> dict[str, UUID]:
    """customer_ref -> customer id, from the external_ref reservations, in bulk."""
    refs = {row.cells["customer_ref"] for row in rows if "customer_ref" in row.cells}
    ids = {reservation_id(EXTERNAL_REF_SCOPE, ref): ref for ref in refs}
    found: dict[str, UUID] = {}
    for stream_id, events in load_streams(crm.store, ids).items():
        claim = events[0]
        if isinstance(claim, UniqueValueClaimed):
            found[ids[stream_id]] = claim.owner_id
    return _survivors(crm, found)


def _survivors(crm: CRM, found: dict[str, UUID]) -> dict[str, UUID]:
    """A ref whose customer was merged into another names the survivor: its orders are the
    survivor's now (the duplicate's stream is closed). Merges can chain: follow them."""
    resolved = dict(found)
    pending = set(resolved.values())
    for _ in range(MAX_MERGE_HOPS):
        moved: dict[UUID, UUID] = {}
        merges = load_streams(crm.store, pending, topics=(CustomersMerged.event_type(),))
        for stream_id, events in merges.items():
            for event in events:
                if isinstance(event, CustomersMerged) and event.duplicate_id == stream_id:
                    moved[stream_id] = event.survivor_id
        if not moved:
            break
        resolved = {ref: moved.get(owner, owner) for ref, owner in resolved.items()}
        pending = set(moved.values())
    return resolved


def _batch_id(path: Path) -> str:
    return "import:" + re.sub(r"[^A-Za-z0-9_.-]", "_", path.name)[:57]


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
