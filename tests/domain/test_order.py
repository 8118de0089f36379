"""The Order aggregate (销售订单) and its approval flow (审批流程), given/when/then over events:
every transition and every rule it enforces."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity
from domain.aggregates.order import Order, check_order_for_win
from domain.approval import DEFAULT_APPROVAL_POLICY, ApprovalNode, ApprovalPolicy, TotalThresholds
from domain.context import CommandContext
from domain.errors import RuleViolation
from domain.events.base import DomainEvent
from domain.events.customer import (
    CustomerDisqualified,
    CustomerProfile,
    CustomerRegistered,
    CustomerRequalified,
)
from domain.events.opportunity import OpportunityOpened
from domain.events.order import (
    OrderApprovalStepApproved,
    OrderApproved,
    OrderCancelled,
    OrderDrafted,
    OrderFulfilled,
    OrderImported,
    OrderLine,
    OrderLinesChanged,
    OrderPaid,
    OrderRejected,
    OrderRevised,
    OrderStatus,
    OrderSubmittedForApproval,
    OrderType,
)
from domain.values import Money
from domain.vocabulary import CustomerKind
from tests.domain.scenario import ACTOR, NOW, Scenario, event, given

Status = OrderStatus
Node = ApprovalNode
SM, FIN, DIR = Node.SALES_MANAGER, Node.FINANCE, Node.DIRECTOR
FULL_ROUTE = (SM, FIN, DIR)

ORDER_ID = UUID("00000000-0000-4000-8000-0000000000d1")
CID = UUID("00000000-0000-4000-8000-0000000000c1")
OTHER_CID = UUID("00000000-0000-4000-8000-0000000000c2")
OPP_ID = UUID("00000000-0000-4000-8000-0000000000a1")
TODAY = NOW.date()
NEXT_MONTH = TODAY + timedelta(days=30)

# Who acts. The submitter is the scenario's actor; approvers are other people.
REP = ACTOR
MANAGER = "mgr-1"
FINANCE = "fin-1"
DIRECTOR = "dir-1"


def acting(actor_id: str = REP, *roles: str, now: datetime = NOW) -> CommandContext:
    """A context for ``actor_id`` holding ``roles`` (the scenario context has no roles)."""
    return CommandContext(actor_id=actor_id, now=now, actor_roles=frozenset(roles))


def as_rep() -> CommandContext:
    return acting(REP, "sales_rep")


def as_manager() -> CommandContext:
    return acting(MANAGER, "sales_manager")


def as_finance() -> CommandContext:
    return acting(FINANCE, "finance")


def as_director() -> CommandContext:
    return acting(DIRECTOR, "director")


APPROVER_OF: dict[Node, Callable[[], CommandContext]] = {
    SM: as_manager,
    FIN: as_finance,
    DIR: as_director,
}


def line(
    sku: str, quantity: str, unit_price: str, discount_pct: str = "0", unit_cost: str | None = None
) -> OrderLine:
    return OrderLine(
        sku=sku,
        name=f"Item {sku}",
        quantity=Decimal(quantity),
        unit_price=Decimal(unit_price),
        discount_pct=Decimal(discount_pct),
        unit_cost=Decimal(unit_cost) if unit_cost is not None else None,
    )


def cny(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="CNY")


# 3 cold rooms at 220,000 less 10 % = 594,000.00, plus 4 seals at 1,500 = 6,000.00:
# above 500,000, so the route is sales manager, finance, director.
BIG_LINES = (
    line("CR-200", "3", "220000", "10", unit_cost="150000"),
    line("SEAL-1", "4", "1500"),
)
BIG_TOTAL = cny("600000.00")
# 2 × 499.995 = 999.99: a sales manager alone approves it.
SMALL_LINES = (line("PANEL-1", "2", "499.995"),)
SMALL_TOTAL = cny("999.99")
OTHER_LINES = (line("SHELF-9", "10", "85.5", "5"),)
OTHER_TOTAL = cny("812.25")


# ---- histories --------------------------------------------------------------------


def registered_customer(*more: DomainEvent, customer_id: UUID = CID) -> Customer:
    return Customer.replay(
        [
            event(
                CustomerRegistered,
                customer_id,
                1,
                profile=CustomerProfile(kind=CustomerKind.COMPANY, name="杭州冷链物流有限公司"),
            ),
            *more,
        ]
    )


def opportunity_of(customer_id: UUID) -> Opportunity:
    return Opportunity.replay(
        [
            event(
                OpportunityOpened,
                OPP_ID,
                1,
                customer_id=customer_id,
                title="Cold storage for the Xiaoshan warehouse",
                estimated_value=cny("600000"),
            )
        ]
    )


def drafted(
    lines: tuple[OrderLine, ...] = BIG_LINES, total: Money = BIG_TOTAL, customer_id: UUID = CID
) -> DomainEvent:
    return event(
        OrderDrafted,
        ORDER_ID,
        1,
        customer_id=customer_id,
        order_type=OrderType.CONTRACT,
        lines=lines,
        currency=total.currency,
        total=total,
    )


def submitted(
    version: int, route: tuple[Node, ...] = FULL_ROUTE, total: Money = BIG_TOTAL
) -> DomainEvent:
    return event(
        OrderSubmittedForApproval,
        ORDER_ID,
        version,
        submitted_by=REP,
        route=route,
        policy_version="2026.1",
        reasons=("every order is approved by a sales manager",),
        total=total,
    )


def step(version: int, node: Node, approver_id: str) -> DomainEvent:
    return event(OrderApprovalStepApproved, ORDER_ID, version, node=node, approver_id=approver_id)


def approved(version: int, total: Money = BIG_TOTAL) -> DomainEvent:
    return event(OrderApproved, ORDER_ID, version, total=total)


def rejected(version: int, node: Node, approver_id: str) -> DomainEvent:
    return event(
        OrderRejected,
        ORDER_ID,
        version,
        node=node,
        approver_id=approver_id,
        reason="Margin too thin",
    )


def cancelled(version: int, from_status: Status) -> DomainEvent:
    return event(OrderCancelled, ORDER_ID, version, from_status=from_status, reason="Withdrawn")


DRAFT: tuple[DomainEvent, ...] = (drafted(),)
PENDING = (*DRAFT, submitted(2))
WAITING_FOR_FINANCE = (*PENDING, step(3, SM, MANAGER))
WAITING_FOR_DIRECTOR = (*WAITING_FOR_FINANCE, step(4, FIN, FINANCE))
APPROVED = (*WAITING_FOR_DIRECTOR, step(5, DIR, DIRECTOR), approved(6))
FULFILLED = (*APPROVED, event(OrderFulfilled, ORDER_ID, 7))
PAID = (*FULFILLED, event(OrderPaid, ORDER_ID, 8, amount=BIG_TOTAL))
REJECTED = (*WAITING_FOR_FINANCE, rejected(4, FIN, FINANCE))
REVISED = (*REJECTED, event(OrderRevised, ORDER_ID, 5))
CANCELLED = (*DRAFT, cancelled(2, Status.DRAFT))
RESUBMITTED = (*REVISED, submitted(6))
SMALL_PENDING = (drafted(SMALL_LINES, SMALL_TOTAL), submitted(2, (SM,), SMALL_TOTAL))

HISTORY_IN: dict[Status, tuple[DomainEvent, ...]] = {
    Status.DRAFT: DRAFT,
    Status.PENDING_APPROVAL: PENDING,
    Status.APPROVED: APPROVED,
    Status.FULFILLED: FULFILLED,
    Status.PAID: PAID,
    Status.REJECTED: REJECTED,
    Status.CANCELLED: CANCELLED,
}


def order_in(status: Status) -> Scenario[Order]:
    return given(Order, *HISTORY_IN[status])


def other_than(*statuses: Status) -> list[Status]:
    return [status for status in Status if status not in statuses]


def draft_order(
    customer: Customer | None = None,
    *,
    lines: tuple[OrderLine, ...] = BIG_LINES,
    currency: str = "CNY",
    delivery_date: date | None = None,
    opportunity: Opportunity | None = None,
    context: CommandContext | None = None,
) -> Callable[[], Order]:
    return lambda: Order.draft(
        context or as_rep(),
        order_id=ORDER_ID,
        customer=customer if customer is not None else registered_customer(),
        order_type=OrderType.CONTRACT,
        lines=lines,
        currency=currency,
        delivery_date=delivery_date,
        payment_terms="30 days net",
        opportunity=opportunity,
    )


def submit(policy: ApprovalPolicy = DEFAULT_APPROVAL_POLICY) -> Callable[[Order], None]:
    return lambda o: o.submit_for_approval(as_rep(), policy=policy)


def approve(
    node: Node, context: CommandContext | None = None, comment: str | None = None
) -> Callable[[Order], None]:
    return lambda o: o.approve_step(context or APPROVER_OF[node](), node=node, comment=comment)


def reject(node: Node, context: CommandContext | None = None) -> Callable[[Order], None]:
    return lambda o: o.reject(
        context or APPROVER_OF[node](), node=node, reason="Discount not justified"
    )


def state_after(scenario: Scenario[Order]) -> Order:
    assert scenario.aggregate is not None
    return scenario.aggregate


# ---- draft ----------------------------------------------------------------------------


class TestDraft:
    def test_an_order_for_an_opportunity_is_in_the_opportunity_currency(self) -> None:
        Scenario(Order).when_created(
            draft_order(currency="USD", opportunity=opportunity_of(CID))
        ).then_rejected("currency_matches", field="currency")

    def test_drafting_records_customer_type_lines_currency_total_and_terms(self) -> None:
        scenario = Scenario(Order).when_created(
            draft_order(delivery_date=NEXT_MONTH, opportunity=opportunity_of(CID))
        )
        scenario.then(
            (
                OrderDrafted,
                {
                    "aggregate_id": ORDER_ID,
                    "version": 1,
                    "customer_id": CID,
                    "order_type": OrderType.CONTRACT,
                    "lines": BIG_LINES,
                    "currency": "CNY",
                    "total": BIG_TOTAL,
                    "delivery_date": NEXT_MONTH,
                    "payment_terms": "30 days net",
                    "opportunity_id": OPP_ID,
                    "actor_id": REP,
                    "occurred_at": NOW,
                },
            )
        )
        order = state_after(scenario)
        assert order.status is Status.DRAFT
        assert order.next_node is None

    def test_an_order_needs_no_delivery_date_or_opportunity(self) -> None:
        Scenario(Order).when_created(draft_order()).then(
            (OrderDrafted, {"delivery_date": None, "opportunity_id": None})
        )

    def test_lines_each_valid_whose_total_no_amount_can_hold_are_refused_on_the_lines(
        self,
    ) -> None:
        huge = line("CR-1", "1000000", "9999999999")
        Scenario(Order).when_created(draft_order(lines=(huge, huge))).then_rejected(
            "total_within_limit", field="lines"
        )

    def test_the_total_is_in_the_minor_unit_of_the_order_currency(self) -> None:
        # 3 × 999.5 = 2998.5, rounded half-up to whole yen.
        Scenario(Order).when_created(
            draft_order(lines=(line("CR-1", "3", "999.5"),), currency="JPY")
        ).then((OrderDrafted, {"total": Money(amount=Decimal(2999), currency="JPY")}))

    def test_an_order_for_a_disqualified_customer_is_refused(self) -> None:
        customer = registered_customer(event(CustomerDisqualified, CID, 2, reason="Fraud"))
        Scenario(Order).when_created(draft_order(customer)).then_rejected(
            "customer_qualified", field="customer_id"
        )

    def test_an_order_for_a_requalified_customer_can_be_drafted(self) -> None:
        customer = registered_customer(
            event(CustomerDisqualified, CID, 2, reason="Fraud"),
            event(CustomerRequalified, CID, 3, reason="Cleared"),
        )
        Scenario(Order).when_created(draft_order(customer)).then((OrderDrafted, {}))

    def test_an_opportunity_of_another_customer_is_refused(self) -> None:
        Scenario(Order).when_created(
            draft_order(opportunity=opportunity_of(OTHER_CID))
        ).then_rejected("opportunity_of_same_customer", field="opportunity_id")

    def test_a_delivery_date_in_the_past_is_refused(self) -> None:
        Scenario(Order).when_created(
            draft_order(delivery_date=TODAY - timedelta(days=1))
        ).then_rejected("delivery_date_not_in_past", field="delivery_date")

    def test_a_delivery_date_of_today_is_accepted(self) -> None:
        Scenario(Order).when_created(draft_order(delivery_date=TODAY)).then(
            (OrderDrafted, {"delivery_date": TODAY})
        )

    def test_an_implausible_delivery_date_is_refused_as_out_of_range(self) -> None:
        Scenario(Order).when_created(draft_order(delivery_date=date(2999, 1, 1))).then_rejected(
            "date_out_of_range", field="delivery_date"
        )

    def test_a_back_dated_order_judges_its_delivery_date_against_its_business_time(
        self,
    ) -> None:
        then = datetime(2019, 5, 6, 8, 0, tzinfo=UTC)
        context = CommandContext(actor_id=REP, now=NOW, occurred_at=then)
        Scenario(Order).when_created(
            draft_order(delivery_date=date(2019, 6, 1), context=context)
        ).then((OrderDrafted, {"occurred_at": then, "recorded_at": NOW}))

    def test_an_order_without_lines_is_refused(self) -> None:
        Scenario(Order).when_created(draft_order(lines=())).then_rejected(
            "order_has_lines", field="lines"
        )


# ---- change lines ------------------------------------------------------------------------


class TestChangeLines:
    def test_a_draft_takes_new_lines_and_a_new_total(self) -> None:
        scenario = order_in(Status.DRAFT).when(
            lambda o: o.change_lines(as_rep(), lines=OTHER_LINES)
        )
        scenario.then((OrderLinesChanged, {"lines": OTHER_LINES, "total": OTHER_TOTAL}))
        order = state_after(scenario)
        assert (order.lines, order.total, order.status) == (
            OTHER_LINES,
            OTHER_TOTAL,
            Status.DRAFT,
        )

    def test_a_revised_order_is_a_draft_again_and_takes_new_lines(self) -> None:
        given(Order, *REVISED).when(lambda o: o.change_lines(as_rep(), lines=OTHER_LINES)).then(
            (OrderLinesChanged, {"total": OTHER_TOTAL})
        )

    @pytest.mark.parametrize("status", other_than(Status.DRAFT))
    def test_lines_change_only_in_draft(self, status: Status) -> None:
        order_in(status).when(lambda o: o.change_lines(as_rep(), lines=OTHER_LINES)).then_rejected(
            "order_lines_change_in_draft"
        )

    def test_removing_every_line_is_refused(self) -> None:
        order_in(Status.DRAFT).when(lambda o: o.change_lines(as_rep(), lines=())).then_rejected(
            "order_has_lines", field="lines"
        )


# ---- submit ----------------------------------------------------------------------------


class TestSubmit:
    def test_a_small_order_goes_to_a_sales_manager_only(self) -> None:
        scenario = given(Order, drafted(SMALL_LINES, SMALL_TOTAL)).when(submit())
        scenario.then(
            (
                OrderSubmittedForApproval,
                {
                    "submitted_by": REP,
                    "route": (SM,),
                    "policy_version": "2026.2",
                    "reasons": ("every order is approved by a sales manager",),
                    "total": SMALL_TOTAL,
                },
            )
        )
        order = state_after(scenario)
        assert order.status is Status.PENDING_APPROVAL
        assert order.next_node is SM

    def test_the_route_and_its_reasons_are_decided_by_the_policy_and_recorded(self) -> None:
        order_in(Status.DRAFT).when(submit()).then(
            (
                OrderSubmittedForApproval,
                {
                    "route": FULL_ROUTE,
                    "policy_version": "2026.2",
                    "reasons": (
                        "every order is approved by a sales manager",
                        "total 600000.00 is above 100000",
                        "total 600000.00 is above 500000",
                    ),
                },
            )
        )

    def test_the_version_of_the_policy_in_force_is_recorded(self) -> None:
        strict = ApprovalPolicy(version="2027.strict", finance_total_above=Decimal(500))
        given(Order, drafted(SMALL_LINES, SMALL_TOTAL)).when(submit(strict)).then(
            (
                OrderSubmittedForApproval,
                {
                    "route": (SM, FIN),
                    "policy_version": "2027.strict",
                    "reasons": (
                        "every order is approved by a sales manager",
                        "total 999.99 is above 500",
                    ),
                },
            )
        )

    def test_an_order_in_a_currency_without_thresholds_goes_to_every_node(self) -> None:
        """999.99 USD: small, but the policy's totals are in yuan, so they cannot clear it."""
        small_in_dollars = Money(amount=Decimal("999.99"), currency="USD")
        given(Order, drafted(SMALL_LINES, small_in_dollars)).when(submit()).then(
            (
                OrderSubmittedForApproval,
                {
                    "route": FULL_ROUTE,
                    "policy_version": "2026.2",
                    "reasons": (
                        "every order is approved by a sales manager",
                        "policy 2026.2 sets no total thresholds in USD: finance approves",
                        "policy 2026.2 sets no total thresholds in USD: a director approves",
                    ),
                    "total": small_in_dollars,
                },
            )
        )

    def test_an_order_in_a_currency_the_policy_names_is_weighed_in_that_currency(self) -> None:
        dollars = ApprovalPolicy(
            version="2027.usd",
            other_currencies={
                "USD": TotalThresholds(
                    finance_total_above=Decimal(500), director_total_above=Decimal(5000)
                )
            },
        )
        small_in_dollars = Money(amount=Decimal("999.99"), currency="USD")
        given(Order, drafted(SMALL_LINES, small_in_dollars)).when(submit(dollars)).then(
            (
                OrderSubmittedForApproval,
                {
                    "route": (SM, FIN),
                    "policy_version": "2027.usd",
                    "reasons": (
                        "every order is approved by a sales manager",
                        "total 999.99 is above 500",
                    ),
                },
            )
        )

    def test_the_submission_is_decided_on_the_lines_as_changed(self) -> None:
        history = (
            *DRAFT,
            event(OrderLinesChanged, ORDER_ID, 2, lines=SMALL_LINES, total=SMALL_TOTAL),
        )
        given(Order, *history).when(submit()).then(
            (OrderSubmittedForApproval, {"route": (SM,), "total": SMALL_TOTAL})
        )

    @pytest.mark.parametrize("status", other_than(Status.DRAFT))
    def test_only_a_draft_can_be_submitted(self, status: Status) -> None:
        order_in(status).when(submit()).then_rejected("submit_only_draft")


