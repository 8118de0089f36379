"""The Order aggregate (销售订单): lines and money, and the approval flow (审批流程)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from itertools import pairwise
from typing import Self
from uuid import UUID

from domain.aggregates.base import Aggregate, applies
from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity, check_opportunity_of_customer
from domain.approval import ApprovalNode, ApprovalPolicy
from domain.context import CommandContext
from domain.errors import RuleViolation
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
from domain.lines import document_total
from domain.time import check_plausible, ensure_utc
from domain.values import Money

Status = OrderStatus
CANCELLABLE = frozenset({Status.DRAFT, Status.PENDING_APPROVAL, Status.APPROVED, Status.REJECTED})
FINAL_IMPORT_STATUSES = frozenset(
    {Status.APPROVED, Status.FULFILLED, Status.PAID, Status.CANCELLED}
)


class Order(Aggregate):
    starts_with = (OrderDrafted, OrderImported)
    kind = "order"

    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.customer_id: UUID
        self.currency: str
        self.lines: tuple[OrderLine, ...] = ()
        self.total: Money
        self.status = Status.DRAFT
        self.opportunity_id: UUID | None = None
        self.submitted_by: str | None = None
        self.route: tuple[ApprovalNode, ...] = ()
        self.approved_nodes: list[ApprovalNode] = []
        self.last_rejection: str | None = None

    @property
    def next_node(self) -> ApprovalNode | None:
        """The node whose decision the order waits for, while pending approval."""
        if self.status is not Status.PENDING_APPROVAL:
            return None
        return self.route[len(self.approved_nodes)]

    # ---- commands -----------------------------------------------------------------

    @classmethod
    def draft(
        cls,
        context: CommandContext,
        *,
        order_id: UUID,
        customer: Customer,
        order_type: OrderType,
        lines: Sequence[OrderLine],
        currency: str,
        delivery_date: date | None = None,
        payment_terms: str | None = None,
        opportunity: Opportunity | None = None,
        merged_ids: frozenset[UUID] = frozenset(),
    ) -> Self:
        """``merged_ids``: as for ``check_opportunity_of_customer``."""
        customer.ensure_not_merged()
        if customer.is_disqualified:
            raise RuleViolation(
                "customer_qualified",
                "cannot draft an order for a disqualified customer",
                field="customer_id",
            )
        if opportunity is not None:
            check_opportunity_of_customer(opportunity, customer, merged_ids=merged_ids)
            if opportunity.currency != currency:
                raise RuleViolation(
                    "currency_matches",
                    f"the order is in {currency}, its opportunity in {opportunity.currency}",
                    field="currency",
                )
        order = cls(order_id)
        order._check_delivery_date(context, delivery_date)
        lines = _non_empty(lines)
        order._record(
            OrderDrafted,
            context,
            customer_id=customer.id,
            order_type=order_type,
            lines=lines,
            currency=currency,
            total=_total(lines, currency),
            delivery_date=delivery_date,
            payment_terms=payment_terms,
            opportunity_id=opportunity.id if opportunity is not None else None,
        )
        return order

    @classmethod
    def import_history(
        cls,
        context: CommandContext,
        *,
        order_id: UUID,
        customer: Customer,
        order_type: OrderType,
        lines: Sequence[OrderLine],
        currency: str,
        status: OrderStatus,
        approved_at: datetime,
        import_batch_id: str,
        fulfilled_at: datetime | None = None,
        paid_at: datetime | None = None,
        cancelled_at: datetime | None = None,
        external_ref: str | None = None,
        delivery_date: date | None = None,
        payment_terms: str | None = None,
        opportunity_id: UUID | None = None,
    ) -> Self:
        """Bring in a historical order in its final state; its business time is its approval."""
        customer.ensure_not_merged()
        dates = _check_import_dates(status, approved_at, fulfilled_at, paid_at, cancelled_at)
        latest, moment = dates[-1]
        if moment > context.now:
            raise RuleViolation(
                "import_dates_not_in_future",
                "an imported order's dates must be in the past",
                field=latest,
            )
        order = cls(order_id)
        lines = _non_empty(lines)
        order._record(
            OrderImported,
            replace(context, occurred_at=ensure_utc(approved_at)),
            customer_id=customer.id,
            order_type=order_type,
            lines=lines,
            currency=currency,
            total=_total(lines, currency),
            status=status,
            approved_at=approved_at,
            fulfilled_at=fulfilled_at,
            paid_at=paid_at,
            cancelled_at=cancelled_at,
            import_batch_id=import_batch_id,
            external_ref=external_ref,
            delivery_date=delivery_date,
            payment_terms=payment_terms,
            opportunity_id=opportunity_id,
        )
        return order

    def change_lines(self, context: CommandContext, *, lines: Sequence[OrderLine]) -> None:
        self._expect({Status.DRAFT}, "order_lines_change_in_draft", "change the lines of")
        lines = _non_empty(lines)
        self._record(OrderLinesChanged, context, lines=lines, total=_total(lines, self.currency))

    def submit_for_approval(self, context: CommandContext, *, policy: ApprovalPolicy) -> None:
        self._expect({Status.DRAFT}, "submit_only_draft", "submit")
        route = policy.route(self.lines, self.total.amount, self.currency)
        self._record(
            OrderSubmittedForApproval,
            context,
            submitted_by=context.actor_id,
            route=route.nodes,
            policy_version=route.policy_version,
            reasons=route.reasons,
            total=self.total,
        )

    def approve_step(
        self, context: CommandContext, *, node: ApprovalNode, comment: str | None = None
    ) -> None:
        """Approve at the node the order waits for; after the last node it is approved."""
        self._check_decider(context, node, "approve")
        self._record(
            OrderApprovalStepApproved,
            context,
            node=node,
            approver_id=context.actor_id,
            comment=comment,
        )
        if len(self.approved_nodes) == len(self.route):
            self._record(OrderApproved, context, total=self.total)

    def reject(self, context: CommandContext, *, node: ApprovalNode, reason: str) -> None:
        """A rejection at any node rejects the order; the reason goes back to the submitter."""
        self._check_decider(context, node, "reject")
        self._record(OrderRejected, context, node=node, approver_id=context.actor_id, reason=reason)

    def revise(self, context: CommandContext, *, reason: str | None = None) -> None:
        """A rejected order returns to draft; when resubmitted it starts at the first node."""
        self._expect({Status.REJECTED}, "revise_only_rejected", "revise")
        self._record(OrderRevised, context, reason=reason)

    def fulfill(self, context: CommandContext, *, note: str | None = None) -> None:
        self._expect({Status.APPROVED}, "fulfil_only_approved", "fulfil")
        self._record(OrderFulfilled, context, note=note)

    def record_payment(
        self, context: CommandContext, *, amount: Money, payment_reference: str | None = None
    ) -> None:
        if self.status is Status.PAID:
            raise RuleViolation("order_paid_once", "the order is already paid")
        self._expect({Status.FULFILLED}, "payment_after_fulfilment", "record a payment for")
        if amount != self.total:
            raise RuleViolation(
                "payment_matches_total",
                f"payment {amount.amount} {amount.currency} does not settle the total "
                f"{self.total.amount} {self.total.currency}",
                field="amount",
            )
        self._record(OrderPaid, context, amount=amount, payment_reference=payment_reference)

    def cancel(self, context: CommandContext, *, reason: str) -> None:
        if self.status is Status.CANCELLED:
            raise RuleViolation("order_cancelled_once", "the order is already cancelled")
        self._expect(CANCELLABLE, "cancel_before_fulfilment", "cancel")
        self._record(OrderCancelled, context, from_status=self.status, reason=reason)

    # ---- rules shared by commands -------------------------------------------------

    def _expect(self, allowed: frozenset[Status] | set[Status], rule: str, action: str) -> None:
        if self.status not in allowed:
            raise RuleViolation(rule, f"cannot {action} an order that is {self.status.value}")

    def _check_decider(self, context: CommandContext, node: ApprovalNode, action: str) -> None:
        self._expect({Status.PENDING_APPROVAL}, f"{action}_only_pending", action)
        expected = self.next_node
        if node is not expected:
            assert expected is not None  # noqa: S101 # nosec B101 # pending always has a next node
            raise RuleViolation(
                "approval_in_route_order",
                f"the order waits for {expected.value}, not {node.value}",
                field="node",
            )
        if node.role not in context.actor_roles:
            raise RuleViolation(
                "approver_holds_node_role",
                f"deciding at node {node.value} needs the {node.role} role",
                field="node",
            )
        if context.actor_id == self.submitted_by:
            raise RuleViolation(
                "approver_not_submitter",
                "the submitter of an order cannot decide on its approval (separation of duties)",
            )

    def _check_delivery_date(self, context: CommandContext, delivery_date: date | None) -> None:
        if delivery_date is None:
            return
        check_plausible(delivery_date, field="delivery_date")
        if delivery_date < self._business_time(context).date():
            raise RuleViolation(
                "delivery_date_not_in_past",
                f"delivery_date {delivery_date.isoformat()} is in the past",
                field="delivery_date",
            )

    # ---- state --------------------------------------------------------------------

    @applies(OrderDrafted)
    def _drafted(self, event: OrderDrafted | OrderImported) -> None:
        self.customer_id = event.customer_id
        self.currency = event.currency
        self.lines = event.lines
        self.total = event.total
        self.opportunity_id = event.opportunity_id

    @applies(OrderImported)
    def _imported(self, event: OrderImported) -> None:
        self._drafted(event)
        self.status = event.status

    @applies(OrderLinesChanged)
    def _lines_changed(self, event: OrderLinesChanged) -> None:
        self.lines = event.lines
        self.total = event.total

    @applies(OrderSubmittedForApproval)
    def _submitted(self, event: OrderSubmittedForApproval) -> None:
        self.status = Status.PENDING_APPROVAL
        self.submitted_by = event.submitted_by
        self.route = event.route
        self.approved_nodes = []

    @applies(OrderApprovalStepApproved)
    def _step_approved(self, event: OrderApprovalStepApproved) -> None:
        self.approved_nodes.append(event.node)

    @applies(OrderApproved)
    def _approved(self, event: OrderApproved) -> None:
        self.status = Status.APPROVED

    @applies(OrderRejected)
    def _rejected(self, event: OrderRejected) -> None:
        self.status = Status.REJECTED
        self.last_rejection = event.reason

    @applies(OrderRevised)
    def _revised(self, event: OrderRevised) -> None:
        self.status = Status.DRAFT
        self.route = ()
        self.approved_nodes = []

    @applies(OrderFulfilled)
    def _fulfilled(self, event: OrderFulfilled) -> None:
        self.status = Status.FULFILLED

    @applies(OrderPaid)
    def _paid(self, event: OrderPaid) -> None:
        self.status = Status.PAID

    @applies(OrderCancelled)
    def _cancelled(self, event: OrderCancelled) -> None:
        self.status = Status.CANCELLED


def check_order_of_customer(
    order: Order, customer: Customer, *, field: str, merged_ids: frozenset[UUID] = frozenset()
) -> None:
    """A fact that refers to an order (a complaint about it) must be about the same customer;
    ``merged_ids`` as for ``check_opportunity_of_customer``."""
    if order.customer_id != customer.id and order.customer_id not in merged_ids:
        raise RuleViolation(
            "order_of_same_customer", f"order {order.id} belongs to another customer", field=field
        )


def check_order_for_win(
    order: Order, opportunity: Opportunity, *, merged_ids: frozenset[UUID] = frozenset()
) -> None:
    """An opportunity can only be won with an order of its own customer that still stands;
    ``merged_ids``: the ids that are the order's customer once merges are followed."""
    if order.customer_id != opportunity.customer_id and not (
        {order.customer_id, opportunity.customer_id} <= merged_ids
    ):
        raise RuleViolation(
            "order_of_same_customer",
            f"order {order.id} belongs to another customer than the opportunity",
            field="order_id",
        )
    if order.opportunity_id not in (None, opportunity.id):
        raise RuleViolation(
            "order_of_this_opportunity",
            f"order {order.id} was drafted for opportunity {order.opportunity_id}",
            field="order_id",
        )
    if order.currency != opportunity.currency:
        raise RuleViolation(
            "currency_matches",
            f"order {order.id} is in {order.currency}, the opportunity in {opportunity.currency}",
            field="order_id",
        )
    if order.status is Status.CANCELLED:
        raise RuleViolation(
            "order_not_cancelled", f"order {order.id} is cancelled", field="order_id"
        )


