"""Property: for every projection, the tables built incrementally — in batches of any size,
by runners restarted between catch-ups or running side by side, interleaved with new
commands — equal the tables a rebuild from zero makes at the same clock (DESIGN §4, §6).

Random but valid command sequences (customers, contacts, surveys, follow-ups, opportunities,
orders through approval, imports, complaints through their flow, merges of customers) are
executed through ``crm.execute`` with increasing business times, on SQLite and on PostgreSQL.
A command a rule refuses is part of the game: it records nothing and the sequence goes on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from adapters.projection_runner import ProjectionRunner
from application import CRM, Actor, Role, RuleViolation
from application.commands import (
    ApproveOrderStep,
    AssessComplaint,
    AssignComplaint,
    CancelOrder,
    ChangeOpportunityStage,
    ChangeOrderLines,
    ChangeRelationshipTier,
    CloseComplaint,
    Command,
    CompleteFollowUp,
    DimensionScore,
    DisqualifyCustomer,
    DraftOrder,
    EraseCustomerPersonalData,
    EscalateComplaint,
    EvaluateOpportunity,
    FileComplaint,
    FulfillOrder,
    ImportOrder,
    JoinMembership,
    LeaveMembership,
    LoseOpportunity,
    MarkFollowUpMissed,
    MergeCustomers,
    Money,
    OpenOpportunity,
    OrderLine,
    PricedLine,
    QuoteOpportunity,
    RecordComplaintFollowUp,
    RecordContact,
    RecordOrderPayment,
    RecordReferral,
    RecordSatisfactionSurvey,
    RegisterCustomer,
    RejectOrder,
    ReopenComplaint,
    ReopenOpportunity,
    RequalifyCustomer,
    ResolveComplaint,
    ReviseOrder,
    ScheduleFollowUp,
    SubmitOrderForApproval,
    UpdateCustomerProfile,
    WinOpportunity,
)
from domain.aggregates import Order
from domain.aggregates.complaint import Complaint
from domain.approval import ApprovalNode
from domain.complaint_vocabulary import ComplaintSeverity, ComplaintStatus
from domain.events.order import OrderStatus
from domain.vocabulary import OPEN_STAGES, RelationshipTier, SatisfactionDimension
from projections import Projection, all_projections
from tests.postgres_server import Server
from tests.projections.tables import dump

START = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
SECOND, HOUR, DAY = timedelta(seconds=1), timedelta(hours=1), timedelta(days=1)
# Pauses between commands: within an hour, across SLA due times, birthdays, the at-risk
# warning (180 days) and churn (365 days).
PAUSES = (
    timedelta(0),
    SECOND,
    timedelta(minutes=30),
    3 * HOUR,
    9 * HOUR,
    DAY,
    3 * DAY,
    11 * DAY,
    40 * DAY,
    190 * DAY,
    370 * DAY,
)

ADMIN = Actor(id="admin-1", roles=frozenset({Role.ADMIN}))
# Business time (occurred_at) needs admin; deciding at a node needs the node's role too.
APPROVER = {
    ApprovalNode.SALES_MANAGER: Actor(
        id="admin-mgr", roles=frozenset({Role.ADMIN, Role.SALES_MANAGER})
    ),
    ApprovalNode.FINANCE: Actor(id="admin-fin", roles=frozenset({Role.ADMIN, Role.FINANCE})),
    ApprovalNode.DIRECTOR: Actor(id="admin-dir", roles=frozenset({Role.ADMIN, Role.DIRECTOR})),
}

NAMES = [p.name for p in all_projections()]

# Line sizes that route an order to one, two or three approval nodes (100,000 and 500,000).
UNIT_PRICES = ("0.005", "19.99", "1500", "60000", "120000", "350000")
DISCOUNTS = ("0", "10", "15", "20")


@dataclass
class World:
    """The store and what has been created in it, for the next command to pick from."""

    crm: CRM
    clock: datetime
    at: datetime
    customers: list[UUID] = field(default_factory=list)
    opportunities: list[UUID] = field(default_factory=list)
    orders: list[UUID] = field(default_factory=list)
    complaints: list[UUID] = field(default_factory=list)
    follow_ups: list[tuple[UUID, UUID]] = field(default_factory=list)
    applied: int = 0
    refused: int = 0

    def execute(self, command: Command, actor: Actor = ADMIN) -> UUID | None:
        try:
            result = self.crm.execute(command, actor=actor)
        except RuleViolation:
            self.refused += 1
            return None
        self.applied += 1
        return result.aggregate_id


# ---- strategies ---------------------------------------------------------------------------

order_lines = st.lists(
    st.builds(
        lambda sku, quantity, price, discount, cost: OrderLine(
            sku=f"SKU-{sku}",
            name=f"Item {sku}",
            quantity=Decimal(quantity),
            unit_price=Decimal(price),
            discount_pct=Decimal(discount),
            unit_cost=None if cost is None else Decimal(price) * Decimal(cost),
        ),
        st.integers(1, 3),
        st.sampled_from(("1", "2", "3.5")),
        st.sampled_from(UNIT_PRICES),
        st.sampled_from(DISCOUNTS),
        st.none() | st.sampled_from(("0.5", "0.8", "1.1")),
    ),
    min_size=1,
    max_size=3,
)
birthdays = (
    st.none()
    | st.dates(date(1950, 1, 1), date(2005, 12, 31))
    | st.sampled_from((date(1996, 2, 29), date(2000, 2, 29), date(1990, 1, 1), date(1988, 12, 31)))
)
severities = st.sampled_from(list(ComplaintSeverity))
SCHEDULED_PURPOSES = ("revisit", "birthday", "holiday", "after_sale", "complaint")


def cny(amount: str | Decimal) -> Money:
    return Money(amount=Decimal(amount), currency="CNY")


# ---- one random step ----------------------------------------------------------------------


def pick(data: st.DataObject, items: list[Any]) -> Any:
    return data.draw(st.sampled_from(items)) if items else None


def register(w: World, data: st.DataObject) -> None:
    customer = w.execute(
        RegisterCustomer(
            kind=data.draw(st.sampled_from(("individual", "company"))),
            name=data.draw(st.sampled_from(("Li Wei", "Acme Trading Co.", "Beta Ltd"))),
            birthday=data.draw(birthdays),
            email=data.draw(st.none() | st.just("li.wei@example.com")),
            owner_id=data.draw(st.none() | st.sampled_from(("rep-1", "rep-2"))),
            tier=data.draw(st.sampled_from(list(RelationshipTier))),
            occurred_at=w.at,
        )
    )
    if customer is not None:
        w.customers.append(customer)


def update_profile(w: World, data: st.DataObject) -> None:
    customer = pick(data, w.customers)
    if customer is None:
        return
    change = data.draw(
        st.sampled_from(("birthday", "name", "owner_id")).flatmap(
            lambda name: st.fixed_dictionaries(
                {
                    name: birthdays
                    if name == "birthday"
                    else st.sampled_from(("Wang Fang", "Gamma GmbH"))
                    if name == "name"
                    else st.none() | st.sampled_from(("rep-1", "rep-3"))
                }
            )
        )
    )
    w.execute(UpdateCustomerProfile(customer_id=customer, occurred_at=w.at, **change))


def erase(w: World, data: st.DataObject) -> None:
    """DESIGN §2.1: the key goes; read models blank what the projections had in clear, and
    a rebuild reads the log's values as erased: the two must agree."""
    customer = pick(data, w.customers)
    if customer is not None:
        w.execute(EraseCustomerPersonalData(customer_id=customer, reason="DSR-1"))


