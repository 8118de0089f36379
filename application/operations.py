"""Typed answers from the operational and satisfaction read models (DESIGN §4, §5):
churn-risk list, satisfaction trend and recovery after complaints, approval queue,
follow-ups due, complaint SLA. Each reads tables; none loads an aggregate."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from adapters.event_store import EventStore
from adapters.sql import dialect_of, query, read_transaction
from projections.complaint_cases import CASES
from projections.follow_ups import FOLLOW_UPS
from projections.lifecycle import LIFECYCLE
from projections.order_approvals import APPROVALS
from projections.satisfaction import HISTORY, SURVEY_MEAN
from projections.schema import Table


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class ChurnRisk(Answer):
    customer_id: UUID
    display_name: str | None
    stage: str
    owner: str | None
    last_purchase_at: datetime | None
    lifetime_value: Decimal
    currency: str | None
    reasons: tuple[str, ...]


class SatisfactionMonth(Answer):
    month: date
    surveys: int
    mean_gap: Decimal | None
    dissatisfied: int
    satisfied: int
    delighted: int
    complaint_follow_ups: int
    mean_follow_up_rating: Decimal | None


class ComplaintRecovery(Answer):
    """Satisfaction after a complaint's follow-up against the last survey before it."""

    complaint_id: UUID
    customer_id: UUID
    filed_at: datetime
    level_before: str | None
    gap_before: Decimal | None
    rating_after: int
    level_after: str
    recovered: bool | None  # None when there was no survey before the complaint


class PendingApproval(Answer):
    order_id: UUID
    round: int
    node: str
    role: str
    customer_id: UUID
    total: Decimal
    currency: str
    submitted_by: str
    waiting_since: datetime
    reasons: str


class FollowUpDue(Answer):
    follow_up_id: UUID
    customer_id: UUID
    purpose: str
    due_at: datetime
    assignee_id: str | None


class ComplaintCase(Answer):
    complaint_id: UUID
    customer_id: UUID
    category: str
    severity: str
    status: str
    department: str | None
    filed_at: datetime
    responded_at: datetime | None
    resolved_at: datetime | None
    response_due_at: datetime
    resolution_due_at: datetime | None
    response_breached: bool
    resolution_breached: bool
    satisfaction_after_resolution: int | None


LEVELS = ("dissatisfied", "satisfied", "delighted")
CHURN_RISK_COLUMNS = (
    *("customer_id", "display_name", "stage", "owner", "last_purchase_at"),
    *("lifetime_value", "currency", "at_risk_reasons"),
)