# ---- approve ---------------------------------------------------------------------------


class TestApprove:
    def test_the_first_node_approved_moves_the_order_on_to_the_next_node(self) -> None:
        scenario = order_in(Status.PENDING_APPROVAL).when(
            approve(SM, comment="Good customer, fair price")
        )
        scenario.then(
            (
                OrderApprovalStepApproved,
                {
                    "node": SM,
                    "approver_id": MANAGER,
                    "actor_id": MANAGER,
                    "comment": "Good customer, fair price",
                },
            )
        )
        order = state_after(scenario)
        assert order.status is Status.PENDING_APPROVAL
        assert order.next_node is FIN

    def test_finance_approved_moves_the_order_on_to_the_director(self) -> None:
        scenario = given(Order, *WAITING_FOR_FINANCE).when(approve(FIN))
        scenario.then((OrderApprovalStepApproved, {"node": FIN, "approver_id": FINANCE}))
        assert state_after(scenario).next_node is DIR

    def test_the_last_node_approves_the_order_with_its_total(self) -> None:
        scenario = given(Order, *WAITING_FOR_DIRECTOR).when(approve(DIR))
        scenario.then(
            (OrderApprovalStepApproved, {"node": DIR, "approver_id": DIRECTOR, "version": 5}),
            (OrderApproved, {"total": BIG_TOTAL, "actor_id": DIRECTOR, "version": 6}),
        )
        order = state_after(scenario)
        assert order.status is Status.APPROVED
        assert order.next_node is None

    def test_a_single_node_route_is_approved_by_the_sales_manager_alone(self) -> None:
        given(Order, *SMALL_PENDING).when(approve(SM)).then(
            (OrderApprovalStepApproved, {"node": SM}),
            (OrderApproved, {"total": SMALL_TOTAL}),
        )

    @pytest.mark.parametrize(
        ("history", "node"),
        [
            (PENDING, FIN),
            (PENDING, DIR),
            (WAITING_FOR_FINANCE, SM),
            (WAITING_FOR_FINANCE, DIR),
            (WAITING_FOR_DIRECTOR, FIN),
            (SMALL_PENDING, FIN),
        ],
        ids=[
            "finance-first",
            "director-first",
            "manager-again",
            "director-before-finance",
            "finance-again",
            "node-not-on-route",
        ],
    )
    def test_approving_out_of_route_order_is_refused(
        self, history: tuple[DomainEvent, ...], node: Node
    ) -> None:
        given(Order, *history).when(approve(node)).then_rejected(
            "approval_in_route_order", field="node"
        )

    def test_the_submitter_cannot_approve_their_own_order_even_holding_the_role(self) -> None:
        order_in(Status.PENDING_APPROVAL).when(
            approve(SM, acting(REP, "sales_rep", "sales_manager"))
        ).then_rejected("approver_not_submitter")

    @pytest.mark.parametrize(
        ("history", "node", "context"),
        [
            (PENDING, SM, as_finance()),
            (PENDING, SM, as_director()),
            (PENDING, SM, acting("admin-1", "admin")),
            (WAITING_FOR_FINANCE, FIN, as_manager()),
            (WAITING_FOR_DIRECTOR, DIR, acting("fin-2", "finance", "sales_manager")),
        ],
        ids=[
            "finance-at-manager",
            "director-at-manager",
            "admin",
            "manager-at-finance",
            "fin-at-dir",
        ],
    )
    def test_approving_without_the_node_role_is_refused(
        self, history: tuple[DomainEvent, ...], node: Node, context: CommandContext
    ) -> None:
        given(Order, *history).when(approve(node, context)).then_rejected(
            "approver_holds_node_role", field="node"
        )

    @pytest.mark.parametrize("status", other_than(Status.PENDING_APPROVAL))
    def test_only_a_pending_order_can_be_approved(self, status: Status) -> None:
        order_in(status).when(approve(SM)).then_rejected("approve_only_pending")


