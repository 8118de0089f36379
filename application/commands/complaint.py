"""Commands on complaints (客户投诉)."""

from __future__ import annotations

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field, StrictBool

from application.commands.base import Command
from domain.complaint_vocabulary import ComplaintCategory, ComplaintSeverity
from domain.values import LongText, Money, ShortText
from domain.vocabulary import ContactChannel

Satisfaction = Annotated[int, Field(strict=True, ge=1, le=5)]


class ComplaintCommand(Command):
    complaint_id: UUID


class FileComplaint(Command):
    creates: ClassVar[str | None] = "complaint"

    customer_id: UUID
    channel: ContactChannel
    category: ComplaintCategory
    severity: ComplaintSeverity
    description: LongText
    related_order_id: UUID | None = None


class AssessComplaint(ComplaintCommand):
    """``valid`` false rejects the complaint as invalid and closes it; it needs a reason."""

    valid: StrictBool
    reason: LongText | None = None


class AssignComplaint(ComplaintCommand):
    department: ShortText
    handler_id: ShortText


class ResolveComplaint(ComplaintCommand):
    resolution: LongText
    compensation: Money | None = None


class RecordComplaintFollowUp(ComplaintCommand):
    satisfaction: Satisfaction
    note: LongText | None = None


class CloseComplaint(ComplaintCommand):
    note: LongText | None = None


class ReopenComplaint(ComplaintCommand):
    reason: LongText


class EscalateComplaint(ComplaintCommand):
    reason: LongText
    to_severity: ComplaintSeverity | None = None
