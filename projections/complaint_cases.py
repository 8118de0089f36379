"""``complaint_cases``: each complaint's status, handling and SLA (客户投诉).

The due times come from the events (they record the SLA policy in force). Breach flags
change with the passage of time as well as with events, so ``tick`` re-evaluates open
cases whose next due time has passed. The flags are a function of the events and of the
instant of the last run only, so a rebuild at that instant gives the same rows. A merged
duplicate's complaints are its survivor's (``projections.merges``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from domain.events.base import DomainEvent
from domain.events.complaint import (
    ComplaintAssessed,
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintEvent,
    ComplaintFiled,
    ComplaintFollowedUp,
    ComplaintReopened,
    ComplaintResolved,
)
from domain.events.customer import CustomersMerged
from projections.base import Projection, Row, RowStore, ids_of
from projections.merges import Aliases, merged_table, repoint
from projections.schema import ColumnType as T
from projections.schema import Table, col

CASES = Table(
    "complaint_cases",
    (
        col("complaint_id", T.UUID, nullable=False),
        col("customer_id", T.UUID, nullable=False),
        col("related_order_id", T.UUID),
        col("channel", T.TEXT, nullable=False),
        col("category", T.TEXT, nullable=False),
        col("severity", T.TEXT, nullable=False),
        col("escalation_level", T.INTEGER, nullable=False),
        col("status", T.TEXT, nullable=False),
        col("department", T.TEXT),
        col("handler_id", T.TEXT),
        col("filed_at", T.TIMESTAMP, nullable=False),
        col("responded_at", T.TIMESTAMP),
        col("resolved_at", T.TIMESTAMP),
        col("closed_at", T.TIMESTAMP),
        col("reopened_times", T.INTEGER, nullable=False),
        col("response_due_at", T.TIMESTAMP, nullable=False),
        col("resolution_due_at", T.TIMESTAMP),
        col("response_breached", T.BOOLEAN, nullable=False),
        col("resolution_breached", T.BOOLEAN, nullable=False),
        col("next_due_at", T.TIMESTAMP),
        col("compensation", T.DECIMAL),
        col("compensation_currency", T.TEXT),
        col("satisfaction_after_resolution", T.INTEGER),
        col("sla_policy_version", T.TEXT, nullable=False),
        col("updated_at", T.TIMESTAMP, nullable=False),
    ),
    primary_key=("complaint_id",),
    indexes=(("status",), ("customer_id",), ("next_due_at",)),
)
MERGED = merged_table("complaint_cases")


def _late(done_at: datetime | None, due_at: datetime | None, at: datetime) -> bool:
    """Done after its due time, or not done and the due time has passed."""
    if due_at is None:
        return False
    if done_at is not None:
        return done_at > due_at
    return at > due_at


def evaluate_sla(case: Row, at: datetime) -> None:
    """Set the breach flags as of ``at`` and ``next_due_at``, the next instant at which they
    change with no event (until then they hold)."""
    response_due, resolution_due = case["response_due_at"], case["resolution_due_at"]
    if case["status"] == "rejected_as_invalid":
        resolution_due = None  # an invalid complaint owes no resolution
    case["response_breached"] = _late(case["responded_at"], response_due, at)
    case["resolution_breached"] = _late(case["resolved_at"], resolution_due, at)
    pending = [
        due
        for done, due, breached in (
            (case["responded_at"], response_due, case["response_breached"]),
            (case["resolved_at"], resolution_due, case["resolution_breached"]),
        )
        if done is None and due is not None and not breached
    ]
    case["next_due_at"] = min(pending) if pending else None


class ComplaintCasesProjection(Projection):
    name: ClassVar[str] = "complaint_cases"
    version: ClassVar[int] = 2
    tables: ClassVar[tuple[Table, ...]] = (CASES, MERGED)
    handles = CustomersMerged | ComplaintEvent
    personal_values: ClassVar[frozenset[str]] = frozenset()  # merges are read for ids only
    aliases: ClassVar[Aliases] = Aliases(MERGED)

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        rows.prefetch(CASES.name, ids_of(events, ComplaintEvent))
        self.aliases.prefetch(
            rows, [e.customer_id for e in events if isinstance(e, ComplaintFiled)]
        )
        for event in events:
            if isinstance(event, CustomersMerged) and event.on_survivor:
                survivor = self.aliases.record(rows, event)
                repoint(rows, CASES, "customer_id", event.duplicate_id, survivor)
                continue
            if not isinstance(event, ComplaintEvent):
                continue
            if isinstance(event, ComplaintFiled):
                case: Row | None = {
                    "complaint_id": event.aggregate_id,
                    "customer_id": self.aliases.resolve(rows, event.customer_id),
                    "related_order_id": event.related_order_id,
                    "channel": event.channel.value,
                    "category": event.category.value,
                    "severity": event.severity.value,
                    "escalation_level": 0,
                    "status": "filed",
                    "department": None,
                    "handler_id": None,
                    "filed_at": event.occurred_at,
                    "responded_at": None,
                    "resolved_at": None,
                    "closed_at": None,
                    "reopened_times": 0,
                    "response_due_at": event.response_due_at,
                    "resolution_due_at": event.resolution_due_at,
                    "compensation": None,
                    "compensation_currency": None,
                    "satisfaction_after_resolution": None,
                    "sla_policy_version": event.sla_policy_version,
                }
            else:
                case = rows.get(CASES.name, {"complaint_id": event.aggregate_id})
                if case is None or not self._fold(case, event):
                    continue
            assert case is not None  # noqa: S101 # nosec B101 # narrowed above
            case["updated_at"] = event.occurred_at
            evaluate_sla(case, event.occurred_at)
            rows.upsert(CASES.name, case)

    @staticmethod
    def _fold(case: Row, event: DomainEvent) -> bool:
        if isinstance(event, ComplaintAssessed):
            case.update(
                status="valid" if event.valid else "rejected_as_invalid",
                responded_at=event.occurred_at,
                closed_at=None if event.valid else event.occurred_at,
            )
            if not event.valid:
                case["resolution_due_at"] = None  # an invalid complaint owes no resolution
        elif isinstance(event, ComplaintAssigned):
            case.update(status="assigned", department=event.department, handler_id=event.handler_id)
        elif isinstance(event, ComplaintResolved):
            case.update(
                status="resolved",
                resolved_at=event.occurred_at,
                compensation=event.compensation.amount if event.compensation else None,
                compensation_currency=event.compensation.currency if event.compensation else None,
            )
        elif isinstance(event, ComplaintFollowedUp):
            case["satisfaction_after_resolution"] = event.satisfaction
        elif isinstance(event, ComplaintClosed):
            case.update(status="closed", closed_at=event.occurred_at)
        elif isinstance(event, ComplaintReopened):
            case.update(
                status="reopened",
                resolved_at=None,
                closed_at=None,
                reopened_times=case["reopened_times"] + 1,
                resolution_due_at=event.resolution_due_at,
                sla_policy_version=event.sla_policy_version,
            )
        elif isinstance(event, ComplaintEscalated):
            case.update(
                severity=event.to_severity.value,
                escalation_level=event.level,
                response_due_at=event.response_due_at,
                resolution_due_at=event.resolution_due_at,
                sla_policy_version=event.sla_policy_version,
            )
        else:
            return False
        return True

    def tick(self, now: datetime, rows: RowStore) -> None:
        for case in rows.select_due(CASES.name, "next_due_at", now):
            evaluate_sla(case, now)
            rows.upsert(CASES.name, case)
