"""The service-level agreement of complaints (客户投诉): when a response and a resolution
are due, and whether they were late.

Two clocks run from the severity. The *response* clock starts at the filing and stops at
the assessment (判断投诉是否成立, the first answer the customer gets). The *resolution*
clock starts at the filing, stops at the resolution, and restarts from a reopening. An
escalation to a higher severity brings the due times forward. Due times are computed once,
by the policy in force, and recorded in the event that sets them; ``sla_status`` reads
them back from the events, so the SLA of any past instant is a pure function of the log.

Hours and days are elapsed time in UTC (a day is 24 hours), not working time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, model_validator

from domain.complaint_vocabulary import ComplaintSeverity, ComplaintStatus
from domain.events.base import DomainEvent
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
from domain.time import ensure_utc
from domain.values import Code, ValueObject

Severity = ComplaintSeverity
Status = ComplaintStatus

# An SLA longer than a year is a typing error, and the bound keeps due-time arithmetic safe.
Hours = Annotated[int, Field(strict=True, gt=0, le=24 * 366)]
Days = Annotated[int, Field(strict=True, gt=0, le=366)]


class PerSeverity(ValueObject):
    """One figure per severity; a more severe complaint is never given longer."""

    critical: int
    high: int
    medium: int
    low: int

    def __getitem__(self, severity: ComplaintSeverity) -> int:
        figure: int = getattr(self, severity.value)
        return figure

    @model_validator(mode="after")
    def _more_severe_is_never_slower(self) -> Self:
        if not self.critical <= self.high <= self.medium <= self.low:
            raise ValueError("figures must not decrease from low to critical severity")
        return self


class ResponseHours(PerSeverity):
    critical: Hours
    high: Hours
    medium: Hours
    low: Hours


class ResolutionDays(PerSeverity):
    critical: Days
    high: Days
    medium: Days
    low: Days


class SlaPolicy(ValueObject):
    """A versioned, configurable policy; the version is recorded with the due times it set."""

    version: Code = "2026.1"
    first_response_hours: ResponseHours = ResponseHours(critical=4, high=8, medium=24, low=48)
    resolution_days: ResolutionDays = ResolutionDays(critical=1, high=2, medium=5, low=10)


DEFAULT_SLA_POLICY = SlaPolicy()


def response_due_at(policy: SlaPolicy, severity: ComplaintSeverity, filed_at: datetime) -> datetime:
    """The first response (the assessment) is due this long after the filing."""
    return ensure_utc(filed_at) + timedelta(hours=policy.first_response_hours[severity])


def resolution_due_at(
    policy: SlaPolicy, severity: ComplaintSeverity, clock_started_at: datetime
) -> datetime:
    """The resolution is due this long after the filing, or after the latest reopening."""
    return ensure_utc(clock_started_at) + timedelta(days=policy.resolution_days[severity])


class SlaStatus(ValueObject):
    """Where a complaint stood against its SLA at instant ``at`` (business time).

    A clock is *breached* when its work was done after the due time, or is not done and the
    due time lies before ``at`` (exactly at the due time is still in time). A complaint
    rejected as invalid owes no resolution: its ``resolution_due_at`` is None and its
    resolution is never breached. After a reopening, ``resolved_at`` and the resolution
    breach describe the new round only.
    """

    complaint_id: UUID
    at: datetime
    status: ComplaintStatus
    severity: ComplaintSeverity
    escalation_level: int
    filed_at: datetime
    responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    response_due_at: datetime
    resolution_due_at: datetime | None
    response_breached: bool
    resolution_breached: bool
    satisfaction: int | None

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def is_breached(self) -> bool:
        return self.response_breached or self.resolution_breached


@dataclass(slots=True)
class _Clock:
    complaint_id: UUID
    filed_at: datetime
    status: ComplaintStatus
    severity: ComplaintSeverity
    response_due_at: datetime
    resolution_due_at: datetime | None
    escalation_level: int = 0
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    satisfaction: int | None = None

    def fold(self, event: DomainEvent) -> None:
        if event.aggregate_id != self.complaint_id:
            raise ValueError(f"event of {event.aggregate_id} in complaint {self.complaint_id}")
        if isinstance(event, ComplaintAssessed):
            self.responded_at = event.occurred_at
            if event.valid:
                self.status = Status.VALID
            else:
                self.status = Status.REJECTED_AS_INVALID
                self.resolution_due_at = None
        elif isinstance(event, ComplaintAssigned):
            self.status = Status.ASSIGNED
        elif isinstance(event, ComplaintResolved):
            self.status = Status.RESOLVED
            self.resolved_at = event.occurred_at
        elif isinstance(event, ComplaintFollowedUp):
            self.satisfaction = event.satisfaction
        elif isinstance(event, ComplaintClosed):
            self.status = Status.CLOSED
            self.closed_at = event.occurred_at
        elif isinstance(event, ComplaintReopened):
            self.status = Status.REOPENED
            self.resolved_at = None
            self.closed_at = None
            self.resolution_due_at = event.resolution_due_at
        elif isinstance(event, ComplaintEscalated):
            self.severity = event.to_severity
            self.escalation_level = event.level
            self.response_due_at = event.response_due_at
            self.resolution_due_at = event.resolution_due_at
        else:
            raise TypeError(f"{type(event).__name__} is not an event of a complaint's SLA")


def _breached(due: datetime | None, done_at: datetime | None, at: datetime) -> bool:
    if due is None:
        return False
    if done_at is not None:
        return done_at > due
    return due < at


def sla_status(events: Sequence[DomainEvent], at: datetime) -> SlaStatus:
    """The SLA of one complaint as of ``at``, from its events alone: only events whose
    business time (``occurred_at``) is at or before ``at`` count.

    Raises ``ValueError`` when the stream is not a complaint's or the complaint was not yet
    filed at ``at``.
    """
    at = ensure_utc(at)
    if not events or not isinstance(events[0], ComplaintFiled):
        raise ValueError("a complaint's events start with ComplaintFiled")
    filed = events[0]
    if filed.occurred_at > at:
        raise ValueError(
            f"complaint {filed.aggregate_id} was filed at {filed.occurred_at.isoformat()}, "
            f"after {at.isoformat()}"
        )
    clock = _Clock(
        complaint_id=filed.aggregate_id,
        filed_at=filed.occurred_at,
        status=Status.FILED,
        severity=filed.severity,
        response_due_at=filed.response_due_at,
        resolution_due_at=filed.resolution_due_at,
    )
    for event in events[1:]:
        if event.occurred_at <= at:
            clock.fold(event)
    return SlaStatus(
        complaint_id=clock.complaint_id,
        at=at,
        status=clock.status,
        severity=clock.severity,
        escalation_level=clock.escalation_level,
        filed_at=clock.filed_at,
        responded_at=clock.responded_at,
        resolved_at=clock.resolved_at,
        closed_at=clock.closed_at,
        response_due_at=clock.response_due_at,
        resolution_due_at=clock.resolution_due_at,
        response_breached=_breached(clock.response_due_at, clock.responded_at, at),
        resolution_breached=_breached(clock.resolution_due_at, clock.resolved_at, at),
        satisfaction=clock.satisfaction,
    )
