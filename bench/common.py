"""What every benchmark does the same way: reach the local PostgreSQL, describe the machine
the figures came from, stop cleanly when terminated, and refuse to report a figure whose
sanity check failed."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import signal
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg
import structlog

POSTGRES: dict[str, Any] = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
STORES = ("sqlite", "postgres")


def parse_stores(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """``--stores``: a comma-separated subset of sqlite and postgres, in the order given."""
    kinds = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = sorted(set(kinds) - set(STORES))
    if not kinds or unknown:
        parser.error(
            f"--stores takes sqlite and/or postgres, not {', '.join(unknown) or 'nothing'}"
        )
    return kinds


def pg_connect() -> psycopg.Connection[Any]:
    return psycopg.connect(**POSTGRES, autocommit=True, connect_timeout=5)


def check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"benchmark sanity check failed: {what}")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def start(kinds: Iterable[str]) -> int | None:
    """Before a run: a SIGTERM still drops the run's schemas and files (SystemExit runs the
    ``finally`` blocks), crm-core's per-command and per-batch log events cost (almost)
    nothing, and PostgreSQL answers. Returns an exit code when it does not."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    if "postgres" in kinds:
        try:
            pg_connect().close()
        except psycopg.OperationalError as error:
            print(
                f"PostgreSQL at {POSTGRES['host']}:{POSTGRES['port']} unreachable: {error}",
                file=sys.stderr,
            )
            return 2
    return None


def machine_info(kinds: Iterable[str] = STORES) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "sqlite": sqlite3.sqlite_version,
        "eventsourcing": version("eventsourcing"),
        "pydantic": version("pydantic"),
        "psycopg": version("psycopg"),
    }
    if "postgres" in kinds:
        with pg_connect() as connection:
            info["postgres"] = connection.info.parameter_status("server_version")
    return info


def write_results(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """An aligned table: the first ``left`` columns flush left (names), the rest right
    (figures), a rule under the header."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


@dataclass(frozen=True)
class FixedClock:
    """A clock that always reads ``at``. A class in an importable module, not a function
    of a benchmark run as ``__main__``: a catch-up's worker processes are handed it."""

    at: datetime

    def __call__(self) -> datetime:
        return self.at
