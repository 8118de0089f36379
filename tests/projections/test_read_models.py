"""The operational read models, row by row, on SQLite and PostgreSQL (DESIGN §4).

Each scenario runs commands under frozen time, catches the projection up with a runner whose
clock is the frozen one, and checks the exact rows of its table: ``customer_purchases``,
``satisfaction_history``, ``complaint_cases``, ``order_approvals`` and ``follow_ups``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from adapters.projection_runner import ProjectionRunner
from application import CRM, Actor, Role
from application.commands import (
    ApproveOrderStep,
    AssessComplaint,
    AssignComplaint,
    CancelOrder,
    ChangeOrderLines,
    CloseComplaint,
    CompleteFollowUp,
    DimensionScore,
    DraftOrder,
    EscalateComplaint,
    FileComplaint,
    ImportOrder,
    MarkFollowUpMissed,
    Money,
    OrderLine,
    RecordComplaintFollowUp,
    RecordSatisfactionSurvey,
    RejectOrder,
    ReopenComplaint,
    ResolveComplaint,
    ReviseOrder,
    ScheduleFollowUp,
    SubmitOrderForApproval,
    UpdateCustomerProfile,
)
from domain.approval import ApprovalNode
from projections.base import Projection, Row
from projections.complaint_cases import ComplaintCasesProjection
from projections.follow_ups import FollowUpsProjection, birthday_row_id
from projections.order_approvals import OrderApprovalsProjection
from projections.purchases import CustomerPurchasesProjection
from projections.satisfaction import SatisfactionHistoryProjection
from tests.application.builders import ADMIN, MANAGER, REP, SERVICE, register
from tests.projections.tables import dump

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)

FINANCE = Actor(id="fin-1", roles=frozenset({Role.FINANCE}))
DIRECTOR = Actor(id="dir-1", roles=frozenset({Role.DIRECTOR}))
SERVICE_MANAGER = Actor(id="svcmgr-1", roles=frozenset({Role.SERVICE_MANAGER}))

SM, FIN, DIR = ApprovalNode.SALES_MANAGER, ApprovalNode.FINANCE, ApprovalNode.DIRECTOR
APPROVER_OF = {SM: MANAGER, FIN: FINANCE, DIR: DIRECTOR}


@pytest.fixture
def frozen() -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(T0) as clock:
        yield clock


def now() -> datetime:
    """The runner's clock: the frozen time of the test."""
    return datetime.now(UTC)


def caught_up(crm: CRM, projection: Projection) -> dict[str, list[Row]]:
    """Catch the projection up (a new runner each time: tracking lives in the store), tick it
    at the frozen clock, and return its tables."""
    ProjectionRunner(crm.store, [projection], batch_size=3, clock=now).catch_up()
    return dump(crm.store, projection)


def cny(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="CNY")


def line(
    sku: str, quantity: str, unit_price: str, *, discount: str = "0", cost: str | None = None
) -> OrderLine:
    return OrderLine(
        sku=sku,
        name=f"Item {sku}",
        quantity=Decimal(quantity),
        unit_price=Decimal(unit_price),
        discount_pct=Decimal(discount),
        unit_cost=None if cost is None else Decimal(cost),
    )


LINES_600K = (line("CR-500", "2", "300000"),)  # sales manager, finance, director
LINES_150K = (line("CR-100", "1", "150000"),)  # sales manager, finance
LINES_90K = (line("CR-100", "1", "100000", discount="10"),)  # sales manager


def draft(crm: CRM, customer_id: UUID, lines: tuple[OrderLine, ...]) -> UUID:
    command = DraftOrder(customer_id=customer_id, lines=lines, currency="CNY")
    return crm.execute(command, actor=REP).aggregate_id


def submit(crm: CRM, order_id: UUID) -> None:
    crm.execute(SubmitOrderForApproval(order_id=order_id), actor=REP)


def approve(crm: CRM, order_id: UUID, *nodes: ApprovalNode) -> None:
    for node in nodes:
        command = ApproveOrderStep(order_id=order_id, node=node, comment=f"ok at {node.value}")
        crm.execute(command, actor=APPROVER_OF[node])


def reject(crm: CRM, order_id: UUID, node: ApprovalNode, reason: str) -> None:
    crm.execute(RejectOrder(order_id=order_id, node=node, reason=reason), actor=APPROVER_OF[node])


def by(rows: list[Row], key: str) -> dict[Any, Row]:
    return {row[key]: row for row in rows}


# ---- customer_purchases ------------------------------------------------------------------