# ---- reject ----------------------------------------------------------------------------


class TestReject:
    @pytest.mark.parametrize(
        ("history", "node"),
        [(PENDING, SM), (WAITING_FOR_FINANCE, FIN), (WAITING_FOR_DIRECTOR, DIR)],
        ids=["at-manager", "at-finance", "at-director"],
    )
    def test_a_rejection_at_any_node_rejects_the_order_with_the_reason(
        self, history: tuple[DomainEvent, ...], node: Node
    ) -> None:
        approver = APPROVER_OF[node]().actor_id
        scenario = given(Order, *history).when(reject(node))
        scenario.then(
            (
                OrderRejected,
                {"node": node, "approver_id": approver, "reason": "Discount not justified"},
            )
        )
        order = state_after(scenario)
        assert order.status is Status.REJECTED
        assert order.last_rejection == "Discount not justified"
        assert order.next_node is None

    def test_rejecting_out_of_route_order_is_refused(self) -> None:
        order_in(Status.PENDING_APPROVAL).when(reject(FIN)).then_rejected(
            "approval_in_route_order", field="node"
        )

    def test_rejecting_without_the_node_role_is_refused(self) -> None:
        order_in(Status.PENDING_APPROVAL).when(reject(SM, as_finance())).then_rejected(
            "approver_holds_node_role", field="node"
        )

    def test_the_submitter_cannot_reject_their_own_order(self) -> None:
        order_in(Status.PENDING_APPROVAL).when(
            reject(SM, acting(REP, "sales_manager"))
        ).then_rejected("approver_not_submitter")

    @pytest.mark.parametrize("status", other_than(Status.PENDING_APPROVAL))
    def test_only_a_pending_order_can_be_rejected(self, status: Status) -> None:
        order_in(status).when(reject(SM)).then_rejected("reject_only_pending")


