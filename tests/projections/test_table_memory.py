"""What the lifecycle projection remembers between batches is trusted only while its tables
hold the position it saw commit: another runner moving on, or a batch rolling back, makes
it read the tables again. Tables end equal to a rebuild either way."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from freezegun import freeze_time

from adapters.projection_runner import ProjectionRunner
from application import CRM
from application.commands import ImportOrder, OrderLine, RecordContact, RecordReferral
from domain.events.base import DomainEvent
from projections.base import RowStore
from projections.lifecycle import CustomerLifecycleProjection
from projections.memory import TableMemory
from projections.satisfaction import SatisfactionHistoryProjection
from tests.application.builders import ADMIN, REP, register
from tests.projections.tables import dump

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)
LINE = OrderLine(sku="S", name="Shelving", quantity=1, unit_price=Decimal("900"))


def buy(crm: CRM, customer: UUID, at: datetime) -> None:
    crm.execute(
        ImportOrder(customer_id=customer, lines=[LINE], currency="CNY", status="approved",
                    approved_at=at, import_batch_id="b"),
        actor=ADMIN,
    )  # fmt: skip


def runner(crm: CRM, projection: CustomerLifecycleProjection) -> ProjectionRunner:
    return ProjectionRunner(crm.store, [projection], batch_size=3, clock=lambda: CLOCK)


def rebuilt(crm: CRM) -> dict[str, list[dict[str, object]]]:
    fresh = CustomerLifecycleProjection()
    ProjectionRunner(crm.store, [fresh], clock=lambda: CLOCK).rebuild(fresh.name)
    return dump(crm.store, fresh)


def test_a_runner_sees_what_another_runner_applied_in_between(crm: CRM) -> None:
    first, second = CustomerLifecycleProjection(), CustomerLifecycleProjection()
    with freeze_time(T0) as clock:
        referrer, buyer = register(crm, name="Referrer"), register(crm, name="Buyer")
        runner(crm, first).catch_up()  # remembers both customers
        clock.tick(timedelta(days=1))
        crm.execute(RecordReferral(customer_id=referrer, referred_customer_id=buyer), actor=REP)
        buy(crm, buyer, T0 + timedelta(hours=12))
        runner(crm, second).catch_up()  # another process applies the referral and purchase
        clock.tick(timedelta(days=3))
        buy(crm, buyer, T0 + timedelta(days=3))
        crm.execute(
            RecordContact(
                customer_id=referrer, channel="phone", direction="outbound", summary="Hi"
            ),
            actor=REP,
        )
        runner(crm, first).catch_up()  # must not trust what it remembered

    tables = dump(crm.store, first)
    assert tables == rebuilt(crm)
    stages = {r["customer_id"]: r["stage"] for r in tables["customer_lifecycle"]}
    assert stages[buyer] == "repeat_buyer"
    assert any(r["referrer_id"] == referrer for r in tables["customer_lifecycle__referrals"])


class FailsOnce(SatisfactionHistoryProjection):
    """Fails its first batch, after the lifecycle applied the same batch in the same
    transaction: the whole transaction rolls back and each projection retries alone."""

    failed: ClassVar[list[bool]] = []
    handles = None  # given the registration and orders too, so that it has a batch to fail

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        if not self.failed:
            self.failed.append(True)
            raise RuntimeError("injected failure")
        super().apply(events, rows)


def test_a_rolled_back_batch_leaves_nothing_remembered_behind(crm: CRM) -> None:
    lifecycle = CustomerLifecycleProjection()
    with freeze_time(T0) as clock:
        customer = register(crm)
        clock.tick(timedelta(days=3))
        buy(crm, customer, T0 + timedelta(days=1))
        buy(crm, customer, T0 + timedelta(days=2))
    FailsOnce.failed.clear()
    both = ProjectionRunner(crm.store, [lifecycle, FailsOnce()], batch_size=50, clock=lambda: CLOCK)
    both.catch_up()

    assert FailsOnce.failed == [True]
    assert dump(crm.store, lifecycle) == rebuilt(crm)


def test_memory_is_forgotten_unless_the_batch_starts_where_the_last_commit_left_it() -> None:
    forgotten: list[int] = []
    memory = TableMemory(lambda: forgotten.append(1))

    first = memory.begins("lifecycle", 0)
    memory.committed(first, "lifecycle", 10)
    assert len(forgotten) == 1  # nothing was known to start with
    memory.committed(memory.begins("lifecycle", 10), "lifecycle", 20)
    assert len(forgotten) == 1  # continuous: kept

    memory.begins("lifecycle", 35)  # someone else applied 20..35
    assert len(forgotten) == 2
    stale = memory.begins("lifecycle", 35)  # that batch rolled back: never committed
    assert len(forgotten) == 3

    late = memory.begins("lifecycle", 35)
    memory.begins("lifecycle", 35)  # a second thread began before the first reported
    memory.committed(late, "lifecycle", 40)  # reported late: counts for nothing
    memory.begins("lifecycle", 40)
    assert len(forgotten) == 6
    assert stale < late
    memory.committed(memory.begins("lifecycle__rebuild", 0), "lifecycle__rebuild", 5)
    memory.begins("lifecycle", 5)  # same position, other tables
    assert len(forgotten) == 8


class Held(CustomerLifecycleProjection):
    """Holds its first batch open until told, noting every batch that enters."""

    def __init__(self) -> None:
        super().__init__()
        self.entered: list[str] = []
        self.release = threading.Event()
        self.inside = threading.Event()

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        self.entered.append(threading.current_thread().name)
        if len(self.entered) == 1:
            self.inside.set()
            self.release.wait(10)
        super().apply(events, rows)


def test_threads_sharing_a_runner_take_turns_with_a_projection(postgres_url: str) -> None:
    """A live batch and a rebuild lock different tracking rows: only the runner keeps
    them from folding events into one projection's memory at once."""
    with CRM.open(postgres_url) as crm:
        with freeze_time(T0):
            for n in range(4):
                register(crm, name=f"Customer {n}")
        projection = Held()
        shared = ProjectionRunner(crm.store, [projection], batch_size=2, clock=lambda: CLOCK)
        live = threading.Thread(target=shared.catch_up, name="live")
        live.start()
        assert projection.inside.wait(10)
        rebuild = threading.Thread(target=shared.rebuild, args=(projection.name,), name="rebuild")
        rebuild.start()
        rebuild.join(0.5)
        assert projection.entered == ["live"]  # the rebuild waits for the live batch
        projection.release.set()
        live.join(30)
        rebuild.join(30)
        assert "rebuild" in projection.entered
        assert dump(crm.store, projection) == rebuilt(crm)
