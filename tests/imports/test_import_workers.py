"""``crm import --workers N`` on PostgreSQL: the file split among processes by buckets.

What one process would store, several store; a problem in any bucket stops every process
before anything is written; a worker that fails or loses its parent writes nothing more.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from adapters import child_processes
from adapters.audit.verify import verify_chains
from adapters.cli import import_workers, importer
from adapters.cli.import_workers import BUCKETS, ShareJob, bucket_of, buckets
from adapters.cli.importer import run_import
from adapters.imports.csv_file import read_csv
from adapters.imports.formats import CUSTOMERS, ORDERS
from application import CRM
from tests.imports.test_cli_import import crm_cli
from tests.postgres_server import Server

CUSTOMERS_HEADER = "external_ref,kind,name,phone,email,registered_at\n"
ORDERS_HEADER = (
    "order_ref,customer_ref,currency,status,approved_at,fulfilled_at,paid_at,"
    "sku,item_name,quantity,unit_price,discount_pct,unit_cost\n"
)


def write_files(directory: Path, customers: int, orders: int) -> tuple[Path, Path]:
    """Individuals (their names and contacts encrypted) and orders of one to three lines,
    the later lines of an order leaving its head blank, spread over the file."""
    rng = random.Random(7)
    customer_path = directory / "customers.csv"
    order_path = directory / "orders.csv"
    customer_path.write_text(
        CUSTOMERS_HEADER
        + "".join(
            f"C-{i:04d},individual,王 {i},+86 139 {1000_0000 + i},c{i}@example.cn,"
            f"2019-0{1 + i % 9}-01\n"
            for i in range(customers)
        ),
        encoding="utf-8",
    )
    heads: list[str] = []
    tails: list[str] = []
    for n in range(orders):
        owner = rng.randrange(customers)
        heads.append(
            f"SO-{n:05d},C-{owner:04d},CNY,paid,2021-03-0{1 + n % 9},2021-03-10,2021-04-01,"
            f"SKU-1,Shelving,{1 + n % 7},128.50,,\n"
        )
        tails.extend(f"SO-{n:05d},,,,,,,SKU-{2 + k},Bin,1,3,,\n" for k in range(rng.randrange(3)))
    rng.shuffle(tails)  # an order's other lines anywhere after its first
    order_path.write_text(ORDERS_HEADER + "".join(heads + tails), encoding="utf-8")
    return customer_path, order_path


def stored(url: str) -> list[tuple[str, str, int]]:
    """Every stored event's (topic, stream, version): ids derive from the rows' keys, so
    they are the same whichever process wrote them."""
    with CRM.open(url) as crm:
        rows: list[tuple[str, str, int]] = []
        after = 0
        while page := crm.store.read(after=after, limit=5000):
            rows += [(n.topic, str(n.originator_id), n.originator_version) for n in page]
            after = page[-1].id
    return sorted(rows)


@pytest.fixture
def second_url(postgres: Server, pg_schemas: list[str]) -> str:
    """A second fresh PostgreSQL store beside ``postgres_url``."""
    schema = f"crm_test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    pg_schemas.append(schema)
    return postgres.url(schema)


def in_process_import(
    url: str,
    path: Path,
    what: str,
    *,
    workers: int = 2,
    dry_run: bool = False,
    batch_size: int = 50,
) -> tuple[int, str]:
    """``crm import`` in this process (so that its dealer and workers can be reached);
    ``-1`` and the error for an ``ImportWorkerFailed``, which the CLI prints as one line."""
    args = argparse.Namespace(
        what=what,
        file=path,
        db=url,
        dry_run=dry_run,
        batch_size=batch_size,
        batch_id=None,
        workers=workers,
    )
    buffer = io.StringIO()
    with redirect_stdout(buffer), redirect_stderr(buffer):
        try:
            code = run_import(args)
        except import_workers.ImportWorkerFailed as error:
            return -1, f"{buffer.getvalue()}{error}"
    return code, buffer.getvalue()


class SharingDealer(import_workers.Dealer):
    """Lets this process take no bucket before a worker has taken one: however quickly
    this process gets through a small file, the worker checks and writes a share too."""

    def __init__(self) -> None:
        super().__init__()
        self.worker_took = threading.Event()
        self.taken_by: Counter[str] = Counter()

    def next(self) -> int | None:
        if threading.current_thread() is threading.main_thread():
            assert self.worker_took.wait(timeout=60), "the worker never asked for a bucket"
        bucket = super().next()
        if bucket is not None:
            self.taken_by[
                "this" if threading.current_thread() is threading.main_thread() else "worker"
            ] += 1
        if threading.current_thread() is not threading.main_thread():
            self.worker_took.set()
        return bucket


def test_two_processes_store_what_one_does(
    postgres_url: str, second_url: str, tmp_path: Path, sharing: list[SharingDealer]
) -> None:
    customers, orders = write_files(tmp_path, 300, 900)
    for what, path in (("customers", customers), ("orders", orders)):
        code, output = in_process_import(postgres_url, path, what, workers=2)
        assert code == 0, output
        assert "2 processes" in output
        done = crm_cli("import", what, path, "--db", second_url, "--workers", "1")
        assert done.returncode == 0, done.stderr
        assert "processes" not in done.stdout
    assert [d.taken_by["worker"] > 0 and d.taken_by["this"] > 0 for d in sharing] == [True, True]
    split = stored(postgres_url)
    assert split == stored(second_url)
    assert Counter(topic for topic, _, _ in split)["OrderImported"] == 900
    with CRM.open(postgres_url) as crm:
        assert verify_chains(crm.store).ok
    again = crm_cli("import", "orders", orders, "--db", postgres_url, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert "0 new, 900 already imported" in again.stdout
    assert stored(postgres_url) == split


def test_an_order_spread_over_the_file_stays_in_one_bucket(tmp_path: Path) -> None:
    _, orders = write_files(tmp_path, 50, 400)
    rows = read_csv(orders, ORDERS).rows
    where: dict[str, set[int]] = {}
    for index, bucket in enumerate(buckets(rows, "orders")):
        for row in bucket:
            where.setdefault(row.cells["order_ref"], set()).add(index)
    assert all(len(found) == 1 for found in where.values())
    first_customer = {}
    for row in rows:
        first_customer.setdefault(row.cells["order_ref"], row.cells.get("customer_ref", ""))
    assert all(
        where[ref] == {bucket_of(customer)} for ref, customer in first_customer.items()
    )  # one customer's orders together: the customer is read once


def with_bad_kinds(path: Path, bad_lines: list[int]) -> list[str]:
    """Makes the customers on these file lines (the header is line 1) invalid; their refs."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for line in bad_lines:
        lines[line - 1] = lines[line - 1].replace("individual", "robot")
    path.write_text("".join(lines), encoding="utf-8")
    return [lines[line - 1].split(",")[0] for line in bad_lines]


