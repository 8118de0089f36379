"""Events of the Complaint aggregate (客户投诉).

The SLA due times are recorded in the events that set them (filing, reopening, escalation),
with the version of the policy that computed them: the clock of a complaint is then a
function of its events alone, whatever the policy says later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AfterValidator, Field, model_validator

from domain.complaint_vocabulary import ComplaintCategory, ComplaintSeverity
from domain.events.base import DomainEvent
from domain.time import ensure_utc
from domain.values import Code, LongText, Money, ShortText
from domain.vocabulary import ContactChannel

UtcDatetime = Annotated[datetime, AfterValidator(ensure_utc)]
Satisfaction = Annotated[int, Field(ge=1, le=5)]


class ComplaintEvent(DomainEvent):
    abstract: ClassVar[bool] = True


class ComplaintFiled(ComplaintEvent):
    """记录投诉内容. The due times run from the filing (its ``occurred_at``)."""

    customer_id: UUID
    channel: ContactChannel
    category: ComplaintCategory
    severity: ComplaintSeverity
    description: LongText
    related_order_id: UUID | None = None
    sla_policy_version: Code
    response_due_at: UtcDatetime
    resolution_due_at: UtcDatetime


class ComplaintAssessed(ComplaintEvent):
    """判断投诉是否成立: the first response of the SLA. Invalid means rejected and closed."""

    valid: bool
    reason: LongText | None = None

    @model_validator(mode="after")
    def _a_rejection_is_explained(self) -> ComplaintAssessed:
        if not self.valid and self.reason is None:
            raise ValueError("a complaint rejected as invalid carries the reason")
        return self


class ComplaintAssigned(ComplaintEvent):
    """确定处理投诉的部门; a later assignment replaces the earlier one."""

    department: ShortText
    handler_id: ShortText


class ComplaintResolved(ComplaintEvent):
    resolution: LongText
    compensation: Money | None = None


class ComplaintFollowedUp(ComplaintEvent):
    """回访 / 效果评估: the customer's satisfaction with the resolution, 1 (worst) to 5."""

    satisfaction: Satisfaction
    note: LongText | None = None


class ComplaintClosed(ComplaintEvent):
    note: LongText | None = None


class ComplaintReopened(ComplaintEvent):
    """The customer is still unhappy: the resolution clock restarts from the reopening."""

    reason: LongText
    sla_policy_version: Code
    resolution_due_at: UtcDatetime


class ComplaintEscalated(ComplaintEvent):
    """Raised to a higher handling level, and possibly to a higher severity; the due times
    are those in force after the escalation."""

    from_severity: ComplaintSeverity
    to_severity: ComplaintSeverity
    level: int = Field(ge=1)
    reason: LongText
    sla_policy_version: Code
    response_due_at: UtcDatetime
    resolution_due_at: UtcDatetime

    @model_validator(mode="after")
    def _severity_never_drops(self) -> ComplaintEscalated:
        if self.to_severity.rank < self.from_severity.rank:
            raise ValueError("an escalation never lowers the severity")
        return self
