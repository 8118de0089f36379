"""Soak: 8 writer threads and the live projections, for a bounded time, on one store.

The writers (``soak_workload.py``) execute a realistic, partly hostile mix of commands on a
shared book of customers, opportunities, orders and complaints, each under a command id of
its own, and keep a ledger of what they were told. Meanwhile ``crm projections run``
follows the log in a process of its own. When the time is up the test waits for the
projections to reach the head of the log (polling their tracking positions, with a
deadline), stops the process with SIGTERM and checks:

* the ledger against the log (``soak_ledger.py``): every acknowledged command's events
  there exactly once, nothing of a refused command, nothing nobody was told about, every
  (stream, version) once, loyalty balances without a lost update;
* the projection lag back to zero with no error recorded, and every read-model table equal,
  row by row, to a rebuild from position zero;
* every hash chain intact (``verify_chains``).

Three ways to reach the store: one ``CRM`` shared by the threads, one ``CRM`` per thread,
and one shared ``CRM`` with group commit (concurrent commands share a transaction); each on
SQLite and on PostgreSQL. ``CRM_SOAK_SECONDS`` (default 10) is how long the writers write, per
case. Run it with ``pytest -m soak`` (``tests/reliability/conftest.py`` leaves it out of
runs that do not ask for it); loopback only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from adapters.audit.verify import verify_chains
from application import CRM, Settings
from projections.base import Projection
from tests.projections.tables import dump
from tests.reliability import soak_ledger
from tests.reliability.soak_workload import AppendCounter, Book, Writer

ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("CRM_SOAK_SECONDS", "10"))
WRITERS = 8
SEED_SIZE = {"customers": 24, "opportunities": 12, "orders": 12, "complaints": 12}
DRAIN_DEADLINE = 120.0  # seconds for the projections to reach the head once writing stops
FOLLOWING = "following new events"  # what `crm projections run` says once it follows
SAMPLE_EVERY = 1.0  # seconds between samples of the projection lag while writing
# How the writer threads reach the store: one CRM shared by all of them, one CRM each, or
# one shared CRM whose concurrent commands share transactions (Settings(group_commit=True)).
MODES = ["one shared CRM", "one CRM per thread", "group commit"]

pytestmark = [
    pytest.mark.soak,
    # The malformed commands are built unvalidated on purpose; dumping them warns.
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]


class Projector:
    """``crm projections run`` in a process of its own, following the log live."""

    def __init__(self, url: str, output: Path) -> None:
        self.output = output
        with output.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "adapters.cli",
                    "projections",
                    "run",
                    "--poll",
                    "0.2",
                    "--db",
                    url,
                ],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def terminate(self) -> int:
        """SIGTERM once the process follows the log: it installs its handler only after
        its first catch-up, and a SIGTERM before that ends it by the default action."""
        deadline = time.monotonic() + DRAIN_DEADLINE
        while FOLLOWING not in self.text():
            if not self.alive() or time.monotonic() > deadline:
                pytest.fail(f"the projection process never followed the log:\n{self.text()}")
            time.sleep(0.05)
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=10)


def _seed(crm: CRM, book: Book) -> Writer:
    """The shared book the writers start from, made by one writer of its own."""
    seeder = Writer("seed", crm, book, seed=0)
    moves: dict[str, Callable[[], Any]] = {
        "customers": seeder._register,
        "opportunities": seeder._open_opportunity,
        "orders": seeder._draft_order,
        "complaints": seeder._file_complaint,
    }
    for kind, size in SEED_SIZE.items():
        while len(getattr(book, kind)) < size:
            attempt = seeder.execute(moves[kind]())
            assert attempt.expected, attempt.error
    return seeder


def _wait_for_projections(crm: CRM, projector: Projector) -> float:
    """Poll the tracking positions until each is at the head of the log; the seconds it
    took. The writers have stopped, so the head no longer moves."""
    started = time.monotonic()
    head = crm.store.max_position()
    while True:
        statuses = crm.read_models.status()
        if all(s.position == head for s in statuses):
            return time.monotonic() - started
        if not projector.alive():
            pytest.fail(f"the projection process exited:\n{projector.text()[-3000:]}")
        if time.monotonic() - started > DRAIN_DEADLINE:
            pytest.fail(f"projections not at the head {head} in time: {statuses}")
        time.sleep(0.05)


def _compare(
    projections: dict[str, Projection],
    live: dict[str, dict[str, list[dict[str, Any]]]],
    rebuilt: dict[str, dict[str, list[dict[str, Any]]]],
) -> tuple[int, list[str]]:
    """Rows compared, and a line per row that differs (by primary key) or is on one side."""
    rows, mismatches = 0, []
    for name, projection in projections.items():
        for table in projection.tables:

            def keyed(dumped: list[dict[str, Any]], pk: tuple[str, ...]) -> dict[Any, Any]:
                return {tuple(row[k] for k in pk): row for row in dumped}

            pk = tuple(table.primary_key)
            before = keyed(live[name][table.name], pk)
            after = keyed(rebuilt[name][table.name], pk)
            rows += len(before.keys() | after.keys())
            for key in sorted(before.keys() | after.keys(), key=repr):
                if before.get(key) != after.get(key):
                    mismatches.append(f"{table.name} {key}: {before.get(key)} != {after.get(key)}")
    return rows, mismatches


@pytest.fixture
def report_line(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[str], None]]:
    """Figures go to the terminal, past pytest's capture, once the test is done."""
    lines: list[str] = []
    yield lines.append
    with capsys.disabled():
        sys.stdout.write("".join(f"{line}\n" for line in lines))


