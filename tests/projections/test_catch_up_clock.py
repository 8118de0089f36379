"""A catch-up computes time-dependent columns as of the runner's clock from its first
batch on (``Projection.catch_up_begins``): the tables are those a catch-up at the events'
own times followed by a tick at that clock would leave."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from freezegun import freeze_time

from adapters.projection_runner import ProjectionRunner
from application import CRM
from application.commands import ImportOrder, OrderLine
from projections.follow_ups import FollowUpsProjection
from projections.lifecycle import CustomerLifecycleProjection
from tests.application.builders import ADMIN, register
from tests.projections.tables import dump

REGISTERED = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 1, 10, tzinfo=UTC)  # a purchase churned, birthdays passed


def history(crm: CRM) -> None:
    with freeze_time(REGISTERED) as clock:
        customer = register(crm, kind="individual", name="Li Na", birthday=date(1990, 4, 2))
        clock.tick(timedelta(days=20))
        crm.execute(
            ImportOrder(customer_id=customer, currency="CNY", status="approved",
                        lines=[OrderLine(sku="S", name="Desk", quantity=1, unit_price=500)],
                        approved_at=REGISTERED + timedelta(days=10), import_batch_id="b"),
            actor=ADMIN,
        )  # fmt: skip


def test_a_catch_up_with_the_clock_ahead_equals_catching_up_then_ticking(crm: CRM) -> None:
    history(crm)
    ahead = [CustomerLifecycleProjection(), FollowUpsProjection()]
    ProjectionRunner(crm.store, ahead, clock=lambda: LATER).catch_up()
    at_once = {p.name: dump(crm.store, p) for p in ahead}

    # The same events applied as of their own times, then ticked at LATER:
    in_time = [CustomerLifecycleProjection(), FollowUpsProjection()]
    runner = ProjectionRunner(crm.store, in_time, clock=lambda: REGISTERED + timedelta(days=30))
    for p in in_time:
        runner.rebuild(p.name)
    ProjectionRunner(crm.store, in_time, clock=lambda: LATER).catch_up()  # only the tick left

    assert {p.name: dump(crm.store, p) for p in in_time} == at_once
    birthday = next(r for r in at_once["follow_ups"]["follow_ups"] if r["birthday"] is not None)
    assert birthday["due_at"] == datetime(2026, 4, 2, tzinfo=UTC)
    stage = at_once["customer_lifecycle"]["customer_lifecycle"][0]["stage"]
    assert stage == "churned"
