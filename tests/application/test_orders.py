"""Orders (销售订单) and their approval (审批) through ``crm.execute``, with real actors, on
SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from application import CRM, Actor, NotFound, Role, RuleViolation
from application.commands import (
    ApproveOrderStep,
    ChangeOrderLines,
    Command,
    DraftOrder,
    FulfillOrder,
    ImportOrder,
    Money,
    OrderLine,
    QuoteOpportunity,
    RecordOrderPayment,
    RejectOrder,
    ReviseOrder,
    SubmitOrderForApproval,
    WinOpportunity,
)
from application.result import CommandResult
from application.settings import Settings
from domain.aggregates import Opportunity, Order
from domain.approval import ApprovalNode, ApprovalPolicy, TotalThresholds
from domain.events import (
    OpportunityWon,
    OrderApprovalStepApproved,
    OrderApproved,
    OrderDrafted,
    OrderFulfilled,
    OrderImported,
    OrderLinesChanged,
    OrderPaid,
    OrderRejected,
    OrderRevised,
    OrderStatus,
    OrderSubmittedForApproval,
)
from tests.application.builders import ADMIN, MANAGER, REP, open_opportunity, register

Status = OrderStatus
SM, FIN, DIR = ApprovalNode.SALES_MANAGER, ApprovalNode.FINANCE, ApprovalNode.DIRECTOR

FINANCE = Actor(id="fin-1", roles=frozenset({Role.FINANCE}))
DIRECTOR = Actor(id="dir-1", roles=frozenset({Role.DIRECTOR}))
# A sales manager who also sells: may draft and submit, may not approve their own order.
SELLING_MANAGER = Actor(id="mgr-2", roles=frozenset({Role.SALES_MANAGER}))

APPROVER_OF = {SM: MANAGER, FIN: FINANCE, DIR: DIRECTOR}


def cny(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="CNY")


def line(sku: str, quantity: str, unit_price: str, discount_pct: str = "0") -> OrderLine:
    return OrderLine(
        sku=sku,
        name=f"Item {sku}",
        quantity=Decimal(quantity),
        unit_price=Decimal(unit_price),
        discount_pct=Decimal(discount_pct),
    )


# 2 × 300,000 = 600,000.00: sales manager, finance, director.
LINES_600K = (line("CR-500", "2", "300000"),)
# 150,000.00: sales manager, finance.
LINES_150K = (line("CR-100", "1", "150000"),)
# 90,000.00 after revision: sales manager only.
LINES_90K = (line("CR-100", "1", "100000", "10"),)


def draft(crm: CRM, customer_id: UUID, lines: tuple[OrderLine, ...], **more: Any) -> UUID:
    command = DraftOrder(customer_id=customer_id, lines=lines, **{"currency": "CNY", **more})
    return crm.execute(command, actor=REP).aggregate_id


def draft_as(crm: CRM, actor: Actor, customer_id: UUID, lines: tuple[OrderLine, ...]) -> UUID:
    command = DraftOrder(customer_id=customer_id, lines=lines, currency="CNY")
    return crm.execute(command, actor=actor).aggregate_id


def approve(crm: CRM, order_id: UUID, node: ApprovalNode) -> CommandResult:
    return crm.execute(
        ApproveOrderStep(order_id=order_id, node=node, comment=f"ok at {node.value}"),
        actor=APPROVER_OF[node],
    )


def refused(crm: CRM, command: Command, actor: Actor) -> RuleViolation:
    """Execute a command expected to break a rule; the store must be left unchanged."""
    before = crm.store.count_events()
    with pytest.raises(RuleViolation) as caught:
        crm.execute(command, actor=actor)
    assert crm.store.count_events() == before
    return caught.value


def submitted_event(result: CommandResult) -> OrderSubmittedForApproval:
    (submitted,) = result.events
    assert isinstance(submitted, OrderSubmittedForApproval)
    return submitted


# ---- the approval flow -----------------------------------------------------------------


def test_a_600_000_order_goes_through_three_nodes_to_fulfilment_and_payment(crm: CRM) -> None:
    customer_id = register(crm)
    order_id = draft(crm, customer_id, LINES_600K)

    submitted = submitted_event(crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP))
    assert submitted.route == (SM, FIN, DIR)
    assert submitted.submitted_by == REP.id
    assert submitted.total == cny("600000.00")
    assert submitted.policy_version == "2026.2"

    for node in (SM, FIN):
        (step,) = approve(crm, order_id, node).events
        assert isinstance(step, OrderApprovalStepApproved)
        assert (step.node, step.approver_id) == (node, APPROVER_OF[node].id)
        assert crm.load(Order, order_id).status is Status.PENDING_APPROVAL

    last = approve(crm, order_id, DIR)
    assert [type(e) for e in last.events] == [OrderApprovalStepApproved, OrderApproved]
    order_approved = last.events[-1]
    assert isinstance(order_approved, OrderApproved)
    assert order_approved.total == cny("600000.00")
    assert crm.load(Order, order_id).status is Status.APPROVED

    crm.execute(FulfillOrder(order_id=order_id, note="Installed"), actor=REP)
    paid = crm.execute(
        RecordOrderPayment(order_id=order_id, amount=cny("600000.00"), payment_reference="B-1"),
        actor=FINANCE,
    )

    assert crm.load(Order, order_id).status is Status.PAID
    assert [type(e) for e in crm.events(order_id)] == [
        OrderDrafted,
        OrderSubmittedForApproval,
        OrderApprovalStepApproved,
        OrderApprovalStepApproved,
        OrderApprovalStepApproved,
        OrderApproved,
        OrderFulfilled,
        OrderPaid,
    ]
    assert [e.actor_id for e in crm.events(order_id)] == [
        "rep-1",
        "rep-1",
        "mgr-1",
        "fin-1",
        "dir-1",
        "dir-1",
        "rep-1",
        "fin-1",
    ]
    assert paid.version == 8


def test_a_rejection_at_finance_is_revised_with_new_lines_resubmitted_and_approved(
    crm: CRM,
) -> None:
    customer_id = register(crm)
    order_id = draft(crm, customer_id, LINES_150K)
    crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP)
    approve(crm, order_id, SM)

    (rejection,) = crm.execute(
        RejectOrder(order_id=order_id, node=FIN, reason="Needs a 10 % lower price"),
        actor=FINANCE,
    ).events
    assert isinstance(rejection, OrderRejected)
    assert (rejection.node, rejection.approver_id, rejection.reason) == (
        FIN,
        "fin-1",
        "Needs a 10 % lower price",
    )
    rejected = crm.load(Order, order_id)
    assert (rejected.status, rejected.last_rejection) == (
        Status.REJECTED,
        "Needs a 10 % lower price",
    )

    crm.execute(ReviseOrder(order_id=order_id, reason="Price lowered"), actor=REP)
    (changed,) = crm.execute(ChangeOrderLines(order_id=order_id, lines=LINES_90K), actor=REP).events
    assert isinstance(changed, OrderLinesChanged)
    assert changed.total == cny("90000.00")

    resubmitted = submitted_event(crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP))
    assert resubmitted.route == (SM,)
    approved = approve(crm, order_id, SM)

    assert [type(e) for e in approved.events] == [OrderApprovalStepApproved, OrderApproved]
    order = crm.load(Order, order_id)
    assert (order.status, order.total) == (Status.APPROVED, cny("90000.00"))
    assert [type(e) for e in crm.events(order_id)][3:7] == [
        OrderRejected,
        OrderRevised,
        OrderLinesChanged,
        OrderSubmittedForApproval,
    ]


def test_a_resubmitted_order_starts_again_at_the_sales_manager(crm: CRM) -> None:
    customer_id = register(crm)
    order_id = draft(crm, customer_id, LINES_150K)
    crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP)
    approve(crm, order_id, SM)
    crm.execute(RejectOrder(order_id=order_id, node=FIN, reason="Too big"), actor=FINANCE)
    crm.execute(ReviseOrder(order_id=order_id), actor=REP)
    crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP)

    error = refused(crm, ApproveOrderStep(order_id=order_id, node=FIN), FINANCE)
    assert (error.rule, error.field) == ("approval_in_route_order", "node")


def test_the_submitter_holding_sales_manager_cannot_approve_their_own_order(crm: CRM) -> None:
    customer_id = register(crm)
    order_id = draft_as(crm, SELLING_MANAGER, customer_id, LINES_90K)
    crm.execute(SubmitOrderForApproval(order_id=order_id), actor=SELLING_MANAGER)

    error = refused(crm, ApproveOrderStep(order_id=order_id, node=SM), SELLING_MANAGER)
    assert error.rule == "approver_not_submitter"

    approve(crm, order_id, SM)  # another sales manager may
    assert crm.load(Order, order_id).status is Status.APPROVED


@pytest.mark.parametrize(
    ("node", "actor", "rule"),
    [
        (SM, FINANCE, "approver_holds_node_role"),
        (SM, DIRECTOR, "approver_holds_node_role"),
        (FIN, FINANCE, "approval_in_route_order"),
    ],
    ids=["finance-at-manager-node", "director-at-manager-node", "finance-first"],
)
def test_an_approval_by_the_wrong_role_or_out_of_order_records_nothing(
    crm: CRM, node: ApprovalNode, actor: Actor, rule: str
) -> None:
    order_id = draft(crm, register(crm), LINES_600K)
    crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP)

    assert refused(crm, ApproveOrderStep(order_id=order_id, node=node), actor).rule == rule
    assert crm.load(Order, order_id).approved_nodes == []


def test_fulfilling_an_unapproved_order_and_paying_before_fulfilment_record_nothing(
    crm: CRM,
) -> None:
    order_id = draft(crm, register(crm), LINES_90K)
    assert refused(crm, FulfillOrder(order_id=order_id), REP).rule == "fulfil_only_approved"
    payment = RecordOrderPayment(order_id=order_id, amount=cny("90000.00"))
    assert refused(crm, payment, FINANCE).rule == "payment_after_fulfilment"


def test_a_payment_that_does_not_match_the_total_or_comes_twice_records_nothing(
    crm: CRM,
) -> None:
    order_id = draft(crm, register(crm), LINES_90K)
    crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP)
    approve(crm, order_id, SM)
    crm.execute(FulfillOrder(order_id=order_id), actor=REP)

    short = RecordOrderPayment(order_id=order_id, amount=cny("89999.99"))
    assert refused(crm, short, FINANCE).rule == "payment_matches_total"
    dollars = RecordOrderPayment(
        order_id=order_id, amount=Money(amount=Decimal("90000.00"), currency="USD")
    )
    assert refused(crm, dollars, FINANCE).rule == "payment_matches_total"

    crm.execute(RecordOrderPayment(order_id=order_id, amount=cny("90000")), actor=FINANCE)
    again = RecordOrderPayment(order_id=order_id, amount=cny("90000.00"))
    assert refused(crm, again, FINANCE).rule == "order_paid_once"


# ---- winning an opportunity with an order -------------------------------------------------


def quoted_opportunity(crm: CRM, customer_id: UUID) -> UUID:
    opportunity_id = open_opportunity(crm, customer_id)
    crm.execute(
        QuoteOpportunity(
            opportunity_id=opportunity_id,
            quote_number="Q-1",
            lines=(line("CR-100", "1", "95000"),),
            valid_until=datetime.now(UTC).date() + timedelta(days=30),
        ),
        actor=REP,
    )
    return opportunity_id


def test_winning_with_an_order_links_it_and_takes_its_total_as_the_won_value(crm: CRM) -> None:
    customer_id = register(crm)
    opportunity_id = quoted_opportunity(crm, customer_id)
    order_id = draft(crm, customer_id, LINES_90K, opportunity_id=opportunity_id)

    (won,) = crm.execute(
        WinOpportunity(opportunity_id=opportunity_id, order_id=order_id), actor=REP
    ).events

    assert isinstance(won, OpportunityWon)
    assert (won.order_id, won.won_value) == (order_id, cny("90000.00"))
    assert crm.load(Opportunity, opportunity_id).order_id == order_id


def test_an_explicit_won_value_is_kept_when_an_order_is_linked(crm: CRM) -> None:
    customer_id = register(crm)
    opportunity_id = quoted_opportunity(crm, customer_id)
    order_id = draft(crm, customer_id, LINES_90K)

    (won,) = crm.execute(
        WinOpportunity(opportunity_id=opportunity_id, order_id=order_id, won_value=cny("88000.00")),
        actor=REP,
    ).events

    assert isinstance(won, OpportunityWon)
    assert won.won_value == cny("88000.00")


def test_one_order_wins_one_opportunity(crm: CRM) -> None:
    """Its total is the won deal's revenue: a second deal won with it counted it twice."""
    customer_id = register(crm)
    first, second = quoted_opportunity(crm, customer_id), quoted_opportunity(crm, customer_id)
    order_id = draft(crm, customer_id, LINES_90K)
    crm.execute(WinOpportunity(opportunity_id=first, order_id=order_id), actor=REP)

    error = refused(crm, WinOpportunity(opportunity_id=second, order_id=order_id), REP)

    assert (error.rule, error.field) == ("winning_order_unique", "order_id")