# ---- revise and resubmit -----------------------------------------------------------------


class TestRevise:
    def test_a_rejected_order_is_revised_back_to_draft(self) -> None:
        scenario = order_in(Status.REJECTED).when(
            lambda o: o.revise(as_rep(), reason="Discount lowered")
        )
        scenario.then((OrderRevised, {"reason": "Discount lowered", "actor_id": REP}))
        order = state_after(scenario)
        assert order.status is Status.DRAFT
        assert (order.route, order.approved_nodes) == ((), [])

    @pytest.mark.parametrize("status", other_than(Status.REJECTED))
    def test_only_a_rejected_order_can_be_revised(self, status: Status) -> None:
        order_in(status).when(lambda o: o.revise(as_rep())).then_rejected("revise_only_rejected")

    def test_a_revised_order_can_be_submitted_again(self) -> None:
        scenario = given(Order, *REVISED).when(submit())
        scenario.then((OrderSubmittedForApproval, {"route": FULL_ROUTE, "version": 6}))
        order = state_after(scenario)
        assert order.next_node is SM
        assert order.approved_nodes == []

    def test_the_resubmitted_order_starts_again_at_the_first_node(self) -> None:
        given(Order, *RESUBMITTED).when(approve(FIN)).then_rejected(
            "approval_in_route_order", field="node"
        )

    def test_approvals_of_the_earlier_round_do_not_count(self) -> None:
        scenario = given(Order, *RESUBMITTED).when(approve(SM))
        # The sales manager had approved in the first round too: still no OrderApproved,
        # and finance is next again.
        scenario.then((OrderApprovalStepApproved, {"node": SM, "version": 7}))
        order = state_after(scenario)
        assert order.approved_nodes == [SM]
        assert order.next_node is FIN

    def test_the_resubmitted_order_is_approved_only_after_every_node_again(self) -> None:
        history = (
            *RESUBMITTED,
            step(7, SM, MANAGER),
            step(8, FIN, FINANCE),
        )
        given(Order, *history).when(approve(DIR)).then(
            (OrderApprovalStepApproved, {"node": DIR, "version": 9}),
            (OrderApproved, {"total": BIG_TOTAL, "version": 10}),
        )