def contact(w: World, data: st.DataObject) -> None:
    customer = pick(data, w.customers)
    if customer is not None:
        w.execute(
            RecordContact(
                customer_id=customer,
                channel=data.draw(st.sampled_from(("phone", "email", "visit", "wechat"))),
                direction="outbound",
                summary="Called about the next order",
                occurred_at=w.at,
            )
        )


def survey(w: World, data: st.DataObject) -> None:
    customer = pick(data, w.customers)
    if customer is None:
        return
    dimensions = data.draw(
        st.lists(st.sampled_from(list(SatisfactionDimension)), min_size=1, max_size=3, unique=True)
    )
    scores = tuple(
        DimensionScore(
            dimension=d,
            expected=data.draw(st.integers(1, 10)),
            perceived=data.draw(st.integers(1, 10)),
        )
        for d in dimensions
    )
    nps = data.draw(st.none() | st.integers(0, 10))
    w.execute(
        RecordSatisfactionSurvey(customer_id=customer, scores=scores, nps=nps, occurred_at=w.at)
    )


def schedule_follow_up(w: World, data: st.DataObject) -> None:
    customer = pick(data, w.customers)
    if customer is None:
        return
    follow_up_id = uuid.uuid4()
    done = w.execute(
        ScheduleFollowUp(
            customer_id=customer,
            follow_up_id=follow_up_id,
            purpose=data.draw(st.sampled_from(SCHEDULED_PURPOSES)),
            due_at=w.at + data.draw(st.sampled_from(PAUSES)),
            assignee_id=data.draw(st.none() | st.just("rep-1")),
            occurred_at=w.at,
        )
    )
    if done is not None:
        w.follow_ups.append((customer, follow_up_id))