@pytest.fixture
def sharing(monkeypatch: pytest.MonkeyPatch) -> list[SharingDealer]:
    """Every import's dealer lets a worker take a bucket before this process takes one."""
    dealers: list[SharingDealer] = []

    def dealer() -> SharingDealer:
        dealers.append(SharingDealer())
        return dealers[-1]

    monkeypatch.setattr(importer, "Dealer", dealer)
    return dealers


def test_problems_found_by_every_process_are_all_reported_as_one_process_reports_them(
    postgres_url: str, tmp_path: Path, sharing: list[SharingDealer]
) -> None:
    customers, _ = write_files(tmp_path, 200, 0)
    bad_lines = [5, 60, 117, 150, 190]
    refs = with_bad_kinds(customers, bad_lines)
    assert len({bucket_of(ref) for ref in refs}) > 1

    code, output = in_process_import(postgres_url, customers, "customers", workers=2)
    alone = crm_cli("import", "customers", customers, "--db", postgres_url, "--workers", "1")

    assert code == 1
    assert sharing[0].taken_by["worker"] > 0
    reported = [line for line in output.splitlines() if ": kind: " in line]
    assert [int(line.split(":")[1]) for line in reported] == bad_lines
    assert "5 problems on 5 lines; nothing was written" in output
    mine = [line for line in output.splitlines() if line.startswith("customers.csv")]
    assert mine == alone.stderr.splitlines()
    assert stored(postgres_url) == []


