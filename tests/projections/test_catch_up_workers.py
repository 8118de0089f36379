"""A long catch-up split among processes (``catch_up(workers=N)``) leaves the tables one
process would, and says which group failed when one does."""

from __future__ import annotations

import contextlib
import functools
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import adapters.projection_runner as runner_module
from adapters.catch_up_workers import CatchUpWorkerFailed, Job, catch_up_in_processes, split
from adapters.event_store import EventStore
from adapters.projection_runner import ProjectionRunner
from application import CRM
from domain.aggregates.customer import Customer
from domain.events.base import DomainEvent
from domain.lifecycle import LifecyclePolicy
from projections import Projection, all_projections
from projections.base import RowStore
from projections.complaint_cases import ComplaintCasesProjection
from projections.lifecycle import CustomerLifecycleProjection
from projections.satisfaction import SatisfactionHistoryProjection
from tests.application.builders import register
from tests.projections.tables import dump

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 2, 1, tzinfo=UTC)


def fixed_clock() -> datetime:
    """Module-level, so that a worker process can be handed it."""
    return NOW


class FailingSatisfaction(SatisfactionHistoryProjection):
    """Importable by module path, as a worker needs; fails every batch it is given."""

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        raise RuntimeError("injected failure in satisfaction_history")


@contextmanager
def demo_history(url: str) -> Iterator[EventStore]:
    """The demo's history (about 1,000 events), no read model built yet."""
    demo = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "demo", "--customers", "40", "--no-projections",
         "--db", url],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    with EventStore(url) as store:
        yield store


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[EventStore]:
    """Processes are for PostgreSQL: on SQLite a batch holds the only write lock."""
    with demo_history(postgres_url) as store:
        yield store


@pytest.fixture
def demo_store(store_url: str) -> Iterator[EventStore]:
    with demo_history(store_url) as store:
        yield store


@pytest.fixture
def any_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Processes even for the demo's short log (they start at 50,000 events behind)."""
    monkeypatch.setattr(runner_module, "MIN_LAG_FOR_WORKERS", 1)


