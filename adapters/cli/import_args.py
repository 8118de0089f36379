"""The arguments of ``crm import``, apart from the importer so that ``crm --help`` stays
quick: building the parser must not load the application."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from adapters.imports.formats import COMMON_HELP, CUSTOMERS_HELP, ORDERS_HELP

DEFAULT_BATCH_SIZE = 500
# Below this many rows, starting an interpreter (about a second) costs more than it saves.
MIN_ROWS_FOR_WORKERS = 4_000
HELP = f"{CUSTOMERS_HELP}\n\n{ORDERS_HELP}\n\n{COMMON_HELP}"


def add_import_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "import",
        help="import customers or historical orders from a CSV file",
        description="Import customers or historical orders from a CSV file.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("what", choices=("customers", "orders"), help="what the file holds")
    parser.add_argument("file", type=Path, help="the CSV file")
    parser.add_argument("--db", default="sqlite:///crm.db", help="store URL (default: %(default)s)")
    parser.add_argument(
        "--dry-run", action="store_true", help="check every row and report; write nothing"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULT_BATCH_SIZE,
        help="commands per transaction (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        help="processes on PostgreSQL, this one included, each checking and writing a share "
        f"of the rows (default: for a file of {MIN_ROWS_FOR_WORKERS:,} rows or more, the "
        f"CPUs this process may use, at most {MAX_DEFAULT_WORKERS}: {default_workers()} here; "
        "else one; SQLite always uses one)",
    )
    parser.add_argument(
        "--batch-id",
        help="orders: the import_batch_id recorded on each order (default: import:<file name>;"
        " keep it when re-importing a renamed file)",
    )


# Each process holds a pool of connections: a default of every CPU of a large host would
# exceed PostgreSQL's default of 100 connections.
MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """The CPUs this process may use, at most ``MAX_DEFAULT_WORKERS``."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return min(cpus, MAX_DEFAULT_WORKERS)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
