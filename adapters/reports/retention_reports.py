"""Retention reports (客户保持, DESIGN §4) over ``customer_purchases``: RFM segments, ABC
classes with the 80/20 check, the cohort matrix and the repeat-purchase rate. Every
figure comes from the library's retention functions, so a report and the typed query
never disagree; these builders only group and label."""

from __future__ import annotations

from decimal import Decimal

from adapters.reports import vocabulary as zh
from adapters.reports.figures import mean, share
from adapters.reports.model import BarChart, Column, HeatMap, Kind, Note, Report
from adapters.reports.source import Source
from domain import retention
from domain.retention import AbcClass, RfmSegment

BUYERS = Column("buyers", "buyers", "客户数", Kind.INT)


def rfm(source: Source) -> Report:
    rows = source.crm.read_models.rfm(as_of=source.at, currency=source.currency)
    revenue = sum((r.monetary for r in rows), Decimal(0))
    table = []
    for segment in RfmSegment:
        members = [r for r in rows if r.segment is segment]
        monetary = sum((r.monetary for r in members), Decimal(0))
        table.append(
            (
                segment.value,
                len(members),
                share(len(members), len(rows)),
                mean([r.recency_days for r in members]),
                mean([r.frequency for r in members]),
                monetary,
                share(monetary, revenue),
            )
        )
    return Report(
        name="rfm",
        en=f"RFM segments ({source.currency})",
        zh=f"RFM 客户分群（{source.currency}）",
        columns=(
            Column("segment", "segment", "客户群", Kind.LABEL, zh.SEGMENTS),
            BUYERS,
            Column("share_of_buyers", "share of buyers", "客户占比", Kind.RATE),
            Column("mean_recency_days", "mean recency (days)", "平均最近购买天数", Kind.NUMBER),
            Column("mean_frequency", "mean frequency", "平均购买次数", Kind.NUMBER),
            Column("monetary", "monetary", "消费金额", Kind.MONEY),
            Column("share_of_revenue", "share of revenue", "收入占比", Kind.RATE),
        ),
        rows=tuple(table),
        as_of=source.as_of_text,
        notes=(Note("buyers", "购买客户数", len(rows), Kind.INT),),
        charts=(BarChart(label="segment", value="buyers"),),
    )


def pareto(source: Source) -> Report:
    check = source.crm.read_models.pareto(as_of=source.at, currency=source.currency)
    return Report(
        name="pareto",
        en=f"The 80/20 check ({source.currency})",
        zh=f"二八原则检验（{source.currency}）",
        columns=(
            BUYERS,
            Column("top_buyers", "top 20 % buyers", "前20%客户数", Kind.INT),
            Column("top_revenue", "their revenue", "其收入", Kind.MONEY),
            Column("total_revenue", "total revenue", "总收入", Kind.MONEY),
            Column("top_share", "their share", "收入占比", Kind.RATE),
            Column("holds", "80/20 holds", "二八原则成立", Kind.BOOL),
        ),
        rows=(
            (
                check.buyers,
                check.top_buyers,
                check.top_revenue,
                check.total_revenue,
                check.top_share,
                check.holds,
            ),
        ),
        as_of=source.as_of_text,
    )


def abc(source: Source) -> Report:
    rows = source.crm.read_models.abc(as_of=source.at, currency=source.currency)
    check = pareto(source)
    revenue = sum((r.monetary for r in rows), Decimal(0))
    table = []
    for klass in AbcClass:
        members = [r for r in rows if r.abc_class is klass]
        monetary = sum((r.monetary for r in members), Decimal(0))
        table.append(
            (
                klass.value,
                len(members),
                share(len(members), len(rows)),
                monetary,
                share(monetary, revenue),
            )
        )
    (buyers, top, _, _, top_share, holds) = check.rows[0]
    return Report(
        name="abc",
        en=f"ABC classes ({source.currency})",
        zh=f"ABC 客户分类（{source.currency}）",
        columns=(
            Column("abc_class", "class", "类别", Kind.LABEL, zh.ABC_CLASSES),
            BUYERS,
            Column("share_of_buyers", "share of buyers", "客户占比", Kind.RATE),
            Column("revenue", "revenue", "收入", Kind.MONEY),
            Column("share_of_revenue", "share of revenue", "收入占比", Kind.RATE),
        ),
        rows=tuple(table),
        as_of=source.as_of_text,
        notes=(
            Note(
                f"revenue share of the top {top} of {buyers} buyers",
                "前20%客户的收入占比",
                top_share,
                Kind.RATE,
            ),
            Note("80/20 holds", "二八原则成立", holds, Kind.BOOL),
        ),
        charts=(BarChart(label="abc_class", value="share_of_revenue"),),
    )


def cohorts(source: Source) -> Report:
    matrix = source.crm.read_models.cohorts(as_of=source.at)
    months = max((len(r.rates) for r in matrix.rows), default=0)
    cells = tuple(f"m{k}" for k in range(months))
    return Report(
        name="cohorts",
        en="Cohort retention (month of first purchase)",
        zh="客户留存队列（按首次购买月份）",
        columns=(
            Column("cohort", "cohort", "队列", Kind.MONTH),
            Column("size", "size", "人数", Kind.INT),
            *(Column(f"m{k}", f"M{k}", f"第{k}月", Kind.RATE) for k in range(months)),
        ),
        rows=tuple(
            (r.cohort, r.size, *r.rates, *([None] * (months - len(r.rates)))) for r in matrix.rows
        ),
        as_of=source.as_of_text,
        charts=(HeatMap(row="cohort", cells=cells),) if months else (),
    )


def repeat_rate(source: Source) -> Report:
    buyers, repeat_buyers = source.crm.read_models.repeat_purchase_counts(as_of=source.at)
    rate = retention.repeat_purchase_rate_of(buyers, repeat_buyers)
    return Report(
        name="repeat-rate",
        en="Repeat-purchase rate",
        zh="重复购买率",
        columns=(
            BUYERS,
            Column("repeat_buyers", "repeat buyers", "重复购买客户数", Kind.INT),
            Column("rate", "rate", "重复购买率", Kind.RATE),
        ),
        rows=((buyers, repeat_buyers, rate),),
        as_of=source.as_of_text,
    )