def _non_empty(lines: Sequence[OrderLine]) -> tuple[OrderLine, ...]:
    if not lines:
        raise RuleViolation("order_has_lines", "an order needs at least one line", field="lines")
    return tuple(lines)


def _total(lines: Sequence[OrderLine], currency: str) -> Money:
    return Money(amount=document_total(lines, currency), currency=currency)


def _check_import_dates(
    status: OrderStatus,
    approved_at: datetime,
    fulfilled_at: datetime | None,
    paid_at: datetime | None,
    cancelled_at: datetime | None,
) -> list[tuple[str, datetime]]:
    """The dates an imported order must have for its status, in their natural order, each
    with its field name."""
    if status not in FINAL_IMPORT_STATUSES:
        raise RuleViolation(
            "import_final_status",
            f"an imported order is approved, fulfilled, paid or cancelled, not {status.value}",
            field="status",
        )
    needs = {
        "fulfilled_at": status in (Status.FULFILLED, Status.PAID),
        "paid_at": status is Status.PAID,
        "cancelled_at": status is Status.CANCELLED,
    }
    given = {"fulfilled_at": fulfilled_at, "paid_at": paid_at, "cancelled_at": cancelled_at}
    for name, needed in needs.items():
        if needed and given[name] is None:
            raise RuleViolation(
                "import_dates_match_status", f"{status.value} needs {name}", field=name
            )
        if not needed and given[name] is not None:
            raise RuleViolation(
                "import_dates_match_status", f"a {status.value} order has no {name}", field=name
            )
    sequence = [("approved_at", approved_at)] + [(n, d) for n, d in given.items() if d is not None]
    for name, moment in sequence:
        check_plausible(ensure_utc(moment).date(), field=name)
    for (earlier_name, earlier), (later_name, later) in pairwise(sequence):
        if ensure_utc(later) < ensure_utc(earlier):
            raise RuleViolation(
                "import_dates_in_order", f"{later_name} is before {earlier_name}", field=later_name
            )
    return [(name, ensure_utc(moment)) for name, moment in sequence]
