"""Carrying out complaint commands."""

from __future__ import annotations

from uuid import uuid4

from application.command_log import derived_id
from application.commands.complaint import (
    AssessComplaint,
    AssignComplaint,
    CloseComplaint,
    EscalateComplaint,
    FileComplaint,
    RecordComplaintFollowUp,
    ReopenComplaint,
    ResolveComplaint,
)
from application.handlers.merged import merged_ids
from application.handlers.registry import handles
from application.unit_of_work import UnitOfWork
from domain.aggregates.complaint import Complaint
from domain.aggregates.customer import Customer
from domain.aggregates.order import Order, check_order_of_customer
from domain.context import CommandContext


@handles(FileComplaint)
def file_complaint(uow: UnitOfWork, command: FileComplaint, context: CommandContext) -> Complaint:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    if command.related_order_id is not None:
        order = uow.get(Order, command.related_order_id, field="related_order_id")
        merged = merged_ids(uow, customer.id, order.customer_id, field="related_order_id")
        check_order_of_customer(order, customer, field="related_order_id", merged_ids=merged)
    complaint = Complaint.file(
        context,
        complaint_id=derived_id(command, "complaint") or uuid4(),
        customer=customer,
        channel=command.channel,
        category=command.category,
        severity=command.severity,
        description=command.description,
        related_order_id=command.related_order_id,
        policy=uow.settings.sla_policy,
    )
    uow.add(complaint)
    return complaint


@handles(AssessComplaint)
def assess_complaint(
    uow: UnitOfWork, command: AssessComplaint, context: CommandContext
) -> Complaint:
    complaint = uow.get(Complaint, command.complaint_id, field="complaint_id")
    complaint.assess(context, valid=command.valid, reason=command.reason)
    return complaint


@handles(AssignComplaint)
def assign_complaint(
    uow: UnitOfWork, command: AssignComplaint, context: CommandContext
) -> Complaint:
    complaint = uow.get(Complaint, command.complaint_id, field="complaint_id")
    complaint.assign(context, department=command.department, handler_id=command.handler_id)
    return complaint


@handles(ResolveComplaint)
def resolve_complaint(
    uow: UnitOfWork, command: ResolveComplaint, context: CommandContext
) -> Complaint:
    complaint = uow.get(Complaint, command.complaint_id, field="complaint_id")
    complaint.resolve(context, resolution=command.resolution, compensation=command.compensation)
    return complaint


@handles(RecordComplaintFollowUp)
def record_complaint_follow_up(
    uow: UnitOfWork, command: RecordComplaintFollowUp, context: CommandContext
) -> Complaint:
    complaint = uow.get(Complaint, command.complaint_id, field="complaint_id")
    complaint.record_follow_up(context, satisfaction=command.satisfaction, note=command.note)
    return complaint


@handles(CloseComplaint)
def close_complaint(uow: UnitOfWork, command: CloseComplaint, context: CommandContext) -> Complaint:
    complaint = uow.get(Complaint, command.complaint_id, field="complaint_id")
    complaint.close(context, note=command.note)
    return complaint


@handles(ReopenComplaint)
def reopen_complaint(
    uow: UnitOfWork, command: ReopenComplaint, context: CommandContext
) -> Complaint:
    complaint = uow.get(Complaint, command.complaint_id, field="complaint_id")
    complaint.reopen(context, reason=command.reason, policy=uow.settings.sla_policy)
    return complaint


@handles(EscalateComplaint)
def escalate_complaint(
    uow: UnitOfWork, command: EscalateComplaint, context: CommandContext
) -> Complaint:
    complaint = uow.get(Complaint, command.complaint_id, field="complaint_id")
    complaint.escalate(
        context,
        reason=command.reason,
        to_severity=command.to_severity,
        policy=uow.settings.sla_policy,
    )
    return complaint