# ---- fulfil and pay ------------------------------------------------------------------------


class TestFulfil:
    def test_an_approved_order_is_fulfilled(self) -> None:
        scenario = order_in(Status.APPROVED).when(
            lambda o: o.fulfill(as_rep(), note="Delivered to Xiaoshan")
        )
        scenario.then((OrderFulfilled, {"note": "Delivered to Xiaoshan"}))
        assert state_after(scenario).status is Status.FULFILLED

    @pytest.mark.parametrize("status", other_than(Status.APPROVED))
    def test_only_an_approved_order_can_be_fulfilled(self, status: Status) -> None:
        order_in(status).when(lambda o: o.fulfill(as_rep())).then_rejected("fulfil_only_approved")

    def test_an_order_waiting_for_its_last_node_cannot_be_fulfilled(self) -> None:
        given(Order, *WAITING_FOR_DIRECTOR).when(lambda o: o.fulfill(as_rep())).then_rejected(
            "fulfil_only_approved"
        )


def pay(amount: Money, reference: str | None = None) -> Callable[[Order], None]:
    return lambda o: o.record_payment(as_finance(), amount=amount, payment_reference=reference)


class TestPayment:
    def test_a_fulfilled_order_is_paid_with_its_total(self) -> None:
        scenario = order_in(Status.FULFILLED).when(pay(BIG_TOTAL, "BANK-2026-0042"))
        scenario.then(
            (
                OrderPaid,
                {"amount": BIG_TOTAL, "payment_reference": "BANK-2026-0042", "actor_id": FINANCE},
            )
        )
        assert state_after(scenario).status is Status.PAID

    def test_the_payment_may_write_the_total_with_fewer_decimals(self) -> None:
        order_in(Status.FULFILLED).when(pay(cny("600000"))).then(
            (OrderPaid, {"amount": cny("600000")})
        )

    @pytest.mark.parametrize(
        "status",
        [
            Status.DRAFT,
            Status.PENDING_APPROVAL,
            Status.APPROVED,
            Status.REJECTED,
            Status.CANCELLED,
        ],
    )
    def test_a_payment_before_fulfilment_is_refused(self, status: Status) -> None:
        order_in(status).when(pay(BIG_TOTAL)).then_rejected("payment_after_fulfilment")

    def test_an_order_is_paid_once(self) -> None:
        order_in(Status.PAID).when(pay(BIG_TOTAL)).then_rejected("order_paid_once")

    @pytest.mark.parametrize(
        "amount",
        [
            cny("599999.99"),
            cny("600000.01"),
            cny("300000.00"),
            Money(amount=Decimal("600000.00"), currency="USD"),
        ],
        ids=["a-cent-short", "a-cent-over", "half", "other-currency"],
    )
    def test_a_payment_that_does_not_settle_the_total_is_refused(self, amount: Money) -> None:
        error = (
            order_in(Status.FULFILLED)
            .when(pay(amount))
            .then_rejected("payment_matches_total", field="amount")
        )
        assert f"{amount.amount} {amount.currency}" in error.message


