"""Property test: random sequences of order commands against a simple model of §2.3.

Every command is tried in every state, by every kind of actor, so that the invalid ones
are exercised as often as the valid ones. The model knows the rules in a few lines:
the route from the total and the discounts, nodes decided in route order by someone who
holds the node's role and did not submit, no fulfilment before approval, paid once,
cancelled and paid are the ends. After every step the aggregate equals the model, a
refused command has recorded nothing, and the recorded events replay to the same order.

A second machine follows a customer whose purchases are made by such orders (theirs and
those of customers they refer), with time passing: the lifecycle stage read from the
events is always one of the ten of DESIGN §3 and the one its eight rules give, and the
stage history ends in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.aggregates.order import Order
from domain.approval import DEFAULT_APPROVAL_POLICY, ApprovalNode
from domain.context import CommandContext
from domain.events.base import DomainEvent
from domain.events.order import (
    OrderApprovalStepApproved,
    OrderApproved,
    OrderCancelled,
    OrderFulfilled,
    OrderLine,
    OrderPaid,
    OrderRejected,
    OrderStatus,
    OrderSubmittedForApproval,
    OrderType,
)
from domain.lifecycle import facts_from_events, history, purchase_from_order_events, stage_at
from domain.lifecycle_vocabulary import LifecycleStage
from domain.values import Money
from domain.vocabulary import ContactChannel, ContactDirection, RelationshipTier
from tests.domain.scenario import NOW
from tests.domain.test_state_machines import MACHINE_SETTINGS, Recorder, register_customer

Status = OrderStatus
Node = ApprovalNode


@dataclass(frozen=True)
class Person:
    id: str
    roles: frozenset[str]


REP = Person("rep-1", frozenset({"sales_rep"}))
# A sales manager who also sells: may submit, and then may not approve that order.
SELLING_MANAGER = Person("mgr-2", frozenset({"sales_manager"}))
MANAGER = Person("mgr-1", frozenset({"sales_manager"}))
FINANCE = Person("fin-1", frozenset({"finance"}))
DIRECTOR = Person("dir-1", frozenset({"director"}))
BOARD = Person("dir-2", frozenset({"director", "finance", "sales_manager"}))
PEOPLE = (REP, SELLING_MANAGER, MANAGER, FINANCE, DIRECTOR, BOARD)
SUBMITTERS = (REP, SELLING_MANAGER, BOARD)


def order_line(unit_price: str, discount_pct: str = "0") -> OrderLine:
    return OrderLine(
        sku="CR-1",
        name="Cold room",
        quantity=Decimal(1),
        unit_price=Decimal(unit_price),
        discount_pct=Decimal(discount_pct),
    )


# Line sets on each side of every threshold of the default policy.
LINE_SETS = (
    (order_line("90000"),),  # 90,000: sales manager
    (order_line("100000"),),  # exactly 100,000: still sales manager only
    (order_line("100000.01"),),  # finance
    (order_line("1000", "15"),),  # discount exactly 15 %: sales manager only
    (order_line("1000", "15.01"),),  # finance
    (order_line("500000"), order_line("0.01")),  # 500,000.01: finance and director
    (order_line("400000"), order_line("100000", "20")),  # 480,000: finance
)


def model_total(lines: tuple[OrderLine, ...]) -> Decimal:
    return sum(
        (
            (line.quantity * line.unit_price * (100 - line.discount_pct) / 100).quantize(
                Decimal("0.01"), ROUND_HALF_UP
            )
            for line in lines
        ),
        Decimal(0),
    )


def model_route(lines: tuple[OrderLine, ...]) -> tuple[Node, ...]:
    total = model_total(lines)
    route = [Node.SALES_MANAGER]
    if total > 100_000 or any(line.discount_pct > 15 for line in lines):
        route.append(Node.FINANCE)
    if total > 500_000:
        route.append(Node.DIRECTOR)
    return tuple(route)


class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.lines = LINE_SETS[0]
        order = Order.draft(
            self.context(REP),
            order_id=uuid4(),
            customer=register_customer(),
            order_type=OrderType.STANDARD,
            lines=self.lines,
            currency="CNY",
        )
        self.order = order
        self.recorder = Recorder(order, order.collect_events())
        # The model.
        self.status = Status.DRAFT
        self.route: tuple[Node, ...] = ()
        self.approved: list[Node] = []
        self.submitter: Person | None = None

    def context(self, person: Person) -> CommandContext:
        self.now += timedelta(minutes=7)
        return CommandContext(actor_id=person.id, now=self.now, actor_roles=person.roles)

    # ---- rules ----------------------------------------------------------------------

    @rule(lines=st.sampled_from(LINE_SETS))
    def change_lines(self, lines: tuple[OrderLine, ...]) -> None:
        draft = self.status is Status.DRAFT
        produced = self.recorder.run(
            lambda: self.order.change_lines(self.context(REP), lines=lines),
            None if draft else "order_lines_change_in_draft",
        )
        if produced:
            self.lines = lines

    @rule(person=st.sampled_from(SUBMITTERS))
    def submit(self, person: Person) -> None:
        produced = self.recorder.run(
            lambda: self.order.submit_for_approval(
                self.context(person), policy=DEFAULT_APPROVAL_POLICY
            ),
            None if self.status is Status.DRAFT else "submit_only_draft",
        )
        if produced:
            (submitted,) = produced
            assert isinstance(submitted, OrderSubmittedForApproval)
            assert submitted.route == model_route(self.lines)
            assert submitted.total.amount == model_total(self.lines)
            self.status, self.route, self.approved = Status.PENDING_APPROVAL, submitted.route, []
            self.submitter = person

    def decision_refusal(self, action: str, node: Node, person: Person) -> str | None:
        if self.status is not Status.PENDING_APPROVAL:
            return f"{action}_only_pending"
        if node is not self.route[len(self.approved)]:
            return "approval_in_route_order"
        if node.role not in person.roles:
            return "approver_holds_node_role"
        assert self.submitter is not None
        if person.id == self.submitter.id:
            return "approver_not_submitter"
        return None

    def pick(self, node: Node | None, person: Person | None) -> tuple[Node, Person]:
        """None stands for the right choice (the awaited node, a fit approver), so that
        valid decisions are drawn about as often as invalid ones."""
        waiting = self.route[len(self.approved)] if self.status is Status.PENDING_APPROVAL else None
        node = node or waiting or Node.SALES_MANAGER
        fit = [
            p
            for p in PEOPLE
            if node.role in p.roles and (self.submitter is None or p.id != self.submitter.id)
        ]
        return node, person or fit[0]

    @rule(node=st.none() | st.sampled_from(list(Node)), person=st.none() | st.sampled_from(PEOPLE))
    def approve(self, node: Node | None, person: Person | None) -> None:
        node, person = self.pick(node, person)
        produced = self.recorder.run(
            lambda: self.order.approve_step(self.context(person), node=node, comment="ok"),
            self.decision_refusal("approve", node, person),
        )
        if not produced:
            return
        step, *approved = produced
        assert isinstance(step, OrderApprovalStepApproved)
        assert (step.node, step.approver_id) == (node, person.id)
        self.approved.append(node)
        if len(self.approved) == len(self.route):
            assert [type(e) for e in approved] == [OrderApproved]
            self.status = Status.APPROVED
        else:
            assert approved == []

    @rule(
        node=st.none() | st.sampled_from(list(Node)),
        person=st.none() | st.sampled_from(PEOPLE),
        skip=st.integers(0, 2),
    )
    def reject(self, node: Node | None, person: Person | None, skip: int) -> None:
        """Tried one time in three: a rejection ends a round that approvals should finish."""
        if skip:
            return
        node, person = self.pick(node, person)
        produced = self.recorder.run(
            lambda: self.order.reject(self.context(person), node=node, reason="Too expensive"),
            self.decision_refusal("reject", node, person),
        )
        if produced:
            (rejected,) = produced
            assert isinstance(rejected, OrderRejected)
            self.status = Status.REJECTED

    @rule()
    def revise(self) -> None:
        rejected = self.status is Status.REJECTED
        produced = self.recorder.run(
            lambda: self.order.revise(self.context(REP), reason="Cheaper"),
            None if rejected else "revise_only_rejected",
        )
        if produced:
            self.status, self.route, self.approved = Status.DRAFT, (), []

    @rule()
    def fulfill(self) -> None:
        approved = self.status is Status.APPROVED
        produced = self.recorder.run(
            lambda: self.order.fulfill(self.context(REP)),
            None if approved else "fulfil_only_approved",
        )
        if produced:
            self.status = Status.FULFILLED

    @rule(exact=st.booleans())
    def pay(self, exact: bool) -> None:
        total = model_total(self.lines)
        amount = Money(amount=total if exact else total + Decimal("0.01"), currency="CNY")
        if self.status is Status.PAID:
            refused_by: str | None = "order_paid_once"
        elif self.status is not Status.FULFILLED:
            refused_by = "payment_after_fulfilment"
        elif not exact:
            refused_by = "payment_matches_total"
        else:
            refused_by = None
        produced = self.recorder.run(
            lambda: self.order.record_payment(self.context(FINANCE), amount=amount), refused_by
        )
        if produced:
            self.status = Status.PAID

    @rule(skip=st.integers(0, 3))
    def cancel(self, skip: int) -> None:
        """Tried one time in four: cancelling ends the order, and with it the walk."""
        if skip:
            return
        if self.status is Status.CANCELLED:
            refused_by: str | None = "order_cancelled_once"
        elif self.status in (Status.FULFILLED, Status.PAID):
            refused_by = "cancel_before_fulfilment"
        else:
            refused_by = None
        produced = self.recorder.run(
            lambda: self.order.cancel(self.context(MANAGER), reason="Customer withdrew"),
            refused_by,
        )
        if produced:
            (cancelled,) = produced
            assert isinstance(cancelled, OrderCancelled)
            assert cancelled.from_status is self.status
            self.status = Status.CANCELLED

    # ---- invariants -----------------------------------------------------------------

    @invariant()
    def the_order_follows_the_model(self) -> None:
        order = self.order
        assert order.status is self.status
        assert order.total.amount == model_total(self.lines)
        assert order.route == self.route
        assert order.approved_nodes == self.approved
        assert order.version == len(self.recorder.events)

    @invariant()
    def approvals_follow_the_route_and_separate_duties(self) -> None:
        """Read from the recorded events alone, round by round."""
        route: tuple[Node, ...] = ()
        submitter = ""
        decided: list[Node] = []
        approved_round = False
        for event in self.recorder.events:
            if isinstance(event, OrderSubmittedForApproval):
                route, submitter, decided = event.route, event.submitted_by, []
                approved_round = False
            elif isinstance(event, OrderApprovalStepApproved | OrderRejected):
                assert event.node is route[len(decided)]
                assert event.approver_id != submitter
                holder = next(p for p in PEOPLE if p.id == event.approver_id)
                assert event.node.role in holder.roles
                decided.append(event.node)
            elif isinstance(event, OrderApproved):
                assert tuple(decided) == route
                approved_round = True
            elif isinstance(event, OrderFulfilled):
                assert approved_round, "fulfilled before its approval"
            elif isinstance(event, OrderPaid):
                assert isinstance(self.recorder.events[event.version - 2], OrderFulfilled)

    @invariant()
    def cancelled_and_paid_are_the_ends(self) -> None:
        events = self.recorder.events
        for index, event in enumerate(events):
            if isinstance(event, OrderCancelled | OrderPaid):
                assert index == len(events) - 1

    @invariant()
    def replaying_the_events_rebuilds_the_same_order(self) -> None:
        replayed = Order.replay(self.recorder.events)
        assert (replayed.status, replayed.version, replayed.total) == (
            self.order.status,
            self.order.version,
            self.order.total,
        )
        assert (replayed.route, replayed.approved_nodes) == (
            self.order.route,
            self.order.approved_nodes,
        )
        assert replayed.submitted_by == self.order.submitted_by


OrderMachine.TestCase.settings = settings(MACHINE_SETTINGS, stateful_step_count=50)
TestOrderMachine = OrderMachine.TestCase


# ---- the customer lifecycle, with purchases made by real orders -------------------------

Stage = LifecycleStage
Tier = RelationshipTier
CHURN_AFTER = timedelta(days=365)


@dataclass
class ModelPurchase:
    buyer: int  # 0: the customer; 1, 2: the customers they may refer
    order: Order
    approved_at: datetime
    cancelled_at: datetime | None = None
    events: list[DomainEvent] = field(default_factory=list)

    def stands_at(self, at: datetime) -> bool:
        return self.approved_at <= at and (self.cancelled_at is None or self.cancelled_at > at)


class CustomerLifecycleMachine(RuleBasedStateMachine):
    """Commands on a customer and orders of theirs and their friends, with time passing;
    the stage is always one of the ten, and the one DESIGN §3's eight rules give."""

    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.customers = [register_customer() for _ in range(3)]
        self.customer = self.customers[0]
        self.recorder = Recorder(self.customer, self.customer.collect_events())
        # The model.
        self.disqualified = False
        self.engaged = False
        self.tier = Tier.TRANSACTIONAL
        self.member = False
        self.referred: set[int] = set()
        self.purchases: list[ModelPurchase] = []

    def context(self, person: Person = REP) -> CommandContext:
        self.now += timedelta(minutes=1)
        return CommandContext(actor_id=person.id, now=self.now, actor_roles=person.roles)

    def qualified_or(self) -> str | None:
        return "customer_qualified" if self.disqualified else None

    @rule(days=st.integers(1, 400))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def contact(self) -> None:
        self.recorder.run(
            lambda: self.customer.record_contact(
                self.context(),
                channel=ContactChannel.PHONE,
                direction=ContactDirection.OUTBOUND,
                summary="Checked in",
            ),
            None,
        )
        self.engaged = True

    @rule()
    def disqualify(self) -> None:
        produced = self.recorder.run(
            lambda: self.customer.disqualify(self.context(), reason="Bad debt"),
            "disqualify_once" if self.disqualified else None,
        )
        self.disqualified = self.disqualified or bool(produced)

    @rule()
    def requalify(self) -> None:
        produced = self.recorder.run(
            lambda: self.customer.requalify(self.context()),
            None if self.disqualified else "requalify_only_disqualified",
        )
        self.disqualified = self.disqualified and not produced

    @rule(tier=st.sampled_from(list(Tier)))
    def change_tier(self, tier: Tier) -> None:
        refused_by = self.qualified_or() or ("tier_changes" if tier == self.tier else None)
        if self.recorder.run(
            lambda: self.customer.change_relationship_tier(self.context(), tier=tier), refused_by
        ):
            self.tier = tier

    @rule(join=st.booleans())
    def membership(self, join: bool) -> None:
        if join:
            refused_by = self.qualified_or() or (
                "membership_not_joined_twice" if self.member else None
            )
            action = lambda: self.customer.join_membership(self.context())  # noqa: E731
        else:
            refused_by = None if self.member else "membership_left_only_by_members"
            action = lambda: self.customer.leave_membership(self.context())  # noqa: E731
        if self.recorder.run(action, refused_by):
            self.member = join

    @rule(friend=st.sampled_from([1, 2]))
    def refer(self, friend: int) -> None:
        refused_by = self.qualified_or() or (
            "referral_recorded_once" if friend in self.referred else None
        )
        if self.recorder.run(
            lambda: self.customer.record_referral(
                self.context(), referred_customer_id=self.customers[friend].id
            ),
            refused_by,
        ):
            self.referred.add(friend)

    @rule(buyer=st.sampled_from([0, 0, 1, 2]))
    def buy(self, buyer: int) -> None:
        """Draft, submit and approve: a purchase at the approval (DESIGN §2.3)."""
        customer = self.customers[buyer]
        if buyer == 0 and self.disqualified:
            self.recorder.run(
                lambda: Order.draft(
                    self.context(),
                    order_id=uuid4(),
                    customer=customer,
                    order_type=OrderType.STANDARD,
                    lines=LINE_SETS[0],
                    currency="CNY",
                ),
                "customer_qualified",
            )
            return
        order = Order.draft(
            self.context(),
            order_id=uuid4(),
            customer=customer,
            order_type=OrderType.STANDARD,
            lines=LINE_SETS[0],
            currency="CNY",
        )
        order.submit_for_approval(self.context(), policy=DEFAULT_APPROVAL_POLICY)
        order.approve_step(self.context(MANAGER), node=Node.SALES_MANAGER)
        assert order.status is Status.APPROVED
        self.purchases.append(ModelPurchase(buyer, order, self.now, events=order.collect_events()))

    @precondition(lambda self: any(p.cancelled_at is None for p in self.purchases))
    @rule(data=st.data())
    def cancel_a_purchase(self, data: st.DataObject) -> None:
        standing = [p for p in self.purchases if p.cancelled_at is None]
        purchase = data.draw(st.sampled_from(standing))
        purchase.order.cancel(self.context(MANAGER), reason="Returned")
        purchase.events += purchase.order.collect_events()
        purchase.cancelled_at = self.now

    def model_stage(self, at: datetime) -> Stage:
        """DESIGN §3, the first rule that holds."""
        mine = sorted(p.approved_at for p in self.purchases if p.buyer == 0 and p.stands_at(at))
        if self.disqualified:
            return Stage.DISQUALIFIED
        if not mine:
            return Stage.PROSPECT if self.engaged else Stage.SUSPECT
        if at - mine[-1] > CHURN_AFTER:
            return Stage.CHURNED
        if self.tier in (Tier.PARTNER, Tier.STRATEGIC_ALLIANCE):
            return Stage.PARTNER
        if any(p.buyer in self.referred and p.stands_at(at) for p in self.purchases):
            return Stage.ADVOCATE
        if self.member:
            return Stage.MEMBER
        if len(mine) >= 3 and mine[-1] - mine[0] >= timedelta(days=365):
            return Stage.LONG_TERM
        return Stage.REPEAT_BUYER if len(mine) >= 2 else Stage.FIRST_TIME_BUYER

    @invariant()
    def the_stage_is_one_of_the_ten_and_the_one_the_rules_give(self) -> None:
        purchases = [purchase_from_order_events(p.events) for p in self.purchases]
        facts = facts_from_events(
            self.recorder.events,
            purchases=[p for p, m in zip(purchases, self.purchases, strict=True) if m.buyer == 0],
            referred_purchases=[
                p for p, m in zip(purchases, self.purchases, strict=True) if m.buyer != 0
            ],
        )
        stage = stage_at(facts, self.now)
        assert len(Stage) == 10
        assert stage in set(Stage)
        assert stage is self.model_stage(self.now)
        transitions = history(facts, self.now)
        assert transitions[-1].to_stage is stage
        assert all(t.to_stage in set(Stage) for t in transitions)


CustomerLifecycleMachine.TestCase.settings = settings(MACHINE_SETTINGS, stateful_step_count=40)
TestCustomerLifecycleMachine = CustomerLifecycleMachine.TestCase
