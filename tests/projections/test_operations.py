"""Typed queries over the read models, on both stores, with frozen time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from freezegun import freeze_time

from application import CRM
from application.commands import (
    AssessComplaint,
    AssignComplaint,
    DimensionScore,
    DraftOrder,
    FileComplaint,
    ImportOrder,
    OrderLine,
    RecordComplaintFollowUp,
    RecordSatisfactionSurvey,
    ResolveComplaint,
    ScheduleFollowUp,
    SubmitOrderForApproval,
)
from tests.application.builders import ADMIN, REP, SERVICE, register

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LINE = OrderLine(sku="S", name="Shelving", quantity=1, unit_price=Decimal("600000"))


def good_service(customer_id: UUID) -> RecordSatisfactionSurvey:
    return RecordSatisfactionSurvey(
        customer_id=customer_id,
        scores=(DimensionScore(dimension="service", expected=8, perceived=9),),
    )


def test_operational_queries_answer_from_the_read_models(crm: CRM) -> None:
    with freeze_time(NOW - timedelta(days=400)):
        buyer = register(crm, name="Old Buyer")
    crm.execute(
        ImportOrder(customer_id=buyer, lines=[LINE], currency="CNY", status="approved",
                    approved_at=NOW - timedelta(days=200), import_batch_id="b"),
        actor=ADMIN,
    )  # fmt: skip
    with freeze_time(NOW - timedelta(days=30)) as clock:
        customer = register(crm)
        crm.execute(good_service(customer), actor=SERVICE)
        clock.tick(timedelta(days=1))
        complaint = crm.execute(
            FileComplaint(customer_id=customer, channel="phone", category="service",
                          severity="low", description="Late."),
            actor=SERVICE,
        ).aggregate_id  # fmt: skip
        for command in (
            AssessComplaint(complaint_id=complaint, valid=True),
            ResolveComplaint(complaint_id=complaint, resolution="Sorry."),
            RecordComplaintFollowUp(complaint_id=complaint, satisfaction=2),
        ):
            if isinstance(command, ResolveComplaint):
                crm.execute(
                    AssignComplaint(complaint_id=complaint, department="svc", handler_id="h"),
                    actor=ADMIN,
                )
            crm.execute(command, actor=SERVICE)
        order = crm.execute(
            DraftOrder(customer_id=customer, lines=[LINE], currency="CNY"), actor=REP
        ).aggregate_id
        crm.execute(SubmitOrderForApproval(order_id=order), actor=REP)
        crm.execute(
            ScheduleFollowUp(
                customer_id=customer, purpose="revisit", due_at=NOW - timedelta(days=1)
            ),
            actor=REP,
        )
    with freeze_time(NOW):
        crm.read_models.catch_up()
        ops = crm.read_models.operations
        risk = ops.churn_risk()
        queue = ops.approval_queue()
        due = ops.follow_ups_due(NOW)
        recovery = ops.complaint_recovery()
        trend = ops.satisfaction_trend(customer)
        cases = ops.complaint_cases(open_only=True)

    # The follow-up's 2 is the customer's latest satisfaction: dissatisfied (DESIGN §2.5, §3).
    assert [(r.customer_id, r.reasons) for r in risk] == [
        (buyer, ("no_purchase_for_180_days",)),
        (customer, ("latest_satisfaction_dissatisfied",)),
    ]
    assert [(q.order_id, q.node, q.round) for q in queue] == [(order, "sales_manager", 1)]
    assert [d.customer_id for d in due] == [customer]
    (recovered,) = recovery
    assert (recovered.level_before, recovered.rating_after, recovered.level_after) == (
        "delighted",
        2,
        "dissatisfied",
    )
    assert recovered.recovered is False
    (month,) = trend
    assert (month.surveys, month.mean_gap, month.complaint_follow_ups) == (1, Decimal("1.00"), 1)
    assert [c.status for c in cases] == ["resolved"]


def test_months_are_utc_months_whatever_the_database_sessions_time_zone(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server set up in China hands timestamps back at +08:00: 20:00 UTC on 31 January
    would be 1 February there."""
    monkeypatch.setenv("PGTZ", "Asia/Shanghai")
    with CRM.open(store_url) as crm:
        with freeze_time(datetime(2025, 1, 31, 20, 0, tzinfo=UTC)):
            customer = register(crm)
            crm.execute(good_service(customer), actor=SERVICE)
        crm.read_models.catch_up()
        (month,) = crm.read_models.operations.satisfaction_trend(customer)
    assert month.month == date(2025, 1, 1)
