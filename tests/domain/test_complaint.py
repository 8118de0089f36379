"""The Complaint aggregate (客户投诉) and its SLA, given/when/then over events: every
transition, every rule, and the SLA clock at chosen instants for every severity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from domain.aggregates.complaint import Complaint
from domain.aggregates.customer import Customer
from domain.complaint_vocabulary import (
    COMPLAINT_ZH_LABELS,
    OPEN_STATUSES,
    ComplaintCategory,
    ComplaintSeverity,
    ComplaintStatus,
)
from domain.context import CommandContext
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
from domain.events.customer import CustomerDisqualified, CustomerProfile, CustomerRegistered
from domain.sla import DEFAULT_SLA_POLICY, ResolutionDays, ResponseHours, SlaPolicy, sla_status
from domain.values import Money
from domain.vocabulary import ContactChannel, CustomerKind
from tests.domain.scenario import ACTOR, NOW, Scenario, context, event, given

Status = ComplaintStatus
Severity = ComplaintSeverity

KID = UUID("00000000-0000-4000-8000-0000000000e1")
CID = UUID("00000000-0000-4000-8000-0000000000c1")
ORDER_ID = UUID("00000000-0000-4000-8000-0000000000d1")

# DESIGN §2.4, written out here rather than read from the policy under test.
RESPONSE_HOURS = {Severity.CRITICAL: 4, Severity.HIGH: 8, Severity.MEDIUM: 24, Severity.LOW: 48}
RESOLUTION_DAYS = {Severity.CRITICAL: 1, Severity.HIGH: 2, Severity.MEDIUM: 5, Severity.LOW: 10}
ALL_SEVERITIES = list(Severity)

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
COMPENSATION = Money(amount=Decimal("200.00"), currency="CNY")
POLICY = DEFAULT_SLA_POLICY


def response_due(severity: Severity, filed_at: datetime = NOW) -> datetime:
    return filed_at + RESPONSE_HOURS[severity] * HOUR


def resolution_due(severity: Severity, started_at: datetime = NOW) -> datetime:
    return started_at + RESOLUTION_DAYS[severity] * DAY


# ---- histories --------------------------------------------------------------------

Step = tuple[type[DomainEvent], datetime, dict[str, Any]]


def step(event_type: type[DomainEvent], at: datetime = NOW, **payload: Any) -> Step:
    return (event_type, at, payload)


def history(*steps: Step) -> tuple[DomainEvent, ...]:
    """The steps as one stream, numbered from version 1."""
    return tuple(
        event(event_type, KID, version, at=at, **payload)
        for version, (event_type, at, payload) in enumerate(steps, start=1)
    )


def file_step(severity: Severity = Severity.HIGH, at: datetime = NOW) -> Step:
    return step(
        ComplaintFiled,
        at,
        customer_id=CID,
        channel=ContactChannel.PHONE,
        category=ComplaintCategory.PRODUCT,
        severity=severity,
        description="冷库门封条漏气，库温升高",
        related_order_id=ORDER_ID,
        sla_policy_version=POLICY.version,
        response_due_at=response_due(severity, at),
        resolution_due_at=resolution_due(severity, at),
    )


FILE = file_step()
ASSESS_VALID = step(ComplaintAssessed, valid=True, reason="Seal defect confirmed on site")
ASSESS_INVALID = step(ComplaintAssessed, valid=False, reason="Damage caused by misuse")
ASSIGN = step(ComplaintAssigned, department="After-sales", handler_id="agent-7")
RESOLVE = step(ComplaintResolved, resolution="Seal replaced", compensation=COMPENSATION)
FOLLOW_UP = step(ComplaintFollowedUp, satisfaction=4, note="Cold room holds temperature")
CLOSE = step(ComplaintClosed, note="Customer confirmed")
REOPEN = step(
    ComplaintReopened,
    reason="The seal leaks again",
    sla_policy_version=POLICY.version,
    resolution_due_at=resolution_due(Severity.HIGH),
)

PATH_TO: dict[Status, tuple[Step, ...]] = {
    Status.FILED: (FILE,),
    Status.VALID: (FILE, ASSESS_VALID),
    Status.REJECTED_AS_INVALID: (FILE, ASSESS_INVALID),
    Status.ASSIGNED: (FILE, ASSESS_VALID, ASSIGN),
    Status.RESOLVED: (FILE, ASSESS_VALID, ASSIGN, RESOLVE),
    Status.CLOSED: (FILE, ASSESS_VALID, ASSIGN, RESOLVE, FOLLOW_UP, CLOSE),
    Status.REOPENED: (FILE, ASSESS_VALID, ASSIGN, RESOLVE, CLOSE, REOPEN),
}


def complaint_at(status: Status, *more: Step) -> Scenario[Complaint]:
    return given(Complaint, *history(*PATH_TO[status], *more))


def registered_customer(*more: DomainEvent) -> Customer:
    return Customer.replay(
        [
            event(
                CustomerRegistered,
                CID,
                1,
                profile=CustomerProfile(kind=CustomerKind.COMPANY, name="杭州冷链物流有限公司"),
            ),
            *more,
        ]
    )


def file_complaint(
    ctx: CommandContext | None = None,
    *,
    severity: Severity = Severity.HIGH,
    customer: Customer | None = None,
    policy: SlaPolicy = POLICY,
) -> Complaint:
    return Complaint.file(
        ctx if ctx is not None else context(),
        complaint_id=KID,
        customer=customer if customer is not None else registered_customer(),
        channel=ContactChannel.WECHAT,
        category=ComplaintCategory.DELIVERY,
        severity=severity,
        description="Delivery arrived three days late, goods thawed",
        related_order_id=ORDER_ID,
        policy=policy,
    )


def at(moment: datetime) -> CommandContext:
    """A command executed at ``moment`` (its business time)."""
    return context(now=moment)


# ---- the transition matrix ----------------------------------------------------------

COMMANDS: dict[str, Callable[[Complaint], Any]] = {
    "assess": lambda c: c.assess(context(), valid=True, reason="Confirmed"),
    "assign": lambda c: c.assign(context(), department="Quality", handler_id="agent-9"),
    "resolve": lambda c: c.resolve(context(), resolution="Refunded the delivery fee"),
    "record_follow_up": lambda c: c.record_follow_up(context(), satisfaction=5),
    "close": lambda c: c.close(context()),
    "reopen": lambda c: c.reopen(context(), reason="Still unhappy", policy=POLICY),
    "escalate": lambda c: c.escalate(context(), reason="Customer called the CEO", policy=POLICY),
}

# What each command does in each state: the event and the state it leads to, or the rule.
ACCEPTED: dict[tuple[str, Status], tuple[type[DomainEvent], Status]] = {
    ("assess", Status.FILED): (ComplaintAssessed, Status.VALID),
    ("assign", Status.VALID): (ComplaintAssigned, Status.ASSIGNED),
    ("assign", Status.ASSIGNED): (ComplaintAssigned, Status.ASSIGNED),
    ("assign", Status.REOPENED): (ComplaintAssigned, Status.ASSIGNED),
    ("resolve", Status.ASSIGNED): (ComplaintResolved, Status.RESOLVED),
    ("record_follow_up", Status.RESOLVED): (ComplaintFollowedUp, Status.RESOLVED),
    ("close", Status.RESOLVED): (ComplaintClosed, Status.CLOSED),
    ("reopen", Status.RESOLVED): (ComplaintReopened, Status.REOPENED),
    ("reopen", Status.CLOSED): (ComplaintReopened, Status.REOPENED),
    **{("escalate", s): (ComplaintEscalated, s) for s in OPEN_STATUSES},
}
CLOSED_STATES = (Status.CLOSED, Status.REJECTED_AS_INVALID)
REFUSED: dict[tuple[str, Status], str] = {
    **{("assess", s): "assess_only_filed" for s in Status if s is not Status.FILED},
    ("assign", Status.FILED): "assign_after_assessment",
    ("assign", Status.RESOLVED): "assign_before_resolution",
    **{("assign", s): "complaint_open" for s in CLOSED_STATES},
    **{
        ("resolve", s): "resolve_only_assigned"
        for s in (Status.FILED, Status.VALID, Status.RESOLVED, Status.REOPENED)
    },
    **{("resolve", s): "complaint_open" for s in CLOSED_STATES},
    **{
        ("record_follow_up", s): "follow_up_after_resolution"
        for s in (Status.FILED, Status.VALID, Status.ASSIGNED, Status.REOPENED)
    },
    **{("record_follow_up", s): "complaint_open" for s in CLOSED_STATES},
    **{
        ("close", s): "close_after_resolution"
        for s in (Status.FILED, Status.VALID, Status.ASSIGNED, Status.REOPENED)
    },
    **{("close", s): "complaint_open" for s in CLOSED_STATES},
    **{
        ("reopen", s): "reopen_after_resolution"
        for s in (Status.FILED, Status.VALID, Status.ASSIGNED, Status.REOPENED)
    },
    ("reopen", Status.REJECTED_AS_INVALID): "rejection_final",
    **{("escalate", s): "complaint_open" for s in CLOSED_STATES},
}


def test_the_matrix_covers_every_command_in_every_state() -> None:
    cases = {(command, status) for command in COMMANDS for status in Status}
    assert set(ACCEPTED) | set(REFUSED) == cases
    assert not set(ACCEPTED) & set(REFUSED)


@pytest.mark.parametrize(("command", "status"), sorted(ACCEPTED))
def test_an_allowed_transition_records_its_event_and_reaches_its_state(
    command: str, status: Status
) -> None:
    event_type, reached = ACCEPTED[(command, status)]
    scenario = complaint_at(status).when(COMMANDS[command])
    scenario.then((event_type, {"version": len(PATH_TO[status]) + 1, "actor_id": ACTOR}))
    assert scenario.aggregate is not None
    assert scenario.aggregate.status is reached


@pytest.mark.parametrize(("command", "status"), sorted(REFUSED))
def test_a_command_out_of_its_states_is_refused_by_its_rule(command: str, status: Status) -> None:
    complaint_at(status).when(COMMANDS[command]).then_rejected(REFUSED[(command, status)])


# ---- file -----------------------------------------------------------------------------


class TestFile:
    def test_filing_records_the_content_and_the_sla_due_times(self) -> None:
        Scenario(Complaint).when_created(file_complaint).then(
            (
                ComplaintFiled,
                {
                    "aggregate_id": KID,
                    "version": 1,
                    "customer_id": CID,
                    "channel": ContactChannel.WECHAT,
                    "category": ComplaintCategory.DELIVERY,
                    "severity": Severity.HIGH,
                    "description": "Delivery arrived three days late, goods thawed",
                    "related_order_id": ORDER_ID,
                    "sla_policy_version": POLICY.version,
                    "response_due_at": NOW + 8 * HOUR,
                    "resolution_due_at": NOW + 2 * DAY,
                    "occurred_at": NOW,
                },
            )
        )

    @pytest.mark.parametrize("severity", ALL_SEVERITIES)
    def test_the_due_times_follow_the_severity(self, severity: Severity) -> None:
        scenario = Scenario(Complaint).when_created(lambda: file_complaint(severity=severity))
        scenario.then(
            (
                ComplaintFiled,
                {
                    "response_due_at": NOW + RESPONSE_HOURS[severity] * HOUR,
                    "resolution_due_at": NOW + RESOLUTION_DAYS[severity] * DAY,
                },
            )
        )
        assert scenario.aggregate is not None
        assert scenario.aggregate.status is Status.FILED
        assert scenario.aggregate.escalation_level == 0

    def test_a_complaint_needs_no_related_order(self) -> None:
        complaint = Complaint.file(
            context(),
            complaint_id=KID,
            customer=registered_customer(),
            channel=ContactChannel.EMAIL,
            category=ComplaintCategory.STAFF,
            severity=Severity.LOW,
            description="Rude driver",
            policy=POLICY,
        )
        (filed,) = complaint.collect_events()
        assert isinstance(filed, ComplaintFiled)
        assert filed.related_order_id is None

    def test_the_policy_passed_sets_the_due_times_and_its_version_is_recorded(self) -> None:
        policy = SlaPolicy(
            version="strict-2",
            first_response_hours=ResponseHours(critical=1, high=2, medium=3, low=4),
            resolution_days=ResolutionDays(critical=1, high=1, medium=2, low=3),
        )
        Scenario(Complaint).when_created(lambda: file_complaint(policy=policy)).then(
            (
                ComplaintFiled,
                {
                    "sla_policy_version": "strict-2",
                    "response_due_at": NOW + 2 * HOUR,
                    "resolution_due_at": NOW + DAY,
                },
            )
        )

    def test_an_imported_complaint_runs_its_clock_from_its_own_business_time(self) -> None:
        then = datetime(1997, 6, 2, 8, 0, tzinfo=UTC)
        Scenario(Complaint).when_created(
            lambda: file_complaint(context(occurred_at=then), severity=Severity.CRITICAL)
        ).then(
            (
                ComplaintFiled,
                {
                    "occurred_at": then,
                    "recorded_at": NOW,
                    "response_due_at": then + 4 * HOUR,
                    "resolution_due_at": then + DAY,
                },
            )
        )

    def test_a_complaint_in_the_future_is_refused(self) -> None:
        Scenario(Complaint).when_created(
            lambda: file_complaint(context(occurred_at=NOW + HOUR))
        ).then_rejected("occurred_at_not_in_future", field="occurred_at")

    def test_a_disqualified_customer_can_still_complain(self) -> None:
        customer = registered_customer(event(CustomerDisqualified, CID, 2, reason="Fraud"))
        Scenario(Complaint).when_created(lambda: file_complaint(customer=customer)).then(
            (ComplaintFiled, {"customer_id": CID})
        )

    def test_a_description_that_is_blank_is_malformed(self) -> None:
        with pytest.raises(ValidationError):
            Complaint.file(
                context(),
                complaint_id=KID,
                customer=registered_customer(),
                channel=ContactChannel.PHONE,
                category=ComplaintCategory.OTHER,
                severity=Severity.LOW,
                description="   ",
                policy=POLICY,
            )


# ---- assess ---------------------------------------------------------------------------


class TestAssess:
    def test_a_valid_complaint_is_assessed_with_or_without_a_reason(self) -> None:
        complaint_at(Status.FILED).when(lambda c: c.assess(context(), valid=True)).then(
            (ComplaintAssessed, {"valid": True, "reason": None})
        )

    def test_an_invalid_complaint_is_rejected_with_its_explanation(self) -> None:
        scenario = complaint_at(Status.FILED).when(
            lambda c: c.assess(context(), valid=False, reason="Outside the warranty")
        )
        scenario.then((ComplaintAssessed, {"valid": False, "reason": "Outside the warranty"}))
        assert scenario.aggregate is not None
        assert scenario.aggregate.status is Status.REJECTED_AS_INVALID
        assert not scenario.aggregate.status.is_open

    def test_a_rejection_without_a_reason_is_refused(self) -> None:
        complaint_at(Status.FILED).when(lambda c: c.assess(context(), valid=False)).then_rejected(
            "rejection_explained", field="reason"
        )

    @pytest.mark.parametrize("status", [Status.VALID, Status.REJECTED_AS_INVALID])
    def test_assessing_twice_is_refused(self, status: Status) -> None:
        complaint_at(status).when(
            lambda c: c.assess(context(), valid=False, reason="On second thought")
        ).then_rejected("assess_only_filed")

    def test_the_assessment_is_the_response_and_is_remembered(self) -> None:
        later = NOW + HOUR
        complaint = Complaint.replay(history(file_step(at=NOW)))
        complaint.assess(at(later), valid=True)
        assert complaint.responded_at == later


# ---- assign ---------------------------------------------------------------------------


class TestAssign:
    def test_assigning_records_the_department_and_handler(self) -> None:
        scenario = complaint_at(Status.VALID).when(
            lambda c: c.assign(context(), department="After-sales", handler_id="agent-7")
        )
        scenario.then((ComplaintAssigned, {"department": "After-sales", "handler_id": "agent-7"}))
        assert scenario.aggregate is not None
        assert (scenario.aggregate.department, scenario.aggregate.handler_id) == (
            "After-sales",
            "agent-7",
        )

    def test_assigning_before_the_assessment_is_refused(self) -> None:
        complaint_at(Status.FILED).when(
            lambda c: c.assign(context(), department="After-sales", handler_id="agent-7")
        ).then_rejected("assign_after_assessment")

    def test_a_reassignment_to_another_handler_is_recorded(self) -> None:
        complaint_at(Status.ASSIGNED).when(
            lambda c: c.assign(context(), department="After-sales", handler_id="agent-8")
        ).then((ComplaintAssigned, {"department": "After-sales", "handler_id": "agent-8"}))

    def test_a_reassignment_to_the_same_handler_and_department_is_refused(self) -> None:
        complaint_at(Status.ASSIGNED).when(
            lambda c: c.assign(context(), department="After-sales", handler_id="agent-7")
        ).then_rejected("assignment_changes", field="handler_id")

    def test_a_reopened_complaint_may_go_back_to_its_former_handler(self) -> None:
        complaint_at(Status.REOPENED).when(
            lambda c: c.assign(context(), department="After-sales", handler_id="agent-7")
        ).then((ComplaintAssigned, {"handler_id": "agent-7"}))

    def test_assigning_a_complaint_rejected_as_invalid_is_refused(self) -> None:
        complaint_at(Status.REJECTED_AS_INVALID).when(
            lambda c: c.assign(context(), department="After-sales", handler_id="agent-7")
        ).then_rejected("complaint_open")

    def test_a_blank_handler_is_malformed(self) -> None:
        complaint = Complaint.replay(history(*PATH_TO[Status.VALID]))
        with pytest.raises(ValidationError):
            complaint.assign(context(), department="After-sales", handler_id=" ")
        assert complaint.pending_events == ()


# ---- resolve --------------------------------------------------------------------------


class TestResolve:
    def test_resolving_records_the_resolution_and_compensation(self) -> None:
        complaint_at(Status.ASSIGNED).when(
            lambda c: c.resolve(context(), resolution="Seal replaced", compensation=COMPENSATION)
        ).then((ComplaintResolved, {"resolution": "Seal replaced", "compensation": COMPENSATION}))

    def test_a_resolution_needs_no_compensation_and_may_compensate_zero(self) -> None:
        zero = Money(amount=Decimal(0), currency="CNY")
        complaint_at(Status.ASSIGNED).when(
            lambda c: c.resolve(context(), resolution="Apologised", compensation=zero)
        ).then((ComplaintResolved, {"compensation": zero}))
        complaint_at(Status.ASSIGNED).when(
            lambda c: c.resolve(context(), resolution="Apologised")
        ).then((ComplaintResolved, {"compensation": None}))

    def test_a_negative_compensation_cannot_even_be_expressed(self) -> None:
        with pytest.raises(ValidationError):
            Money(amount=Decimal("-1"), currency="CNY")

    def test_resolving_an_invalid_complaint_is_refused(self) -> None:
        complaint_at(Status.REJECTED_AS_INVALID).when(
            lambda c: c.resolve(context(), resolution="Refund")
        ).then_rejected("complaint_open")

    @pytest.mark.parametrize("status", [Status.FILED, Status.VALID, Status.REOPENED])
    def test_resolving_an_unassigned_complaint_is_refused(self, status: Status) -> None:
        complaint_at(status).when(
            lambda c: c.resolve(context(), resolution="Refund")
        ).then_rejected("resolve_only_assigned")

    def test_resolving_twice_is_refused(self) -> None:
        complaint_at(Status.RESOLVED).when(
            lambda c: c.resolve(context(), resolution="Refund")
        ).then_rejected("resolve_only_assigned")


# ---- follow up and close ----------------------------------------------------------------


class TestFollowUp:
    @pytest.mark.parametrize("satisfaction", [1, 2, 3, 4, 5])
    def test_a_follow_up_records_the_satisfaction(self, satisfaction: int) -> None:
        scenario = complaint_at(Status.RESOLVED).when(
            lambda c: c.record_follow_up(context(), satisfaction=satisfaction, note="Called back")
        )
        scenario.then((ComplaintFollowedUp, {"satisfaction": satisfaction, "note": "Called back"}))
        assert scenario.aggregate is not None
        assert scenario.aggregate.satisfaction == satisfaction

    @pytest.mark.parametrize("satisfaction", [0, 6, -1])
    def test_a_satisfaction_outside_1_to_5_is_malformed_and_nothing_is_recorded(
        self, satisfaction: int
    ) -> None:
        complaint = Complaint.replay(history(*PATH_TO[Status.RESOLVED]))
        with pytest.raises(ValidationError):
            complaint.record_follow_up(context(), satisfaction=satisfaction)
        assert complaint.pending_events == ()
        assert complaint.version == len(PATH_TO[Status.RESOLVED])

    def test_a_second_follow_up_replaces_the_satisfaction(self) -> None:
        scenario = complaint_at(Status.RESOLVED, FOLLOW_UP).when(
            lambda c: c.record_follow_up(context(), satisfaction=2)
        )
        scenario.then((ComplaintFollowedUp, {"satisfaction": 2}))
        assert scenario.aggregate is not None
        assert scenario.aggregate.satisfaction == 2

    @pytest.mark.parametrize(
        "status", [Status.FILED, Status.VALID, Status.ASSIGNED, Status.REOPENED]
    )
    def test_following_up_before_the_resolution_is_refused(self, status: Status) -> None:
        complaint_at(status).when(
            lambda c: c.record_follow_up(context(), satisfaction=3)
        ).then_rejected("follow_up_after_resolution")

    def test_following_up_a_closed_complaint_is_refused(self) -> None:
        complaint_at(Status.CLOSED).when(
            lambda c: c.record_follow_up(context(), satisfaction=3)
        ).then_rejected("complaint_open")


class TestClose:
    def test_a_resolved_complaint_is_closed_with_a_note(self) -> None:
        scenario = complaint_at(Status.RESOLVED).when(lambda c: c.close(context(), note="Done"))
        scenario.then((ComplaintClosed, {"note": "Done"}))
        assert scenario.aggregate is not None
        assert scenario.aggregate.status is Status.CLOSED

    def test_a_complaint_is_closed_without_a_follow_up_too(self) -> None:
        complaint_at(Status.RESOLVED).when(lambda c: c.close(context())).then(
            (ComplaintClosed, {"note": None})
        )

    @pytest.mark.parametrize(
        "status", [Status.FILED, Status.VALID, Status.ASSIGNED, Status.REOPENED]
    )
    def test_closing_an_unresolved_complaint_is_refused(self, status: Status) -> None:
        complaint_at(status).when(lambda c: c.close(context())).then_rejected(
            "close_after_resolution"
        )

    @pytest.mark.parametrize("status", CLOSED_STATES)
    def test_closing_twice_is_refused(self, status: Status) -> None:
        complaint_at(status).when(lambda c: c.close(context())).then_rejected("complaint_open")


# ---- reopen ---------------------------------------------------------------------------


class TestReopen:
    @pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED])
    def test_reopening_restarts_the_resolution_clock_from_the_reopening(
        self, status: Status
    ) -> None:
        reopened_at = NOW + 3 * DAY
        complaint = Complaint.replay(history(*PATH_TO[status]))
        complaint.reopen(at(reopened_at), reason="The seal leaks again", policy=POLICY)
        (reopened,) = complaint.collect_events()
        assert isinstance(reopened, ComplaintReopened)
        assert reopened.reason == "The seal leaks again"
        assert reopened.sla_policy_version == POLICY.version
        assert reopened.resolution_due_at == reopened_at + 2 * DAY  # high
        assert complaint.status is Status.REOPENED
        assert complaint.resolution_clock_started_at == reopened_at

    def test_reopening_uses_the_severity_in_force_after_an_escalation(self) -> None:
        escalated = step(
            ComplaintEscalated,
            from_severity=Severity.HIGH,
            to_severity=Severity.CRITICAL,
            level=1,
            reason="Food spoiled",
            sla_policy_version=POLICY.version,
            response_due_at=NOW + 4 * HOUR,
            resolution_due_at=NOW + DAY,
        )
        complaint_at(Status.RESOLVED, escalated).when(
            lambda c: c.reopen(context(), reason="Still leaking", policy=POLICY)
        ).then((ComplaintReopened, {"resolution_due_at": NOW + DAY}))

    def test_reopening_a_complaint_rejected_as_invalid_is_refused(self) -> None:
        complaint_at(Status.REJECTED_AS_INVALID).when(
            lambda c: c.reopen(context(), reason="Customer disagrees", policy=POLICY)
        ).then_rejected("rejection_final")

    @pytest.mark.parametrize(
        "status", [Status.FILED, Status.VALID, Status.ASSIGNED, Status.REOPENED]
    )
    def test_reopening_an_unresolved_complaint_is_refused(self, status: Status) -> None:
        complaint_at(status).when(
            lambda c: c.reopen(context(), reason="Again", policy=POLICY)
        ).then_rejected("reopen_after_resolution")

    def test_a_reopened_complaint_goes_round_again(self) -> None:
        complaint = Complaint.replay(history(*PATH_TO[Status.REOPENED]))
        complaint.assign(context(), department="Quality", handler_id="agent-9")
        complaint.resolve(context(), resolution="Door replaced")
        complaint.record_follow_up(context(), satisfaction=5)
        complaint.close(context())
        assert complaint.status is Status.CLOSED
        assert [type(e) for e in complaint.collect_events()] == [
            ComplaintAssigned,
            ComplaintResolved,
            ComplaintFollowedUp,
            ComplaintClosed,
        ]


# ---- escalate -------------------------------------------------------------------------


def escalated_step(
    level: int, from_severity: Severity, to_severity: Severity, at: datetime = NOW
) -> Step:
    return step(
        ComplaintEscalated,
        at,
        from_severity=from_severity,
        to_severity=to_severity,
        level=level,
        reason="Escalated",
        sla_policy_version=POLICY.version,
        response_due_at=response_due(to_severity),
        resolution_due_at=resolution_due(to_severity),
    )


class TestEscalate:
    def test_escalating_raises_the_level_and_the_severity_and_brings_the_dues_forward(
        self,
    ) -> None:
        history_ = history(file_step(Severity.LOW))
        scenario = given(Complaint, *history_).when(
            lambda c: c.escalate(
                at(NOW + HOUR), reason="Food spoiled", to_severity=Severity.HIGH, policy=POLICY
            )
        )
        scenario.then(
            (
                ComplaintEscalated,
                {
                    "from_severity": Severity.LOW,
                    "to_severity": Severity.HIGH,
                    "level": 1,
                    "reason": "Food spoiled",
                    # From the filing, not from the escalation.
                    "response_due_at": NOW + 8 * HOUR,
                    "resolution_due_at": NOW + 2 * DAY,
                },
            )
        )
        assert scenario.aggregate is not None
        assert scenario.aggregate.severity is Severity.HIGH
        assert scenario.aggregate.escalation_level == 1

    def test_each_escalation_increments_the_level(self) -> None:
        complaint_at(Status.ASSIGNED, escalated_step(1, Severity.HIGH, Severity.CRITICAL)).when(
            lambda c: c.escalate(context(), reason="Press got involved", policy=POLICY)
        ).then(
            (
                ComplaintEscalated,
                {"level": 2, "from_severity": Severity.CRITICAL, "to_severity": Severity.CRITICAL},
            )
        )

    def test_an_escalation_without_a_new_severity_keeps_the_severity_and_dues(self) -> None:
        complaint_at(Status.FILED).when(
            lambda c: c.escalate(context(), reason="Manager asked", policy=POLICY)
        ).then(
            (
                ComplaintEscalated,
                {
                    "to_severity": Severity.HIGH,
                    "response_due_at": NOW + 8 * HOUR,
                    "resolution_due_at": NOW + 2 * DAY,
                },
            )
        )

    @pytest.mark.parametrize("to_severity", [Severity.HIGH, Severity.MEDIUM, Severity.LOW])
    def test_an_escalation_that_does_not_raise_the_severity_is_refused(
        self, to_severity: Severity
    ) -> None:
        complaint_at(Status.FILED).when(
            lambda c: c.escalate(context(), reason="x", to_severity=to_severity, policy=POLICY)
        ).then_rejected("escalation_raises_severity", field="to_severity")

    @pytest.mark.parametrize("status", CLOSED_STATES)
    def test_escalating_a_closed_complaint_is_refused(self, status: Status) -> None:
        complaint_at(status).when(
            lambda c: c.escalate(
                context(), reason="x", to_severity=Severity.CRITICAL, policy=POLICY
            )
        ).then_rejected("complaint_open")

    def test_a_response_already_given_keeps_its_due_time(self) -> None:
        complaint_at(Status.ASSIGNED).when(
            lambda c: c.escalate(
                context(), reason="x", to_severity=Severity.CRITICAL, policy=POLICY
            )
        ).then(
            (
                ComplaintEscalated,
                {"response_due_at": NOW + 8 * HOUR, "resolution_due_at": NOW + DAY},
            )
        )

    def test_a_resolution_already_made_keeps_its_due_time(self) -> None:
        complaint_at(Status.RESOLVED).when(
            lambda c: c.escalate(
                context(), reason="x", to_severity=Severity.CRITICAL, policy=POLICY
            )
        ).then(
            (
                ComplaintEscalated,
                {"response_due_at": NOW + 8 * HOUR, "resolution_due_at": NOW + 2 * DAY},
            )
        )

    def test_after_a_reopening_the_resolution_due_runs_from_the_reopening(self) -> None:
        reopened_at = NOW + 5 * DAY
        steps = (
            FILE,
            ASSESS_VALID,
            ASSIGN,
            RESOLVE,
            step(
                ComplaintReopened,
                reopened_at,
                reason="Again",
                sla_policy_version=POLICY.version,
                resolution_due_at=reopened_at + 2 * DAY,
            ),
        )
        given(Complaint, *history(*steps)).when(
            lambda c: c.escalate(
                at(reopened_at + HOUR), reason="x", to_severity=Severity.CRITICAL, policy=POLICY
            )
        ).then((ComplaintEscalated, {"resolution_due_at": reopened_at + DAY}))

    def test_an_escalation_never_postpones_a_due_time(self) -> None:
        lax = SlaPolicy(
            version="lax-1",
            first_response_hours=ResponseHours(critical=40, high=80, medium=240, low=480),
            resolution_days=ResolutionDays(critical=10, high=20, medium=50, low=100),
        )
        complaint_at(Status.FILED).when(
            lambda c: c.escalate(context(), reason="x", to_severity=Severity.CRITICAL, policy=lax)
        ).then(
            (
                ComplaintEscalated,
                {
                    "sla_policy_version": "lax-1",
                    "response_due_at": NOW + 8 * HOUR,
                    "resolution_due_at": NOW + 2 * DAY,
                },
            )
        )

    def test_an_escalated_event_that_lowers_the_severity_is_malformed(self) -> None:
        with pytest.raises(ValidationError):
            history(FILE, escalated_step(1, Severity.HIGH, Severity.LOW))


# ---- business time, replay --------------------------------------------------------------


def test_a_command_dated_before_the_complaints_last_event_is_refused() -> None:
    complaint_at(Status.FILED).when(
        lambda c: c.assess(context(occurred_at=NOW - HOUR), valid=True)
    ).then_rejected("occurred_at_in_order", field="occurred_at")


def test_recorded_events_replay_to_the_same_state() -> None:
    complaint = file_complaint(at(NOW), severity=Severity.MEDIUM)
    complaint.assess(at(NOW + HOUR), valid=True, reason="Confirmed")
    complaint.assign(at(NOW + 2 * HOUR), department="Logistics", handler_id="agent-3")
    complaint.escalate(at(NOW + 3 * HOUR), reason="VIP", to_severity=Severity.HIGH, policy=POLICY)
    complaint.resolve(at(NOW + DAY), resolution="Reshipped", compensation=COMPENSATION)
    complaint.record_follow_up(at(NOW + 2 * DAY), satisfaction=2)
    complaint.close(at(NOW + 2 * DAY))
    complaint.reopen(at(NOW + 3 * DAY), reason="Wrong goods reshipped", policy=POLICY)
    events = complaint.collect_events()

    assert [e.version for e in events] == list(range(1, 9))
    replayed = Complaint.replay(events)
    assert vars(replayed) == {**vars(complaint), "_pending": []}
    assert (replayed.status, replayed.severity, replayed.escalation_level) == (
        Status.REOPENED,
        Severity.HIGH,
        1,
    )
    assert replayed.resolution_due_at == NOW + 3 * DAY + 2 * DAY


def test_a_stream_that_does_not_start_with_a_filing_is_not_a_complaint() -> None:
    with pytest.raises(ValueError, match="it is not a complaint"):
        Complaint.replay(history(ASSESS_VALID))


# ---- vocabulary and policy --------------------------------------------------------------


def test_every_complaint_code_has_its_own_chinese_label() -> None:
    members = [*ComplaintCategory, *ComplaintSeverity, *ComplaintStatus]
    assert len({m.value for m in members}) == len(members)
    assert set(COMPLAINT_ZH_LABELS) == {m.value for m in members}
    assert all(m.zh == COMPLAINT_ZH_LABELS[m.value] != m.value for m in members)
    assert ComplaintStatus.REJECTED_AS_INVALID.zh == "投诉不成立"


def test_the_default_policy_is_designs() -> None:
    for severity in Severity:
        assert POLICY.first_response_hours[severity] == RESPONSE_HOURS[severity]
        assert POLICY.resolution_days[severity] == RESOLUTION_DAYS[severity]


@pytest.mark.parametrize(
    "hours",
    [
        {"critical": 0, "high": 8, "medium": 24, "low": 48},
        {"critical": 10, "high": 8, "medium": 24, "low": 48},
        {"critical": 4, "high": 8, "medium": 24},
    ],
    ids=["zero", "critical-slower-than-high", "missing-severity"],
)
def test_a_policy_that_makes_no_sense_is_refused(hours: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        SlaPolicy(first_response_hours=ResponseHours.model_validate(hours))


# ---- the SLA clock ------------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def filed_at_t0(severity: Severity) -> Complaint:
    return file_complaint(at(T0), severity=severity)


def resolved_at(severity: Severity, assessed: datetime, resolved: datetime) -> Complaint:
    complaint = filed_at_t0(severity)
    complaint.assess(at(assessed), valid=True)
    complaint.assign(at(assessed), department="After-sales", handler_id="agent-7")
    complaint.resolve(at(resolved), resolution="Fixed")
    return complaint


@pytest.mark.parametrize("severity", ALL_SEVERITIES)
class TestSlaClock:
    def test_before_the_response_due_nothing_is_breached(self, severity: Severity) -> None:
        status = sla_status(
            filed_at_t0(severity).pending_events, response_due(severity, T0) - SECOND
        )
        assert status.status is Status.FILED
        assert status.response_due_at == T0 + RESPONSE_HOURS[severity] * HOUR
        assert status.resolution_due_at == T0 + RESOLUTION_DAYS[severity] * DAY
        assert status.responded_at is None
        assert (status.response_breached, status.resolution_breached) == (False, False)

    def test_exactly_at_the_response_due_is_still_in_time(self, severity: Severity) -> None:
        status = sla_status(filed_at_t0(severity).pending_events, response_due(severity, T0))
        assert not status.response_breached

    def test_after_the_response_due_without_a_response_is_a_breach(
        self, severity: Severity
    ) -> None:
        status = sla_status(
            filed_at_t0(severity).pending_events, response_due(severity, T0) + SECOND
        )
        assert status.response_breached
        assert status.is_breached
        assert not status.resolution_breached

    def test_a_response_exactly_at_the_due_time_is_in_time_forever(
        self, severity: Severity
    ) -> None:
        complaint = filed_at_t0(severity)
        complaint.assess(at(response_due(severity, T0)), valid=True)
        status = sla_status(complaint.pending_events, T0 + 400 * DAY)
        assert status.responded_at == response_due(severity, T0)
        assert not status.response_breached
        assert status.status is Status.VALID

    def test_a_response_after_the_due_time_stays_a_breach(self, severity: Severity) -> None:
        late = response_due(severity, T0) + timedelta(minutes=1)
        complaint = filed_at_t0(severity)
        complaint.assess(at(late), valid=True)
        assert sla_status(complaint.pending_events, late).response_breached
        assert sla_status(complaint.pending_events, T0 + 400 * DAY).response_breached

    def test_the_resolution_clock_at_before_and_after_its_due(self, severity: Severity) -> None:
        complaint = filed_at_t0(severity)
        complaint.assess(at(T0 + HOUR), valid=True)
        complaint.assign(at(T0 + HOUR), department="After-sales", handler_id="agent-7")
        events = complaint.pending_events
        due = resolution_due(severity, T0)
        assert not sla_status(events, due - SECOND).resolution_breached
        assert not sla_status(events, due).resolution_breached
        after = sla_status(events, due + SECOND)
        assert after.resolution_breached
        assert not after.response_breached
        assert after.status is Status.ASSIGNED

    def test_a_resolution_in_time_and_a_late_one(self, severity: Severity) -> None:
        due = resolution_due(severity, T0)
        on_time = resolved_at(severity, T0 + HOUR, due)
        late = resolved_at(severity, T0 + HOUR, due + SECOND)
        much_later = due + 30 * DAY
        assert not sla_status(on_time.pending_events, much_later).resolution_breached
        assert sla_status(late.pending_events, much_later).resolution_breached
        assert sla_status(on_time.pending_events, much_later).resolved_at == due

    def test_a_reopening_restarts_the_resolution_clock(self, severity: Severity) -> None:
        first_due = resolution_due(severity, T0)
        complaint = resolved_at(severity, T0 + HOUR, first_due + HOUR)  # resolved late
        complaint.close(at(first_due + 2 * HOUR))
        reopened_at = first_due + 3 * DAY
        complaint.reopen(at(reopened_at), reason="Still broken", policy=POLICY)
        events = complaint.pending_events
        new_due = reopened_at + RESOLUTION_DAYS[severity] * DAY

        before_reopening = sla_status(events, reopened_at - SECOND)
        assert before_reopening.status is Status.CLOSED
        assert before_reopening.resolution_breached  # the first round was late

        reopened = sla_status(events, new_due)
        assert reopened.status is Status.REOPENED
        assert (reopened.resolved_at, reopened.closed_at) == (None, None)
        assert reopened.resolution_due_at == new_due
        assert not reopened.resolution_breached
        assert sla_status(events, new_due + SECOND).resolution_breached

    def test_escalation_to_critical_brings_the_dues_forward(self, severity: Severity) -> None:
        complaint = filed_at_t0(severity)
        if severity is Severity.CRITICAL:
            complaint.escalate(at(T0 + HOUR), reason="CEO", policy=POLICY)
        else:
            complaint.escalate(
                at(T0 + HOUR), reason="CEO", to_severity=Severity.CRITICAL, policy=POLICY
            )
        events = complaint.pending_events
        status = sla_status(events, T0 + 4 * HOUR + SECOND)
        assert (status.severity, status.escalation_level) == (Severity.CRITICAL, 1)
        assert status.response_due_at == T0 + 4 * HOUR
        assert status.resolution_due_at == T0 + DAY
        assert status.response_breached
        # Before the escalation, the original severity's dues were in force.
        before = sla_status(events, T0 + HOUR - SECOND)
        assert (before.severity, before.escalation_level) == (severity, 0)
        assert before.response_due_at == response_due(severity, T0)

    def test_a_past_instant_ignores_later_events(self, severity: Severity) -> None:
        due = resolution_due(severity, T0)
        complaint = resolved_at(severity, T0 + 2 * HOUR, T0 + 3 * HOUR)
        complaint.record_follow_up(at(T0 + 4 * HOUR), satisfaction=1)
        complaint.record_follow_up(at(T0 + 5 * HOUR), satisfaction=4)
        complaint.close(at(T0 + 6 * HOUR))
        events = complaint.pending_events

        filed_only = sla_status(events, T0 + HOUR)
        assert (filed_only.status, filed_only.responded_at, filed_only.resolved_at) == (
            Status.FILED,
            None,
            None,
        )
        assert filed_only.satisfaction is None
        assert sla_status(events, T0 + 4 * HOUR).satisfaction == 1
        latest = sla_status(events, due + DAY)
        assert latest.satisfaction == 4
        assert latest.status is Status.CLOSED
        assert latest.closed_at == T0 + 6 * HOUR
        assert not latest.is_open
        assert not latest.is_breached


class TestSlaStatusEdges:
    def test_a_complaint_rejected_as_invalid_owes_no_resolution(self) -> None:
        complaint = filed_at_t0(Severity.CRITICAL)
        complaint.assess(at(T0 + HOUR), valid=False, reason="Not our product")
        status = sla_status(complaint.pending_events, T0 + 400 * DAY)
        assert status.status is Status.REJECTED_AS_INVALID
        assert status.resolution_due_at is None
        assert (status.response_breached, status.resolution_breached) == (False, False)
        assert not status.is_open

    def test_an_instant_before_the_filing_has_no_status(self) -> None:
        with pytest.raises(ValueError, match="was filed at"):
            sla_status(filed_at_t0(Severity.LOW).pending_events, T0 - SECOND)

    def test_a_stream_not_starting_with_a_filing_is_refused(self) -> None:
        with pytest.raises(ValueError, match="start with ComplaintFiled"):
            sla_status(history(ASSESS_VALID), NOW)
        with pytest.raises(ValueError, match="start with ComplaintFiled"):
            sla_status([], NOW)

    def test_an_event_of_another_stream_or_kind_is_refused(self) -> None:
        (filed,) = history(FILE)
        other = event(ComplaintAssessed, CID, 2, valid=True)
        with pytest.raises(ValueError, match="in complaint"):
            sla_status([filed, other], NOW)
        foreign = event(CustomerDisqualified, KID, 2, reason="x")
        with pytest.raises(TypeError, match="not an event of a complaint"):
            sla_status([filed, foreign], NOW)

    def test_the_instant_must_be_timezone_aware(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            sla_status(history(FILE), NOW.replace(tzinfo=None))

    def test_an_instant_in_another_zone_is_the_same_instant(self) -> None:
        shanghai = datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=8)))
        status = sla_status(history(FILE), shanghai)
        assert status.at == datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
        assert not status.response_breached  # high: due 17:30 UTC, exactly at due