def close_follow_up(w: World, data: st.DataObject) -> None:
    chosen = pick(data, w.follow_ups)
    if chosen is None:
        return
    customer, follow_up_id = chosen
    kind = CompleteFollowUp if data.draw(st.booleans()) else MarkFollowUpMissed
    w.execute(kind(customer_id=customer, follow_up_id=follow_up_id, occurred_at=w.at))


def relationship(w: World, data: st.DataObject) -> None:
    customer = pick(data, w.customers)
    if customer is None:
        return
    action = data.draw(
        st.sampled_from(("tier", "join", "leave", "refer", "disqualify", "requalify", "merge"))
    )
    command: Command
    if action == "merge":
        duplicate = pick(data, [c for c in w.customers if c != customer])
        if duplicate is None:
            return
        choice = data.draw(st.sampled_from(("survivor", "duplicate")))
        command = MergeCustomers(
            survivor_id=customer,
            duplicate_id=duplicate,
            field_choices={"name": choice, "birthday": choice, "owner_id": choice},
            occurred_at=w.at,
        )
    elif action == "tier":
        tier = data.draw(st.sampled_from(list(RelationshipTier)))
        command = ChangeRelationshipTier(customer_id=customer, tier=tier, occurred_at=w.at)
    elif action == "join":
        command = JoinMembership(customer_id=customer, occurred_at=w.at)
    elif action == "leave":
        command = LeaveMembership(customer_id=customer, occurred_at=w.at)
    elif action == "refer":
        referred = pick(data, w.customers)
        command = RecordReferral(
            customer_id=customer, referred_customer_id=referred, occurred_at=w.at
        )
    elif action == "disqualify":
        command = DisqualifyCustomer(customer_id=customer, reason="No budget", occurred_at=w.at)
    else:
        command = RequalifyCustomer(customer_id=customer, occurred_at=w.at)
    w.execute(command)


def open_opportunity(w: World, data: st.DataObject) -> None:
    customer = pick(data, w.customers)
    if customer is None:
        return
    opportunity = w.execute(
        OpenOpportunity(
            customer_id=customer,
            title="Warehouse shelving",
            estimated_value=cny(data.draw(st.sampled_from(("5000", "25000.50", "800000")))),
            owner_id="rep-1",
            occurred_at=w.at,
        )
    )
    if opportunity is not None:
        w.opportunities.append(opportunity)


def work_opportunity(w: World, data: st.DataObject) -> None:
    opportunity = pick(data, w.opportunities)
    if opportunity is None:
        return
    action = data.draw(
        st.sampled_from(("evaluate", "stage", "quote", "quote", "win", "lose", "reopen"))
    )
    command: Command
    if action == "evaluate":
        command = EvaluateOpportunity(
            opportunity_id=opportunity,
            score=data.draw(st.integers(0, 100)),
            win_probability=Decimal(data.draw(st.sampled_from(("0", "33.3", "50", "100")))),
            priority=data.draw(st.sampled_from(("A", "B", "C"))),
            occurred_at=w.at,
        )
    elif action == "stage":
        command = ChangeOpportunityStage(
            opportunity_id=opportunity,
            to_stage=data.draw(st.sampled_from(OPEN_STAGES)),
            occurred_at=w.at,
        )
    elif action == "quote":
        lines = tuple(
            PricedLine(**ln.model_dump(exclude={"unit_cost"})) for ln in data.draw(order_lines)
        )
        command = QuoteOpportunity(
            opportunity_id=opportunity,
            quote_number=data.draw(st.sampled_from(("Q-1", "Q-2"))),
            lines=lines,
            valid_until=w.at.date() + timedelta(days=30),
            occurred_at=w.at,
        )
    elif action == "win":
        command = WinOpportunity(
            opportunity_id=opportunity,
            order_id=data.draw(st.none() | st.sampled_from(w.orders)) if w.orders else None,
            occurred_at=w.at,
        )
    elif action == "lose":
        command = LoseOpportunity(
            opportunity_id=opportunity, reason="Price", competitor="Rival", occurred_at=w.at
        )
    else:
        command = ReopenOpportunity(opportunity_id=opportunity, occurred_at=w.at)
    w.execute(command)