# ---- cancel ----------------------------------------------------------------------------


class TestCancel:
    @pytest.mark.parametrize(
        "status",
        [Status.DRAFT, Status.PENDING_APPROVAL, Status.APPROVED, Status.REJECTED],
    )
    def test_an_order_is_cancelled_from_any_status_before_fulfilment(self, status: Status) -> None:
        scenario = order_in(status).when(
            lambda o: o.cancel(as_manager(), reason="Customer withdrew")
        )
        scenario.then((OrderCancelled, {"from_status": status, "reason": "Customer withdrew"}))
        order = state_after(scenario)
        assert order.status is Status.CANCELLED
        assert order.next_node is None

    def test_an_order_part_way_through_approval_can_be_cancelled(self) -> None:
        given(Order, *WAITING_FOR_DIRECTOR).when(
            lambda o: o.cancel(as_manager(), reason="Customer withdrew")
        ).then((OrderCancelled, {"from_status": Status.PENDING_APPROVAL}))

    @pytest.mark.parametrize("status", [Status.FULFILLED, Status.PAID])
    def test_a_fulfilled_or_paid_order_cannot_be_cancelled(self, status: Status) -> None:
        order_in(status).when(lambda o: o.cancel(as_manager(), reason="Late")).then_rejected(
            "cancel_before_fulfilment"
        )

    def test_an_order_is_cancelled_once(self) -> None:
        order_in(Status.CANCELLED).when(
            lambda o: o.cancel(as_manager(), reason="Again")
        ).then_rejected("order_cancelled_once")


# ---- import ----------------------------------------------------------------------------

APPROVED_AT = datetime(2019, 3, 4, 10, 0, tzinfo=UTC)
FULFILLED_AT = datetime(2019, 3, 20, 16, 0, tzinfo=UTC)
PAID_AT = datetime(2019, 4, 19, 9, 0, tzinfo=UTC)
CANCELLED_AT = datetime(2019, 3, 8, 11, 0, tzinfo=UTC)

DATES_FOR: dict[Status, dict[str, datetime]] = {
    Status.APPROVED: {},
    Status.FULFILLED: {"fulfilled_at": FULFILLED_AT},
    Status.PAID: {"fulfilled_at": FULFILLED_AT, "paid_at": PAID_AT},
    Status.CANCELLED: {"cancelled_at": CANCELLED_AT},
}