def test_a_dry_run_in_processes_counts_every_share_and_writes_nothing(
    postgres_url: str, tmp_path: Path, sharing: list[SharingDealer]
) -> None:
    customers, _ = write_files(tmp_path, 150, 0)
    code, output = in_process_import(postgres_url, customers, "customers", dry_run=True)
    assert code == 0, output
    assert sharing[0].taken_by["worker"] > 0 and sharing[0].taken_by["this"] > 0
    assert "150 customers, all valid; dry run: 150 would be new" in output
    assert stored(postgres_url) == []


def test_a_file_changed_under_the_import_is_refused_by_the_worker_with_nothing_written(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers, _ = write_files(tmp_path, 120, 0)
    read = importer.read_csv

    def read_then_truncate(path: Path, spec: Any) -> Any:
        content = read(path, spec)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(lines[:60]), encoding="utf-8")  # before any worker reads it
        return content

    monkeypatch.setattr(importer, "read_csv", read_then_truncate)
    code, output = in_process_import(postgres_url, customers, "customers")
    assert code == -1
    assert "customers.csv changed since the import began" in output
    assert "(while checking: nothing was written)" in output
    assert stored(postgres_url) == []


def kill_worker_when(
    monkeypatch: pytest.MonkeyPatch, ready: Callable[[import_workers._Child], bool]
) -> None:
    """Once every worker has been told to write, SIGKILL the first as soon as ``ready``."""
    tell = import_workers.ShareWorkers.tell

    def tell_then_kill(self: import_workers.ShareWorkers, *, write: bool) -> None:
        child = self._children[0]
        if write and ready is before_writing:
            child.process.kill()
            child.process.wait()
        tell(self, write=write)
        if write and ready is not before_writing:
            deadline = time.monotonic() + 60
            while not ready(child) and time.monotonic() < deadline:
                time.sleep(0.01)
            child.process.kill()

    monkeypatch.setattr(import_workers.ShareWorkers, "tell", tell_then_kill)


def before_writing(child: import_workers._Child) -> bool:
    return True


def test_a_worker_gone_after_its_check_still_lets_the_problems_be_reported(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sharing: Any
) -> None:
    customers, _ = write_files(tmp_path, 200, 0)
    with_bad_kinds(customers, [5, 60])
    tell = import_workers.ShareWorkers.tell

    def kill_then_tell(self: import_workers.ShareWorkers, *, write: bool) -> None:
        self._children[0].process.kill()
        self._children[0].process.wait()
        tell(self, write=write)

    monkeypatch.setattr(import_workers.ShareWorkers, "tell", kill_then_tell)
    code, output = in_process_import(postgres_url, customers, "customers")
    assert code == 1
    assert "2 problems on 2 lines; nothing was written" in output
    assert stored(postgres_url) == []


def test_a_worker_gone_before_it_is_told_to_write_fails_the_import_with_nothing_written(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sharing: Any
) -> None:
    customers, _ = write_files(tmp_path, 200, 0)
    kill_worker_when(monkeypatch, before_writing)

    code, output = in_process_import(postgres_url, customers, "customers")

    assert code == -1
    assert "after its check (nothing was written)" in output
    assert stored(postgres_url) == []  # this process did not write its share either