@pytest.mark.parametrize("mode", MODES)
def test_writers_and_live_projections_lose_nothing_and_agree_with_a_rebuild(
    store_url: str, mode: str, tmp_path: Path, report_line: Callable[[str], None]
) -> None:
    appends = AppendCounter()
    settings = Settings(group_commit=mode == "group commit")
    with ExitStack() as stack:
        crm = stack.enter_context(CRM.open(store_url, settings=settings, pool_size=WRITERS + 2))
        appends.watch(crm.store)
        crm.read_models.status()  # tables and tracking rows made before the process starts
        book = Book()
        writers = []
        for number in range(WRITERS):
            own = crm
            if mode == "one CRM per thread":
                own = stack.enter_context(CRM.open(store_url, pool_size=2))
                appends.watch(own.store)
            writers.append(Writer(f"w{number}", own, book, seed=number + 1))
        # Started once every CRM of this test is open: opening a PostgreSQL store while
        # another process opens the same one can fail ("tuple concurrently updated", the
        # library's CREATE OR REPLACE FUNCTION at every open; reported, not this test's
        # subject).
        projector = Projector(store_url, tmp_path / "projections.out")
        stack.callback(projector.kill)

        seeder = _seed(crm, book)

        crashes: list[BaseException] = []

        def write(writer: Writer, deadline: float) -> None:
            try:
                writer.run_until(deadline)
            except BaseException as error:  # a crash outside execute fails the test below
                crashes.append(error)

        started = time.monotonic()
        deadline = started + SECONDS
        threads = [threading.Thread(target=write, args=(w, deadline)) for w in writers]
        for thread in threads:
            thread.start()
        max_lag = 0
        while any(thread.is_alive() for thread in threads):
            max_lag = max(max_lag, *(s.lag_events for s in crm.read_models.status()))
            threads[0].join(timeout=SAMPLE_EVERY)
        for thread in threads:
            thread.join()
        wrote_for = time.monotonic() - started
        assert not crashes, crashes

        drain = _wait_for_projections(crm, projector)
        assert projector.terminate() == 0, projector.text()[-3000:]
        assert "Traceback" not in projector.text(), projector.text()[-3000:]
        assert "projection_batch_failed" not in projector.text()

        head = crm.store.max_position()
        for status in crm.read_models.status():
            assert (status.position, status.lag_events, status.last_error) == (head, 0, None)

        attempts = [*seeder.attempts, *(a for w in writers for a in w.attempts)]
        ledger = soak_ledger.check(crm, attempts)
        assert not ledger.problems, "\n".join(ledger.problems[:30])

        runner = crm.read_models.runner
        live = {name: dump(crm.store, p) for name, p in runner.projections.items()}
        for name in runner.projections:
            assert runner.rebuild(name) == head
        rebuilt = {name: dump(crm.store, p) for name, p in runner.projections.items()}
        rows, mismatches = _compare(runner.projections, live, rebuilt)
        assert not mismatches, "\n".join(mismatches[:30])

        chains = verify_chains(crm.store)
        assert chains.ok, chains.findings[:10]
        assert chains.events == ledger.events

        kind = crm.store.location.kind
        refused = ", ".join(f"{n} {why}" for why, n in ledger.refused.most_common())
        report_line(
            f"\nsoak {kind}, {mode}: {WRITERS} writers for {wrote_for:.1f} s: "
            f"{ledger.tried} commands tried ({ledger.tried / wrote_for:.0f}/s), "
            f"{ledger.acknowledged} acknowledged, {ledger.replayed} resends replayed, "
            f"{ledger.refusals} refused ({ledger.deliberate} invalid whatever the "
            f"interleaving, refused as predicted; {ledger.clock_races} valid ones refused "
            f"by the clock race), {appends.conflicts} write conflicts "
            f"retried; {ledger.events} events stored ({ledger.business_events} business) in "
            f"{appends.appends} appends; "
            f"projection lag at most {max_lag} events while writing, 0 after "
            f"{drain:.2f} s; {rows} read-model rows compared with a rebuild, "
            f"mismatches: {len(mismatches)}; {chains.streams} hash chains verified, "
            f"broken: {chains.broken}; ledger problems: {len(ledger.problems)}\n"
            f"  refused: {refused}"
        )
