"""The lifecycle funnel (客户发展过程) and the lifecycle listing, from
``lifecycle_transitions`` and ``customer_lifecycle``.

The funnel is answered from the transitions alone: each customer's stage at T is the
target of its last transition at or before T. Churn by the passage of time is written
there by the projection's tick up to now, so a funnel as of any past instant is exact; an
instant in the future is refused, since churns after now are not written yet.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from adapters.reports import vocabulary as zh
from adapters.reports.figures import median, share
from adapters.reports.model import BarChart, Column, Kind, Note, Report
from adapters.reports.source import ReportError, Source
from adapters.reports.tables import read_rows
from domain.lifecycle_vocabulary import LifecycleStage
from projections.lifecycle import LIFECYCLE, TRANSITIONS

DAY = Decimal(86400)
STAGE = Column("stage", "stage", "阶段", Kind.LABEL, zh.STAGES)


def _days(seconds: list[int]) -> Decimal | None:
    """The median stay in days, to one place."""
    middle = median(seconds)
    return None if middle is None else (middle / DAY).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _stages_at(rows: list[dict[str, Any]], at: datetime) -> dict[Any, dict[str, Any]]:
    latest: dict[Any, dict[str, Any]] = {}
    for row in rows:  # primary-key order: customer, then seq
        if row["transitioned_at"] <= at:
            latest[row["customer_id"]] = row
    return latest


def funnel(source: Source) -> Report:
    at = source.at
    rows = list(read_rows(source.crm.store, TRANSITIONS))
    current = _stages_at(rows, at)
    completed: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row["transitioned_at"] <= at and row["from_stage"] is not None:
            completed[row["from_stage"]].append(row["seconds_in_from_stage"] or 0)
    ongoing: dict[str, list[int]] = defaultdict(list)
    for row in current.values():
        ongoing[row["to_stage"]].append(int((at - row["transitioned_at"]).total_seconds()))
    total = len(current)
    table = tuple(
        (
            stage.value,
            len(ongoing[stage.value]),
            share(len(ongoing[stage.value]), total),
            len(completed[stage.value]),
            _days(completed[stage.value]),
            _days(ongoing[stage.value]),
        )
        for stage in LifecycleStage
    )
    return Report(
        name="funnel",
        en="Lifecycle funnel",
        zh="客户发展漏斗",
        columns=(
            STAGE,
            Column("customers", "customers", "客户数", Kind.INT),
            Column("share", "share", "占比", Kind.RATE),
            Column("stays_ended", "stays ended", "已离开人次", Kind.INT),
            Column(
                "median_days_ended", "median days (ended stays)", "中位天数(已离开)", Kind.NUMBER
            ),
            Column("median_days_current", "median days so far", "中位天数(当前)", Kind.NUMBER),
        ),
        rows=table,
        as_of=source.as_of_text,
        notes=(Note("customers", "客户总数", total, Kind.INT),),
        charts=(BarChart(label="stage", value="customers"),),
    )


def lifecycle(source: Source) -> Report:
    if source.customer is not None:
        return _one_customer(source, source.customer)
    if source.as_of is not None:
        raise ReportError(
            "report lifecycle: --as-of needs --customer ID (the listing is the current "
            "table); for stage counts as of a date use: crm report funnel --as-of"
        )
    rows = list(read_rows(source.crm.store, LIFECYCLE))
    rows.sort(key=lambda r: (r["display_name"] or "", str(r["customer_id"])))
    reasons = {c for r in rows for c in r["at_risk_reasons"].split(",") if c}
    return Report(
        name="lifecycle",
        en="Customer lifecycle",
        zh="客户发展过程",
        columns=(
            Column("customer_id", "customer id", "客户编号", Kind.ID),
            Column("display_name", "name", "客户名称"),
            STAGE,
            Column("stage_since", "since", "进入阶段时间", Kind.DATETIME),
            Column("tier", "tier", "关系类型", Kind.LABEL, zh.TIERS),
            Column("owner", "owner", "客户经理"),
            Column("purchases", "purchases", "购买次数", Kind.INT),
            Column("lifetime_value", "lifetime value", "累计金额", Kind.MONEY),
            Column("currency", "currency", "币种"),
            Column("is_member", "member", "会员", Kind.BOOL),
            Column("at_risk_reasons", "at risk", "流失预警", Kind.LABELS, zh.reasons(reasons)),
        ),
        rows=tuple(
            (
                r["customer_id"],
                r["display_name"],
                r["stage"],
                r["stage_since"],
                r["tier"],
                r["owner"],
                r["purchases"],
                r["lifetime_value"],
                r["currency"],
                r["is_member"],
                r["at_risk_reasons"],
            )
            for r in rows
        ),
    )


def _one_customer(source: Source, customer: UUID) -> Report:
    answer = source.crm.lifecycle(customer, as_of=source.at)
    return Report(
        name="lifecycle",
        en=f"Lifecycle of customer {customer}",
        zh=f"客户 {customer} 的发展过程",
        columns=(
            Column("from_stage", "from", "原阶段", Kind.LABEL, zh.STAGES),
            Column("to_stage", "to", "新阶段", Kind.LABEL, zh.STAGES),
            Column("transitioned_at", "at", "时间", Kind.DATETIME),
            Column("days_in_from_stage", "days in from-stage", "原阶段天数", Kind.NUMBER),
            Column("cause", "cause", "原因"),
        ),
        rows=tuple(
            (
                t.from_stage.value if t.from_stage else None,
                t.to_stage.value,
                t.transitioned_at,
                _days([t.seconds_in_from_stage]) if t.seconds_in_from_stage is not None else None,
                t.cause,
            )
            for t in answer.history
        ),
        as_of=source.as_of_text,
        notes=(
            Note("stage", "当前阶段", answer.stage.value, Kind.LABEL, zh.STAGES),
            Note("since", "进入时间", answer.stage_since, Kind.DATETIME),
            Note(
                "at risk",
                "流失预警",
                answer.at_risk_reasons,
                Kind.LABELS,
                zh.reasons(answer.at_risk_reasons),
            ),
        ),
    )