class TestCustomerPurchases:
    def test_an_approved_order_is_a_purchase_dated_at_its_approval_with_total_and_margin(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        # 2 × 100 less 10 % = 180.00 (cost 120); 3 × 20.005 = 60.015 -> 60.02 (cost 36)
        order = draft(
            crm,
            customer,
            (
                line("A", "2", "100", discount="10", cost="60"),
                line("B", "3", "20.005", cost="12"),
            ),
        )
        submit(crm, order)
        frozen.tick(3 * HOUR)
        approve(crm, order, SM)

        rows = caught_up(crm, CustomerPurchasesProjection())["customer_purchases"]

        assert rows == [
            {
                "order_id": order,
                "customer_id": customer,
                "approved_at": T0 + 3 * HOUR,
                "total": Decimal("240.02"),
                "margin": Decimal("84.02"),
                "currency": "CNY",
                "cancelled_at": None,
                "source": "OrderApproved",
            }
        ]

    def test_the_margin_is_unknown_when_a_line_lacks_its_unit_cost(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        order = draft(crm, register(crm), (line("A", "1", "500", cost="300"), line("B", "1", "50")))
        submit(crm, order)
        approve(crm, order, SM)

        (row,) = caught_up(crm, CustomerPurchasesProjection())["customer_purchases"]

        assert (row["total"], row["margin"]) == (Decimal("550.00"), None)

    def test_the_margin_follows_lines_changed_before_approval(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        order = draft(crm, register(crm), (line("A", "1", "500"),))
        crm.execute(
            ChangeOrderLines(order_id=order, lines=(line("A", "2", "500", cost="320"),)),
            actor=REP,
        )
        submit(crm, order)
        approve(crm, order, SM)

        (row,) = caught_up(crm, CustomerPurchasesProjection())["customer_purchases"]

        assert (row["total"], row["margin"]) == (Decimal("1000.00"), Decimal("360.00"))

    def test_a_cancellation_after_approval_keeps_the_row_and_sets_cancelled_at(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        order = draft(crm, customer, LINES_90K)
        submit(crm, order)
        frozen.tick(HOUR)
        approve(crm, order, SM)
        projection = CustomerPurchasesProjection()
        (before,) = caught_up(crm, projection)["customer_purchases"]
        frozen.tick(2 * DAY)

        crm.execute(CancelOrder(order_id=order, reason="Customer withdrew"), actor=MANAGER)

        (after,) = caught_up(crm, projection)["customer_purchases"]
        assert before["cancelled_at"] is None
        assert after == {**before, "cancelled_at": T0 + HOUR + 2 * DAY}
        assert after["approved_at"] == T0 + HOUR

    def test_orders_never_approved_give_no_row(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        draft(crm, customer, LINES_90K)  # still a draft
        pending = draft(crm, customer, LINES_600K)
        submit(crm, pending)
        approve(crm, pending, SM, FIN)  # the director has not decided
        rejected = draft(crm, customer, LINES_150K)
        submit(crm, rejected)
        reject(crm, rejected, SM, "Too expensive")
        cancelled = draft(crm, customer, LINES_90K)
        submit(crm, cancelled)
        crm.execute(CancelOrder(order_id=cancelled, reason="Duplicate"), actor=MANAGER)

        tables = caught_up(crm, CustomerPurchasesProjection())

        assert tables["customer_purchases"] == []

    def test_imported_orders_are_purchases_dated_at_their_approval_cancelled_ones_included(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        common: dict[str, Any] = {"customer_id": customer, "currency": "CNY"}
        paid = crm.execute(
            ImportOrder(
                **common,
                lines=(line("A", "4", "250", cost="200"),),
                status="paid",
                approved_at=datetime(2019, 3, 4, 10, tzinfo=UTC),
                fulfilled_at=datetime(2019, 3, 20, 16, tzinfo=UTC),
                paid_at=datetime(2019, 4, 19, 9, tzinfo=UTC),
                import_batch_id="erp-2019",
            ),
            actor=ADMIN,
        ).aggregate_id
        cancelled = crm.execute(
            ImportOrder(
                **common,
                lines=(line("B", "1", "999.99"),),
                status="cancelled",
                approved_at=datetime(2019, 5, 1, 8, tzinfo=UTC),
                cancelled_at=datetime(2019, 5, 10, 12, tzinfo=UTC),
                import_batch_id="erp-2019",
            ),
            actor=ADMIN,
        ).aggregate_id

        rows = by(caught_up(crm, CustomerPurchasesProjection())["customer_purchases"], "order_id")

        assert rows == {
            paid: {
                "order_id": paid,
                "customer_id": customer,
                "approved_at": datetime(2019, 3, 4, 10, tzinfo=UTC),
                "total": Decimal("1000.00"),
                "margin": Decimal("200.00"),
                "currency": "CNY",
                "cancelled_at": None,
                "source": "OrderImported",
            },
            cancelled: {
                "order_id": cancelled,
                "customer_id": customer,
                "approved_at": datetime(2019, 5, 1, 8, tzinfo=UTC),
                "total": Decimal("999.99"),
                "margin": None,
                "currency": "CNY",
                "cancelled_at": datetime(2019, 5, 10, 12, tzinfo=UTC),
                "source": "OrderImported",
            },
        }

    def test_an_imported_approved_order_cancelled_later_gets_cancelled_at(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        order = crm.execute(
            ImportOrder(
                customer_id=register(crm),
                currency="CNY",
                lines=LINES_90K,
                status="approved",
                approved_at=datetime(2026, 1, 5, tzinfo=UTC),
                import_batch_id="erp-2026",
            ),
            actor=ADMIN,
        ).aggregate_id

        crm.execute(CancelOrder(order_id=order, reason="Never delivered"), actor=MANAGER)

        (row,) = caught_up(crm, CustomerPurchasesProjection())["customer_purchases"]
        assert (row["approved_at"], row["cancelled_at"]) == (datetime(2026, 1, 5, tzinfo=UTC), T0)


# ---- satisfaction_history ----------------------------------------------------------------


def resolved_complaint(crm: CRM, customer_id: UUID) -> UUID:
    complaint = crm.execute(
        FileComplaint(
            customer_id=customer_id,
            channel="phone",
            category="product",
            severity="medium",
            description="Shelf arrived bent",
        ),
        actor=SERVICE,
    ).aggregate_id
    crm.execute(AssessComplaint(complaint_id=complaint, valid=True), actor=SERVICE)
    crm.execute(
        AssignComplaint(complaint_id=complaint, department="quality", handler_id="svc-1"),
        actor=SERVICE_MANAGER,
    )
    crm.execute(ResolveComplaint(complaint_id=complaint, resolution="Replaced"), actor=SERVICE)
    return complaint


class TestSatisfactionHistory:
    def test_a_two_dimension_survey_gives_a_row_per_dimension_and_a_survey_mean(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        survey = uuid4()
        frozen.tick(DAY)
        crm.execute(
            RecordSatisfactionSurvey(
                customer_id=customer,
                survey_id=survey,
                scores=(
                    DimensionScore(dimension="product", expected=8, perceived=6),
                    DimensionScore(dimension="service", expected=5, perceived=8),
                ),
                nps=7,
            ),
            actor=REP,
        )

        rows = caught_up(crm, SatisfactionHistoryProjection())["satisfaction_history"]

        common = {
            "customer_id": customer,
            "measured_at": T0 + DAY,
            "source": "survey",
            "nps": 7,
            "survey_id": survey,
            "complaint_id": None,
        }
        assert by(rows, "dimension") == {
            "product": {
                **common,
                "entry_id": f"{survey}:product",
                "dimension": "product",
                "expected": 8,
                "perceived": 6,
                "gap": Decimal(-2),
                "level": "dissatisfied",
            },
            "service": {
                **common,
                "entry_id": f"{survey}:service",
                "dimension": "service",
                "expected": 5,
                "perceived": 8,
                "gap": Decimal(3),
                "level": "delighted",
            },
            "survey_mean": {
                **common,
                "entry_id": f"{survey}:survey_mean",
                "dimension": "survey_mean",
                "expected": None,
                "perceived": None,
                "gap": Decimal("0.50"),
                "level": "satisfied",
            },
        }

    @pytest.mark.parametrize(
        ("rating", "level"),
        [
            (1, "dissatisfied"),
            (2, "dissatisfied"),
            (3, "satisfied"),
            (4, "delighted"),
            (5, "delighted"),
        ],
    )
    def test_a_complaint_follow_up_is_a_complaint_resolution_row_of_the_complaints_customer(
        self, crm: CRM, frozen: FrozenDateTimeFactory, rating: int, level: str
    ) -> None:
        register(crm, name="Someone else Ltd.")
        customer = register(crm)
        complaint = resolved_complaint(crm, customer)
        frozen.tick(2 * DAY)
        crm.execute(
            RecordComplaintFollowUp(complaint_id=complaint, satisfaction=rating), actor=SERVICE
        )

        rows = caught_up(crm, SatisfactionHistoryProjection())["satisfaction_history"]

        assert rows == [
            {
                "entry_id": f"{complaint}:5",  # the follow-up is the complaint's 5th event
                "customer_id": customer,
                "measured_at": T0 + 2 * DAY,
                "source": "complaint_follow_up",
                "dimension": "complaint_resolution",
                "expected": None,
                "perceived": rating,
                "gap": None,
                "level": level,
                "nps": None,
                "survey_id": None,
                "complaint_id": complaint,
            }
        ]


# ---- complaint_cases ---------------------------------------------------------------------


def file_complaint(crm: CRM, customer_id: UUID, severity: str) -> UUID:
    return crm.execute(
        FileComplaint(
            customer_id=customer_id,
            channel="phone",
            category="product",
            severity=severity,
            description="Shelf arrived bent",
        ),
        actor=SERVICE,
    ).aggregate_id


def assign(crm: CRM, complaint: UUID, handler: str = "svc-1") -> None:
    crm.execute(
        AssignComplaint(complaint_id=complaint, department="quality", handler_id=handler),
        actor=SERVICE_MANAGER,
    )


def case_of(crm: CRM, complaint: UUID) -> Row:
    (row,) = caught_up(crm, ComplaintCasesProjection())["complaint_cases"]
    assert row["complaint_id"] == complaint
    return row


class TestComplaintCases:
    def test_a_complaint_goes_from_filed_to_closed_within_its_sla(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        complaint = file_complaint(crm, customer, "high")  # respond in 8 h, resolve in 2 days
        statuses = [case_of(crm, complaint)["status"]]
        steps = [
            (HOUR, AssessComplaint(complaint_id=complaint, valid=True), SERVICE),
            (
                HOUR,
                AssignComplaint(complaint_id=complaint, department="quality", handler_id="svc-1"),
                SERVICE_MANAGER,
            ),
            (
                DAY,
                ResolveComplaint(
                    complaint_id=complaint, resolution="Replaced", compensation=cny("200")
                ),
                SERVICE,
            ),
            (HOUR, RecordComplaintFollowUp(complaint_id=complaint, satisfaction=4), SERVICE),
            (HOUR, CloseComplaint(complaint_id=complaint), SERVICE),
        ]
        for pause, command, actor in steps:
            frozen.tick(pause)
            crm.execute(command, actor=actor)
            statuses.append(case_of(crm, complaint)["status"])

        assert statuses == ["filed", "valid", "assigned", "resolved", "resolved", "closed"]
        assert case_of(crm, complaint) == {
            "complaint_id": complaint,
            "customer_id": customer,
            "related_order_id": None,
            "channel": "phone",
            "category": "product",
            "severity": "high",
            "escalation_level": 0,
            "status": "closed",
            "department": "quality",
            "handler_id": "svc-1",
            "filed_at": T0,
            "responded_at": T0 + HOUR,
            "resolved_at": T0 + 2 * HOUR + DAY,
            "closed_at": T0 + 4 * HOUR + DAY,
            "reopened_times": 0,
            "response_due_at": T0 + 8 * HOUR,
            "resolution_due_at": T0 + 2 * DAY,
            "response_breached": False,
            "resolution_breached": False,
            "next_due_at": None,
            "compensation": Decimal("200.00"),
            "compensation_currency": "CNY",
            "satisfaction_after_resolution": 4,
            "sla_policy_version": "2026.1",
            "updated_at": T0 + 4 * HOUR + DAY,
        }

    def test_an_unassessed_complaint_becomes_response_breached_when_the_clock_passes_its_due_time(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        complaint = file_complaint(crm, register(crm), "high")
        head = crm.store.max_position()

        frozen.move_to(T0 + 8 * HOUR)  # exactly at the due time is still in time
        at_due = case_of(crm, complaint)
        frozen.tick(timedelta(seconds=1))
        just_after = case_of(crm, complaint)
        frozen.move_to(T0 + 2 * DAY + timedelta(seconds=1))
        after_resolution_due = case_of(crm, complaint)

        assert crm.store.max_position() == head  # time alone changed the rows
        flags = ("response_breached", "resolution_breached", "next_due_at")
        assert [tuple(row[f] for f in flags) for row in (at_due, just_after)] == [
            (False, False, T0 + 8 * HOUR),
            (True, False, T0 + 2 * DAY),
        ]
        assert tuple(after_resolution_due[f] for f in flags) == (True, True, None)
        assert after_resolution_due["status"] == "filed"
        assert after_resolution_due["updated_at"] == T0  # no event since the filing

    def test_a_late_assessment_stays_response_breached(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        complaint = file_complaint(crm, register(crm), "critical")  # respond in 4 h
        frozen.tick(5 * HOUR)
        crm.execute(AssessComplaint(complaint_id=complaint, valid=True), actor=SERVICE)

        row = case_of(crm, complaint)

        assert (row["status"], row["responded_at"]) == ("valid", T0 + 5 * HOUR)
        assert (row["response_breached"], row["resolution_breached"]) == (True, False)
        assert row["next_due_at"] == T0 + DAY

    def test_a_resolution_after_its_due_time_is_resolution_breached(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        complaint = file_complaint(crm, register(crm), "critical")  # resolve within 1 day
        crm.execute(AssessComplaint(complaint_id=complaint, valid=True), actor=SERVICE)
        assign(crm, complaint)
        frozen.tick(DAY + HOUR)
        crm.execute(ResolveComplaint(complaint_id=complaint, resolution="Late"), actor=SERVICE)

        row = case_of(crm, complaint)

        assert (row["response_breached"], row["resolution_breached"], row["next_due_at"]) == (
            False,
            True,
            None,
        )

    def test_a_reopening_restarts_the_resolution_clock(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        complaint = file_complaint(crm, register(crm), "medium")  # resolve within 5 days
        crm.execute(AssessComplaint(complaint_id=complaint, valid=True), actor=SERVICE)
        assign(crm, complaint)
        frozen.tick(DAY)
        crm.execute(ResolveComplaint(complaint_id=complaint, resolution="Fixed"), actor=SERVICE)
        crm.execute(CloseComplaint(complaint_id=complaint), actor=SERVICE)
        frozen.move_to(T0 + 10 * DAY)  # past the first resolution due time

        crm.execute(ReopenComplaint(complaint_id=complaint, reason="Broke again"), actor=SERVICE)

        reopened = case_of(crm, complaint)
        assert {
            k: reopened[k] for k in ("status", "resolved_at", "closed_at", "reopened_times")
        } == {
            "status": "reopened",
            "resolved_at": None,
            "closed_at": None,
            "reopened_times": 1,
        }
        assert reopened["resolution_due_at"] == T0 + 15 * DAY
        assert (reopened["resolution_breached"], reopened["next_due_at"]) == (
            False,
            T0 + 15 * DAY,
        )
        frozen.tick(DAY)
        assign(crm, complaint, handler="svc-2")
        crm.execute(ResolveComplaint(complaint_id=complaint, resolution="Rebuilt"), actor=SERVICE)
        resolved = case_of(crm, complaint)
        assert (resolved["status"], resolved["handler_id"], resolved["resolved_at"]) == (
            "resolved",
            "svc-2",
            T0 + 11 * DAY,
        )
        assert (resolved["resolution_breached"], resolved["next_due_at"]) == (False, None)

    def test_an_escalation_brings_the_running_due_times_forward(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        complaint = file_complaint(crm, register(crm), "high")  # 8 h / 2 days
        frozen.tick(HOUR)
        crm.execute(
            EscalateComplaint(complaint_id=complaint, reason="Press", to_severity="critical"),
            actor=SERVICE,
        )

        row = case_of(crm, complaint)

        assert (row["severity"], row["escalation_level"]) == ("critical", 1)
        assert (row["response_due_at"], row["resolution_due_at"], row["next_due_at"]) == (
            T0 + 4 * HOUR,
            T0 + DAY,
            T0 + 4 * HOUR,
        )

    def test_an_invalid_complaint_is_closed_and_owes_no_resolution(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        complaint = file_complaint(crm, register(crm), "low")  # 48 h / 10 days
        frozen.tick(HOUR)
        crm.execute(
            AssessComplaint(complaint_id=complaint, valid=False, reason="Not our product"),
            actor=SERVICE,
        )
        frozen.move_to(T0 + 30 * DAY)  # long past the resolution due time

        row = case_of(crm, complaint)

        assert (row["status"], row["responded_at"], row["closed_at"]) == (
            "rejected_as_invalid",
            T0 + HOUR,
            T0 + HOUR,
        )
        assert (row["response_breached"], row["resolution_breached"], row["next_due_at"]) == (
            False,
            False,
            None,
        )

    def test_the_row_agrees_with_the_sla_clock_through_escalation_resolution_and_reopening(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        complaint = file_complaint(crm, register(crm), "medium")  # 24 h / 5 days
        steps: list[tuple[timedelta, Any, Actor | None]] = [
            (
                2 * HOUR,
                EscalateComplaint(complaint_id=complaint, reason="VIP", to_severity="high"),
                SERVICE,
            ),
            (10 * HOUR, AssessComplaint(complaint_id=complaint, valid=True), SERVICE),  # late: 8 h
            (
                HOUR,
                AssignComplaint(complaint_id=complaint, department="quality", handler_id="svc-1"),
                SERVICE_MANAGER,
            ),
            (3 * DAY, ResolveComplaint(complaint_id=complaint, resolution="Replaced"), SERVICE),
            (HOUR, CloseComplaint(complaint_id=complaint), SERVICE),
            (DAY, ReopenComplaint(complaint_id=complaint, reason="Broke again"), SERVICE),
            (3 * DAY, None, None),  # the new 2-day resolution clock runs out with no event
        ]
        fields = (
            "status",
            "severity",
            "escalation_level",
            "filed_at",
            "responded_at",
            "resolved_at",
            "closed_at",
            "response_due_at",
            "resolution_due_at",
            "response_breached",
            "resolution_breached",
        )
        seen = []
        for pause, command, actor in steps:
            frozen.tick(pause)
            if command is not None and actor is not None:
                crm.execute(command, actor=actor)
            row, sla = case_of(crm, complaint), crm.complaint_sla(complaint)
            assert {f: row[f] for f in fields} == {
                f: getattr(sla, f).value if f in ("status", "severity") else getattr(sla, f)
                for f in fields
            }
            seen.append(row)

        assert [r["status"] for r in seen] == [
            "filed",
            "valid",
            "assigned",
            "resolved",
            "closed",
            "reopened",
            "reopened",
        ]
        assert [(r["response_breached"], r["resolution_breached"]) for r in seen[-2:]] == [
            (True, False),
            (True, True),
        ]

    def test_the_row_of_an_invalid_complaint_agrees_with_its_sla_clock(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        complaint = file_complaint(crm, register(crm), "low")
        frozen.tick(HOUR)
        crm.execute(
            AssessComplaint(complaint_id=complaint, valid=False, reason="Not our product"),
            actor=SERVICE,
        )
        frozen.move_to(T0 + 30 * DAY)

        row = case_of(crm, complaint)
        sla = crm.complaint_sla(complaint)

        fields = (
            "response_due_at",
            "resolution_due_at",
            "response_breached",
            "resolution_breached",
        )
        assert {f: row[f] for f in fields} == {f: getattr(sla, f) for f in fields}


# ---- order_approvals ---------------------------------------------------------------------


def decisions(rows: list[Row], *, round_: int = 1) -> list[tuple[Any, ...]]:
    return [
        (r["node"], r["status"], r["decided_by"], r["seconds_to_decide"], r["comment"])
        for r in sorted(rows, key=lambda r: r["step"])
        if r["round"] == round_
    ]


def approvals(crm: CRM) -> list[Row]:
    return caught_up(crm, OrderApprovalsProjection())["order_approvals"]


class TestOrderApprovals:
    def test_a_600_000_order_has_three_nodes_and_only_the_first_is_pending(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        order = draft(crm, customer, LINES_600K)
        submit(crm, order)

        rows = approvals(crm)

        common = {
            "order_id": order,
            "round": 1,
            "customer_id": customer,
            "total": Decimal("600000.00"),
            "currency": "CNY",
            "policy_version": "2026.2",
            "reasons": "every order is approved by a sales manager; "
            "total 600000.00 is above 100000; total 600000.00 is above 500000",
            "submitted_by": "rep-1",
            "submitted_at": T0,
            "decided_by": None,
            "decided_at": None,
            "seconds_to_decide": None,
            "comment": None,
        }
        assert sorted(rows, key=lambda r: r["step"]) == [
            {**common, "step": 1, "node": "sales_manager", "role": "sales_manager",
             "status": "pending", "waiting_since": T0},
            {**common, "step": 2, "node": "finance", "role": "finance",
             "status": "waiting", "waiting_since": None},
            {**common, "step": 3, "node": "director", "role": "director",
             "status": "waiting", "waiting_since": None},
        ]  # fmt: skip

    def test_each_node_records_who_decided_and_how_long_it_waited(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        order = draft(crm, register(crm), LINES_600K)
        submit(crm, order)
        frozen.tick(HOUR)
        approve(crm, order, SM)
        after_manager = approvals(crm)
        frozen.tick(2 * HOUR)
        approve(crm, order, FIN)
        frozen.tick(DAY)
        approve(crm, order, DIR)

        rows = approvals(crm)

        finance = next(r for r in after_manager if r["node"] == "finance")
        assert (finance["status"], finance["waiting_since"]) == ("pending", T0 + HOUR)
        assert decisions(rows) == [
            ("sales_manager", "approved", "mgr-1", 3600, "ok at sales_manager"),
            ("finance", "approved", "fin-1", 7200, "ok at finance"),
            ("director", "approved", "dir-1", 86400, "ok at director"),
        ]
        assert [r["decided_at"] for r in sorted(rows, key=lambda r: r["step"])] == [
            T0 + HOUR,
            T0 + 3 * HOUR,
            T0 + 3 * HOUR + DAY,
        ]

    def test_the_pending_queue_shows_each_order_at_the_node_it_waits_for(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        at_manager = draft(crm, customer, LINES_600K)
        submit(crm, at_manager)
        at_director = draft(crm, customer, LINES_600K)
        submit(crm, at_director)
        approve(crm, at_director, SM, FIN)
        at_finance = draft(crm, customer, LINES_150K)
        submit(crm, at_finance)
        approve(crm, at_finance, SM)
        done = draft(crm, customer, LINES_90K)
        submit(crm, done)
        approve(crm, done, SM)

        rows = approvals(crm)

        queue = sorted(
            (r["node"], r["role"], r["order_id"]) for r in rows if r["status"] == "pending"
        )
        assert queue == sorted(
            [
                ("sales_manager", "sales_manager", at_manager),
                ("finance", "finance", at_finance),
                ("director", "director", at_director),
            ]
        )

    def test_a_rejection_withdraws_the_later_nodes(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        order = draft(crm, register(crm), LINES_600K)
        submit(crm, order)
        frozen.tick(timedelta(minutes=30))
        reject(crm, order, SM, "Price too high")

        rows = approvals(crm)

        assert decisions(rows) == [
            ("sales_manager", "rejected", "mgr-1", 1800, "Price too high"),
            ("finance", "withdrawn", None, None, None),
            ("director", "withdrawn", None, None, None),
        ]
        assert all(r["waiting_since"] is None for r in rows if r["status"] == "withdrawn")

    def test_a_resubmission_after_revision_is_a_second_round(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        order = draft(crm, register(crm), LINES_150K)
        submit(crm, order)
        frozen.tick(HOUR)
        approve(crm, order, SM)
        frozen.tick(HOUR)
        reject(crm, order, FIN, "Needs a lower price")
        crm.execute(ReviseOrder(order_id=order, reason="Price lowered"), actor=REP)
        crm.execute(ChangeOrderLines(order_id=order, lines=LINES_90K), actor=REP)
        frozen.tick(DAY)
        submit(crm, order)

        rows = approvals(crm)

        assert decisions(rows, round_=1) == [
            ("sales_manager", "approved", "mgr-1", 3600, "ok at sales_manager"),
            ("finance", "rejected", "fin-1", 3600, "Needs a lower price"),
        ]
        (second,) = [r for r in rows if r["round"] == 2]
        assert {
            k: second[k]
            for k in ("step", "node", "status", "total", "reasons", "submitted_at", "waiting_since")
        } == {
            "step": 1,
            "node": "sales_manager",
            "status": "pending",
            "total": Decimal("90000.00"),
            "reasons": "every order is approved by a sales manager",
            "submitted_at": T0 + 2 * HOUR + DAY,
            "waiting_since": T0 + 2 * HOUR + DAY,
        }

    def test_a_cancellation_withdraws_the_nodes_still_to_decide(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        order = draft(crm, register(crm), LINES_600K)
        submit(crm, order)
        frozen.tick(HOUR)
        approve(crm, order, SM)
        frozen.tick(HOUR)
        crm.execute(CancelOrder(order_id=order, reason="Customer withdrew"), actor=MANAGER)

        rows = approvals(crm)

        assert decisions(rows) == [
            ("sales_manager", "approved", "mgr-1", 3600, "ok at sales_manager"),
            ("finance", "withdrawn", None, None, None),
            ("director", "withdrawn", None, None, None),
        ]
        assert [r for r in rows if r["status"] in ("pending", "waiting")] == []

    def test_cancelling_an_approved_order_changes_no_decision(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        order = draft(crm, register(crm), LINES_90K)
        submit(crm, order)
        approve(crm, order, SM)
        before = approvals(crm)

        crm.execute(CancelOrder(order_id=order, reason="Customer withdrew"), actor=MANAGER)

        assert approvals(crm) == before


# ---- follow_ups --------------------------------------------------------------------------


def register_individual(crm: CRM, birthday: date | None) -> UUID:
    return register(crm, kind="individual", name="Li Wei", birthday=birthday)


def follow_ups(crm: CRM) -> list[Row]:
    return caught_up(crm, FollowUpsProjection())["follow_ups"]


def birthday_due(crm: CRM, customer: UUID) -> datetime:
    (row,) = [r for r in follow_ups(crm) if r["follow_up_id"] == birthday_row_id(customer)]
    return row["due_at"]


class TestFollowUps:
    def test_scheduled_follow_ups_are_completed_or_missed(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        ids = {purpose: uuid4() for purpose in ("revisit", "after_sale", "holiday")}
        for n, (purpose, follow_up_id) in enumerate(ids.items(), start=1):
            crm.execute(
                ScheduleFollowUp(
                    customer_id=customer,
                    follow_up_id=follow_up_id,
                    purpose=purpose,
                    due_at=T0 + n * DAY,
                    assignee_id="rep-1",
                ),
                actor=REP,
            )
        frozen.tick(DAY)
        crm.execute(CompleteFollowUp(customer_id=customer, follow_up_id=ids["revisit"]), actor=REP)
        frozen.tick(DAY)
        crm.execute(
            MarkFollowUpMissed(customer_id=customer, follow_up_id=ids["after_sale"]), actor=REP
        )

        rows = by(follow_ups(crm), "purpose")

        common = {
            "customer_id": customer,
            "assignee_id": "rep-1",
            "scheduled_at": T0,
            "birthday": None,
        }
        assert rows == {
            "revisit": {**common, "follow_up_id": ids["revisit"], "purpose": "revisit",
                        "due_at": T0 + DAY, "status": "completed", "done_at": T0 + DAY},
            "after_sale": {**common, "follow_up_id": ids["after_sale"], "purpose": "after_sale",
                           "due_at": T0 + 2 * DAY, "status": "missed", "done_at": T0 + 2 * DAY},
            "holiday": {**common, "follow_up_id": ids["holiday"], "purpose": "holiday",
                        "due_at": T0 + 3 * DAY, "status": "scheduled", "done_at": None},
        }  # fmt: skip

    def test_a_scheduled_birthday_follow_up_past_due_stays_as_scheduled(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register(crm)
        follow_up = uuid4()
        crm.execute(
            ScheduleFollowUp(
                customer_id=customer, follow_up_id=follow_up, purpose="birthday", due_at=T0 + DAY
            ),
            actor=REP,
        )
        frozen.move_to(T0 + 3 * DAY)

        rows = follow_ups(crm)

        assert [(r["follow_up_id"], r["due_at"], r["status"]) for r in rows] == [
            (follow_up, T0 + DAY, "scheduled")
        ]

    def test_an_individuals_birthday_is_due_at_midnight_utc_of_the_next_birthday(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register_individual(crm, date(1990, 7, 15))

        rows = follow_ups(crm)

        assert rows == [
            {
                "follow_up_id": birthday_row_id(customer),
                "customer_id": customer,
                "purpose": "birthday",
                "due_at": datetime(2026, 7, 15, tzinfo=UTC),
                "status": "scheduled",
                "assignee_id": None,
                "scheduled_at": T0,
                "done_at": None,
                "birthday": date(1990, 7, 15),
            }
        ]

    def test_a_birthday_already_past_this_year_is_due_next_year(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register_individual(crm, date(1985, 1, 20))

        assert birthday_due(crm, customer) == datetime(2027, 1, 20, tzinfo=UTC)

    def test_a_birthday_today_is_due_today(self, crm: CRM, frozen: FrozenDateTimeFactory) -> None:
        customer = register_individual(crm, date(1990, 3, 2))

        assert birthday_due(crm, customer) == datetime(2026, 3, 2, tzinfo=UTC)

    def test_the_birthday_rolls_to_the_following_year_once_the_clock_passes_the_day(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register_individual(crm, date(1990, 7, 15))
        head = crm.store.max_position()

        frozen.move_to(datetime(2026, 7, 15, 23, 59, tzinfo=UTC))
        on_the_day = birthday_due(crm, customer)
        frozen.move_to(datetime(2026, 7, 16, tzinfo=UTC))
        the_day_after = birthday_due(crm, customer)

        assert crm.store.max_position() == head
        assert on_the_day == datetime(2026, 7, 15, tzinfo=UTC)
        assert the_day_after == datetime(2027, 7, 15, tzinfo=UTC)

    def test_clearing_the_birthday_removes_its_row_and_setting_it_again_brings_it_back(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register_individual(crm, date(1990, 7, 15))
        scheduled = uuid4()
        crm.execute(
            ScheduleFollowUp(
                customer_id=customer, follow_up_id=scheduled, purpose="revisit", due_at=T0 + DAY
            ),
            actor=REP,
        )
        assert len(follow_ups(crm)) == 2

        crm.execute(UpdateCustomerProfile(customer_id=customer, birthday=None), actor=REP)

        assert [r["follow_up_id"] for r in follow_ups(crm)] == [scheduled]
        frozen.tick(10 * DAY)
        crm.execute(
            UpdateCustomerProfile(customer_id=customer, birthday=date(1990, 3, 1)), actor=REP
        )
        due = birthday_due(crm, customer)
        assert due == datetime(2027, 3, 1, tzinfo=UTC)

    def test_a_changed_birthday_moves_the_due_date(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register_individual(crm, date(1990, 7, 15))
        frozen.tick(DAY)

        crm.execute(
            UpdateCustomerProfile(customer_id=customer, birthday=date(1990, 4, 1)), actor=REP
        )

        (row,) = follow_ups(crm)
        assert (row["due_at"], row["birthday"], row["scheduled_at"]) == (
            datetime(2026, 4, 1, tzinfo=UTC),
            date(1990, 4, 1),
            T0 + DAY,
        )

    def test_a_29_february_birthday_is_kept_on_28_february_in_common_years(
        self, crm: CRM, frozen: FrozenDateTimeFactory
    ) -> None:
        customer = register_individual(crm, date(2000, 2, 29))  # registered 2 March 2026
        first = birthday_due(crm, customer)
        frozen.move_to(datetime(2027, 3, 1, tzinfo=UTC))
        in_a_leap_year = birthday_due(crm, customer)
        frozen.move_to(datetime(2028, 3, 1, tzinfo=UTC))
        after_the_leap_year = birthday_due(crm, customer)

        assert [first, in_a_leap_year, after_the_leap_year] == [
            datetime(2027, 2, 28, tzinfo=UTC),
            datetime(2028, 2, 29, tzinfo=UTC),
            datetime(2029, 2, 28, tzinfo=UTC),
        ]
