"""Events of the Order aggregate (销售订单) and its approval (审批)."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from domain.approval import ApprovalNode
from domain.events.base import DomainEvent
from domain.lines import PricedLine
from domain.values import Amount, Code, CurrencyCode, LongText, Money, ShortText
from domain.vocabulary import Labelled


class OrderType(Labelled):
    STANDARD = "standard"
    CONTRACT = "contract"

    @property
    def zh(self) -> str:
        return {"standard": "普通订单", "contract": "合同订单"}[self.value]


class OrderStatus(Labelled):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    FULFILLED = "fulfilled"
    PAID = "paid"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def zh(self) -> str:
        return ORDER_STATUS_ZH[self.value]


ORDER_STATUS_ZH = {
    "draft": "草稿",
    "pending_approval": "待审批",
    "approved": "已审批",
    "fulfilled": "已交付",
    "paid": "已付款",
    "rejected": "已驳回",
    "cancelled": "已取消",
}


class OrderLine(PricedLine):
    """A priced line plus, optionally, what one unit costs us (for margin)."""

    unit_cost: Amount | None = None


OrderLines = tuple[OrderLine, ...]


class OrderEvent(DomainEvent):
    abstract: ClassVar[bool] = True


class OrderDrafted(OrderEvent):
    customer_id: UUID
    order_type: OrderType
    lines: OrderLines = Field(min_length=1, max_length=500)
    currency: CurrencyCode
    total: Money
    delivery_date: date | None = None
    payment_terms: ShortText | None = None
    opportunity_id: UUID | None = None


class OrderLinesChanged(OrderEvent):
    lines: OrderLines = Field(min_length=1, max_length=500)
    total: Money


class OrderSubmittedForApproval(OrderEvent):
    submitted_by: str
    route: tuple[ApprovalNode, ...] = Field(min_length=1)
    policy_version: Code
    reasons: tuple[str, ...]
    total: Money


class OrderApprovalStepApproved(OrderEvent):
    node: ApprovalNode
    approver_id: str
    comment: LongText | None = None


class OrderApproved(OrderEvent):
    """After the last node: from here on the order counts as a purchase (DESIGN §2.3)."""

    total: Money


class OrderRejected(OrderEvent):
    node: ApprovalNode
    approver_id: str
    reason: LongText


class OrderRevised(OrderEvent):
    reason: LongText | None = None


class OrderFulfilled(OrderEvent):
    note: LongText | None = None


class OrderPaid(OrderEvent):
    amount: Money
    payment_reference: ShortText | None = None


class OrderCancelled(OrderEvent):
    from_status: OrderStatus
    reason: LongText


class OrderImported(OrderEvent):
    """A historical order brought in its final state, with its own dates. Its business
    time (``occurred_at``) is its approval; it counts as a purchase unless cancelled."""

    customer_id: UUID
    order_type: OrderType
    lines: OrderLines = Field(min_length=1, max_length=500)
    currency: CurrencyCode
    total: Money
    status: OrderStatus
    approved_at: datetime
    fulfilled_at: datetime | None = None
    paid_at: datetime | None = None
    cancelled_at: datetime | None = None
    import_batch_id: Code
    external_ref: Code | None = None
    delivery_date: date | None = None
    payment_terms: ShortText | None = None
    opportunity_id: UUID | None = None
