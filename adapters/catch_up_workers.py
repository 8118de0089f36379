"""A long catch-up on PostgreSQL, split among processes: one group of projections each.

A catch-up is CPU-bound Python (decoding, folding events, encoding rows) and the GIL keeps
threads to one core. Projections own disjoint tables and each has its own tracking row, so
a group needs nothing from another: each process is an ordinary runner of its group, with
its own connection, exactly-once as ever. What the processes share is the cost of reading
the log; each decodes only the events its group handles (``Projection.handles``).

The processes are fresh interpreters (``python -m adapters.catch_up_workers``), not forks
or ``multiprocessing`` children: forking a process that holds connection pools and threads
is unsafe, and ``multiprocessing``'s spawn re-imports the host's ``__main__``, which an
embedding host did not write to be imported twice. The job goes in on stdin (pickled: the
projections are remade from their class and ``remake_args()``, so a host's own projection
must be importable by module path, as its clock must be); the positions come back on
stdout as JSON; logs go to stderr, as the parent's (``adapters.logging_setup``).
"""

from __future__ import annotations

import json
import os
import pickle  # nosec B403 # only between this process and the children it starts
import subprocess  # nosec B404 # runs this module with this interpreter, no shell
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from projections.base import Projection

# Starting an interpreter and importing crm-core costs about a second per process: below
# this lag (events behind), one process catches up sooner.
MIN_LAG_FOR_WORKERS = 50_000


class CatchUpWorkerFailed(RuntimeError):
    """A process catching up a group of projections failed; the others were let finish.
    Each failed projection recorded its error (``crm projections status``)."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        super().__init__(
            "catch-up failed in a worker process: "
            + "; ".join(f"{names}: {error}" for names, error in failures.items())
        )


@dataclass(frozen=True)
class Job:
    url: str
    projections: tuple[Projection, ...]
    clock: Callable[[], datetime]
    batch_size: int
    max_batch_size: int


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


def catch_up_in_processes(jobs: Sequence[Job]) -> dict[str, int]:
    """Run each job in a process of its own, all at once; returns every projection's
    position. Raises ``CatchUpWorkerFailed`` once all have ended if any failed."""
    log = structlog.get_logger("crm.projections")
    payloads = [_payload(job) for job in jobs]
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    processes = [
        subprocess.Popen(  # noqa: S603 # nosec B603 # this interpreter, this module, no shell
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in jobs
    ]
    for process, payload in zip(processes, payloads, strict=True):
        assert process.stdin is not None  # noqa: S101 # nosec B101 # opened as a pipe above
        process.stdin.write(payload)  # all handed their jobs before any is waited for
        process.stdin.close()
    positions: dict[str, int] = {}
    failures: dict[str, str] = {}
    for job, process in zip(jobs, processes, strict=True):
        assert process.stdout is not None  # noqa: S101 # nosec B101 # opened as a pipe above
        out = process.stdout.read()
        process.stdout.close()
        process.wait()
        names = ", ".join(p.name for p in job.projections)
        answer = _answer(out)
        if process.returncode != 0 or "positions" not in answer:
            failures[names] = str(answer.get("error", f"exit status {process.returncode}"))
            continue
        positions.update(answer["positions"])
    log.info(
        "projection_workers",
        groups=[[p.name for p in job.projections] for job in jobs],
        failed=sorted(failures),
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    if failures:
        raise CatchUpWorkerFailed(failures)
    return positions


def _payload(job: Job) -> bytes:
    # What a script defines lives in its ``__main__``, which a worker does not import.
    in_main = [
        repr(thing)
        for thing in (job.clock, *(type(p) for p in job.projections))
        if getattr(thing, "__module__", None) == "__main__"
    ]
    try:
        if in_main:
            raise TypeError(f"defined in __main__: {', '.join(in_main)}")
        return pickle.dumps(job)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise TypeError(
            "catching up in worker processes needs projections and a clock importable by "
            f"module path (a module-level function, not a lambda): {error}"
        ) from error


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
        job = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 # nosec B301 # from our parent's pipe
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
