"""Commands on orders (销售订单) and their approval (审批)."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field, field_validator

from application.commands.base import Command, Instant
from domain.approval import ApprovalNode
from domain.events.order import OrderLine, OrderStatus, OrderType
from domain.values import Code, CurrencyCode, LongText, Money, PlausibleDate, ShortText

Lines = tuple[OrderLine, ...]


class OrderCommand(Command):
    order_id: UUID


class DraftOrder(Command):
    creates: ClassVar[str | None] = "order"

    customer_id: UUID
    order_type: OrderType = OrderType.STANDARD
    lines: Lines = Field(min_length=1, max_length=500)
    currency: CurrencyCode
    delivery_date: PlausibleDate | None = None
    payment_terms: ShortText | None = None
    opportunity_id: UUID | None = None


class ChangeOrderLines(OrderCommand):
    lines: Lines = Field(min_length=1, max_length=500)


class SubmitOrderForApproval(OrderCommand):
    pass


class ApproveOrderStep(OrderCommand):
    """``node`` is the node being approved; it must be the one the order waits for."""

    node: ApprovalNode
    comment: LongText | None = None


class RejectOrder(OrderCommand):
    node: ApprovalNode
    reason: LongText


class ReviseOrder(OrderCommand):
    reason: LongText | None = None


class FulfillOrder(OrderCommand):
    note: LongText | None = None


class RecordOrderPayment(OrderCommand):
    amount: Money
    payment_reference: ShortText | None = None


class CancelOrder(OrderCommand):
    reason: LongText


class ImportOrder(Command):
    """A historical order in its final state, with its own dates (admin only)."""

    creates: ClassVar[str | None] = "order"
    # The customer is checked for being open (not merged away), never for who it is.
    reads_personal_values: ClassVar[bool] = False

    customer_id: UUID
    order_type: OrderType = OrderType.STANDARD
    lines: Lines = Field(min_length=1, max_length=500)
    currency: CurrencyCode
    status: OrderStatus
    approved_at: Instant
    fulfilled_at: Instant | None = None
    paid_at: Instant | None = None
    cancelled_at: Instant | None = None
    import_batch_id: Code
    external_ref: Code | None = None
    delivery_date: PlausibleDate | None = None
    payment_terms: ShortText | None = None
    opportunity_id: UUID | None = None

    @field_validator("occurred_at")
    @classmethod
    def _business_time_is_the_approval(cls, value: object) -> object:
        if value is not None:
            raise ValueError("an imported order's business time is approved_at; omit occurred_at")
        return value
