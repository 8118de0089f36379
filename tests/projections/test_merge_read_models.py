"""Read models after a merge equal those of a customer who had done it all alone (issue 5).

History A: customer X registers, buys twice, complains and is surveyed; customer Y, the same
person registered again, is contacted, opens an opportunity, buys once, complains, schedules
a follow-up and is surveyed; then Y is merged into X. History B records the same facts, at
the same business times and with the same ids, all on X. Each history goes into a store of
its own (retention figures are store-wide), on SQLite and on PostgreSQL; after catch-up at
one clock, every read model of X in A equals the one in B, and Y has no lifecycle of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from application import CRM, Actor, NotFound, Role
from application.commands import (
    ApproveOrderStep,
    AssessComplaint,
    Command,
    DimensionScore,
    DraftOrder,
    FileComplaint,
    MergeCustomers,
    OpenOpportunity,
    OrderLine,
    RecordContact,
    RecordSatisfactionSurvey,
    RegisterCustomer,
    ScheduleFollowUp,
    SubmitOrderForApproval,
)
from domain.aggregates.customer import Customer
from domain.events.order import OrderDrafted
from domain.values import Money
from projections import all_projections
from projections.merges import merged_table
from tests.postgres_server import Server
from tests.projections.tables import dump

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
END = T0 + 200 * DAY  # the clock of both stores: after every fact, before X would churn

ADMIN = Actor(id="admin-1", roles=frozenset({Role.ADMIN}))
# Approves at the sales manager's node; never the submitter (admin-1).
APPROVER = Actor(id="approver-1", roles=frozenset({Role.ADMIN, Role.SALES_MANAGER}))

X, Y = "x", "y"  # who a fact is recorded on in history A; in history B everything is X's


def store_pair(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    server: Server = request.getfixturevalue("postgres")
    schemas: list[str] = request.getfixturevalue("pg_schemas")
    urls = []
    for _ in range(2):
        schema = f"crm_test_merge_{uuid4().hex[:12]}"
        schemas.append(schema)
        urls.append(server.url(schema))
    return urls[0], urls[1]


@pytest.fixture(params=["sqlite", "postgres"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[CRM, CRM]]:
    url_a, url_b = store_pair(request, tmp_path)
    with CRM.open(url_a, clock=lambda: END) as a, CRM.open(url_b, clock=lambda: END) as b:
        yield a, b


class History:
    """Records facts at business times; ``alone`` records everything on X."""

    def __init__(self, crm: CRM, *, alone: bool) -> None:
        self.crm = crm
        self.alone = alone
        self.ids: dict[str, UUID] = {}

    def run(
        self, command_type: type[Command], at: datetime, actor: Actor = ADMIN, **fields: Any
    ) -> UUID:
        command = command_type.model_validate({**fields, "occurred_at": at})
        return self.crm.execute(command, actor=actor).aggregate_id

    def customer(self, who: str) -> UUID:
        return self.ids[X if self.alone else who]

    def register(self, who: str, at: datetime, name: str) -> None:
        if self.alone and who == Y:
            return
        self.ids[who] = self.run(
            RegisterCustomer, at, kind="individual", name=name, command_id=f"register-{who}"
        )

    def buy(self, who: str, at: datetime, tag: str, amount: str) -> UUID:
        line = OrderLine(
            sku=f"SKU-{tag}", name=tag, quantity=Decimal(1), unit_price=Decimal(amount)
        )
        order_id = self.run(
            DraftOrder,
            at,
            customer_id=self.customer(who),
            lines=[line],
            currency="CNY",
            command_id=f"order-{tag}",
        )
        self.run(SubmitOrderForApproval, at + timedelta(hours=1), order_id=order_id)
        self.run(
            ApproveOrderStep,
            at + timedelta(hours=2),
            APPROVER,
            order_id=order_id,
            node="sales_manager",
        )
        return order_id

    def complain(self, who: str, at: datetime, tag: str, order_id: UUID) -> None:
        complaint_id = self.run(
            FileComplaint,
            at,
            customer_id=self.customer(who),
            channel="phone",
            category="delivery",
            severity="high",
            description=f"late delivery {tag}",
            related_order_id=order_id,
            command_id=f"complaint-{tag}",
        )
        self.run(AssessComplaint, at + timedelta(hours=3), complaint_id=complaint_id, valid=True)

    def survey(self, who: str, at: datetime, tag: str, perceived: int) -> None:
        score = DimensionScore(dimension="service", expected=6, perceived=perceived)
        self.run(
            RecordSatisfactionSurvey,
            at,
            customer_id=self.customer(who),
            scores=[score],
            nps=perceived,
            command_id=f"survey-{tag}",
        )

    def contact(self, who: str, at: datetime) -> None:
        self.run(
            RecordContact,
            at,
            customer_id=self.customer(who),
            channel="wechat",
            direction="inbound",
            summary="asked about shelves",
            command_id="contact-1",
        )

    def opportunity(self, who: str, at: datetime) -> None:
        self.run(
            OpenOpportunity,
            at,
            customer_id=self.customer(who),
            title="Cold storage",
            estimated_value=Money(amount=Decimal("50000.00"), currency="CNY"),
            command_id="opportunity-1",
        )

    def follow_up(self, who: str, at: datetime) -> None:
        self.run(
            ScheduleFollowUp,
            at,
            customer_id=self.customer(who),
            purpose="revisit",
            due_at=END + 30 * DAY,
            command_id="follow-up-1",
        )


def record(history: History) -> None:
    history.register(X, T0, "Wang Fang")
    history.register(Y, T0 + DAY, "Wang Fang")
    history.contact(Y, T0 + 2 * DAY)
    history.opportunity(Y, T0 + 3 * DAY)
    first = history.buy(X, T0 + 10 * DAY, "x1", "1200.00")
    second = history.buy(Y, T0 + 40 * DAY, "y1", "800.00")
    history.complain(X, T0 + 45 * DAY, "x", first)
    history.complain(Y, T0 + 46 * DAY, "y", second)
    history.buy(X, T0 + 70 * DAY, "x2", "500.00")
    history.survey(X, T0 + 80 * DAY, "x", 8)
    history.follow_up(Y, T0 + 85 * DAY)
    history.survey(Y, T0 + 90 * DAY, "y", 4)


def merged_history(crm: CRM) -> History:
    history = History(crm, alone=False)
    record(history)
    history.run(
        MergeCustomers,
        T0 + 100 * DAY,
        survivor_id=history.ids[X],
        duplicate_id=history.ids[Y],
        command_id="merge-1",
    )
    return history


def alone_history(crm: CRM) -> History:
    history = History(crm, alone=True)
    record(history)
    return history


# Tables whose rows name X in both histories; the lifecycle's gathered events are left out
# (in A they are Y's own events, attributed when read), and so are the alias tables.
COMPARED = (
    "customer_purchases",
    "customer_purchases__orders",
    "customer_lifecycle",
    "lifecycle_transitions",
    "customer_lifecycle__owners",
    "customer_lifecycle__referrals",
    "satisfaction_history",
    "satisfaction_history__complaints",
    "opportunity_pipeline",
    "opportunity_stage_history",
    "complaint_cases",
    "order_approvals",
    "order_approvals__orders",
    "follow_ups",
)


def read_models(crm: CRM) -> dict[str, list[dict[str, Any]]]:
    crm.read_models.catch_up()
    tables: dict[str, list[dict[str, Any]]] = {}
    for projection in all_projections():
        tables.update(dump(crm.store, projection))
    for row in tables["customer_lifecycle"]:
        # The merge is X's last event in A: the row was last recomputed for it.
        row.pop("updated_at")
    return tables


def figures(crm: CRM) -> dict[str, Any]:
    models, operations = crm.read_models, crm.read_models.operations
    return {
        "rfm": models.rfm(),
        "abc": models.abc(),
        "pareto": models.pareto(),
        "cohorts": models.cohorts(),
        "repeat_rate": models.repeat_purchase_rate(),
        "purchases": sorted(models.purchases(), key=lambda p: str(p.order_id)),
        "churn_risk": operations.churn_risk(),
        "satisfaction_trend": operations.satisfaction_trend(),
        "complaint_cases": sorted(operations.complaint_cases(), key=lambda c: str(c.complaint_id)),
        "follow_ups": operations.follow_ups_due(END + 60 * DAY),
    }


def test_after_a_merge_every_read_model_equals_the_customer_who_did_it_all_alone(
    two_stores: tuple[CRM, CRM],
) -> None:
    a, b = two_stores
    merged, alone = merged_history(a), alone_history(b)
    x, y = merged.ids[X], merged.ids[Y]
    assert alone.ids[X] == x  # same command ids, same derived ids

    tables_a, tables_b = read_models(a), read_models(b)
    for table in COMPARED:
        assert tables_a[table] == tables_b[table], table
    # The facts are all there, under X (guards against comparing two empty tables).
    assert [r["customer_id"] for r in tables_a["customer_lifecycle"]] == [x]
    assert len(tables_a["customer_purchases"]) == 3
    assert {r["customer_id"] for r in tables_a["complaint_cases"]} == {x}
    assert {r["customer_id"] for r in tables_a["satisfaction_history"]} == {x}

    assert a.lifecycle(x) == b.lifecycle(x)
    assert a.lifecycle(x).stage.value == "repeat_buyer"
    for as_of in (T0 + 5 * DAY, T0 + 41 * DAY, T0 + 75 * DAY, END):
        assert a.lifecycle(x, as_of=as_of) == b.lifecycle(x, as_of=as_of), as_of
    assert figures(a) == figures(b)
    (risk,) = a.read_models.operations.churn_risk()
    # Y's survey (dissatisfied) is X's latest; both complaints are past their SLA.
    assert (risk.customer_id, set(risk.reasons)) == (
        x,
        {"latest_satisfaction_dissatisfied", "complaint_past_sla"},
    )

    # Y is no longer a customer of its own, but its history stays readable.
    with pytest.raises(NotFound):
        a.lifecycle(y)
    assert a.load(Customer, y).merged_into == x
    assert [type(e).__name__ for e in a.events(y)][-1] == "CustomersMerged"


def test_an_order_naming_the_duplicate_processed_after_the_merge_lands_on_the_survivor(
    two_stores: tuple[CRM, CRM],
) -> None:
    """A command that read Y just before the merge can commit just after it: its
    OrderDrafted names Y but comes after the merge in the log."""
    a, b = two_stores
    merged = merged_history(a)
    alone_history(b)
    x, y = merged.ids[X], merged.ids[Y]
    a.read_models.catch_up()  # the merge is applied before the late order is seen
    late_at, late_order = T0 + 110 * DAY, uuid4()
    line = OrderLine(sku="SKU-late", name="late", quantity=Decimal(1), unit_price=Decimal("300"))
    for crm, customer_id in ((a, y), (b, x)):
        crm.store.append(
            [
                OrderDrafted(
                    aggregate_id=late_order,
                    version=1,
                    recorded_at=END,
                    occurred_at=late_at,
                    actor_id=ADMIN.id,
                    customer_id=customer_id,
                    order_type="standard",
                    lines=(line,),
                    currency="CNY",
                    total=Money(amount=Decimal("300.00"), currency="CNY"),
                )
            ]
        )
        history = History(crm, alone=False)
        history.run(SubmitOrderForApproval, late_at + timedelta(hours=1), order_id=late_order)
        history.run(
            ApproveOrderStep,
            late_at + timedelta(hours=2),
            APPROVER,
            order_id=late_order,
            node="sales_manager",
        )
    tables_a, tables_b = read_models(a), read_models(b)
    for table in ("customer_lifecycle", "lifecycle_transitions"):
        assert tables_a[table] == tables_b[table], table
    for table in ("customer_purchases", "customer_purchases__orders", "order_approvals"):
        assert {r["customer_id"] for r in tables_a[table]} == {x}, table
    assert a.lifecycle(x).history == b.lifecycle(x).history
    assert tables_a["customer_lifecycle"][0]["purchases"] == 4


def test_merges_chain_a_customer_merged_into_a_duplicate_follows_it(
    two_stores: tuple[CRM, CRM],
) -> None:
    """W into Y, then Y into X: W's purchase is X's, and aliases never point at a merged one."""
    a, _ = two_stores
    history = merged_history_with_w(a)
    x, y, w = history.ids[X], history.ids[Y], history.ids["w"]
    tables = read_models(a)
    assert [r["customer_id"] for r in tables["customer_lifecycle"]] == [x]
    assert {r["customer_id"] for r in tables["customer_purchases"]} == {x}
    for projection in all_projections():
        merged = merged_table(projection.name).name
        if merged in tables:
            assert {(r["duplicate_id"], r["survivor_id"]) for r in tables[merged]} == {
                (w, x),
                (y, x),
            }, merged
    assert a.lifecycle(x).stage.value == "repeat_buyer"
    with pytest.raises(NotFound):
        a.lifecycle(w)


def merged_history_with_w(crm: CRM) -> History:
    history = History(crm, alone=False)
    record(history)
    history.ids["w"] = history.run(
        RegisterCustomer, T0 + 91 * DAY, kind="individual", name="F. Wang", command_id="register-w"
    )
    history.buy("w", T0 + 92 * DAY, "w1", "100.00")
    merge: Callable[[UUID, UUID, int], UUID] = lambda survivor, duplicate, day: history.run(  # noqa: E731
        MergeCustomers, T0 + day * DAY, survivor_id=survivor, duplicate_id=duplicate
    )
    merge(history.ids[Y], history.ids["w"], 95)
    merge(history.ids[X], history.ids[Y], 100)
    return history
