"""The Complaint aggregate (客户投诉): from the customer's words to a closed case.

Flow (the seeds' 投诉的处理程序): record the content → judge whether it stands → assign the
handling department → resolve → follow up and evaluate the effect → close; reopen when the
customer is still unhappy. A complaint judged invalid is rejected and closed with its
explanation, for good. Escalation can happen at any open state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self
from uuid import UUID

from domain.aggregates.base import Aggregate, applies
from domain.aggregates.customer import Customer
from domain.complaint_vocabulary import ComplaintCategory, ComplaintSeverity, ComplaintStatus
from domain.context import CommandContext
from domain.errors import RuleViolation
from domain.events.complaint import (
    ComplaintAssessed,
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintFiled,
    ComplaintFollowedUp,
    ComplaintReopened,
    ComplaintResolved,
)
from domain.sla import SlaPolicy, resolution_due_at, response_due_at
from domain.values import Money
from domain.vocabulary import ContactChannel

Status = ComplaintStatus
Severity = ComplaintSeverity

ASSIGNABLE = frozenset({Status.VALID, Status.REOPENED, Status.ASSIGNED})
REOPENABLE = frozenset({Status.RESOLVED, Status.CLOSED})


class Complaint(Aggregate):
    starts_with = ComplaintFiled
    kind = "complaint"

    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.customer_id: UUID
        self.severity: Severity
        self.filed_at: datetime
        self.response_due_at: datetime
        self.resolution_due_at: datetime
        self.status = Status.FILED
        self.escalation_level = 0
        # When the resolution clock last started: the filing, or the latest reopening.
        self.resolution_clock_started_at: datetime
        self.responded_at: datetime | None = None
        self.department: str | None = None
        self.handler_id: str | None = None
        self.satisfaction: int | None = None

    # ---- commands -----------------------------------------------------------------

    @classmethod
    def file(
        cls,
        context: CommandContext,
        *,
        complaint_id: UUID,
        customer: Customer,
        channel: ContactChannel,
        category: ComplaintCategory,
        severity: ComplaintSeverity,
        description: str,
        policy: SlaPolicy,
        related_order_id: UUID | None = None,
    ) -> Self:
        """A complaint is heard from any registered customer, disqualified or not: refusing
        to record a complaint is not a rule a CRM should enforce. A merged duplicate is no
        longer a customer of its own: the complaint is the survivor's to file."""
        customer.ensure_not_merged()
        complaint = cls(complaint_id)
        filed_at = complaint._business_time(context)
        complaint._record(
            ComplaintFiled,
            context,
            customer_id=customer.id,
            channel=channel,
            category=category,
            severity=severity,
            description=description,
            related_order_id=related_order_id,
            sla_policy_version=policy.version,
            response_due_at=response_due_at(policy, severity, filed_at),
            resolution_due_at=resolution_due_at(policy, severity, filed_at),
        )
        return complaint

    def assess(self, context: CommandContext, *, valid: bool, reason: str | None = None) -> None:
        if self.status is not Status.FILED:
            raise RuleViolation(
                "assess_only_filed",
                f"the complaint was already assessed (it is {self.status.value})",
            )
        if not valid and reason is None:
            raise RuleViolation(
                "rejection_explained",
                "a complaint rejected as invalid needs the reason given to the customer",
                field="reason",
            )
        self._record(ComplaintAssessed, context, valid=valid, reason=reason)

    def assign(self, context: CommandContext, *, department: str, handler_id: str) -> None:
        self._ensure_open("assign")
        if self.status is Status.FILED:
            raise RuleViolation(
                "assign_after_assessment",
                "a complaint is assigned once it is judged valid (AssessComplaint)",
            )
        if self.status not in ASSIGNABLE:
            raise RuleViolation(
                "assign_before_resolution",
                f"the complaint is {self.status.value}: reopen it before assigning it again",
            )
        if self.status is Status.ASSIGNED and (department, handler_id) == (
            self.department,
            self.handler_id,
        ):
            raise RuleViolation(
                "assignment_changes",
                f"the complaint is already assigned to {handler_id} of {department}",
                field="handler_id",
            )
        self._record(ComplaintAssigned, context, department=department, handler_id=handler_id)

    def resolve(
        self, context: CommandContext, *, resolution: str, compensation: Money | None = None
    ) -> None:
        """``Money`` is never negative, so a compensation is zero or more by its type."""
        self._ensure_open("resolve")
        if self.status is not Status.ASSIGNED:
            raise RuleViolation(
                "resolve_only_assigned",
                f"a complaint is resolved by its assigned handler; this one is {self.status.value}",
            )
        self._record(ComplaintResolved, context, resolution=resolution, compensation=compensation)

    def record_follow_up(
        self, context: CommandContext, *, satisfaction: int, note: str | None = None
    ) -> None:
        self._ensure_open("follow up")
        if self.status is not Status.RESOLVED:
            raise RuleViolation(
                "follow_up_after_resolution",
                f"a follow-up evaluates a resolution; the complaint is {self.status.value}",
            )
        self._record(ComplaintFollowedUp, context, satisfaction=satisfaction, note=note)

    def close(self, context: CommandContext, *, note: str | None = None) -> None:
        self._ensure_open("close")
        if self.status is not Status.RESOLVED:
            raise RuleViolation(
                "close_after_resolution",
                f"only a resolved complaint is closed; this one is {self.status.value}",
            )
        self._record(ComplaintClosed, context, note=note)

    def reopen(self, context: CommandContext, *, reason: str, policy: SlaPolicy) -> None:
        if self.status is Status.REJECTED_AS_INVALID:
            raise RuleViolation(
                "rejection_final",
                "a complaint rejected as invalid is not reopened; file a new one if the "
                "customer disputes the rejection",
            )
        if self.status not in REOPENABLE:
            raise RuleViolation(
                "reopen_after_resolution",
                f"only a resolved or closed complaint is reopened; this one is {self.status.value}",
            )
        reopened_at = self._business_time(context)
        self._record(
            ComplaintReopened,
            context,
            reason=reason,
            sla_policy_version=policy.version,
            resolution_due_at=resolution_due_at(policy, self.severity, reopened_at),
        )

    def escalate(
        self,
        context: CommandContext,
        *,
        reason: str,
        policy: SlaPolicy,
        to_severity: ComplaintSeverity | None = None,
    ) -> None:
        """Raise the handling level, and the severity when ``to_severity`` is given.

        The due times of clocks still running are recomputed for the new severity, from the
        filing (response) or from the start of the resolution clock (the filing or the latest
        reopening); an escalation never postpones a due time. A clock already stopped (a
        response given, a resolution made) keeps its due time: a deadline met is not
        retroactively missed because the severity rose afterwards.
        """
        self._ensure_open("escalate")
        if to_severity is not None and to_severity.rank <= self.severity.rank:
            raise RuleViolation(
                "escalation_raises_severity",
                f"an escalation raises the severity above {self.severity.value}, "
                f"not to {to_severity.value}",
                field="to_severity",
            )
        severity = to_severity if to_severity is not None else self.severity
        response_due = self.response_due_at
        if self.responded_at is None:
            response_due = min(response_due, response_due_at(policy, severity, self.filed_at))
        resolution_due = self.resolution_due_at
        if self.status is not Status.RESOLVED:
            resolution_due = min(
                resolution_due,
                resolution_due_at(policy, severity, self.resolution_clock_started_at),
            )
        self._record(
            ComplaintEscalated,
            context,
            from_severity=self.severity,
            to_severity=severity,
            level=self.escalation_level + 1,
            reason=reason,
            sla_policy_version=policy.version,
            response_due_at=response_due,
            resolution_due_at=resolution_due,
        )

    # ---- rules shared by commands -------------------------------------------------

    def _ensure_open(self, action: str) -> None:
        if self.status is Status.REJECTED_AS_INVALID:
            raise RuleViolation(
                "complaint_open",
                f"cannot {action} a complaint that was rejected as invalid (it is closed)",
            )
        if self.status is Status.CLOSED:
            raise RuleViolation(
                "complaint_open", f"cannot {action} a closed complaint; reopen it first"
            )

    # ---- state --------------------------------------------------------------------

    @applies(ComplaintFiled)
    def _filed(self, event: ComplaintFiled) -> None:
        self.customer_id = event.customer_id
        self.severity = event.severity
        self.filed_at = event.occurred_at
        self.resolution_clock_started_at = event.occurred_at
        self.response_due_at = event.response_due_at
        self.resolution_due_at = event.resolution_due_at

    @applies(ComplaintAssessed)
    def _assessed(self, event: ComplaintAssessed) -> None:
        self.responded_at = event.occurred_at
        self.status = Status.VALID if event.valid else Status.REJECTED_AS_INVALID

    @applies(ComplaintAssigned)
    def _assigned(self, event: ComplaintAssigned) -> None:
        self.status = Status.ASSIGNED
        self.department = event.department
        self.handler_id = event.handler_id

    @applies(ComplaintResolved)
    def _resolved(self, event: ComplaintResolved) -> None:
        self.status = Status.RESOLVED

    @applies(ComplaintFollowedUp)
    def _followed_up(self, event: ComplaintFollowedUp) -> None:
        self.satisfaction = event.satisfaction

    @applies(ComplaintClosed)
    def _closed(self, event: ComplaintClosed) -> None:
        self.status = Status.CLOSED

    @applies(ComplaintReopened)
    def _reopened(self, event: ComplaintReopened) -> None:
        self.status = Status.REOPENED
        self.resolution_clock_started_at = event.occurred_at
        self.resolution_due_at = event.resolution_due_at

    @applies(ComplaintEscalated)
    def _escalated(self, event: ComplaintEscalated) -> None:
        self.severity = event.to_severity
        self.escalation_level = event.level
        self.response_due_at = event.response_due_at
        self.resolution_due_at = event.resolution_due_at
