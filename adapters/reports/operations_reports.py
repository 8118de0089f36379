"""Operational reports: satisfaction trend and complaint recovery (满意度), churn risk
(流失预警), the opportunity pipeline, complaint SLA compliance, the approval queue (审批)
and follow-ups due (回访). They read current tables, so only ``follow-ups`` takes an
instant (as the "due by" time); the others refuse ``--as-of`` rather than mislabel now."""

from __future__ import annotations

from collections import defaultdict

from adapters.reports import vocabulary as zh
from adapters.reports.figures import share
from adapters.reports.model import BarChart, Column, Kind, LineChart, Note, Report
from adapters.reports.source import Source
from domain.complaint_vocabulary import ComplaintSeverity
from domain.vocabulary import OpportunityStage

CUSTOMER = Column("customer_id", "customer id", "客户编号", Kind.ID)


def satisfaction(source: Source) -> Report:
    months = source.crm.read_models.operations.satisfaction_trend()
    return Report(
        name="satisfaction",
        en="Satisfaction by month",
        zh="满意度月度趋势",
        columns=(
            Column("month", "month", "月份", Kind.MONTH),
            Column("surveys", "surveys", "调查数", Kind.INT),
            Column("mean_gap", "mean gap", "平均差距", Kind.NUMBER),
            Column("dissatisfied", "dissatisfied", "不满意", Kind.INT),
            Column("satisfied", "satisfied", "基本满意", Kind.INT),
            Column("delighted", "delighted", "高度满意", Kind.INT),
            Column("complaint_follow_ups", "complaint follow-ups", "投诉回访数", Kind.INT),
            Column("mean_follow_up_rating", "mean rating after", "回访平均评分", Kind.NUMBER),
        ),
        rows=tuple(
            (
                m.month,
                m.surveys,
                m.mean_gap,
                m.dissatisfied,
                m.satisfied,
                m.delighted,
                m.complaint_follow_ups,
                m.mean_follow_up_rating,
            )
            for m in months
        ),
        charts=(LineChart(x="month", y="mean_gap"),),
    )


def complaint_recovery(source: Source) -> Report:
    cases = source.crm.read_models.operations.complaint_recovery()
    compared = [c for c in cases if c.recovered is not None]
    recovered = sum(1 for c in compared if c.recovered)
    return Report(
        name="complaint-recovery",
        en="Satisfaction before a complaint and after its follow-up",
        zh="投诉处理前后的满意度",
        columns=(
            Column("complaint_id", "complaint id", "投诉编号", Kind.ID),
            CUSTOMER,
            Column("filed_at", "filed", "投诉时间", Kind.DATETIME),
            Column("level_before", "level before", "投诉前满意度", Kind.LABEL, zh.LEVELS),
            Column("gap_before", "gap before", "投诉前差距", Kind.NUMBER),
            Column("rating_after", "rating after (1-5)", "回访评分", Kind.INT),
            Column("level_after", "level after", "回访后满意度", Kind.LABEL, zh.LEVELS),
            Column("recovered", "recovered", "已恢复", Kind.BOOL),
        ),
        rows=tuple(
            (
                c.complaint_id,
                c.customer_id,
                c.filed_at,
                c.level_before,
                c.gap_before,
                c.rating_after,
                c.level_after,
                c.recovered,
            )
            for c in cases
        ),
        notes=(
            Note("complaints followed up", "已回访投诉", len(cases), Kind.INT),
            Note("with a survey before", "投诉前有调查", len(compared), Kind.INT),
            Note(
                "recovered (level kept or raised)",
                "满意度恢复比例",
                share(recovered, len(compared)),
                Kind.RATE,
            ),
        ),
    )


def churn_risk(source: Source) -> Report:
    risks = source.crm.read_models.operations.churn_risk()
    return Report(
        name="churn-risk",
        en="Churn risk (most valuable first)",
        zh="流失预警客户（按价值排序）",
        columns=(
            CUSTOMER,
            Column("display_name", "name", "客户名称"),
            Column("stage", "stage", "阶段", Kind.LABEL, zh.STAGES),
            Column("owner", "owner", "客户经理"),
            Column("last_purchase_at", "last purchase", "最近购买", Kind.DATETIME),
            Column("lifetime_value", "lifetime value", "累计金额", Kind.MONEY),
            Column("currency", "currency", "币种"),
            Column(
                "reasons",
                "reasons",
                "预警原因",
                Kind.LABELS,
                zh.reasons({c for r in risks for c in r.reasons}),
            ),
        ),
        rows=tuple(
            (
                r.customer_id,
                r.display_name,
                r.stage,
                r.owner,
                r.last_purchase_at,
                r.lifetime_value,
                r.currency,
                r.reasons,
            )
            for r in risks
        ),
    )