def draft_order(w: World, data: st.DataObject) -> None:
    customer = pick(data, w.customers)
    if customer is None:
        return
    order = w.execute(
        DraftOrder(
            customer_id=customer,
            lines=tuple(data.draw(order_lines)),
            currency="CNY",
            opportunity_id=data.draw(st.none() | st.sampled_from(w.opportunities))
            if w.opportunities
            else None,
            occurred_at=w.at,
        )
    )
    if order is not None:
        w.orders.append(order)


def import_order(w: World, data: st.DataObject) -> None:
    customer = pick(data, w.customers)
    if customer is None:
        return
    status = data.draw(st.sampled_from(list(OrderStatus)))
    later = [min(w.at + data.draw(st.sampled_from(PAUSES)), w.clock) for _ in range(2)]
    dates: dict[str, datetime | None] = {
        "fulfilled_at": later[0] if status in (OrderStatus.FULFILLED, OrderStatus.PAID) else None,
        "paid_at": max(later) if status is OrderStatus.PAID else None,
        "cancelled_at": later[0] if status is OrderStatus.CANCELLED else None,
    }
    order = w.execute(
        ImportOrder(
            customer_id=customer,
            lines=tuple(data.draw(order_lines)),
            currency="CNY",
            status=status,  # draft, pending and rejected are refused: final states only
            approved_at=w.at,
            import_batch_id="erp-2019",
            **dates,
        )
    )
    if order is not None:
        w.orders.append(order)


def a_while(w: World, data: st.DataObject) -> None:
    """Let a little business time pass (never beyond the clock)."""
    w.at = min(w.at + data.draw(st.sampled_from(PAUSES[:6]), label="pause"), w.clock)


def work_order(w: World, data: st.DataObject) -> None:
    """A few steps on one order: mostly its natural next step (so that orders get through
    approval, rejection, revision and a second round), or any order command."""
    order_id = pick(data, w.orders)
    if order_id is None:
        return
    for _ in range(data.draw(st.integers(1, 4), label="order steps")):
        a_while(w, data)
        order_step(w, data, order_id)


def order_step(w: World, data: st.DataObject, order_id: UUID) -> None:
    order = w.crm.load(Order, order_id)
    action = data.draw(
        st.sampled_from(("next", "next", "next", "reject", "lines", "cancel", "approve_any"))
    )
    at = w.at
    command: Command
    actor = ADMIN
    node = order.next_node or data.draw(st.sampled_from(list(ApprovalNode)))
    if action == "next":
        status = order.status
        if status is OrderStatus.DRAFT:
            command = SubmitOrderForApproval(order_id=order_id, occurred_at=at)
        elif status is OrderStatus.PENDING_APPROVAL:
            command = ApproveOrderStep(order_id=order_id, node=node, comment="ok", occurred_at=at)
            actor = APPROVER[node]
        elif status is OrderStatus.APPROVED:
            command = FulfillOrder(order_id=order_id, occurred_at=at)
        elif status is OrderStatus.FULFILLED:
            command = RecordOrderPayment(order_id=order_id, amount=order.total, occurred_at=at)
        elif status is OrderStatus.REJECTED:
            command = ReviseOrder(order_id=order_id, occurred_at=at)
        else:
            command = CancelOrder(order_id=order_id, reason="Again", occurred_at=at)
    elif action == "reject":
        command = RejectOrder(order_id=order_id, node=node, reason="Too dear", occurred_at=at)
        actor = APPROVER[node]
    elif action == "approve_any":
        node = data.draw(st.sampled_from(list(ApprovalNode)))
        command = ApproveOrderStep(order_id=order_id, node=node, occurred_at=at)
        actor = APPROVER[data.draw(st.sampled_from(list(ApprovalNode)))]
    elif action == "lines":
        command = ChangeOrderLines(
            order_id=order_id, lines=tuple(data.draw(order_lines)), occurred_at=at
        )
    else:
        command = CancelOrder(order_id=order_id, reason="Customer withdrew", occurred_at=at)
    w.execute(command, actor)