def test_winning_with_an_order_of_another_customer_is_refused(crm: CRM) -> None:
    customer_id = register(crm)
    other_customer_id = register(crm, name="Beta Cold Chain Ltd.")
    opportunity_id = quoted_opportunity(crm, customer_id)
    order_id = draft(crm, other_customer_id, LINES_90K)

    error = refused(crm, WinOpportunity(opportunity_id=opportunity_id, order_id=order_id), REP)

    assert (error.rule, error.field) == ("order_of_same_customer", "order_id")


def test_winning_with_an_unknown_order_is_not_found(crm: CRM) -> None:
    opportunity_id = quoted_opportunity(crm, register(crm))
    unknown = uuid4()
    before = crm.store.count_events()

    with pytest.raises(NotFound) as caught:
        crm.execute(WinOpportunity(opportunity_id=opportunity_id, order_id=unknown), actor=REP)

    assert (caught.value.kind, caught.value.aggregate_id, caught.value.field) == (
        "order",
        unknown,
        "order_id",
    )
    assert crm.store.count_events() == before


# ---- import ----------------------------------------------------------------------------

APPROVED_AT = datetime(2019, 3, 4, 10, 0, tzinfo=UTC)
FULFILLED_AT = datetime(2019, 3, 20, 16, 0, tzinfo=UTC)
PAID_AT = datetime(2019, 4, 19, 9, 0, tzinfo=UTC)


