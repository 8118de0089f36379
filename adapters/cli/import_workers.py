"""``crm import`` on PostgreSQL, split among processes: each checks, then writes, a share.

An import is CPU-bound Python (validating rows, deciding commands, encoding events) and the
GIL keeps threads to one core. The rows of a file are shared out by their key
(``share_of``): every line of one order, every row of one ``external_ref`` goes to the same
share, and no share's decisions read what another's write (a customer's rows, or orders,
which only read their customer). This process works on share 0; each other share has a
fresh interpreter (``python -m adapters.cli.import_workers``, ``adapters/child_processes``)
that reads the file itself.

The order of work keeps a failed import harmless, as in one process: every share is
checked first and reports its problems; only when no share has any does this process tell
them all to write (``write``); otherwise ``stop``, and nothing is written. A child whose
parent goes away stops at once (its open batch rolls back).

The protocol is JSON lines. To a child: the job, then ``write`` or ``stop``. From a child:
``{"checked": ...}``, ``{"written": n}`` as batches are stored, then ``{"done": ...}``,
``{"refused": ...}`` (a batch failed while writing) or ``{"error": ...}``.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import traceback
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adapters.child_processes import end_children, start_child, stop_when_orphaned
from adapters.cli.import_share import ShareChecked, ShareWritten
from adapters.imports.csv_file import CsvRow, RowError

# The column that keys a row: rows with the same key stay in one share.
KEY_COLUMN = {"customers": "external_ref", "orders": "order_ref"}


class ImportWorkerFailed(RuntimeError):
    """A process importing a share of the file failed or died; its exit status or error."""


@dataclass(frozen=True)
class ShareJob:
    url: str = field(repr=False)  # may hold a password: never in a log or a traceback
    what: str
    file: str
    share: int
    shares: int
    batch_id: str
    batch_size: int


def share_of(key: str, shares: int) -> int:
    """Stable across processes and runs (``hash()`` of a str is not)."""
    return zlib.crc32(key.encode()) % shares


def rows_of_share(rows: Sequence[CsvRow], what: str, share: int, shares: int) -> list[CsvRow]:
    column = KEY_COLUMN[what]
    return [row for row in rows if share_of(row.cells.get(column, ""), shares) == share]


@dataclass
class _Child:
    process: Any
    checked: ShareChecked | None = None
    written: int = 0
    final: ShareWritten | list[RowError] | None = None
    error: str | None = None
    answered: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)


class ShareWorkers:
    """The children importing shares 1.. of a file, started at once: they read and check
    their share while this process checks its own."""

    def __init__(self, jobs: Sequence[ShareJob]) -> None:
        self._children: list[_Child] = []
        try:
            for job in jobs:
                child = _Child(start_child(__name__))
                self._children.append(child)
                self._send(child, json.dumps(asdict(job)))
                threading.Thread(
                    target=self._listen, args=(child,), name="crm-import-listen", daemon=True
                ).start()
        except BaseException:
            self.close()
            raise

    def checked(self) -> list[ShareChecked]:
        """Each child's check, once all have one; ``ImportWorkerFailed`` if one has none."""
        for child in self._children:
            child.answered.wait()
        failures = [_failure(c) for c in self._children if c.checked is None]
        if failures:
            raise ImportWorkerFailed("; ".join(failures))
        return [c.checked for c in self._children if c.checked is not None]

    def tell(self, *, write: bool) -> None:
        for child in self._children:
            self._send(child, "write" if write else "stop")

    @property
    def written(self) -> int:
        """Commands the children have stored so far."""
        return sum(child.written for child in self._children)

    def results(self) -> list[ShareWritten | list[RowError]]:
        """Each child's outcome once all have ended; ``ImportWorkerFailed`` if one has none."""
        for child in self._children:
            child.ended.wait()
            child.process.wait()
        failures = [_failure(c) for c in self._children if c.final is None]
        if failures:
            raise ImportWorkerFailed("; ".join(failures))
        return [c.final for c in self._children if c.final is not None]

    def close(self) -> None:
        end_children([child.process for child in self._children])

    def __enter__(self) -> ShareWorkers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _send(child: _Child, line: str) -> None:
        child.process.stdin.write(line.encode() + b"\n")
        child.process.stdin.flush()

    @staticmethod
    def _listen(child: _Child) -> None:
        try:
            for raw in child.process.stdout:
                try:
                    message = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if "checked" in message:
                    child.checked = _checked(message["checked"])
                    child.answered.set()
                elif "written" in message:
                    child.written = int(message["written"])
                elif "done" in message:
                    child.final = ShareWritten(**message["done"])
                elif "refused" in message:
                    child.final = _errors(message["refused"])
                elif "error" in message:
                    child.error = str(message["error"])
        except (OSError, ValueError):  # the pipe was closed under us: we are ending it
            pass
        finally:
            child.answered.set()
            child.ended.set()


def _failure(child: _Child) -> str:
    status = child.process.poll()
    return child.error or f"an import worker ended with exit status {status}"


def _checked(data: dict[str, Any]) -> ShareChecked:
    return ShareChecked(_errors(data["errors"]), int(data["things"]), int(data["fresh"]))


def _errors(data: list[list[Any]]) -> list[RowError]:
    return [RowError(int(line), str(column), str(reason)) for line, column, reason in data]


def _error_data(errors: list[RowError]) -> list[list[Any]]:
    return [[e.line, e.column, e.reason] for e in errors]


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
    """The child: read the job, check the share, wait for the word, write it."""
    from adapters.cli.import_share import ImportShare
    from adapters.imports.csv_file import read_csv
    from adapters.imports.formats import CUSTOMERS, ORDERS
    from adapters.logging_setup import configure_logging_as_parent
    from application import CRM

    configure_logging_as_parent()
    first = sys.stdin.buffer.readline()
    words: queue.Queue[str] = queue.Queue()
    stop_when_orphaned(lambda line: words.put(line.decode().strip()))
    try:
        job = ShareJob(**json.loads(first))
        content = read_csv(Path(job.file), CUSTOMERS if job.what == "customers" else ORDERS)
        rows = rows_of_share(content.rows, job.what, job.share, job.shares)
        with CRM.open(job.url) as crm:
            share = ImportShare(crm, job.what, rows, job.batch_id)
            checked = share.check()
            _say({"checked": {**asdict(checked), "errors": _error_data(checked.errors)}})
            if words.get() != "write":
                return 0
            written = share.write(job.batch_size, lambda done: _say({"written": done}))
    except Exception as error:  # reported to the parent, which fails the import
        traceback.print_exc(file=sys.stderr)
        _say({"error": f"{type(error).__name__}: {error}"})
        return 1
    if isinstance(written, list):
        _say({"refused": _error_data(written)})
    else:
        _say({"done": asdict(written)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