def file_complaint(w: World, data: st.DataObject) -> None:
    customer = pick(data, w.customers)
    if customer is None:
        return
    complaint = w.execute(
        FileComplaint(
            customer_id=customer,
            channel=data.draw(st.sampled_from(("phone", "email", "wechat"))),
            category=data.draw(st.sampled_from(("product", "delivery", "billing"))),
            severity=data.draw(severities),
            description="Shelf arrived bent",
            related_order_id=data.draw(st.none() | st.sampled_from(w.orders)) if w.orders else None,
            occurred_at=w.at,
        )
    )
    if complaint is not None:
        w.complaints.append(complaint)


def work_complaint(w: World, data: st.DataObject) -> None:
    """A few steps on one complaint: mostly the natural next step of its flow (through to
    closing and reopening), or any complaint command."""
    complaint_id = pick(data, w.complaints)
    if complaint_id is None:
        return
    for _ in range(data.draw(st.integers(1, 4), label="complaint steps")):
        a_while(w, data)
        complaint_step(w, data, complaint_id)


def complaint_step(w: World, data: st.DataObject, complaint_id: UUID) -> None:
    status = w.crm.load(Complaint, complaint_id).status
    action = data.draw(
        st.sampled_from(
            ("next", "next", "next", "invalid", "escalate", "reopen", "close", "follow_up")
        )
    )
    if action == "next":
        action = {
            ComplaintStatus.FILED: "assess",
            ComplaintStatus.VALID: "assign",
            ComplaintStatus.REOPENED: "assign",
            ComplaintStatus.ASSIGNED: "resolve",
            ComplaintStatus.RESOLVED: data.draw(st.sampled_from(("follow_up", "close"))),
            ComplaintStatus.CLOSED: "reopen",
        }.get(status, "escalate")
    at = w.at
    command: Command
    if action == "assess":
        command = AssessComplaint(complaint_id=complaint_id, valid=True, occurred_at=at)
    elif action == "invalid":
        command = AssessComplaint(
            complaint_id=complaint_id, valid=False, reason="Not our product", occurred_at=at
        )
    elif action == "assign":
        command = AssignComplaint(
            complaint_id=complaint_id,
            department=data.draw(st.sampled_from(("quality", "logistics"))),
            handler_id=data.draw(st.sampled_from(("svc-1", "svc-2"))),
            occurred_at=at,
        )
    elif action == "resolve":
        command = ResolveComplaint(
            complaint_id=complaint_id,
            resolution="Replaced",
            compensation=data.draw(st.none() | st.just(cny("150.00"))),
            occurred_at=at,
        )
    elif action == "follow_up":
        command = RecordComplaintFollowUp(
            complaint_id=complaint_id, satisfaction=data.draw(st.integers(1, 5)), occurred_at=at
        )
    elif action == "close":
        command = CloseComplaint(complaint_id=complaint_id, occurred_at=at)
    elif action == "reopen":
        command = ReopenComplaint(complaint_id=complaint_id, reason="Still broken", occurred_at=at)
    else:
        command = EscalateComplaint(
            complaint_id=complaint_id,
            reason="Customer called the press",
            to_severity=data.draw(st.none() | severities),
            occurred_at=at,
        )
    w.execute(command)


Step = Callable[[World, st.DataObject], None]
# Hypothesis leans towards the first entries: the deep flows come first.
STEPS: tuple[Step, ...] = (
    work_order,
    work_order,
    work_order,
    work_order,
    work_complaint,
    work_complaint,
    work_complaint,
    work_opportunity,
    work_opportunity,
    draft_order,
    draft_order,
    file_complaint,
    import_order,
    open_opportunity,
    survey,
    contact,
    schedule_follow_up,
    close_follow_up,
    relationship,
    update_profile,
    register,
    register,
    erase,
)