def import_command(customer_id: UUID, **more: Any) -> ImportOrder:
    fields: dict[str, Any] = {
        "customer_id": customer_id,
        "lines": LINES_150K,
        "currency": "CNY",
        "status": Status.PAID,
        "approved_at": APPROVED_AT,
        "fulfilled_at": FULFILLED_AT,
        "paid_at": PAID_AT,
        "import_batch_id": "erp-2019",
        "external_ref": "ERP-000123",
    }
    fields.update(more)
    return ImportOrder(**fields)


def test_an_admin_imports_a_paid_historical_order_dated_at_its_approval(crm: CRM) -> None:
    customer_id = register(crm)

    result = crm.execute(import_command(customer_id), actor=ADMIN)

    (imported,) = result.events
    assert isinstance(imported, OrderImported)
    assert imported.occurred_at == APPROVED_AT
    assert (imported.status, imported.external_ref, imported.import_batch_id) == (
        Status.PAID,
        "ERP-000123",
        "erp-2019",
    )
    assert crm.events(result.aggregate_id) == [imported]
    order = crm.load(Order, result.aggregate_id)
    assert (order.status, order.total) == (Status.PAID, cny("150000.00"))


def test_importing_the_same_external_ref_in_another_command_is_refused(crm: CRM) -> None:
    customer_id = register(crm)
    crm.execute(import_command(customer_id, command_id="erp-2019:row-1"), actor=ADMIN)

    error = refused(crm, import_command(customer_id, command_id="erp-2019:row-2"), ADMIN)

    assert (error.rule, error.field) == ("order_external_ref_unique", "external_ref")
    # Also without a command id, and with other fields: the reference alone is unique.
    other = import_command(
        customer_id, lines=LINES_90K, status=Status.APPROVED, fulfilled_at=None, paid_at=None
    )
    assert refused(crm, other, ADMIN).rule == "order_external_ref_unique"