def pipeline(source: Source) -> Report:
    order = {s.value: s.rank for s in OpportunityStage}
    stages = sorted(
        source.crm.read_models.pipeline(), key=lambda p: (order.get(p.stage, 99), p.currency)
    )
    return Report(
        name="pipeline",
        en="Opportunity pipeline",
        zh="销售机会漏斗",
        columns=(
            Column("stage", "stage", "阶段", Kind.LABEL, zh.OPPORTUNITY_STAGES),
            Column("currency", "currency", "币种"),
            Column("deals", "deals", "机会数", Kind.INT),
            Column("estimated_value", "estimated value", "预计金额", Kind.MONEY),
            Column("weighted_value", "weighted value", "加权金额", Kind.MONEY),
        ),
        rows=tuple(
            (p.stage, p.currency, p.deals, p.estimated_value, p.weighted_value) for p in stages
        ),
        charts=(BarChart(label="stage", value="deals"),),
    )


def complaints(source: Source) -> Report:
    """SLA compliance by severity: a complaint is on time when neither its first response
    nor its resolution breached the SLA (as the projection keeps the flags, up to now)."""
    by_severity: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for case in source.crm.read_models.operations.complaint_cases():
        row = by_severity[case.severity]
        row[0] += 1
        row[1] += case.status == "rejected_as_invalid"
        row[2] += case.status not in ("closed", "rejected_as_invalid")
        row[3] += case.response_breached
        row[4] += case.resolution_breached
        row[5] += not (case.response_breached or case.resolution_breached)
    severities = [s.value for s in reversed(ComplaintSeverity)]
    rows = [
        (s, *by_severity[s][:5], share(by_severity[s][5], by_severity[s][0])) for s in severities
    ]
    total = sum(by_severity[s][0] for s in severities)
    on_time = sum(by_severity[s][5] for s in severities)
    return Report(
        name="complaints",
        en="Complaint SLA compliance",
        zh="客户投诉服务时限达成情况",
        columns=(
            Column("severity", "severity", "严重程度", Kind.LABEL, zh.SEVERITIES),
            Column("complaints", "complaints", "投诉数", Kind.INT),
            Column("invalid", "invalid", "不成立", Kind.INT),
            Column("open", "open", "处理中", Kind.INT),
            Column("late_response", "late response", "响应超时", Kind.INT),
            Column("late_resolution", "late resolution", "解决超时", Kind.INT),
            Column("on_time", "on time", "按时率", Kind.RATE),
        ),
        rows=tuple(rows),
        notes=(Note("on time, all severities", "总体按时率", share(on_time, total), Kind.RATE),),
        charts=(BarChart(label="severity", value="on_time"),),
    )


def approvals(source: Source) -> Report:
    queue = source.crm.read_models.operations.approval_queue()
    return Report(
        name="approvals",
        en="Approval queue (oldest first)",
        zh="待审批订单（按等待时间）",
        columns=(
            Column("order_id", "order id", "订单编号", Kind.ID),
            Column("node", "node", "审批节点", Kind.LABEL, zh.NODES),
            Column("round", "round", "轮次", Kind.INT),
            CUSTOMER,
            Column("total", "total", "金额", Kind.MONEY),
            Column("currency", "currency", "币种"),
            Column("submitted_by", "submitted by", "提交人"),
            Column("waiting_since", "waiting since", "等待起始", Kind.DATETIME),
            Column("reasons", "route reasons", "审批路线原因"),
        ),
        rows=tuple(
            (
                p.order_id,
                p.node,
                p.round,
                p.customer_id,
                p.total,
                p.currency,
                p.submitted_by,
                p.waiting_since,
                p.reasons,
            )
            for p in queue
        ),
        notes=(Note("waiting", "待审批", len(queue), Kind.INT),),
    )


def follow_ups(source: Source) -> Report:
    due = source.crm.read_models.operations.follow_ups_due(source.at)
    return Report(
        name="follow-ups",
        en="Follow-ups due (回访)",
        zh="到期回访提醒",
        columns=(
            Column("follow_up_id", "follow-up id", "回访编号", Kind.ID),
            CUSTOMER,
            Column("purpose", "purpose", "目的", Kind.LABEL, zh.PURPOSES),
            Column("due_at", "due", "到期时间", Kind.DATETIME),
            Column("assignee_id", "assignee", "负责人"),
        ),
        rows=tuple(
            (f.follow_up_id, f.customer_id, f.purpose, f.due_at, f.assignee_id) for f in due
        ),
        as_of=source.as_of_text,
        notes=(Note("due", "到期数", len(due), Kind.INT),),
    )
