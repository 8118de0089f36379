"""``crm import`` on PostgreSQL, split among processes: each checks, then writes, a share.

An import is CPU-bound Python (validating rows, deciding commands, encoding events) and the
GIL keeps threads to one core. The rows of a file are put in ``BUCKETS`` buckets
(``buckets``): every row of one ``external_ref``, every line of one customer's orders in
the same bucket, and no bucket's decisions read what another's write (a customer's rows,
or orders, which only read their customer). Each process — this one, and fresh interpreters
(``python -m adapters.cli.import_workers``, ``adapters/child_processes``) that read the
file themselves — checks one bucket after another, each taking the next one left
(``Dealer``), so that a child starting a second late or a process the machine slows down
simply checks fewer; its share is the buckets it checked.

The order of work keeps a failed import harmless, as in one process: every bucket is
checked first and each process reports its problems; only when none has any does this
process tell them all to write their shares (``write``); otherwise ``stop``, and nothing
is written. A child whose parent goes away stops at once (its open batch rolls back).

The protocol is JSON lines. To a child: the job, then ``bucket N`` for each bucket it asks
for (``{"next": true}``) until ``done``, then ``write`` or ``stop``. From a child:
``{"next": true}``, ``{"checked": ...}``, ``{"written": n}`` as batches are stored, then
``{"done": ...}``, ``{"refused": ...}`` (a batch failed while writing) or ``{"error": ...}``.
"""

from __future__ import annotations

import gc
import json
import queue
import signal
import subprocess  # nosec B404 # for its TimeoutExpired; children start in child_processes
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

# Enough that the last bucket is a small part of the work, few enough that each is a
# batch of its own worth checking (a bulk read of its streams).
BUCKETS = 64


class ImportWorkerFailed(RuntimeError):
    """A process importing a share of the file failed or died; its exit status or error."""


@dataclass(frozen=True)
class ShareJob:
    url: str = field(repr=False)  # may hold a password: never in a log or a traceback
    what: str
    file: str
    digest: str  # of the bytes this process checked: a worker must read the same
    batch_id: str
    batch_size: int


def bucket_of(key: str) -> int:
    """Stable across processes and runs (``hash()`` of a str is not)."""
    return zlib.crc32(key.encode()) % BUCKETS


def buckets(rows: Sequence[CsvRow], what: str) -> list[list[CsvRow]]:
    """The rows of each bucket, in file order. A customer's rows go by its
    ``external_ref``; an order's lines by the customer of its first line, so that one
    customer's orders are in one bucket and the customer is read and decoded once."""
    found: list[list[CsvRow]] = [[] for _ in range(BUCKETS)]
    if what == "customers":
        for row in rows:
            found[bucket_of(row.cells.get("external_ref", ""))].append(row)
        return found
    customer_of: dict[str, str] = {}
    for row in rows:
        order = row.cells.get("order_ref", "")
        if order not in customer_of:  # its first line: the one import_plans reads it from
            customer_of[order] = row.cells.get("customer_ref", "")
        found[bucket_of(customer_of[order])].append(row)
    return found