def test_importing_with_the_same_command_id_twice_is_replayed_and_records_nothing(
    crm: CRM,
) -> None:
    command = import_command(register(crm), command_id="erp-2019:row-1")
    first = crm.execute(command, actor=ADMIN)
    count = crm.store.count_events()

    again = crm.execute(command, actor=ADMIN)

    assert again.replayed and not first.replayed
    assert (again.aggregate_id, again.version, again.events) == (
        first.aggregate_id,
        first.version,
        first.events,
    )
    assert crm.store.count_events() == count


def test_a_refused_import_does_not_claim_its_external_ref(crm: CRM) -> None:
    customer_id = register(crm)

    error = refused(crm, import_command(customer_id, paid_at=None), ADMIN)

    assert (error.rule, error.field) == ("import_dates_match_status", "paid_at")
    result = crm.execute(import_command(customer_id), actor=ADMIN)
    assert crm.load(Order, result.aggregate_id).status is Status.PAID


def test_importing_an_order_linked_to_another_customers_opportunity_is_refused(
    crm: CRM,
) -> None:
    customer_id = register(crm)
    other_opportunity_id = open_opportunity(crm, register(crm, name="Beta Cold Chain Ltd."))

    error = refused(crm, import_command(customer_id, opportunity_id=other_opportunity_id), ADMIN)

    assert (error.rule, error.field) == ("opportunity_of_same_customer", "opportunity_id")


# ---- settings ----------------------------------------------------------------------------


