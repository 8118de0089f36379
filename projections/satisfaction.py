"""``satisfaction_history``: every measurement of a customer's satisfaction (满意度), from
surveys (per dimension, and the survey's mean) and from complaint follow-ups (效果评估).

Survey rows carry the gap perceived − expected and its level (DESIGN §2.5). A complaint
follow-up is a 1–5 rating with no expectation; its level reads 1–2 as dissatisfied, 3 as
satisfied and 4–5 as delighted. A merged duplicate's measurements are its survivor's
(``projections.merges``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from domain.events.base import DomainEvent
from domain.events.complaint import ComplaintFiled, ComplaintFollowedUp
from domain.events.customer import CustomersMerged, SatisfactionSurveyed
from domain.satisfaction import follow_up_level, satisfaction_level
from projections.base import Projection, RowStore, ids_of
from projections.merges import Aliases, merged_table, repoint
from projections.schema import ColumnType as T
from projections.schema import Table, col

SURVEY_MEAN = "survey_mean"
COMPLAINT_RESOLUTION = "complaint_resolution"

HISTORY = Table(
    "satisfaction_history",
    (
        col("entry_id", T.TEXT, nullable=False),
        col("customer_id", T.UUID, nullable=False),
        col("measured_at", T.TIMESTAMP, nullable=False),
        col("source", T.TEXT, nullable=False),
        col("dimension", T.TEXT, nullable=False),
        col("expected", T.INTEGER),
        col("perceived", T.INTEGER),
        col("gap", T.DECIMAL),
        col("level", T.TEXT, nullable=False),
        col("nps", T.INTEGER),
        col("survey_id", T.UUID),
        col("complaint_id", T.UUID),
    ),
    primary_key=("entry_id",),
    indexes=(("customer_id", "measured_at"), ("measured_at",)),
)
COMPLAINTS = Table(
    "satisfaction_history__complaints",
    (col("complaint_id", T.UUID, nullable=False), col("customer_id", T.UUID, nullable=False)),
    primary_key=("complaint_id",),
    indexes=(("customer_id",),),
)
MERGED = merged_table("satisfaction_history")


class SatisfactionHistoryProjection(Projection):
    name: ClassVar[str] = "satisfaction_history"
    version: ClassVar[int] = 2
    tables: ClassVar[tuple[Table, ...]] = (HISTORY, COMPLAINTS, MERGED)
    handles = CustomersMerged | SatisfactionSurveyed | ComplaintFiled | ComplaintFollowedUp
    personal_values: ClassVar[frozenset[str]] = frozenset()  # merges are read for ids only
    aliases: ClassVar[Aliases] = Aliases(MERGED)

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        rows.prefetch(COMPLAINTS.name, ids_of(events, ComplaintFollowedUp))
        self.aliases.prefetch(
            rows,
            [
                e.customer_id if isinstance(e, ComplaintFiled) else e.aggregate_id
                for e in events
                if isinstance(e, SatisfactionSurveyed | ComplaintFiled)
            ],
        )
        for event in events:
            if isinstance(event, CustomersMerged) and event.on_survivor:
                survivor = self.aliases.record(rows, event)
                for table in (HISTORY, COMPLAINTS):
                    repoint(rows, table, "customer_id", event.duplicate_id, survivor)
            elif isinstance(event, SatisfactionSurveyed):
                common = {
                    "customer_id": self.aliases.resolve(rows, event.aggregate_id),
                    "measured_at": event.occurred_at,
                    "source": "survey",
                    "survey_id": event.survey_id,
                    "complaint_id": None,
                }
                for score in event.scores:
                    gap = score.perceived - score.expected
                    rows.upsert(
                        HISTORY.name,
                        {
                            **common,
                            "entry_id": f"{event.survey_id}:{score.dimension.value}",
                            "dimension": score.dimension.value,
                            "expected": score.expected,
                            "perceived": score.perceived,
                            "gap": Decimal(gap),
                            "level": satisfaction_level(Decimal(gap)).value,
                            "nps": event.nps,
                        },
                    )
                rows.upsert(
                    HISTORY.name,
                    {
                        **common,
                        "entry_id": f"{event.survey_id}:{SURVEY_MEAN}",
                        "dimension": SURVEY_MEAN,
                        "expected": None,
                        "perceived": None,
                        "gap": event.gap,
                        "level": event.level.value,
                        "nps": event.nps,
                    },
                )
            elif isinstance(event, ComplaintFiled):
                rows.upsert(
                    COMPLAINTS.name,
                    {
                        "complaint_id": event.aggregate_id,
                        "customer_id": self.aliases.resolve(rows, event.customer_id),
                    },
                )
            elif isinstance(event, ComplaintFollowedUp):
                complaint = rows.get(COMPLAINTS.name, {"complaint_id": event.aggregate_id})
                if complaint is None:
                    continue
                rows.upsert(
                    HISTORY.name,
                    {
                        "entry_id": f"{event.aggregate_id}:{event.version}",
                        "customer_id": complaint["customer_id"],
                        "measured_at": event.occurred_at,
                        "source": "complaint_follow_up",
                        "dimension": COMPLAINT_RESOLUTION,
                        "expected": None,
                        "perceived": event.satisfaction,
                        "gap": None,
                        "level": follow_up_level(event.satisfaction).value,
                        "nps": None,
                        "survey_id": None,
                        "complaint_id": event.aggregate_id,
                    },
                )
