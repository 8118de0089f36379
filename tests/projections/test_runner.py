"""The projection runner on SQLite and PostgreSQL: batches, exactly-once, rebuilds, status."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
from freezegun import freeze_time
from structlog.testing import capture_logs

from adapters.projection_runner import ProjectionRunner
from adapters.sql import dialect_of, execute, write_transaction
from application import CRM
from application.commands import (
    ChangeOpportunityStage,
    EvaluateOpportunity,
    LoseOpportunity,
    PricedLine,
    QuoteOpportunity,
    ReopenOpportunity,
    WinOpportunity,
)
from domain.events.base import DomainEvent
from domain.events.opportunity import OpportunityWon
from projections.base import RowStore
from projections.opportunity_pipeline import OpportunityPipelineProjection
from projections.purchases import CustomerPurchasesProjection
from tests.application.builders import MANAGER, REP, open_opportunity, register
from tests.late_commit import hold_insert_open
from tests.projections.tables import dump

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _deal_history(crm: CRM) -> None:
    """Two customers, three deals: one won after a back-move, one lost and reopened."""
    with freeze_time(T0) as clock:
        customer = register(crm)
        won = open_opportunity(crm, customer)
        lost = open_opportunity(crm, register(crm, name="Beta Ltd"))
        open_opportunity(crm, customer, title="Service contract")
        clock.tick(timedelta(hours=2))
        crm.execute(
            EvaluateOpportunity(
                opportunity_id=won, score=80, win_probability=Decimal(60), priority="A"
            ),
            actor=REP,
        )
        crm.execute(
            ChangeOpportunityStage(opportunity_id=won, to_stage="needs_confirmed"), actor=REP
        )
        clock.tick(timedelta(days=1))
        crm.execute(
            ChangeOpportunityStage(opportunity_id=won, to_stage="intent_confirmed"), actor=REP
        )
        line = PricedLine(sku="A", name="Shelving", quantity=2, unit_price=Decimal("100.00"))
        crm.execute(
            QuoteOpportunity(
                opportunity_id=won, quote_number="Q1", lines=(line,), valid_until="2026-04-01"
            ),
            actor=REP,
        )
        clock.tick(timedelta(days=2))
        crm.execute(WinOpportunity(opportunity_id=won), actor=REP)
        crm.execute(LoseOpportunity(opportunity_id=lost, reason="Price"), actor=REP)
        clock.tick(timedelta(days=3))
        crm.execute(ReopenOpportunity(opportunity_id=lost, reason="Back"), actor=MANAGER)


def test_catch_up_builds_the_pipeline_and_its_stage_history(crm: CRM) -> None:
    _deal_history(crm)
    projection = OpportunityPipelineProjection()
    runner = ProjectionRunner(crm.store, [projection], batch_size=7)

    positions = runner.catch_up()

    assert positions == {"opportunity_pipeline": crm.store.max_position()}
    tables = dump(crm.store, projection)
    stages = sorted((r["stage"], r["outcome"]) for r in tables["opportunity_pipeline"])
    assert stages == [("identified", None), ("identified", None), ("won", "won")]
    won = next(r for r in tables["opportunity_pipeline"] if r["outcome"] == "won")
    assert won["won_value"] == won["weighted_value"] == Decimal("200.00")
    history = [
        r
        for r in tables["opportunity_stage_history"]
        if r["opportunity_id"] == won["opportunity_id"]
    ]
    assert [(r["stage"], r["seconds_in_stage"], r["entered_by_back_move"]) for r in history] == [
        ("identified", 2 * 3600, False),
        ("needs_confirmed", 86400, False),
        ("intent_confirmed", 0, True),
        ("quoted", 2 * 86400, False),
        ("won", None, False),
    ]
    (status,) = runner.status()
    assert (status.position, status.lag_events, status.last_error) == (status.head, 0, None)


def test_catch_up_twice_applies_nothing_twice(crm: CRM) -> None:
    _deal_history(crm)
    projection = OpportunityPipelineProjection()
    runner = ProjectionRunner(crm.store, [projection], batch_size=5)
    runner.catch_up()
    once = dump(crm.store, projection)

    ProjectionRunner(crm.store, [projection], batch_size=3).catch_up()

    assert dump(crm.store, projection) == once


class Exploding(OpportunityPipelineProjection):
    """Fails on the won deal, every time, after writing the rows of the events before it."""

    armed: ClassVar[bool] = True

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        for event in events:
            if Exploding.armed and isinstance(event, OpportunityWon):
                raise RuntimeError("disk on fire")
            super().apply([event], rows)


def test_a_failing_batch_leaves_neither_rows_nor_position_and_records_the_error(crm: CRM) -> None:
    _deal_history(crm)
    Exploding.armed = True
    runner = ProjectionRunner(crm.store, [Exploding()], batch_size=6)

    with pytest.raises(RuntimeError, match="disk on fire"):
        runner.catch_up()

    (status,) = runner.status()
    # whole batches committed before the failing one; nothing of the failing one
    assert 0 < status.position < status.head
    assert status.position % 6 == 0
    assert status.last_error == "RuntimeError: disk on fire"
    partial = dump(crm.store, OpportunityPipelineProjection())
    Exploding.armed = False
    runner.catch_up()
    incremental = dump(crm.store, OpportunityPipelineProjection())
    runner.rebuild("opportunity_pipeline")
    assert dump(crm.store, OpportunityPipelineProjection()) == incremental != partial
    assert runner.status()[0].last_error is None


def test_rebuild_swaps_in_fresh_tables_equal_to_the_live_ones(crm: CRM) -> None:
    _deal_history(crm)
    projection = OpportunityPipelineProjection()
    runner = ProjectionRunner(crm.store, [projection], batch_size=4)
    runner.catch_up()
    live = dump(crm.store, projection)

    position = runner.rebuild("opportunity_pipeline")

    assert position == crm.store.max_position()
    assert dump(crm.store, projection) == live


def _index_names(crm: CRM, table: str) -> list[str]:
    with crm.store.datastore.transaction(commit=False) as cursor:
        if crm.store.location.kind == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND name NOT LIKE 'sqlite_autoindex%'",
                (table,),
            )
            return sorted(row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
            "AND indexname NOT LIKE '%%_pkey'",
            (crm.store.location.schema, table),
        )
        return sorted(row["indexname"] for row in cursor.fetchall())


def test_a_rebuilt_table_keeps_one_copy_of_each_index_under_the_live_name(crm: CRM) -> None:
    _deal_history(crm)
    ProjectionRunner(crm.store, [OpportunityPipelineProjection()]).rebuild("opportunity_pipeline")
    ProjectionRunner(crm.store, [OpportunityPipelineProjection()]).catch_up()  # a new start
    for table in OpportunityPipelineProjection.tables:
        expected = sorted(f"ix_{table.name}_{'_'.join(i)}"[:63] for i in table.indexes)
        assert _index_names(crm, table.name) == expected


def test_a_start_drops_the_second_index_copies_left_by_rebuilds_before_the_fix(
    crm: CRM,
) -> None:
    _deal_history(crm)
    ProjectionRunner(crm.store, [OpportunityPipelineProjection()]).catch_up()
    d = dialect_of(crm.store)
    with write_transaction(crm.store) as cursor:  # what such a rebuild left behind
        for table in OpportunityPipelineProjection.tables:
            for index in table.indexes:
                columns = ", ".join(d.quote(c) for c in index)
                name = d.index_name(table.name + "__rebuild", index)
                execute(
                    cursor, d, f"CREATE INDEX {d.quote(name)} ON {d.table(table.name)} ({columns})"
                )
    assert any("__rebuild" in n for n in _index_names(crm, "opportunity_pipeline"))

    ProjectionRunner(crm.store, [OpportunityPipelineProjection()]).catch_up()  # a new start

    for table in OpportunityPipelineProjection.tables:
        expected = sorted(f"ix_{table.name}_{'_'.join(i)}"[:63] for i in table.indexes)
        assert _index_names(crm, table.name) == expected


def test_a_changed_projection_version_is_rebuilt_on_the_next_run(crm: CRM) -> None:
    _deal_history(crm)
    ProjectionRunner(crm.store, [OpportunityPipelineProjection()]).catch_up()

    deployed = OpportunityPipelineProjection.version

    class NextVersion(OpportunityPipelineProjection):
        version: ClassVar[int] = deployed + 1

    runner = ProjectionRunner(crm.store, [NextVersion()])
    assert runner.status()[0].version == deployed
    runner.catch_up()
    (status,) = runner.status()
    assert (status.version, status.code_version, status.lag_events) == (
        deployed + 1,
        deployed + 1,
        0,
    )


def test_the_runner_never_skips_an_event_that_commits_late(postgres_url: str) -> None:
    """A writer holds its insert open; a later writer must wait behind it (the store inserts
    under an EXCLUSIVE table lock), and the runner, reading meanwhile, sees neither until
    they commit in order, then both."""
    with CRM.open(postgres_url) as crm:
        customer, other = register(crm), register(crm)
        projection = OpportunityPipelineProjection()
        runner = ProjectionRunner(crm.store, [projection])
        runner.catch_up()
        # An event of another customer, uncommitted (a copy at version 99: the later writer
        # reads its own customer, which must not be that broken stream once committed).
        slow = hold_insert_open(crm.store, other)
        later = threading.Thread(target=lambda: open_opportunity(crm, customer))
        later.start()
        later.join(timeout=1)
        assert later.is_alive()  # the later writer waits behind the open insert

        before = runner.catch_up()["opportunity_pipeline"]
        slow.commit()
        later.join(timeout=30)
        after = runner.catch_up()["opportunity_pipeline"]
        slow.close()

        assert after > before
        rows = dump(crm.store, projection)["opportunity_pipeline"]
        assert len(rows) == 1  # the late opportunity was applied, after the slow insert
        assert runner.status()[0].lag_events == 0


def test_the_pipeline_query_sums_deals_per_stage_from_the_read_model(crm: CRM) -> None:
    _deal_history(crm)
    crm.read_models.catch_up()

    report = {(row.stage, row.currency): row for row in crm.read_models.pipeline()}

    assert report[("won", "CNY")].deals == 1
    assert report[("won", "CNY")].weighted_value == Decimal("200.00")
    assert report[("identified", "CNY")].deals == 2


def test_a_failing_projection_does_not_hold_back_the_others(crm: CRM) -> None:
    _deal_history(crm)
    Exploding.armed = True
    runner = ProjectionRunner(crm.store, [Exploding(), CustomerPurchasesProjection()], batch_size=4)

    with pytest.raises(RuntimeError, match="disk on fire"):
        runner.catch_up()
    with pytest.raises(RuntimeError, match="disk on fire"):
        runner.catch_up("opportunity_pipeline")
    runner.catch_up("customer_purchases")

    status = {s.projection: s for s in runner.status()}
    assert status["customer_purchases"].lag_events == 0
    assert status["opportunity_pipeline"].lag_events > 0
    assert status["opportunity_pipeline"].last_error == "RuntimeError: disk on fire"
    Exploding.armed = False
    runner.catch_up()
    assert all(s.lag_events == 0 and s.last_error is None for s in runner.status())


def test_batches_grow_while_they_come_back_full_and_shrink_when_caught_up(
    postgres_url: str,
) -> None:
    with CRM.open(postgres_url) as crm:
        _deal_history(crm)
        head = crm.store.max_position()
        runner = ProjectionRunner(
            crm.store, [OpportunityPipelineProjection()], batch_size=2, max_batch_size=8
        )
        with capture_logs() as logs:
            runner.catch_up()
        sizes = [e["events"] for e in logs if e["event"] == "projection_batch"]
        assert sizes[:3] == [2, 4, 8]
        assert sum(sizes) == head and max(sizes) <= 8
        # The last batch was not full: the next catch-up starts at the first size again.
        for _ in range(2):
            open_opportunity(crm, register(crm, name="Gamma Ltd"))
        with capture_logs() as logs:
            runner.catch_up()
        assert next(e["events"] for e in logs if e["event"] == "projection_batch") == 2


def test_sqlite_batches_keep_their_size_unless_told_otherwise(tmp_path: Path) -> None:
    with CRM.open(f"sqlite:///{tmp_path / 'crm.db'}") as crm:
        _deal_history(crm)
        runner = ProjectionRunner(crm.store, [OpportunityPipelineProjection()], batch_size=2)
        with capture_logs() as logs:
            runner.catch_up()
    assert runner.max_batch_size == 2
    assert {e["events"] for e in logs if e["event"] == "projection_batch"} <= {1, 2}


def test_an_event_type_this_code_does_not_know_fails_the_batch_instead_of_being_skipped(
    crm: CRM,
) -> None:
    """No projection declares a topic a newer crm-core wrote: it must still stop the runner
    (as before projections declared what they handle), not be stepped over."""
    from domain.events.base import EVENT_TYPES
    from domain.events.customer import CustomerEvent

    customer = register(crm)

    class CustomerNicknamed(CustomerEvent):  # stands for an event of a newer version
        nickname: str

    try:
        at = datetime.now(UTC)
        crm.store.append(
            [
                CustomerNicknamed(
                    aggregate_id=customer, version=2, recorded_at=at, occurred_at=at,
                    actor_id="newer-crm-core", nickname="Ace",
                )
            ]
        )  # fmt: skip
    finally:
        del EVENT_TYPES["CustomerNicknamed"]
    runner = ProjectionRunner(crm.store, [CustomerPurchasesProjection()])

    with pytest.raises(Exception, match="CustomerNicknamed"):
        runner.catch_up()
    assert runner.status()[0].position < crm.store.max_position()


class RecordsCommitMode(CustomerPurchasesProjection):
    """Notes the commit mode its batch runs under (PostgreSQL)."""

    seen: ClassVar[list[str]] = []
    handles = None

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        cursor = rows._cursor  # type: ignore[attr-defined]  # the batch's own transaction
        cursor.execute("SHOW synchronous_commit")
        self.seen.append(next(iter(cursor.fetchone().values())))
        super().apply(events, rows)


def test_projection_batches_commit_without_waiting_for_the_wal_and_nothing_else_does(
    postgres_url: str,
) -> None:
    """A read model is rebuilt from the log, so its batches need not wait for the WAL's
    flush; the events themselves, written by the same store, must."""
    with CRM.open(postgres_url) as crm:
        register(crm)
        RecordsCommitMode.seen.clear()
        ProjectionRunner(crm.store, [RecordsCommitMode()]).catch_up()
        with crm.store.datastore.transaction(commit=False) as cursor:
            cursor.execute("SHOW synchronous_commit")
            afterwards = next(iter(cursor.fetchone().values()))

    assert RecordsCommitMode.seen == ["off"]
    assert afterwards == "on"