def test_a_stricter_policy_in_the_settings_routes_a_5000_order_via_finance(
    store_url: str,
) -> None:
    strict = Settings(
        approval_policy=ApprovalPolicy(version="strict", finance_total_above=Decimal(1000))
    )
    with CRM.open(store_url, settings=strict) as crm:
        order_id = draft(crm, register(crm), (line("PANEL-1", "2", "2500"),))

        submitted = submitted_event(
            crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP)
        )

        assert submitted.route == (SM, FIN)
        assert submitted.policy_version == "strict"
        assert submitted.reasons[-1] == "total 5000.00 is above 1000"
        approve(crm, order_id, SM)
        assert crm.load(Order, order_id).next_node is FIN


def test_the_default_policy_sends_the_same_5000_order_to_the_sales_manager_only(
    crm: CRM,
) -> None:
    order_id = draft(crm, register(crm), (line("PANEL-1", "2", "2500"),))
    submitted = submitted_event(crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP))
    assert (submitted.route, submitted.policy_version) == ((SM,), "2026.2")


def test_a_5000_dollar_order_goes_to_every_node_unless_the_settings_name_dollar_totals(
    store_url: str,
) -> None:
    """The default totals are in yuan: weighed against them, 5,000 USD would pass as small."""
    in_dollars = Settings(
        approval_policy=ApprovalPolicy(
            version="2027.usd",
            other_currencies={
                "USD": TotalThresholds(
                    finance_total_above=Decimal(14_000), director_total_above=Decimal(70_000)
                )
            },
        )
    )
    lines = (line("PANEL-1", "2", "2500"),)
    with CRM.open(store_url) as crm:
        order_id = draft(crm, register(crm), lines, currency="USD")
        default = submitted_event(crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP))
    with CRM.open(store_url, settings=in_dollars) as crm:
        order_id = draft(crm, register(crm), lines, currency="USD")
        named = submitted_event(crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP))

    assert (default.route, default.policy_version) == ((SM, FIN, DIR), "2026.2")
    assert default.reasons[1:] == (
        "policy 2026.2 sets no total thresholds in USD: finance approves",
        "policy 2026.2 sets no total thresholds in USD: a director approves",
    )
    assert (named.route, named.policy_version) == ((SM,), "2027.usd")


# ---- money -----------------------------------------------------------------------------

# Each line is exact in Decimal and rounded half-up to the cent once:
#   2 × 13.375 less 10 % = 24.075  -> 24.08
#   1 × 10.125           = 10.125  -> 10.13
#   1 × 2.675            =  2.675  ->  2.68
# In binary floating point 24.075, 10.125 and 2.675 are not what they seem.
DRIFTING_LINES = (
    line("BOLT-1", "2", "13.375", "10"),
    line("NUT-1", "1", "10.125"),
    line("WASHER-1", "1", "2.675"),
)


def test_the_total_is_exact_decimal_rounded_half_up_once_per_line(crm: CRM) -> None:
    result = crm.execute(
        DraftOrder(customer_id=register(crm), lines=DRIFTING_LINES, currency="CNY"), actor=REP
    )

    (drafted,) = result.events
    assert isinstance(drafted, OrderDrafted)
    assert drafted.total == cny("36.89")
    (stored,) = crm.events(result.aggregate_id)
    assert isinstance(stored, OrderDrafted)
    assert stored.total.amount == Decimal("36.89")
    assert str(stored.total.amount) == "36.89"

    # What float arithmetic would have made of the same lines:
    floats = [
        float(ln.quantity) * float(ln.unit_price) * (100 - float(ln.discount_pct)) / 100
        for ln in DRIFTING_LINES
    ]
    assert round(sum(round(f, 2) for f in floats), 2) == 36.86
    assert round(sum(floats), 2) == 36.88


def test_lines_are_rounded_each_not_the_sum(crm: CRM) -> None:
    # Three lines of half a cent: 0.01 each once rounded, 0.03 in all (not 0.015 -> 0.02).
    lines = tuple(line(f"PIN-{n}", "1", "0.005") for n in range(3))
    result = crm.execute(
        DraftOrder(customer_id=register(crm), lines=lines, currency="CNY"), actor=REP
    )
    (drafted,) = result.events
    assert isinstance(drafted, OrderDrafted)
    assert drafted.total == cny("0.03")


def test_an_imported_order_takes_its_business_time_from_approved_at_only() -> None:
    with pytest.raises(ValidationError, match="omit occurred_at"):
        ImportOrder(
            customer_id=uuid4(),
            lines=[OrderLine(sku="A", name="A", quantity=1, unit_price=Decimal(1))],
            currency="CNY",
            status="approved",
            approved_at=datetime(2020, 1, 1, tzinfo=UTC),
            import_batch_id="b-1",
            occurred_at=datetime(2020, 1, 2, tzinfo=UTC),
        )