class Operations:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    def _select(
        self,
        table: Table,
        where: str = "",
        params: Sequence[Any] = (),
        order: str = "",
        columns: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` as Python values: all columns, or only ``columns`` (each value
        converted costs; the churn-risk list needs 8 of ``customer_lifecycle``'s 17)."""
        d = dialect_of(self._store)
        wanted = [c for c in table.columns if not columns or c.name in columns]
        names = ", ".join(d.quote(c.name) for c in wanted)
        statement = f"SELECT {names} FROM {d.table(table.name)}"  # noqa: S608 # nosec B608 # quoted identifiers; callers pass values as parameters
        if where:
            statement += " WHERE " + where.replace("?", d.param)
        if order:
            statement += " ORDER BY " + order
        with read_transaction(self._store) as cursor:
            rows = query(cursor, d, statement, list(params))
        return [{c.name: d.from_db(c.type, row[c.name]) for c in wanted} for row in rows]

    def _param(self, table: Table, column: str, value: Any) -> Any:
        types = {c.name: c.type for c in table.columns}
        return dialect_of(self._store).to_db(types[column], value)

    def churn_risk(self) -> list[ChurnRisk]:
        """Customers flagged at risk (流失预警), most valuable first, with their reasons."""
        rows = self._select(
            LIFECYCLE,
            "at_risk = ?",
            [self._param(LIFECYCLE, "at_risk", True)],
            columns=CHURN_RISK_COLUMNS,
        )
        rows.sort(key=lambda r: (-r["lifetime_value"], str(r["customer_id"])))
        return [
            ChurnRisk(
                customer_id=r["customer_id"],
                display_name=r["display_name"],
                stage=r["stage"],
                owner=r["owner"],
                last_purchase_at=r["last_purchase_at"],
                lifetime_value=r["lifetime_value"],
                currency=r["currency"],
                reasons=tuple(filter(None, r["at_risk_reasons"].split(","))),
            )
            for r in rows
        ]

    def satisfaction_trend(self, customer_id: UUID | None = None) -> list[SatisfactionMonth]:
        """By UTC month: surveys with their mean gap and levels, and complaint follow-ups."""
        where, params = (
            ("customer_id = ?", [self._param(HISTORY, "customer_id", customer_id)])
            if (customer_id is not None)
            else ("", [])
        )
        months: dict[date, list[Mapping[str, Any]]] = defaultdict(list)
        for row in self._select(HISTORY, where, params):
            if row["source"] == "survey" and row["dimension"] != SURVEY_MEAN:
                continue
            months[row["measured_at"].date().replace(day=1)].append(row)
        result = []
        for month, rows in sorted(months.items()):
            surveys = [r for r in rows if r["source"] == "survey"]
            follow_ups = [r for r in rows if r["source"] == "complaint_follow_up"]
            result.append(
                SatisfactionMonth(
                    month=month,
                    surveys=len(surveys),
                    mean_gap=_mean([r["gap"] for r in surveys]),
                    dissatisfied=sum(r["level"] == "dissatisfied" for r in surveys),
                    satisfied=sum(r["level"] == "satisfied" for r in surveys),
                    delighted=sum(r["level"] == "delighted" for r in surveys),
                    complaint_follow_ups=len(follow_ups),
                    mean_follow_up_rating=_mean([Decimal(r["perceived"]) for r in follow_ups]),
                )
            )
        return result

    def complaint_recovery(self) -> list[ComplaintRecovery]:
        """For every complaint followed up: the latest rating after resolution against the
        customer's last survey before the complaint was filed."""
        surveys: dict[UUID, list[Mapping[str, Any]]] = defaultdict(list)
        latest_follow_up: dict[UUID, Mapping[str, Any]] = {}
        for row in self._select(HISTORY, order="measured_at"):
            if row["source"] == "survey" and row["dimension"] == SURVEY_MEAN:
                surveys[row["customer_id"]].append(row)
            elif row["source"] == "complaint_follow_up":
                latest_follow_up[row["complaint_id"]] = row
        result = []
        for case in self._select(CASES, order="filed_at"):
            after = latest_follow_up.get(case["complaint_id"])
            if after is None:
                continue
            before = [
                s for s in surveys[case["customer_id"]] if s["measured_at"] < case["filed_at"]
            ]
            last = before[-1] if before else None
            result.append(
                ComplaintRecovery(
                    complaint_id=case["complaint_id"],
                    customer_id=case["customer_id"],
                    filed_at=case["filed_at"],
                    level_before=last["level"] if last else None,
                    gap_before=last["gap"] if last else None,
                    rating_after=after["perceived"],
                    level_after=after["level"],
                    recovered=(LEVELS.index(after["level"]) >= LEVELS.index(last["level"]))
                    if last
                    else None,
                )
            )
        return result

    def approval_queue(self, node: str | None = None) -> list[PendingApproval]:
        """Orders waiting for a decision, oldest first, by node (审批流程)."""
        where, params = "status = ?", ["pending"]
        if node is not None:
            where, params = where + " AND node = ?", [*params, node]
        return [
            PendingApproval.model_validate({k: r[k] for k in PendingApproval.model_fields})
            for r in self._select(APPROVALS, where, params, order="waiting_since")
        ]

    def follow_ups_due(self, until: datetime) -> list[FollowUpDue]:
        """Scheduled follow-ups (回访, birthdays included) due at or before ``until``."""
        rows = self._select(
            FOLLOW_UPS,
            "status = ? AND due_at <= ?",
            ["scheduled", self._param(FOLLOW_UPS, "due_at", until)],
            order="due_at",
        )
        return [
            FollowUpDue.model_validate({k: r[k] for k in FollowUpDue.model_fields}) for r in rows
        ]

    def complaint_cases(self, *, open_only: bool = False) -> list[ComplaintCase]:
        rows = self._select(CASES, order="filed_at")
        if open_only:
            rows = [r for r in rows if r["status"] not in ("closed", "rejected_as_invalid")]
        return [
            ComplaintCase.model_validate({k: r[k] for k in ComplaintCase.model_fields})
            for r in rows
        ]


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    if not values:
        return None
    return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.01"), ROUND_HALF_UP)