def worker_runs(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [entry for entry in logs if entry["event"] == "projection_workers"]


def test_projections_split_by_weight_into_at_most_as_many_groups_as_workers() -> None:
    projections = all_projections()
    two = split(projections, 2)
    assert [p.name for p in two[0]] == ["customer_lifecycle"]
    assert sorted(p.name for group in two for p in group) == sorted(p.name for p in projections)
    assert len(split(projections, 3)) == 3
    assert all(split(projections, 3))
    assert len(split(projections[:2], 8)) == 2  # never an empty group


def test_a_catch_up_in_two_processes_leaves_the_tables_one_process_would(
    pg_store: EventStore, any_lag: None
) -> None:
    runner = ProjectionRunner(pg_store, all_projections(), clock=fixed_clock)

    with capture_logs() as logs:
        positions = runner.catch_up(workers=2)

    (run,) = worker_runs(logs)
    mine, theirs = ([p.name for p in group] for group in split(all_projections(), 2))
    assert run["groups"] == [theirs]  # one process started: this one is the second
    assert run["in_this_process"] == mine
    batches_here = [e for e in logs if e["event"] == "projection_batch"]
    assert {name for e in batches_here for name in e["projections"]} == set(mine)  # type: ignore[attr-defined]
    assert run["failed"] == []
    assert set(positions.values()) == {pg_store.max_position()}
    in_processes = {p.name: dump(pg_store, p) for p in all_projections()}
    for name in runner.projections:
        runner.rebuild(name)  # in this process, from zero
    assert {p.name: dump(pg_store, p) for p in all_projections()} == in_processes
    assert any(in_processes["customer_lifecycle"]["customer_lifecycle"])


def test_a_failing_group_is_named_and_the_other_groups_still_catch_up(
    pg_store: EventStore, any_lag: None
) -> None:
    runner = ProjectionRunner(
        pg_store, [CustomerLifecycleProjection(), FailingSatisfaction()], clock=fixed_clock
    )

    with pytest.raises(CatchUpWorkerFailed) as failed:
        runner.catch_up(workers=2)

    assert list(failed.value.failures) == ["satisfaction_history"]
    assert "injected failure in satisfaction_history" in str(failed.value)
    status = {s.projection: s for s in runner.status()}
    assert status["customer_lifecycle"].position == pg_store.max_position()
    assert status["satisfaction_history"].position == 0
    assert "injected failure" in (status["satisfaction_history"].last_error or "")


class FailingLifecycle(CustomerLifecycleProjection):
    """The heaviest projection, so caught up in the process that starts the others."""

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        raise RuntimeError("injected failure in customer_lifecycle")


def test_a_failure_in_this_process_is_raised_once_the_other_processes_have_caught_up(
    pg_store: EventStore, any_lag: None
) -> None:
    runner = ProjectionRunner(
        pg_store, [FailingLifecycle(), SatisfactionHistoryProjection()], clock=fixed_clock
    )

    with capture_logs() as logs, pytest.raises(RuntimeError, match="in customer_lifecycle"):
        runner.catch_up(workers=2)

    (run,) = worker_runs(logs)
    assert (run["in_this_process"], run["failed"]) == (["customer_lifecycle"], [])
    status = {s.projection: s for s in runner.status()}
    assert status["satisfaction_history"].position == pg_store.max_position()
    assert status["customer_lifecycle"].position == 0
    with capture_logs() as logs, pytest.raises(RuntimeError, match="in customer_lifecycle"):
        runner.catch_up(workers=2)  # the retry: in this process
    assert worker_runs(logs) == []


def test_failures_here_and_in_another_process_are_both_told(
    pg_store: EventStore, any_lag: None
) -> None:
    runner = ProjectionRunner(
        pg_store, [FailingLifecycle(), FailingSatisfaction()], clock=fixed_clock
    )

    with pytest.raises(RuntimeError, match="in customer_lifecycle") as failed:
        runner.catch_up(workers=2)

    assert any("in satisfaction_history" in note for note in failed.value.__notes__)


def test_a_clock_a_process_cannot_be_handed_is_refused_before_anything_runs(
    pg_store: EventStore, any_lag: None
) -> None:
    runner = ProjectionRunner(pg_store, all_projections(), clock=lambda: NOW)

    with pytest.raises(TypeError, match="importable by module path"):
        runner.catch_up(workers=2)

    assert {s.position for s in runner.status()} == {0}


def test_sqlite_and_short_lags_catch_up_in_this_process(
    demo_store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    if demo_store.location.kind == "sqlite":  # one writer: processes would only queue
        monkeypatch.setattr(runner_module, "MIN_LAG_FOR_WORKERS", 1)
    runner = ProjectionRunner(demo_store, all_projections(), clock=fixed_clock)

    with capture_logs() as logs:
        positions = runner.catch_up(workers=2)

    assert worker_runs(logs) == []
    assert set(positions.values()) == {demo_store.max_position()}


class MainPolicy(LifecyclePolicy):
    """Stands for a policy class a host script defines."""


MainPolicy.__module__ = "__main__"


def main_clock() -> datetime:
    return NOW


main_clock.__module__ = "__main__"


class MainSatisfaction(SatisfactionHistoryProjection):
    """Stands for a projection class a host script defines."""


MainSatisfaction.__module__ = "__main__"


@pytest.mark.parametrize(
    ("projections", "clock"),
    [
        ([CustomerLifecycleProjection(), MainSatisfaction()], fixed_clock),
        (all_projections(), functools.partial(main_clock)),
    ],
    ids=["projection-of-__main__", "partial-of-a-__main__-function"],
)
def test_what_hides_a_script_definition_is_refused_before_anything_runs(
    pg_store: EventStore,
    any_lag: None,
    projections: list[Projection],
    clock: Callable[[], datetime],
) -> None:
    runner = ProjectionRunner(pg_store, projections, clock=clock)

    with pytest.raises(TypeError, match="__main__"):
        runner.catch_up(workers=2)

    assert {s.position for s in runner.status()} == {0}


def test_a_policy_of_main_hidden_in_a_job_is_refused_before_any_process_starts() -> None:
    job = Job(
        "postgresql://db/crm", (CustomerLifecycleProjection(MainPolicy()),), fixed_clock, 1, 1
    )

    with capture_logs() as logs, pytest.raises(TypeError, match="__main__"):
        catch_up_in_processes([job])
    assert worker_runs(logs) == []


def test_what_this_process_catches_up_itself_may_come_from_main(
    pg_store: EventStore, any_lag: None
) -> None:
    """The heaviest group stays here: its projections are never handed to a process."""
    runner = ProjectionRunner(
        pg_store,
        [CustomerLifecycleProjection(MainPolicy()), SatisfactionHistoryProjection()],
        clock=fixed_clock,
    )

    positions = runner.catch_up(workers=2)

    assert set(positions.values()) == {pg_store.max_position()}


def test_a_job_never_shows_the_store_password() -> None:
    job = Job("postgresql://crm:S3cret@db/crm", (), fixed_clock, 1, 1)
    assert "S3cret" not in repr(job)


def test_after_a_failing_group_the_runner_stays_in_one_process_until_all_catch_up(
    pg_store: EventStore, any_lag: None
) -> None:
    """A projection failing far behind would otherwise start processes at every retry."""
    failing = [CustomerLifecycleProjection(), FailingSatisfaction()]
    runner = ProjectionRunner(pg_store, failing, clock=fixed_clock)
    with pytest.raises(CatchUpWorkerFailed):
        runner.catch_up(workers=2)

    with capture_logs() as logs, pytest.raises(RuntimeError, match="injected failure"):
        runner.catch_up(workers=2)  # the retry: in this process
    assert worker_runs(logs) == []

    runner.projections["satisfaction_history"] = SatisfactionHistoryProjection()  # mended
    runner.catch_up(workers=2)
    assert {s.position for s in runner.status()} == {pg_store.max_position()}


ERASE_ELSEWHERE = """
import sys, uuid
from application import CRM
from application.commands import EraseCustomerPersonalData
from tests.application.builders import ADMIN

with CRM.open(sys.argv[1]) as crm:
    def refuse(*args, **kwargs):
        raise RuntimeError("the erasing process does not catch up")
    crm.read_models.catch_up = refuse  # its best-effort clean-up fails: ours reads it
    crm.execute(EraseCustomerPersonalData(customer_id=uuid.UUID(sys.argv[2]), reason="DSR-1"),
                actor=ADMIN)
"""


def test_keys_of_customers_the_processes_saw_erased_are_forgotten_here_too(
    postgres_url: str, any_lag: None
) -> None:
    """Decoding an erasure is how a process forgets the customer's key; after a catch-up in
    processes, this one has not decoded it, and must forget all the same."""
    with CRM.open(postgres_url, clock=fixed_clock) as crm:
        alice = register(crm, kind="individual", name="Alice Verysecret")
        crm.read_models.catch_up()
        assert crm.store.keys.cipher(alice) is not None  # this process holds the key

        erased = subprocess.run(
            [sys.executable, "-c", ERASE_ELSEWHERE, postgres_url, str(alice)],
            capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
        )  # fmt: skip
        assert erased.returncode == 0, erased.stderr
        crm.read_models.catch_up(workers=2)

        assert crm.store.keys.cipher(alice) is None
        assert crm.load(Customer, alice, version=1).profile.name == "[erased]"


LIFECYCLE_ELSEWHERE = """
import sys
from application import CRM

with CRM.open(sys.argv[1]) as crm:
    crm.read_models.catch_up("customer_lifecycle")
"""


def test_keys_of_customers_erased_before_this_process_s_own_group_are_forgotten_here_too(
    postgres_url: str, any_lag: None
) -> None:
    """This process catches up the heaviest group itself, and decoding an erasure is how it
    forgets a key; when that group was already past the erasure, only the other processes
    read it, and this one must forget all the same."""
    with CRM.open(postgres_url, clock=fixed_clock) as crm:
        alice = register(crm, kind="individual", name="Alice Verysecret")
        crm.read_models.catch_up()
        assert crm.store.keys.cipher(alice) is not None

        for script in (ERASE_ELSEWHERE, LIFECYCLE_ELSEWHERE):
            elsewhere = subprocess.run(
                [sys.executable, "-c", script, postgres_url, str(alice)],
                capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
            )  # fmt: skip
            assert elsewhere.returncode == 0, elsewhere.stderr
        with capture_logs() as logs:
            crm.read_models.catch_up(workers=2)

        (run,) = worker_runs(logs)
        assert run["in_this_process"] == ["customer_lifecycle"]
        assert not any(e["event"] == "projection_batch" for e in logs)  # nothing read here
        assert crm.store.keys.cipher(alice) is None


class HeavySatisfaction(SatisfactionHistoryProjection):
    catch_up_weight = 4.0


class HeavyComplaints(ComplaintCasesProjection):
    catch_up_weight = 4.0


class MiddleLifecycle(CustomerLifecycleProjection):
    catch_up_weight = 5.0


def test_this_process_takes_the_heaviest_group_not_the_heaviest_projection_s(
    pg_store: EventStore, any_lag: None
) -> None:
    runner = ProjectionRunner(
        pg_store, [MiddleLifecycle(), HeavySatisfaction(), HeavyComplaints()], clock=fixed_clock
    )

    with capture_logs() as logs:
        runner.catch_up(workers=2)

    (run,) = worker_runs(logs)
    assert run["groups"] == [["customer_lifecycle"]]  # 5 against 4 + 4
    assert run["in_this_process"] == ["satisfaction_history", "complaint_cases"]
    assert {s.position for s in runner.status()} == {pg_store.max_position()}


SLOW_PARENT = """
import sys, time
import adapters.projection_runner as runner_module
from adapters.event_store import EventStore
from adapters.projection_runner import ProjectionRunner
from projections.complaint_cases import ComplaintCasesProjection
from projections.lifecycle import CustomerLifecycleProjection
from tests.projections.test_catch_up_workers import SlowSatisfaction, fixed_clock

runner_module.MIN_LAG_FOR_WORKERS = 1
with EventStore(sys.argv[1]) as store:
    runner = ProjectionRunner(
        store, [CustomerLifecycleProjection(), SlowSatisfaction()], clock=fixed_clock
    )
    runner.catch_up(workers=2)
"""


class SlowSatisfaction(SatisfactionHistoryProjection):
    """Takes its time: long enough for its parent to be killed meanwhile."""

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        time.sleep(60)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_worker_processes_stop_when_the_process_that_started_them_dies(
    pg_store: EventStore,
) -> None:
    parent = subprocess.Popen([sys.executable, "-c", SLOW_PARENT, pg_store.url], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not (children := _children(parent.pid)):
            assert time.monotonic() < deadline, "the worker processes did not start"
            assert parent.poll() is None, "the parent ended early"
            time.sleep(0.1)
    finally:
        parent.kill()
        parent.wait()

    deadline = time.monotonic() + 30
    while running := [pid for pid in children if _running(pid)]:
        assert time.monotonic() < deadline, f"worker processes {running} outlived their parent"
        time.sleep(0.1)
