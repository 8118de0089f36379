"""A long catch-up split among processes (``catch_up(workers=N)``) leaves the tables one
process would, and says which group failed when one does."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import adapters.projection_runner as runner_module
from adapters.catch_up_workers import CatchUpWorkerFailed, split
from adapters.event_store import EventStore
from adapters.projection_runner import ProjectionRunner
from domain.events.base import DomainEvent
from projections import all_projections
from projections.base import RowStore
from projections.lifecycle import CustomerLifecycleProjection
from projections.satisfaction import SatisfactionHistoryProjection
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
    assert run["groups"] == [[p.name for p in group] for group in split(all_projections(), 2)]
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
