"""Carrying out order commands."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

from application.command_log import derived_id
from application.commands.order import (
    ApproveOrderStep,
    CancelOrder,
    ChangeOrderLines,
    DraftOrder,
    FulfillOrder,
    ImportOrder,
    RecordOrderPayment,
    RejectOrder,
    ReviseOrder,
    SubmitOrderForApproval,
)
from application.handlers.merged import merged_ids
from application.handlers.registry import handles
from application.unit_of_work import UnitOfWork
from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity, check_opportunity_of_customer
from domain.aggregates.order import Order
from domain.context import CommandContext

ORDER_EXTERNAL_REF_SCOPE = "order_external_ref"


@handles(DraftOrder)
def draft_order(uow: UnitOfWork, command: DraftOrder, context: CommandContext) -> Order:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    opportunity = (
        uow.get(Opportunity, command.opportunity_id, field="opportunity_id")
        if command.opportunity_id is not None
        else None
    )
    order = Order.draft(
        context,
        order_id=derived_id(command, "order") or uuid4(),
        customer=customer,
        order_type=command.order_type,
        lines=command.lines,
        currency=command.currency,
        delivery_date=command.delivery_date,
        payment_terms=command.payment_terms,
        opportunity=opportunity,
        merged_ids=(
            merged_ids(uow, customer.id, opportunity.customer_id, field="opportunity_id")
            if opportunity is not None
            else frozenset()
        ),
    )
    uow.add(order)
    return order


@handles(ImportOrder)
def import_order(uow: UnitOfWork, command: ImportOrder, context: CommandContext) -> Order:
    # Everything this command records, its external_ref claim included, happened at approval.
    context = replace(context, occurred_at=command.approved_at)
    uow.use_context(context)
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    if command.opportunity_id is not None:
        opportunity = uow.get(Opportunity, command.opportunity_id, field="opportunity_id")
        merged = merged_ids(uow, customer.id, opportunity.customer_id, field="opportunity_id")
        check_opportunity_of_customer(opportunity, customer, merged_ids=merged)
    order_id = derived_id(command, "order") or uuid4()
    if command.external_ref is not None:
        uow.claim_unique(
            ORDER_EXTERNAL_REF_SCOPE, command.external_ref, order_id, field="external_ref"
        )
    order = Order.import_history(
        context,
        order_id=order_id,
        customer=customer,
        order_type=command.order_type,
        lines=command.lines,
        currency=command.currency,
        status=command.status,
        approved_at=command.approved_at,
        fulfilled_at=command.fulfilled_at,
        paid_at=command.paid_at,
        cancelled_at=command.cancelled_at,
        import_batch_id=command.import_batch_id,
        external_ref=command.external_ref,
        delivery_date=command.delivery_date,
        payment_terms=command.payment_terms,
        opportunity_id=command.opportunity_id,
    )
    uow.add(order)
    return order


@handles(ChangeOrderLines)
def change_order_lines(
    uow: UnitOfWork, command: ChangeOrderLines, context: CommandContext
) -> Order:
    order = uow.get(Order, command.order_id, field="order_id")
    order.change_lines(context, lines=command.lines)
    return order


@handles(SubmitOrderForApproval)
def submit_order(
    uow: UnitOfWork, command: SubmitOrderForApproval, context: CommandContext
) -> Order:
    order = uow.get(Order, command.order_id, field="order_id")
    order.submit_for_approval(context, policy=uow.settings.approval_policy)
    return order


@handles(ApproveOrderStep)
def approve_order_step(
    uow: UnitOfWork, command: ApproveOrderStep, context: CommandContext
) -> Order:
    order = uow.get(Order, command.order_id, field="order_id")
    order.approve_step(context, node=command.node, comment=command.comment)
    return order


@handles(RejectOrder)
def reject_order(uow: UnitOfWork, command: RejectOrder, context: CommandContext) -> Order:
    order = uow.get(Order, command.order_id, field="order_id")
    order.reject(context, node=command.node, reason=command.reason)
    return order


@handles(ReviseOrder)
def revise_order(uow: UnitOfWork, command: ReviseOrder, context: CommandContext) -> Order:
    order = uow.get(Order, command.order_id, field="order_id")
    order.revise(context, reason=command.reason)
    return order


@handles(FulfillOrder)
def fulfill_order(uow: UnitOfWork, command: FulfillOrder, context: CommandContext) -> Order:
    order = uow.get(Order, command.order_id, field="order_id")
    order.fulfill(context, note=command.note)
    return order


@handles(RecordOrderPayment)
def record_order_payment(
    uow: UnitOfWork, command: RecordOrderPayment, context: CommandContext
) -> Order:
    order = uow.get(Order, command.order_id, field="order_id")
    order.record_payment(
        context, amount=command.amount, payment_reference=command.payment_reference
    )
    return order


@handles(CancelOrder)
def cancel_order(uow: UnitOfWork, command: CancelOrder, context: CommandContext) -> Order:
    order = uow.get(Order, command.order_id, field="order_id")
    order.cancel(context, reason=command.reason)
    return order
