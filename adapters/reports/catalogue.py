"""Every report by name, and which of them can answer as of a past instant.

A report that reads a table kept current (the churn-risk list, the approval queue) cannot
look back; asked to, it refuses instead of printing today's figures under another date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from adapters.reports import lifecycle_reports, operations_reports, retention_reports
from adapters.reports.model import Report
from adapters.reports.source import ReportError, Source

Builder = Callable[[Source], Report]


@dataclass(frozen=True)
class Entry:
    build: Builder
    as_of: bool  # answers as of a past instant
    help: str
    # Answers as of a future instant too (what will be due by then); the others report
    # what has happened, and refuse a future instant rather than make up its figures.
    looks_ahead: bool = False


REPORTS: dict[str, Entry] = {
    "funnel": Entry(lifecycle_reports.funnel, True, "customers per lifecycle stage, median stay"),
    "lifecycle": Entry(
        lifecycle_reports.lifecycle, True, "every customer's stage; --customer ID for a history"
    ),
    "satisfaction": Entry(operations_reports.satisfaction, False, "satisfaction trend by month"),
    "complaint-recovery": Entry(
        operations_reports.complaint_recovery, False, "satisfaction before and after complaints"
    ),
    "cohorts": Entry(retention_reports.cohorts, True, "monthly cohort retention matrix"),
    "rfm": Entry(retention_reports.rfm, True, "RFM segments"),
    "abc": Entry(retention_reports.abc, True, "ABC classes and the 80/20 check"),
    "pareto": Entry(retention_reports.pareto, True, "the 80/20 check alone"),
    "churn-risk": Entry(operations_reports.churn_risk, False, "customers at risk, with reasons"),
    "repeat-rate": Entry(retention_reports.repeat_rate, True, "repeat-purchase rate"),
    "pipeline": Entry(operations_reports.pipeline, False, "opportunities by stage"),
    "complaints": Entry(operations_reports.complaints, False, "complaint SLA compliance"),
    "approvals": Entry(operations_reports.approvals, False, "orders waiting for approval"),
    "follow-ups": Entry(
        operations_reports.follow_ups, True, "follow-ups due (as of: due by)", looks_ahead=True
    ),
}
ALL = "all"
# The one-page report: the charts first, long lists cut to their head.
PAGE = (
    "funnel",
    "pipeline",
    "satisfaction",
    "complaint-recovery",
    "complaints",
    "cohorts",
    "rfm",
    "abc",
    "pareto",
    "repeat-rate",
    "churn-risk",
    "approvals",
    "follow-ups",
)
PAGE_ROWS = 50


def build(name: str, source: Source) -> Report:
    entry = REPORTS.get(name)
    if entry is None:
        raise ReportError(f"no report {name!r}; reports: {', '.join([*REPORTS, ALL])}")
    if source.as_of is not None and not entry.as_of:
        raise ReportError(
            f"report {name} cannot look back: it reads a table kept current; drop --as-of"
        )
    source = _as_asked(name, entry, source)
    return _stamped(entry.build(source), source)


def build_page(source: Source) -> list[Report]:
    """Everything, each report as of ``--as-of`` where it can look back and as of now
    where it cannot (its section then says "now")."""
    reports = []
    for name in PAGE:
        entry = REPORTS[name]
        asked = _as_asked(name, entry, source) if entry.as_of else _now(source)
        reports.append(_stamped(entry.build(asked), asked).head(PAGE_ROWS))
    return reports


def _as_asked(name: str, entry: Entry, source: Source) -> Source:
    if entry.looks_ahead:
        return source
    settled = source.settled()
    if settled.at > settled.now:
        raise ReportError(
            f"report {name}: --as-of must not be in the future (it reports what has happened)"
        )
    return settled


def _stamped(report: Report, source: Source) -> Report:
    """Reports read from tables kept current are as of the catch-up just made: say when."""
    return report if report.as_of else replace(report, as_of=source.as_of_text)


def _now(source: Source) -> Source:
    return Source(source.crm, source.now, None, source.currency, source.customer)