class Dealer:
    """Hands out the buckets, each once, to whichever process asks first."""

    def __init__(self) -> None:
        self._left = iter(range(BUCKETS))
        self._lock = threading.Lock()

    def next(self) -> int | None:
        with self._lock:
            return next(self._left, None)


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
    """The children importing a file beside this process, started at once: they read it
    and check the buckets the dealer gives them while this process checks its own."""

    def __init__(self, jobs: Sequence[ShareJob], dealer: Dealer) -> None:
        self._children: list[_Child] = []
        self._dealer = dealer
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
            raise ImportWorkerFailed("; ".join(failures) + " (while checking: nothing was written)")
        return [c.checked for c in self._children if c.checked is not None]

    def tell(self, *, write: bool) -> None:
        """``write`` or ``stop`` to every child. Before ``write``, every child must still
        be there: a child gone since its check fails the import with nothing written (the
        others are told to stop). A child gone by the time it is told to write fails it
        too, before this process writes its own share (``ImportWorkerFailed``)."""
        gone = [child for child in self._children if child.process.poll() is not None]
        if write and gone:
            self.tell(write=False)
            raise ImportWorkerFailed(
                "; ".join(_failure(child) for child in gone)
                + " after its check (nothing was written)"
            )
        for child in self._children:
            try:
                self._send(child, "write" if write else "stop")
            except OSError as broken:  # the child has ended since
                if not write:
                    continue  # nothing to stop
                raise ImportWorkerFailed(
                    f"{_failure(child)} when told to write (the batches another worker "
                    "stored meanwhile are kept, run the import again to finish it)"
                ) from broken

    @property
    def written(self) -> int:
        """Commands the children have stored so far."""
        return sum(child.written for child in self._children)

    def results(self) -> list[ShareWritten | list[RowError]]:
        """Each child's outcome once all have ended; ``ImportWorkerFailed`` if one has none."""
        for child in self._children:
            child.ended.wait()
            _reaped(child.process)
        failures = [_failure(c) for c in self._children if c.final is None]
        if failures:
            raise ImportWorkerFailed(
                "; ".join(failures) + " (while writing: the batches stored before are kept, "
                "run the import again to finish it)"
            )
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

    def _listen(self, child: _Child) -> None:
        try:
            for raw in child.process.stdout:
                try:
                    message = json.loads(raw)
                    self._take(child, message)
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    child.error = "an import worker sent what this process cannot read"
                    _reaped(child.process, kill=True)
                    break
        except (OSError, ValueError):  # the pipe was closed under us: we are ending it
            pass
        finally:
            child.answered.set()
            child.ended.set()

    def _take(self, child: _Child, message: dict[str, Any]) -> None:
        if "next" in message:
            bucket = self._dealer.next()
            self._send(child, "done" if bucket is None else f"bucket {bucket}")
        elif "checked" in message:
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


def _failure(child: _Child) -> str:
    if child.error:
        return child.error
    status = _reaped(child.process)
    return f"an import worker ended with exit status {status}"


def _reaped(process: Any, *, kill: bool = False) -> int:
    """The exit status of a child whose output has ended (its exit follows at once); one
    that lingers, or that ``kill`` says must go, is killed."""
    if kill:
        process.kill()
    try:
        return int(process.wait(timeout=10))
    except subprocess.TimeoutExpired:
        process.kill()
        return int(process.wait())


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
    # Ctrl-C reaches the whole process group: the parent ends its children itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # As in the parent (importer.run_import): a share's commands and events are many
    # long-lived objects, which the cyclic collector would walk again and again.
    gc.disable()
    first = sys.stdin.buffer.readline()
    words: queue.Queue[str] = queue.Queue()
    stop_when_orphaned(lambda line: words.put(line.decode().strip()))
    try:
        job = ShareJob(**json.loads(first))
        content = read_csv(Path(job.file), CUSTOMERS if job.what == "customers" else ORDERS)
        if content.digest != job.digest:
            raise ImportWorkerFailed(
                f"{Path(job.file).name} changed since the import began (a worker read other "
                "bytes); run the import again"
            )
        rows = buckets(content.rows, job.what)
        with CRM.open(job.url) as crm:
            share = ImportShare(crm, job.what, job.batch_id)
            checked = ShareChecked([], 0, 0)
            _say({"next": True})
            while (word := words.get()).startswith("bucket "):
                checked += share.check(rows[int(word.removeprefix("bucket "))])
                _say({"next": True})
            _say({"checked": {**asdict(checked), "errors": _error_data(checked.errors)}})
            if words.get() != "write":
                return 0
            written = share.write(job.batch_size, lambda done: _say({"written": done}))
    except ImportWorkerFailed as error:  # said in full; no traceback to add
        _say({"error": str(error)})
        return 1
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
