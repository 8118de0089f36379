"""Property test: random sequences of complaint commands against a simple model of §2.4.

The model: assessed once (valid, or rejected as invalid with a reason, for good); assigned
after a valid assessment or a reopening, and reassigned only to someone else; resolved only
when assigned; followed up only once resolved; closed only once resolved, and then closed
until reopened; escalation at any open state, only ever upwards, never postponing a due
time; the SLA due times are those of DESIGN §2.4 for the severity in force. After every
step the aggregate equals the model, a refused command has recorded nothing, and the
recorded events replay to the same complaint.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.aggregates.complaint import Complaint
from domain.complaint_vocabulary import ComplaintCategory, ComplaintSeverity, ComplaintStatus
from domain.events.complaint import (
    ComplaintAssessed,
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintFollowedUp,
    ComplaintReopened,
    ComplaintResolved,
)
from domain.sla import DEFAULT_SLA_POLICY
from domain.vocabulary import ContactChannel
from tests.domain.scenario import NOW, context
from tests.domain.test_state_machines import MACHINE_SETTINGS, Recorder, register_customer

Status = ComplaintStatus
Severity = ComplaintSeverity
POLICY = DEFAULT_SLA_POLICY
# DESIGN §2.4, written out again: the model does not read the policy it checks.
RESPONSE_HOURS = {Severity.CRITICAL: 4, Severity.HIGH: 8, Severity.MEDIUM: 24, Severity.LOW: 48}
RESOLUTION_DAYS = {Severity.CRITICAL: 1, Severity.HIGH: 2, Severity.MEDIUM: 5, Severity.LOW: 10}
RANK = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
HANDLERS = (("logistics", "h-1"), ("logistics", "h-2"), ("billing", "h-1"))


class ComplaintMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.severity = Severity.LOW
        complaint = Complaint.file(
            context(now=self.now),
            complaint_id=uuid4(),
            customer=register_customer(),
            channel=ContactChannel.PHONE,
            category=ComplaintCategory.DELIVERY,
            severity=self.severity,
            description="Two uprights arrived bent",
            policy=POLICY,
        )
        self.complaint = complaint
        self.recorder = Recorder(complaint, complaint.collect_events())
        # The model.
        self.status = Status.FILED
        self.handler: tuple[str, str] | None = None
        self.level = 0
        self.filed_at = self.now
        self.clock_started_at = self.now
        self.responded = False
        self.response_due = self.now + timedelta(hours=RESPONSE_HOURS[self.severity])
        self.resolution_due = self.now + timedelta(days=RESOLUTION_DAYS[self.severity])
        self.satisfaction: int | None = None

    @property
    def closed(self) -> bool:
        return self.status in (Status.CLOSED, Status.REJECTED_AS_INVALID)

    def open_refusal(self) -> str | None:
        return "complaint_open" if self.closed else None

    # ---- rules ----------------------------------------------------------------------

    @rule(hours=st.integers(0, 72))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(valid=st.booleans(), explained=st.booleans())
    def assess(self, valid: bool, explained: bool) -> None:
        reason = "Courier confirmed" if explained else None
        if self.status is not Status.FILED:
            refused_by: str | None = "assess_only_filed"
        elif not valid and not explained:
            refused_by = "rejection_explained"
        else:
            refused_by = None
        produced = self.recorder.run(
            lambda: self.complaint.assess(context(now=self.now), valid=valid, reason=reason),
            refused_by,
        )
        if produced:
            (assessed,) = produced
            assert isinstance(assessed, ComplaintAssessed)
            self.status = Status.VALID if valid else Status.REJECTED_AS_INVALID
            self.responded = True

    @rule(handler=st.sampled_from(HANDLERS))
    def assign(self, handler: tuple[str, str]) -> None:
        refused_by = self.open_refusal()
        if refused_by is None and self.status is Status.FILED:
            refused_by = "assign_after_assessment"
        elif refused_by is None and self.status is Status.RESOLVED:
            refused_by = "assign_before_resolution"
        elif refused_by is None and self.status is Status.ASSIGNED and handler == self.handler:
            refused_by = "assignment_changes"
        department, handler_id = handler
        produced = self.recorder.run(
            lambda: self.complaint.assign(
                context(now=self.now), department=department, handler_id=handler_id
            ),
            refused_by,
        )
        if produced:
            self.status, self.handler = Status.ASSIGNED, handler

    @rule()
    def resolve(self) -> None:
        refused_by = self.open_refusal()
        if refused_by is None and self.status is not Status.ASSIGNED:
            refused_by = "resolve_only_assigned"
        produced = self.recorder.run(
            lambda: self.complaint.resolve(context(now=self.now), resolution="Replaced"),
            refused_by,
        )
        if produced:
            assert isinstance(produced[0], ComplaintResolved)
            self.status = Status.RESOLVED

    @rule(satisfaction=st.integers(1, 5))
    def follow_up(self, satisfaction: int) -> None:
        refused_by = self.open_refusal()
        if refused_by is None and self.status is not Status.RESOLVED:
            refused_by = "follow_up_after_resolution"
        produced = self.recorder.run(
            lambda: self.complaint.record_follow_up(
                context(now=self.now), satisfaction=satisfaction
            ),
            refused_by,
        )
        if produced:
            assert isinstance(produced[0], ComplaintFollowedUp)
            self.satisfaction = satisfaction

    @rule()
    def close(self) -> None:
        refused_by = self.open_refusal()
        if refused_by is None and self.status is not Status.RESOLVED:
            refused_by = "close_after_resolution"
        produced = self.recorder.run(
            lambda: self.complaint.close(context(now=self.now)), refused_by
        )
        if produced:
            self.status = Status.CLOSED

    @rule()
    def reopen(self) -> None:
        if self.status is Status.REJECTED_AS_INVALID:
            refused_by: str | None = "rejection_final"
        elif self.status not in (Status.RESOLVED, Status.CLOSED):
            refused_by = "reopen_after_resolution"
        else:
            refused_by = None
        produced = self.recorder.run(
            lambda: self.complaint.reopen(
                context(now=self.now), reason="Bent again", policy=POLICY
            ),
            refused_by,
        )
        if produced:
            (reopened,) = produced
            assert isinstance(reopened, ComplaintReopened)
            self.status, self.clock_started_at = Status.REOPENED, self.now
            self.resolution_due = self.now + timedelta(days=RESOLUTION_DAYS[self.severity])
            assert reopened.resolution_due_at == self.resolution_due

    @rule(to=st.none() | st.sampled_from(RANK))
    def escalate(self, to: Severity | None) -> None:
        refused_by = self.open_refusal()
        if refused_by is None and to is not None and RANK.index(to) <= RANK.index(self.severity):
            refused_by = "escalation_raises_severity"
        produced = self.recorder.run(
            lambda: self.complaint.escalate(
                context(now=self.now), reason="Called the CEO", policy=POLICY, to_severity=to
            ),
            refused_by,
        )
        if not produced:
            return
        (escalated,) = produced
        assert isinstance(escalated, ComplaintEscalated)
        self.severity, self.level = to or self.severity, self.level + 1
        if not self.responded:
            self.response_due = min(self.response_due, self.due(self.filed_at, hours=True))
        if self.status is not Status.RESOLVED:
            self.resolution_due = min(self.resolution_due, self.due(self.clock_started_at))
        assert (escalated.level, escalated.to_severity) == (self.level, self.severity)
        assert escalated.response_due_at == self.response_due
        assert escalated.resolution_due_at == self.resolution_due

    def due(self, start: datetime, *, hours: bool = False) -> datetime:
        if hours:
            return start + timedelta(hours=RESPONSE_HOURS[self.severity])
        return start + timedelta(days=RESOLUTION_DAYS[self.severity])

    # ---- invariants -----------------------------------------------------------------

    @invariant()
    def the_complaint_follows_the_model(self) -> None:
        complaint = self.complaint
        assert complaint.status is self.status
        assert (complaint.severity, complaint.escalation_level) == (self.severity, self.level)
        assert (complaint.response_due_at, complaint.resolution_due_at) == (
            self.response_due,
            self.resolution_due,
        )
        assert complaint.satisfaction == self.satisfaction
        assert complaint.version == len(self.recorder.events)

    @invariant()
    def closed_stays_closed_unless_reopened(self) -> None:
        events = self.recorder.events
        for index, event in enumerate(events[:-1]):
            after = events[index + 1]
            if isinstance(event, ComplaintClosed):
                assert isinstance(after, ComplaintReopened), type(after).__name__
            if isinstance(event, ComplaintAssessed) and not event.valid:
                raise AssertionError(f"{type(after).__name__} after a rejection as invalid")

    @invariant()
    def follow_ups_only_after_a_resolution_and_severity_only_rises(self) -> None:
        status, rank = Status.FILED, 0
        for event in self.recorder.events:
            if isinstance(event, ComplaintFollowedUp):
                assert status is Status.RESOLVED
            elif isinstance(event, ComplaintResolved):
                status = Status.RESOLVED
            elif isinstance(event, ComplaintReopened | ComplaintClosed):
                status = Status.REOPENED
            elif isinstance(event, ComplaintEscalated):
                assert RANK.index(event.to_severity) >= rank
                rank = RANK.index(event.to_severity)
            else:
                status = Status.FILED  # any other step is not "resolved"

    @invariant()
    def replaying_the_events_rebuilds_the_same_complaint(self) -> None:
        replayed = Complaint.replay(self.recorder.events)
        for name in (
            "status",
            "version",
            "severity",
            "escalation_level",
            "response_due_at",
            "resolution_due_at",
            "resolution_clock_started_at",
            "responded_at",
            "department",
            "handler_id",
            "satisfaction",
        ):
            assert getattr(replayed, name) == getattr(self.complaint, name), name


ComplaintMachine.TestCase.settings = settings(MACHINE_SETTINGS, stateful_step_count=50)
TestComplaintMachine = ComplaintMachine.TestCase