# ---- the property -------------------------------------------------------------------------


def runner(w: World, data: st.DataObject) -> ProjectionRunner:
    """A new runner (a restart): fresh projection instances, tracking read from the store."""
    size = data.draw(st.sampled_from((1, 2, 3, 7, 50, 500)), label="batch_size")
    return ProjectionRunner(w.crm.store, all_projections(), batch_size=size, clock=lambda: w.clock)


def given_every_event(projection: Projection) -> Projection:
    """The same projection with no ``handles`` nor ``personal_values``: the runner passes
    it every event, every personal value decrypted."""
    cls = type(projection)
    unfiltered = {"handles": None, "personal_values": None}
    return type(f"Unfiltered{cls.__name__}", (cls,), unfiltered)()  # type: ignore[no-any-return]


def catch_up(current: ProjectionRunner, data: st.DataObject) -> None:
    """Some projections, or all, in any order: they need not keep in step."""
    chosen = data.draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4), label="catch up")
    if not chosen:
        current.catch_up()
    for name in chosen:
        current.catch_up(name)


def tables_differ(
    live: dict[str, list[dict[str, Any]]], rebuilt: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per table, the rows only one side has (empty when the tables are equal)."""
    differences = {}
    for table in live:
        only_live = [row for row in live[table] if row not in rebuilt[table]]
        only_rebuilt = [row for row in rebuilt[table] if row not in live[table]]
        if only_live or only_rebuilt or live[table] != rebuilt[table]:
            differences[table] = {"incremental": only_live, "rebuilt": only_rebuilt}
    return differences


def check_rebuild_equals_incremental(url: str, data: st.DataObject) -> None:
    # The runner's clock and the store's "now": fixed, after every business time.
    clock = START + data.draw(st.integers(1, 3 * 365), label="clock days") * DAY
    with CRM.open(url, clock=lambda: clock) as crm:
        world = World(crm=crm, clock=clock, at=START)
        # Runners started earlier keep running beside later ones (several processes on
        # one store): each must notice the batches the others applied.
        runners = [runner(world, data)]
        current = runners[0]
        for _ in range(data.draw(st.integers(8, 60), label="commands")):
            world.at = min(world.at + data.draw(st.sampled_from(PAUSES)), clock)
            step = data.draw(st.sampled_from(STEPS), label="step") if world.customers else register
            step(world, data)
            if data.draw(st.sampled_from((False, False, True)), label="catch up now"):
                if data.draw(st.booleans(), label="restart"):
                    runners.append(runner(world, data))
                current = data.draw(st.sampled_from(runners), label="which runner")
                catch_up(current, data)
        runner(world, data).catch_up()
        incremental = {p.name: dump(crm.store, p) for p in all_projections()}

        rebuilder = runner(world, data) if data.draw(st.booleans(), label="new") else current
        # Every event given to every projection, every personal value in clear: what it
        # does not declare it handles or reads, it must indeed ignore.
        unfiltered = ProjectionRunner(
            crm.store, [given_every_event(p) for p in all_projections()], clock=lambda: clock
        )
        differences = {}
        for projection in all_projections():
            for which, rebuilding in (("rebuilt", rebuilder), ("given every event", unfiltered)):
                rebuilding.rebuild(projection.name)
                difference = tables_differ(
                    incremental[projection.name], dump(crm.store, projection)
                )
                if difference:
                    differences[f"{projection.name} ({which})"] = difference
        note(f"{world.applied} commands applied, {world.refused} refused by a rule")

    assert differences == {}


COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@settings(max_examples=15, **COMMON)
@given(data=st.data())
def test_every_projection_rebuilt_equals_its_incremental_build_on_sqlite(
    data: st.DataObject,
) -> None:
    check_rebuild_equals_incremental("memory://", data)


@settings(max_examples=6, **COMMON)
@given(data=st.data())
def test_every_projection_rebuilt_equals_its_incremental_build_on_postgres(
    postgres: Server, pg_schemas: list[str], data: st.DataObject
) -> None:
    schema = f"crm_prop_{uuid.uuid4().hex[:16]}"  # a fresh store per example
    pg_schemas.append(schema)
    check_rebuild_equals_incremental(postgres.url(schema), data)
