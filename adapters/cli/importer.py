"""``crm import customers|orders FILE.csv``: check the whole file, then write it in batches.

The order of work is what makes a failed import harmless: read and check every row (its
format, then its business rules, by deciding every command against the store as it is,
``crm.check_batch``), report every problem with its line and column, and write only a file
that passed. Writing stores what the check decided, in batches, each ONE transaction
(``crm.write_checked``); a batch whose streams another writer changed since the check runs
again against the store as it is. Each row's command id comes from its key in the file
(``import:customer:<external_ref>``), so importing the same file again, or finishing an
import that was interrupted, records nothing twice.

On PostgreSQL a long file is split among processes (``--workers``, default the CPUs this
process may use): each checks a share of the rows, and writes it only once every share has
passed (``adapters/cli/import_workers.py``).
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from adapters.cli.import_args import MIN_ROWS_FOR_WORKERS, default_workers
from adapters.cli.import_share import ImportShare, ShareChecked, ShareWritten
from adapters.cli.import_workers import BUCKETS, Dealer, ShareJob, ShareWorkers, buckets
from adapters.collector import collector_paused
from adapters.imports.csv_file import CsvContent, RowError, read_csv
from adapters.imports.formats import CUSTOMERS, ORDERS
from adapters.store_url import parse_store_url
from application import CRM


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
    batch_id = args.batch_id or _batch_id(path)
    shares = _shares(args, content)
    with CRM.open(args.db) as crm:
        share = ImportShare(crm, args.what, batch_id)
        if shares == 1:
            return _check_then_write(args, content, share.check(content.rows), share, None, started)
        job = ShareJob(
            args.db, args.what, str(path.resolve()), content.digest, batch_id, args.batch_size
        )
        dealer = Dealer()
        # The children start now: they read the file and check buckets while this one does.
        with ShareWorkers([job] * (shares - 1), dealer) as workers:
            rows = buckets(content.rows, args.what)
            mine = ShareChecked([], 0, 0)
            while (bucket := dealer.next()) is not None:
                mine += share.check(rows[bucket])
            return _check_then_write(args, content, mine, share, workers, started)


def _shares(args: argparse.Namespace, content: CsvContent) -> int:
    """Processes for this import: several only on PostgreSQL (on SQLite a batch holds the
    only write lock); by default, only for a file long enough to repay starting them."""
    workers: int | None = getattr(args, "workers", None)
    if workers is None:
        workers = default_workers() if len(content.rows) >= MIN_ROWS_FOR_WORKERS else 1
    workers = min(workers, BUCKETS)  # a process more would find no bucket left
    return workers if workers > 1 and parse_store_url(args.db).kind == "postgres" else 1


def _check_then_write(
    args: argparse.Namespace,
    content: CsvContent,
    mine: ShareChecked,
    share: ImportShare,
    workers: ShareWorkers | None,
    started: float,
) -> int:
    """Write every share once all are checked and none has a problem."""
    source = args.file.name
    checks = [mine, *(workers.checked() if workers is not None else [])]
    errors = content.errors + [error for check in checks for error in check.errors]
    if errors:
        if workers is not None:
            workers.tell(write=False)
        return _reject(source, errors)
    total = sum(check.things for check in checks)
    fresh = sum(check.fresh for check in checks)
    things = _count(total, args.what[:-1])
    if args.dry_run:
        if workers is not None:
            workers.tell(write=False)
        print(
            f"{source}: {_count(len(content.rows), 'row')}, {things}, all valid; dry run: "
            f"{fresh} would be new, {total - fresh} already imported; nothing written"
        )
        return 0
    if workers is not None:
        workers.tell(write=True)
    progress = _progress(source, fresh, workers) if sys.stderr.isatty() else None
    written = share.write(args.batch_size, progress)
    results: list[ShareWritten | list[RowError]] = [written]
    if workers is not None:
        results += workers.results()
    if progress is not None:
        print(file=sys.stderr)
    refused = [error for result in results if isinstance(result, list) for error in result]
    if refused:
        return _reject(source, refused, partial=True)
    stored = [result for result in results if isinstance(result, ShareWritten)]
    new = sum(result.new for result in stored)
    events = sum(result.events for result in stored)
    batches = sum(result.batches for result in stored)
    processes = f", {len(results)} processes" if len(results) > 1 else ""
    print(
        f"{source}: imported {things}: {new} new, {total - new} already "
        f"imported ({_count(events, 'event')} in {_count(batches, 'transaction')}"
        f"{processes}, {time.perf_counter() - started:.1f}s)"
    )
    return 0


def _progress(source: str, fresh: int, workers: ShareWorkers | None) -> Callable[[int], None]:
    def show(done: int) -> None:
        done += workers.written if workers is not None else 0
        print(
            f"\r{source}: {min(done, fresh)}/{fresh} written", end="", file=sys.stderr, flush=True
        )

    return show


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


def _batch_id(path: Path) -> str:
    return "import:" + re.sub(r"[^A-Za-z0-9_.-]", "_", path.name)[:57]


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
