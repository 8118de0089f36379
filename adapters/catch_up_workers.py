"""A long catch-up on PostgreSQL, split among processes: one group of projections each.

A catch-up is CPU-bound Python (decoding, folding events, encoding rows) and the GIL keeps
threads to one core. Projections own disjoint tables and each has its own tracking row, so
a group needs nothing from another: each process is an ordinary runner of its group, with
its own connection, exactly-once as ever. What the processes share is the cost of reading
the log; each decodes only the events its group handles (``Projection.handles``).

The processes are fresh interpreters (``python -m adapters.catch_up_workers``, see
``adapters/child_processes.py``). The job goes in on stdin (pickled: the
projections are remade from their class and ``remake_args()``, so a host's own projection
must be importable by module path, as its clock must be); the positions come back on
stdout as JSON; logs go to stderr, as the parent's (``adapters.logging_setup``).
"""

from __future__ import annotations

import io
import json
import pickle  # nosec B403 # only between this process and the children it starts
import struct
import subprocess  # nosec B404 # runs this module with this interpreter, no shell
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from adapters.child_processes import end_children, start_child, stop_when_orphaned
from projections.base import Projection

# Starting an interpreter and importing crm-core costs about a second per process: below
# this lag (events behind), one process catches up sooner.
MIN_LAG_FOR_WORKERS = 50_000


class CatchUpWorkerFailed(RuntimeError):
    """A process catching up a group of projections failed; the others were let finish.
    A projection that failed in its batch recorded its error (``crm projections status``);
    a process that died or could not start records nothing: its exit status is here."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        super().__init__(
            "catch-up failed in a worker process: "
            + "; ".join(f"{names}: {error}" for names, error in failures.items())
        )


@dataclass(frozen=True)
class Job:
    url: str = field(repr=False)  # may hold a password: never in a log or a traceback
    projections: tuple[Projection, ...]
    clock: Callable[[], datetime]
    batch_size: int
    max_batch_size: int


class _Sealed:
    """A pickled job: its repr (in a traceback's locals) does not show the store's URL."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"<catch-up job, {len(self.data)} bytes>"


def split(projections: Sequence[Projection], workers: int) -> list[list[Projection]]:
    """At most ``workers`` groups of about equal weight (heaviest first, each to the
    lightest group so far), none empty."""
    groups: list[list[Projection]] = [[] for _ in range(min(workers, len(projections)))]
    weights = [0.0] * len(groups)
    for projection in sorted(projections, key=lambda p: -p.catch_up_weight):
        lightest = weights.index(min(weights))
        groups[lightest].append(projection)
        weights[lightest] += projection.catch_up_weight
    return groups


def catch_up_in_processes(
    jobs: Sequence[Job],
    meanwhile: Callable[[], None] | None = None,
    meanwhile_names: Sequence[str] = (),
) -> dict[str, int]:
    """Run each job in a process of its own, all at once, and ``meanwhile`` (this
    process's own share: catching up ``meanwhile_names``) while they work; returns the
    jobs' projections' positions.
    Once all have ended: raises what ``meanwhile`` raised (the children's failures noted
    on it), else ``CatchUpWorkerFailed`` if a job failed.

    Each child's stdin stays open while it works: if this process dies, the pipe closes
    and the child stops (its open batch rolls back), instead of writing on alone. An
    interruption (``KeyboardInterrupt``) stops them too."""
    log = structlog.get_logger("crm.projections")
    payloads = [_payload(job) for job in jobs]  # refused here, before anything starts
    started = time.perf_counter()
    processes: list[subprocess.Popen[bytes]] = []
    own_error: Exception | None = None
    try:
        for payload in payloads:
            process = start_child(__name__)
            processes.append(process)
            assert process.stdin is not None  # noqa: S101 # nosec B101 # opened as a pipe
            process.stdin.write(struct.pack(">Q", len(payload.data)) + payload.data)
            process.stdin.flush()  # every child has its job before any is waited for
        if meanwhile is not None:
            try:
                meanwhile()
            except Exception as error:  # raised once the children have ended
                own_error = error
        positions: dict[str, int] = {}
        failures: dict[str, str] = {}
        for job, process in zip(jobs, processes, strict=True):
            assert process.stdout is not None  # noqa: S101 # nosec B101 # opened as a pipe
            answer = _answer(process.stdout.read())
            process.wait()
            if process.returncode != 0 or "positions" not in answer:
                names = ", ".join(p.name for p in job.projections)
                failures[names] = str(answer.get("error", f"exit status {process.returncode}"))
                continue
            positions.update(answer["positions"])
    finally:
        end_children(processes)
    log.info(
        "projection_workers",
        groups=[[p.name for p in job.projections] for job in jobs],
        in_this_process=list(meanwhile_names),
        failed=sorted(failures),
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    if own_error is not None:
        if failures:
            own_error.add_note(str(CatchUpWorkerFailed(failures)))
        raise own_error
    if failures:
        raise CatchUpWorkerFailed(failures)
    return positions


class _RefusingMain(pickle.Pickler):
    """Refuses anything a worker could not import: what a script defines lives in its
    ``__main__``, which a worker does not have (wherever it hides: in a projection's
    ``remake_args``, behind a ``functools.partial``)."""

    def reducer_override(self, obj: Any) -> Any:
        for thing in (obj, type(obj)):
            if getattr(thing, "__module__", None) == "__main__":
                raise TypeError(f"{thing!r} is defined in __main__")
        return NotImplemented


def _payload(job: Job) -> _Sealed:
    buffer = io.BytesIO()
    try:
        _RefusingMain(buffer).dump(job)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise TypeError(
            "catching up in worker processes needs projections and a clock importable by "
            f"module path (a module-level function, not a lambda): {error}"
        ) from error
    return _Sealed(buffer.getvalue())


def _answer(out: bytes) -> dict[str, Any]:
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}
    return answer if isinstance(answer, dict) else {}


def main() -> int:
    """The child: read the job, catch up its projections, print their positions."""
    from adapters.event_store import EventStore
    from adapters.logging_setup import configure_logging_as_parent
    from adapters.projection_runner import ProjectionRunner

    configure_logging_as_parent()
    try:
        (length,) = struct.unpack(">Q", sys.stdin.buffer.read(8))
        job = pickle.loads(sys.stdin.buffer.read(length))  # noqa: S301 # nosec B301 # from our parent's pipe
        stop_when_orphaned()
        with EventStore(job.url) as store:
            runner = ProjectionRunner(
                store,
                job.projections,
                batch_size=job.batch_size,
                max_batch_size=job.max_batch_size,
                clock=job.clock,
            )
            positions = runner.catch_up()
    except Exception as error:  # reported to the parent, which raises it
        traceback.print_exc(file=sys.stderr)
        sys.stdout.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
        return 1
    sys.stdout.write(json.dumps({"positions": positions}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