def import_order(
    status: Status,
    dates: dict[str, datetime] | None = None,
    *,
    approved_at: datetime = APPROVED_AT,
    lines: tuple[OrderLine, ...] = BIG_LINES,
) -> Callable[[], Order]:
    """Import as admin; ``dates`` holds fulfilled_at, paid_at and cancelled_at as given."""
    given_dates = dates or {}
    return lambda: Order.import_history(
        acting("admin-1", "admin"),
        order_id=ORDER_ID,
        customer=registered_customer(),
        order_type=OrderType.STANDARD,
        lines=lines,
        currency="CNY",
        status=status,
        approved_at=approved_at,
        import_batch_id="erp-2019",
        external_ref="ERP-000123",
        fulfilled_at=given_dates.get("fulfilled_at"),
        paid_at=given_dates.get("paid_at"),
        cancelled_at=given_dates.get("cancelled_at"),
    )


class TestImport:
    @pytest.mark.parametrize("status", list(DATES_FOR))
    def test_a_historical_order_is_imported_in_its_final_status_with_its_dates(
        self, status: Status
    ) -> None:
        dates = DATES_FOR[status]
        scenario = Scenario(Order).when_created(import_order(status, dates))
        scenario.then(
            (
                OrderImported,
                {
                    "customer_id": CID,
                    "status": status,
                    "lines": BIG_LINES,
                    "total": BIG_TOTAL,
                    "approved_at": APPROVED_AT,
                    "fulfilled_at": dates.get("fulfilled_at"),
                    "paid_at": dates.get("paid_at"),
                    "cancelled_at": dates.get("cancelled_at"),
                    "import_batch_id": "erp-2019",
                    "external_ref": "ERP-000123",
                    "actor_id": "admin-1",
                },
            )
        )
        order = state_after(scenario)
        assert (order.status, order.total, order.version) == (status, BIG_TOTAL, 1)

    @pytest.mark.parametrize("status", list(DATES_FOR))
    def test_the_imported_order_happened_at_its_approval(self, status: Status) -> None:
        Scenario(Order).when_created(import_order(status, DATES_FOR[status])).then(
            (OrderImported, {"occurred_at": APPROVED_AT, "recorded_at": NOW})
        )

    def test_an_approval_time_in_another_zone_is_its_business_time_in_utc(self) -> None:
        beijing = timezone(timedelta(hours=8))
        local = datetime(2019, 3, 4, 18, 0, tzinfo=beijing)
        (imported,) = (
            Scenario(Order)
            .when_created(import_order(Status.APPROVED, approved_at=local))
            .then((OrderImported, {"approved_at": local}))
        )
        assert imported.occurred_at == APPROVED_AT
        assert imported.occurred_at.tzinfo is UTC

    @pytest.mark.parametrize(
        ("status", "dates", "field"),
        [
            (Status.FULFILLED, {}, "fulfilled_at"),
            (Status.PAID, {"fulfilled_at": FULFILLED_AT}, "paid_at"),
            (Status.PAID, {"paid_at": PAID_AT}, "fulfilled_at"),
            (Status.CANCELLED, {}, "cancelled_at"),
            (Status.APPROVED, {"fulfilled_at": FULFILLED_AT}, "fulfilled_at"),
            (Status.APPROVED, {"cancelled_at": CANCELLED_AT}, "cancelled_at"),
            (Status.FULFILLED, {"fulfilled_at": FULFILLED_AT, "paid_at": PAID_AT}, "paid_at"),
            (
                Status.CANCELLED,
                {"cancelled_at": CANCELLED_AT, "fulfilled_at": FULFILLED_AT},
                "fulfilled_at",
            ),
            (
                Status.PAID,
                {"fulfilled_at": FULFILLED_AT, "paid_at": PAID_AT, "cancelled_at": CANCELLED_AT},
                "cancelled_at",
            ),
        ],
        ids=[
            "fulfilled-without-fulfilled_at",
            "paid-without-paid_at",
            "paid-without-fulfilled_at",
            "cancelled-without-cancelled_at",
            "approved-with-fulfilled_at",
            "approved-with-cancelled_at",
            "fulfilled-with-paid_at",
            "cancelled-with-fulfilled_at",
            "paid-with-cancelled_at",
        ],
    )
    def test_the_dates_must_match_the_status(
        self, status: Status, dates: dict[str, datetime], field: str
    ) -> None:
        Scenario(Order).when_created(import_order(status, dates)).then_rejected(
            "import_dates_match_status", field=field
        )

    @pytest.mark.parametrize(
        ("status", "dates", "field"),
        [
            (Status.FULFILLED, {"fulfilled_at": APPROVED_AT - timedelta(days=1)}, "fulfilled_at"),
            (
                Status.PAID,
                {"fulfilled_at": FULFILLED_AT, "paid_at": FULFILLED_AT - timedelta(seconds=1)},
                "paid_at",
            ),
            (Status.CANCELLED, {"cancelled_at": APPROVED_AT - timedelta(hours=1)}, "cancelled_at"),
        ],
        ids=["fulfilled-before-approved", "paid-before-fulfilled", "cancelled-before-approved"],
    )
    def test_the_dates_must_follow_one_another(
        self, status: Status, dates: dict[str, datetime], field: str
    ) -> None:
        Scenario(Order).when_created(import_order(status, dates)).then_rejected(
            "import_dates_in_order", field=field
        )

    def test_dates_on_the_same_instant_are_in_order(self) -> None:
        Scenario(Order).when_created(
            import_order(Status.PAID, {"fulfilled_at": APPROVED_AT, "paid_at": APPROVED_AT})
        ).then((OrderImported, {"status": Status.PAID}))

    @pytest.mark.parametrize(
        ("status", "approved_at", "dates", "field"),
        [
            (Status.APPROVED, NOW + timedelta(minutes=1), {}, "approved_at"),
            (
                Status.PAID,
                APPROVED_AT,
                {"fulfilled_at": FULFILLED_AT, "paid_at": NOW + timedelta(days=1)},
                "paid_at",
            ),
            (
                Status.CANCELLED,
                APPROVED_AT,
                {"cancelled_at": NOW + timedelta(seconds=1)},
                "cancelled_at",
            ),
        ],
        ids=["approved-tomorrow", "paid-tomorrow", "cancelled-in-a-second"],
    )
    def test_dates_in_the_future_are_refused_naming_the_latest(
        self, status: Status, approved_at: datetime, dates: dict[str, datetime], field: str
    ) -> None:
        Scenario(Order).when_created(
            import_order(status, dates, approved_at=approved_at)
        ).then_rejected("import_dates_not_in_future", field=field)

    def test_a_date_of_now_is_not_in_the_future(self) -> None:
        Scenario(Order).when_created(import_order(Status.APPROVED, approved_at=NOW)).then(
            (OrderImported, {"occurred_at": NOW})
        )

    def test_an_implausible_date_is_refused_as_out_of_range(self) -> None:
        Scenario(Order).when_created(
            import_order(Status.APPROVED, approved_at=datetime(1850, 1, 1, tzinfo=UTC))
        ).then_rejected("date_out_of_range", field="approved_at")

    @pytest.mark.parametrize("status", [Status.DRAFT, Status.PENDING_APPROVAL, Status.REJECTED])
    def test_only_a_final_status_can_be_imported(self, status: Status) -> None:
        Scenario(Order).when_created(import_order(status)).then_rejected(
            "import_final_status", field="status"
        )

    def test_an_imported_order_needs_lines(self) -> None:
        Scenario(Order).when_created(import_order(Status.APPROVED, lines=())).then_rejected(
            "order_has_lines", field="lines"
        )

    def test_an_imported_approved_order_goes_on_to_fulfilment_and_payment(self) -> None:
        order = import_order(Status.APPROVED)()
        order.fulfill(as_rep())
        order.record_payment(as_finance(), amount=BIG_TOTAL)
        assert [type(e) for e in order.collect_events()] == [
            OrderImported,
            OrderFulfilled,
            OrderPaid,
        ]
        assert order.status is Status.PAID

    def test_an_imported_paid_order_is_paid_once(self) -> None:
        imported = import_order(Status.PAID, DATES_FOR[Status.PAID])().collect_events()
        given(Order, *imported).when(pay(BIG_TOTAL)).then_rejected("order_paid_once")


