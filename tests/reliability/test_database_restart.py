"""The database restarts under a running projection, which then resumes where it was.

Never the shared server: a throwaway cluster of its own (initdb in a temporary directory,
as ``tests/postgres_server.py`` does) is restarted with ``pg_ctl restart -m fast``, which
ends every connection: the writers' pooled ones and the runner's, LISTEN included. The
runner follows the log live (``run_forever``) in a thread. Afterwards the writes made after
the restart are projected too, and every table equals a rebuild from the log: no event
applied twice, none skipped.

Today ``run_forever`` itself ends when its LISTEN connection dies, so the first test
restarts it the way a service manager restarts ``crm projections run``; the second, marked
as a strict expected failure, says that it should survive on its own (reported to the
owner of ``adapters/projection_runner.py``; remove the mark once it does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from adapters.event_store import EventStore
from adapters.projection_runner import ProjectionRunner
from application import CRM
from application.commands import RecordContact, RegisterCustomer
from projections import all_projections
from tests.application.builders import REP
from tests.postgres_server import _bindir, _free_port
from tests.projections.tables import dump

DEADLINE = 60.0  # seconds for the runner to reach the head of the log


@dataclass
class Cluster:
    bindir: Path
    data: Path
    port: int
    as_user: list[str]

    def url(self, schema: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?schema={schema}"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1"
        self.pg_ctl("-w", "-l", self.log, "-o", options, "start")

    def restart(self) -> None:
        """Fast: every session is ended and every open transaction rolled back."""
        self.pg_ctl("-w", "-l", self.log, "-m", "fast", "restart")

    @property
    def log(self) -> str:
        # Also keeps the server off our pipes, which subprocess.run would wait on.
        return str(self.data.parent / "log")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    workdir = Path(tempfile.mkdtemp(prefix="crm-restart-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(workdir, "postgres")
    server = Cluster(_bindir(), workdir / "data", _free_port(), as_user)
    initdb = [str(server.bindir / "initdb"), "-D", str(server.data), "-U", "postgres"]
    subprocess.run(
        [*as_user, *initdb, "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (server.data / "postgresql.conf").open("a") as conf:
        conf.write("fsync = off\nshared_buffers = 16MB\nmax_connections = 40\n")
    server.start()
    try:
        yield server
    finally:
        subprocess.run(
            [*as_user, str(server.bindir / "pg_ctl"), "-D", str(server.data), "-m", "immediate",
             "stop"],
            check=False, capture_output=True, timeout=120,
        )  # fmt: skip
        shutil.rmtree(workdir, ignore_errors=True)


def write(crm: CRM, first: int, count: int) -> None:
    for number in range(first, first + count):
        customer = crm.execute(RegisterCustomer(kind="company", name=f"Firm {number}"), actor=REP)
        crm.execute(
            RecordContact(
                customer_id=customer.aggregate_id,
                channel="email",
                direction="inbound",
                summary="Asked for the catalogue",
            ),
            actor=REP,
        )


def wait_until(condition: Callable[[], bool], alive: threading.Thread) -> None:
    """Polls with a deadline (the runner works live, so there is nothing to join)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert alive.is_alive(), "the projection runner stopped"
        assert time.monotonic() < deadline, "the projection runner did not catch up"
        time.sleep(0.05)


def restart_under_a_running_projection(
    cluster: Cluster, schema: str, *, supervised: bool
) -> list[Exception]:
    """Writes, follows, restarts the server, writes again, follows to the head; then every
    table must equal a rebuild. Returns the runner's failures (each one ended a
    ``run_forever``; when ``supervised`` it is started again, as a service manager would)."""
    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres"
    ) as conn:  # never the shared server
        row = conn.execute("SELECT current_setting('data_directory')").fetchone()
    assert row is not None and Path(row[0]) == cluster.data
    failures: list[Exception] = []
    stop = threading.Event()
    url = cluster.url(schema)
    with CRM.open(url) as crm, EventStore(url) as runner_store:
        runner = ProjectionRunner(runner_store, all_projections())

        def follow() -> None:
            while not stop.is_set():
                try:
                    runner.run_forever(should_stop=stop.is_set, poll_seconds=0.1)
                except Exception as error:  # kept for the test, not lost in the thread
                    failures.append(error)
                    if not supervised:
                        return
                    stop.wait(0.1)  # the server may still be starting

        write(crm, 0, 15)
        thread = threading.Thread(target=follow, name="projection-runner", daemon=True)
        thread.start()

        def caught_up() -> bool:
            head = crm.store.max_position()
            return all(s.position == head for s in runner.status())

        try:
            wait_until(caught_up, thread)
            before_restart = crm.store.max_position()

            cluster.restart()

            write(crm, 15, 15)  # the writers' pooled connections died too
            assert crm.store.max_position() > before_restart
            wait_until(caught_up, thread)
        finally:
            stop.set()
            thread.join(timeout=30)

        head = crm.store.max_position()
        for status in runner.status():
            assert (status.position, status.lag_events) == (head, 0), status
        incremental = {p.name: dump(runner_store, p) for p in runner.projections.values()}
        lifecycle = incremental["customer_lifecycle"]["customer_lifecycle"]
        assert len(lifecycle) == 30
        for name, projection in runner.projections.items():
            assert runner.rebuild(name) == head
            assert dump(runner_store, projection) == incremental[name], name
    return failures


def test_a_projection_restarted_after_the_database_restarts_resumes_where_it_was(
    cluster: Cluster,
) -> None:
    restart_under_a_running_projection(cluster, "supervised", supervised=True)


def test_a_running_projection_survives_the_database_restarting(cluster: Cluster) -> None:
    failures = restart_under_a_running_projection(cluster, "unsupervised", supervised=False)
    assert failures == []