def test_a_worker_killed_while_writing_fails_the_import_and_a_rerun_completes_it(
    postgres_url: str,
    second_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sharing: Any,
) -> None:
    customers, _ = write_files(tmp_path, 200, 0)
    kill_worker_when(monkeypatch, lambda child: child.written > 0)

    code, output = in_process_import(postgres_url, customers, "customers", batch_size=1)

    assert code == -1
    assert "(while writing: the batches stored before are kept" in output
    partly = Counter(topic for topic, _, _ in stored(postgres_url))["CustomerRegistered"]
    assert 0 < partly < 200  # this process's share, and the worker's batches before the kill
    monkeypatch.undo()
    again = crm_cli("import", "customers", customers, "--db", postgres_url, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert f"{200 - partly} new, {partly} already imported" in again.stdout
    alone = crm_cli("import", "customers", customers, "--db", second_url, "--workers", "1")
    assert alone.returncode == 0, alone.stderr
    assert stored(postgres_url) == stored(second_url)
    with CRM.open(postgres_url) as crm:
        assert verify_chains(crm.store).ok


def test_a_worker_that_dies_while_checking_fails_the_import_with_nothing_written(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers, _ = write_files(tmp_path, 120, 0)

    def dying(module: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # the test's own interpreter
            [sys.executable, "-c", "import sys; sys.stdin.readline(); sys.exit(5)"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    monkeypatch.setattr(import_workers, "start_child", dying)
    code, output = in_process_import(postgres_url, customers, "customers")
    assert code == -1
    assert "exit status 5 (while checking: nothing was written)" in output
    assert stored(postgres_url) == []


def test_a_worker_whose_parent_is_gone_stops_at_once(postgres_url: str, tmp_path: Path) -> None:
    customers, _ = write_files(tmp_path, 2000, 0)
    child = child_processes.start_child(import_workers.__name__)
    digest = read_csv(customers, CUSTOMERS).digest
    job = ShareJob(postgres_url, "customers", str(customers), digest, "import:test", 100)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(job.__dict__).encode() + b"\n")
    child.stdin.flush()
    assert json.loads(child.stdout.readline()) == {"next": True}  # it is working
    child.stdin.write(b"bucket 0\n")
    child.stdin.flush()
    started = time.monotonic()
    child.stdin.close()  # as when the parent dies: its end of the pipe closes
    assert child.wait(timeout=30) == child_processes.ORPHANED
    assert time.monotonic() - started < 10
    assert stored(postgres_url) == []


def test_a_worker_whose_parent_dies_while_it_writes_stops_and_a_rerun_completes(
    postgres_url: str, tmp_path: Path
) -> None:
    """Its open batch rolls back; the batches it committed stay, whole; the import run
    again stores the rest and nothing twice."""
    customers, _ = write_files(tmp_path, 1000, 0)
    child = child_processes.start_child(import_workers.__name__)
    digest = read_csv(customers, CUSTOMERS).digest
    job = ShareJob(postgres_url, "customers", str(customers), digest, "import:test", 1)
    assert child.stdin is not None and child.stdout is not None

    def say(line: str) -> None:
        assert child.stdin is not None
        child.stdin.write(line.encode() + b"\n")
        child.stdin.flush()

    def heard() -> dict[str, Any]:
        assert child.stdout is not None
        message: dict[str, Any] = json.loads(child.stdout.readline())
        return message

    say(json.dumps(job.__dict__))
    for bucket in range(BUCKETS):  # every bucket to the worker: a batch per customer
        assert heard() == {"next": True}
        say(f"bucket {bucket}")
    assert heard() == {"next": True}
    say("done")
    checked = heard()["checked"]
    assert (checked["things"], checked["fresh"], checked["errors"]) == (1000, 1000, [])
    say("write")
    first = heard()
    assert first == {"written": 1}
    child.stdin.close()  # the parent dies while its worker writes
    assert child.wait(timeout=30) == child_processes.ORPHANED

    kept = Counter(topic for topic, _, _ in stored(postgres_url))
    assert 1 <= kept["CustomerRegistered"] < 1000
    assert kept["CommandRecorded"] == kept["UniqueValueClaimed"] == kept["CustomerRegistered"]
    with CRM.open(postgres_url) as crm:
        assert verify_chains(crm.store).ok
    again = crm_cli("import", "customers", customers, "--db", postgres_url, "--workers", "1")
    assert again.returncode == 0, again.stderr
    done = kept["CustomerRegistered"]
    assert f"{1000 - done} new, {done} already imported" in again.stdout
    assert Counter(t for t, _, _ in stored(postgres_url))["CustomerRegistered"] == 1000


def test_buckets_cover_every_row_once(tmp_path: Path) -> None:
    _, orders = write_files(tmp_path, 40, 300)
    rows = read_csv(orders, ORDERS).rows
    shared = buckets(rows, "orders")
    assert len(shared) == BUCKETS
    assert sorted(row.line for bucket in shared for row in bucket) == [row.line for row in rows]
