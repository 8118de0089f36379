"""A complaint's life and its SLA clock through the public surface, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from freezegun import freeze_time

from application import CRM, Actor, NotFound, Role, RuleViolation
from application.commands import (
    AssessComplaint,
    AssignComplaint,
    CloseComplaint,
    DimensionScore,
    EscalateComplaint,
    FileComplaint,
    Money,
    RecordComplaintFollowUp,
    RecordSatisfactionSurvey,
    ReopenComplaint,
    ResolveComplaint,
)
from domain.complaint_vocabulary import ComplaintSeverity, ComplaintStatus
from tests.application.builders import SERVICE, register

FILED = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
SERVICE_MANAGER = Actor(id="svc-mgr-1", roles=frozenset({Role.SERVICE_MANAGER}))


def _file(crm: CRM, severity: str = "high") -> tuple[object, object]:
    customer_id = register(crm)
    complaint = crm.execute(
        FileComplaint(
            customer_id=customer_id,
            channel="phone",
            category="delivery",
            severity=severity,
            description="Shelving arrived with two broken uprights.",
        ),
        actor=SERVICE,
    )
    return customer_id, complaint.aggregate_id


def test_a_complaint_is_handled_closed_reopened_and_closed_again_within_sla(crm: CRM) -> None:
    with freeze_time(FILED) as clock:
        _, complaint_id = _file(crm)
        clock.tick(timedelta(hours=3))
        crm.execute(AssessComplaint(complaint_id=complaint_id, valid=True), actor=SERVICE)
        crm.execute(
            AssignComplaint(complaint_id=complaint_id, department="logistics", handler_id="h-7"),
            actor=SERVICE_MANAGER,
        )
        clock.tick(timedelta(hours=20))
        crm.execute(
            ResolveComplaint(
                complaint_id=complaint_id,
                resolution="Replaced both uprights on site.",
                compensation=Money(amount=Decimal("300.00"), currency="CNY"),
            ),
            actor=SERVICE,
        )
        crm.execute(
            RecordComplaintFollowUp(complaint_id=complaint_id, satisfaction=2), actor=SERVICE
        )
        crm.execute(CloseComplaint(complaint_id=complaint_id), actor=SERVICE)
        clock.tick(timedelta(days=3))
        crm.execute(
            ReopenComplaint(complaint_id=complaint_id, reason="Still wobbles."), actor=SERVICE
        )
        reopened_at = FILED + timedelta(hours=23, days=3)

        status = crm.complaint_sla(complaint_id)

    assert status.status is ComplaintStatus.REOPENED
    assert status.responded_at == FILED + timedelta(hours=3)
    assert status.response_due_at == FILED + timedelta(hours=8)  # high: 8 hours
    assert not status.response_breached
    assert status.resolution_due_at == reopened_at + timedelta(days=2)  # clock restarted
    assert not status.resolution_breached

    before_reopening = crm.complaint_sla(complaint_id, at=FILED + timedelta(days=1))
    assert before_reopening.status is ComplaintStatus.CLOSED
    assert before_reopening.satisfaction == 2
    assert before_reopening.resolved_at == FILED + timedelta(hours=23)


def test_an_unanswered_critical_complaint_breaches_its_response_time(crm: CRM) -> None:
    with freeze_time(FILED):
        _, complaint_id = _file(crm, severity="critical")

    assert not crm.complaint_sla(complaint_id, at=FILED + timedelta(hours=4)).response_breached
    late = crm.complaint_sla(complaint_id, at=FILED + timedelta(hours=4, seconds=1))
    assert late.response_breached
    assert late.resolution_breached is False


def test_escalation_raises_severity_and_shortens_the_deadlines(crm: CRM) -> None:
    with freeze_time(FILED) as clock:
        _, complaint_id = _file(crm, severity="low")
        clock.tick(timedelta(hours=1))
        crm.execute(
            EscalateComplaint(
                complaint_id=complaint_id, reason="Customer is a key account.", to_severity="high"
            ),
            actor=SERVICE,
        )
        status = crm.complaint_sla(complaint_id)

    assert (status.severity, status.escalation_level) == (ComplaintSeverity.HIGH, 1)
    assert status.response_due_at == FILED + timedelta(hours=8)


def test_an_invalid_complaint_cannot_be_resolved_or_reopened(crm: CRM) -> None:
    with freeze_time(FILED):
        _, complaint_id = _file(crm)
        crm.execute(
            AssessComplaint(complaint_id=complaint_id, valid=False, reason="Damage by the buyer."),
            actor=SERVICE,
        )
        count = crm.store.count_events()
        with pytest.raises(RuleViolation) as resolving:
            crm.execute(ResolveComplaint(complaint_id=complaint_id, resolution="x"), actor=SERVICE)
        with pytest.raises(RuleViolation) as reopening:
            crm.execute(ReopenComplaint(complaint_id=complaint_id, reason="x"), actor=SERVICE)

    assert resolving.value.rule == "complaint_open"
    assert reopening.value.rule == "rejection_final"
    assert crm.store.count_events() == count


def test_the_sla_of_an_unknown_complaint_is_not_found(crm: CRM) -> None:
    with pytest.raises(NotFound):
        crm.complaint_sla(uuid4())


def test_the_sla_before_the_complaint_was_filed_is_not_found(crm: CRM) -> None:
    """As the lifecycle of a customer not yet registered: there was no complaint then."""
    with freeze_time(FILED):
        _, complaint_id = _file(crm)
    with pytest.raises(NotFound) as missing:
        crm.complaint_sla(complaint_id, at=FILED - timedelta(seconds=1))
    assert missing.value.field == "at"


@pytest.mark.parametrize(("answer", "warned"), [(1, True), (5, False)])
def test_the_follow_up_answer_is_the_churn_warnings_latest_satisfaction(
    crm: CRM, answer: int, warned: bool
) -> None:
    """Live and in the read model alike (DESIGN §2.5, §3); the survey before it said
    the opposite."""
    with freeze_time(FILED) as clock:
        customer_id, complaint_id = _file(crm)
        crm.execute(
            RecordSatisfactionSurvey(
                customer_id=customer_id,
                scores=[
                    DimensionScore(dimension="service", expected=5, perceived=9 if warned else 1)
                ],
            ),
            actor=SERVICE,
        )
        clock.tick(timedelta(hours=1))
        crm.execute(AssessComplaint(complaint_id=complaint_id, valid=True), actor=SERVICE)
        crm.execute(
            AssignComplaint(complaint_id=complaint_id, department="logistics", handler_id="h-7"),
            actor=SERVICE_MANAGER,
        )
        crm.execute(
            ResolveComplaint(complaint_id=complaint_id, resolution="Replaced the uprights."),
            actor=SERVICE,
        )
        clock.tick(timedelta(hours=1))
        crm.execute(
            RecordComplaintFollowUp(complaint_id=complaint_id, satisfaction=answer),
            actor=SERVICE,
        )
        crm.read_models.catch_up()
        live = crm.lifecycle(customer_id).at_risk_reasons
        listed = {r.customer_id: r.reasons for r in crm.read_models.operations.churn_risk()}

    reason = "latest_satisfaction_dissatisfied"
    assert (reason in live) is warned
    assert (reason in listed.get(customer_id, ())) is warned
