"""``opportunity_pipeline`` and ``opportunity_stage_history``: where every deal stands,
what it is worth weighted by its win probability, and how long it spent in each stage.
A merged duplicate's deals are its survivor's (``projections.merges``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from domain.events.base import DomainEvent
from domain.events.customer import CustomersMerged
from domain.events.opportunity import (
    OpportunityEvaluated,
    OpportunityEvent,
    OpportunityLost,
    OpportunityOpened,
    OpportunityQuoted,
    OpportunityReopened,
    OpportunityStageChanged,
    OpportunityWon,
)
from domain.values import round_to_minor_unit
from projections.base import Projection, Row, RowStore, ids_of
from projections.merges import Aliases, merged_table, repoint
from projections.schema import ColumnType as T
from projections.schema import Table, col

PIPELINE = Table(
    "opportunity_pipeline",
    (
        col("opportunity_id", T.UUID, nullable=False),
        col("customer_id", T.UUID, nullable=False),
        col("title", T.TEXT),
        col("owner_id", T.TEXT),
        col("source", T.TEXT),
        col("stage", T.TEXT, nullable=False),
        col("stage_since", T.TIMESTAMP, nullable=False),
        col("stage_seq", T.INTEGER, nullable=False),
        col("estimated_value", T.DECIMAL, nullable=False),
        col("currency", T.TEXT, nullable=False),
        col("win_probability", T.DECIMAL),
        col("weighted_value", T.DECIMAL),
        col("priority", T.TEXT),
        col("score", T.INTEGER),
        col("latest_quote_total", T.DECIMAL),
        col("quotes", T.INTEGER, nullable=False),
        col("expected_close", T.DATE),
        col("opened_at", T.TIMESTAMP, nullable=False),
        col("closed_at", T.TIMESTAMP),
        col("outcome", T.TEXT),
        col("lost_reason", T.TEXT),
        col("competitor", T.TEXT),
        col("order_id", T.UUID),
        col("won_value", T.DECIMAL),
        col("updated_at", T.TIMESTAMP, nullable=False),
    ),
    primary_key=("opportunity_id",),
    indexes=(("stage",), ("customer_id",), ("owner_id",)),
)

STAGE_HISTORY = Table(
    "opportunity_stage_history",
    (
        col("opportunity_id", T.UUID, nullable=False),
        col("seq", T.INTEGER, nullable=False),
        col("stage", T.TEXT, nullable=False),
        col("entered_at", T.TIMESTAMP, nullable=False),
        col("left_at", T.TIMESTAMP),
        col("seconds_in_stage", T.INTEGER),
        col("entered_by_back_move", T.BOOLEAN, nullable=False),
    ),
    primary_key=("opportunity_id", "seq"),
    indexes=(("stage",),),
)
MERGED = merged_table("opportunity_pipeline")


class OpportunityPipelineProjection(Projection):
    name: ClassVar[str] = "opportunity_pipeline"
    version: ClassVar[int] = 2
    tables: ClassVar[tuple[Table, ...]] = (PIPELINE, STAGE_HISTORY, MERGED)
    handles = CustomersMerged | OpportunityEvent
    personal_values: ClassVar[frozenset[str]] = frozenset()  # merges are read for ids only
    aliases: ClassVar[Aliases] = Aliases(MERGED)

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        moving = ids_of(events, OpportunityEvent)
        rows.prefetch(PIPELINE.name, moving)
        rows.prefetch(STAGE_HISTORY.name, moving)
        self.aliases.prefetch(
            rows, [e.customer_id for e in events if isinstance(e, OpportunityOpened)]
        )
        for event in events:
            if isinstance(event, CustomersMerged) and event.on_survivor:
                survivor = self.aliases.record(rows, event)
                repoint(rows, PIPELINE, "customer_id", event.duplicate_id, survivor)
                continue
            if isinstance(event, OpportunityOpened):
                self._opened(event, rows)
                continue
            if not isinstance(
                event,
                OpportunityEvaluated
                | OpportunityStageChanged
                | OpportunityQuoted
                | OpportunityWon
                | OpportunityLost
                | OpportunityReopened,
            ):
                continue
            deal = rows.get(PIPELINE.name, {"opportunity_id": event.aggregate_id})
            if deal is None:  # pragma: no cover - a stream always starts with OpportunityOpened
                continue
            deal["updated_at"] = event.occurred_at
            if isinstance(event, OpportunityEvaluated):
                deal.update(
                    win_probability=event.win_probability,
                    priority=event.priority.value,
                    score=event.score,
                )
            elif isinstance(event, OpportunityStageChanged):
                _enter(rows, deal, event.to_stage.value, event.occurred_at, back=event.is_back_move)
            elif isinstance(event, OpportunityQuoted):
                deal.update(latest_quote_total=event.total.amount, quotes=deal["quotes"] + 1)
            elif isinstance(event, OpportunityWon):
                _enter(rows, deal, "won", event.occurred_at, back=False)
                deal.update(
                    closed_at=event.occurred_at,
                    outcome="won",
                    order_id=event.order_id,
                    won_value=event.won_value.amount if event.won_value else None,
                )
            elif isinstance(event, OpportunityLost):
                _enter(rows, deal, "lost", event.occurred_at, back=False)
                deal.update(
                    closed_at=event.occurred_at,
                    outcome="lost",
                    lost_reason=event.reason,
                    competitor=event.competitor,
                )
            elif isinstance(event, OpportunityReopened):
                _enter(rows, deal, event.to_stage.value, event.occurred_at, back=True)
                deal.update(closed_at=None, outcome=None, lost_reason=None, competitor=None)
            deal["weighted_value"] = _weighted(deal)
            rows.upsert(PIPELINE.name, deal)

    def _opened(self, event: OpportunityOpened, rows: RowStore) -> None:
        deal: Row = {
            "opportunity_id": event.aggregate_id,
            "customer_id": self.aliases.resolve(rows, event.customer_id),
            "title": event.title,
            "owner_id": event.owner_id,
            "source": event.source,
            "stage": "identified",
            "stage_since": event.occurred_at,
            "stage_seq": 1,
            "estimated_value": event.estimated_value.amount,
            "currency": event.estimated_value.currency,
            "win_probability": None,
            "weighted_value": None,
            "priority": None,
            "score": None,
            "latest_quote_total": None,
            "quotes": 0,
            "expected_close": event.expected_close,
            "opened_at": event.occurred_at,
            "closed_at": None,
            "outcome": None,
            "lost_reason": None,
            "competitor": None,
            "order_id": None,
            "won_value": None,
            "updated_at": event.occurred_at,
        }
        rows.upsert(PIPELINE.name, deal)
        rows.upsert(
            STAGE_HISTORY.name,
            {
                "opportunity_id": event.aggregate_id,
                "seq": 1,
                "stage": "identified",
                "entered_at": event.occurred_at,
                "left_at": None,
                "seconds_in_stage": None,
                "entered_by_back_move": False,
            },
        )


def _enter(rows: RowStore, deal: dict[str, Any], stage: str, at: datetime, *, back: bool) -> None:
    """Close the current stage's history row and open the next one."""
    key = {"opportunity_id": deal["opportunity_id"], "seq": deal["stage_seq"]}
    current = rows.get(STAGE_HISTORY.name, key)
    if current is not None:
        current.update(
            left_at=at, seconds_in_stage=int((at - current["entered_at"]).total_seconds())
        )
        rows.upsert(STAGE_HISTORY.name, current)
    deal.update(stage=stage, stage_since=at, stage_seq=deal["stage_seq"] + 1)
    rows.upsert(
        STAGE_HISTORY.name,
        {
            "opportunity_id": deal["opportunity_id"],
            "seq": deal["stage_seq"],
            "stage": stage,
            "entered_at": at,
            "left_at": None,
            "seconds_in_stage": None,
            "entered_by_back_move": back,
        },
    )


def _weighted(deal: dict[str, Any]) -> Decimal | None:
    """Estimated value × win probability; a won deal counts in full, a lost one not at all."""
    if deal["outcome"] == "won":
        return Decimal(deal["won_value"] or deal["estimated_value"])
    if deal["outcome"] == "lost":
        return Decimal(0)
    if deal["win_probability"] is None:
        return None
    value = Decimal(deal["estimated_value"]) * Decimal(deal["win_probability"]) / 100
    return round_to_minor_unit(value, deal["currency"])