# ---- winning an opportunity with an order -----------------------------------------------


class TestCheckOrderForWin:
    def test_a_standing_order_of_the_same_customer_can_win_the_opportunity(self) -> None:
        check_order_for_win(Order.replay(APPROVED), opportunity_of(CID))

    def test_an_order_of_another_customer_is_refused(self) -> None:
        with pytest.raises(RuleViolation) as caught:
            check_order_for_win(Order.replay(APPROVED), opportunity_of(OTHER_CID))
        assert (caught.value.rule, caught.value.field) == ("order_of_same_customer", "order_id")

    def test_a_cancelled_order_is_refused(self) -> None:
        with pytest.raises(RuleViolation) as caught:
            check_order_for_win(Order.replay(CANCELLED), opportunity_of(CID))
        assert (caught.value.rule, caught.value.field) == ("order_not_cancelled", "order_id")

    def test_an_order_drafted_for_another_opportunity_is_refused(self) -> None:
        order = draft_order(opportunity=opportunity_of(CID))()
        other = opportunity_of(CID)
        other.id = uuid4()
        with pytest.raises(RuleViolation) as caught:
            check_order_for_win(order, other)
        assert (caught.value.rule, caught.value.field) == ("order_of_this_opportunity", "order_id")

    def test_an_order_in_another_currency_is_refused(self) -> None:
        order = draft_order(currency="USD")()
        with pytest.raises(RuleViolation) as caught:
            check_order_for_win(order, opportunity_of(CID))
        assert (caught.value.rule, caught.value.field) == ("currency_matches", "order_id")


# ---- replay ----------------------------------------------------------------------------


def test_recorded_events_replay_to_the_same_state() -> None:
    order = draft_order()()
    order.submit_for_approval(as_rep(), policy=DEFAULT_APPROVAL_POLICY)
    order.approve_step(as_manager(), node=SM)
    order.reject(as_finance(), node=FIN, reason="Margin")
    order.revise(as_rep())
    order.change_lines(as_rep(), lines=OTHER_LINES)
    order.submit_for_approval(as_rep(), policy=DEFAULT_APPROVAL_POLICY)
    order.approve_step(as_manager(), node=SM)
    order.fulfill(as_rep())
    order.record_payment(as_finance(), amount=OTHER_TOTAL)
    events = order.collect_events()

    assert [e.version for e in events] == list(range(1, 12))
    replayed = Order.replay(events)
    assert (replayed.status, replayed.version, replayed.total) == (Status.PAID, 11, OTHER_TOTAL)
    assert replayed.route == order.route == (SM,)
    assert replayed.last_rejection == "Margin"
