"""One self-contained HTML page: inline CSS, inline SVG charts, the tables, and nothing
fetched from anywhere. Customer names and every other piece of text are escaped, and the
page's Content-Security-Policy forbids scripts outright, so a name such as
``<script>…`` can neither run nor break the markup."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from adapters.reports import svg
from adapters.reports.cells import for_people
from adapters.reports.model import BarChart, Chart, HeatMap, LineChart, Report, header, title
from adapters.reports.render_text import EMPTY, NUMERIC, OMITTED, subtitle

POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; background: #fff; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
p.as-of { color: #666; margin-top: -0.6em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; white-space: nowrap; }
th { background: #eef2f7; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
dl.notes dt { font-weight: bold; float: left; clear: left; margin-right: 0.6em; }
figure { margin: 0.8em 0; }
"""
PAGE_TITLE = {"en": "CRM report", "zh": "客户关系管理报表"}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


def _chart(report: Report, chart: Chart, lang: str) -> str:
    name = title(report, lang)
    if isinstance(chart, BarChart):
        label_col = report.columns[report.column(chart.label)]
        value_col = report.columns[report.column(chart.value)]
        return svg.bars(
            name,
            [for_people(v, label_col, lang) for v in report.values(chart.label)],
            [_number(v) or 0.0 for v in report.values(chart.value)],
            [for_people(v, value_col, lang) for v in report.values(chart.value)],
        )
    if isinstance(chart, LineChart):
        x_col = report.columns[report.column(chart.x)]
        y_col = report.columns[report.column(chart.y)]
        return svg.line(
            name,
            [for_people(v, x_col, lang) for v in report.values(chart.x)],
            [_number(v) for v in report.values(chart.y)],
            [for_people(v, y_col, lang) for v in report.values(chart.y)],
        )
    row_col = report.columns[report.column(chart.row)]
    cell_cols = [report.columns[report.column(k)] for k in chart.cells]
    return svg.heat_map(
        name,
        [for_people(v, row_col, lang) for v in report.values(chart.row)],
        [header(c, lang) for c in cell_cols],
        _by_row(report, chart),
        [[_percent(v) for v in cells] for cells in _by_row(report, chart)],
    )


def _percent(rate: float | None) -> str:
    """Whole percents: a heat-map cell has room for "100%" and no more."""
    return "" if rate is None else f"{rate * 100:.0f}%"


def _by_row(report: Report, chart: HeatMap) -> list[list[float | None]]:
    columns = [report.column(k) for k in chart.cells]
    return [[_number(row[k]) for k in columns] for row in report.rows]


def _table(report: Report, lang: str) -> str:
    head = "".join(f"<th>{escape(header(c, lang))}</th>" for c in report.columns)
    body = []
    for row in report.rows:
        cells = "".join(
            ('<td class="n">' if c.kind in NUMERIC else "<td>")
            + f"{escape(for_people(v, c, lang))}</td>"
            for v, c in zip(row, report.columns, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if not report.rows:
        table += f"<p>{escape(EMPTY[lang])}</p>"
    if report.omitted:
        table += f"<p>{escape(OMITTED[lang].format(n=report.omitted))}</p>"
    return table


def _notes(report: Report, lang: str) -> str:
    if not report.notes:
        return ""
    items = "".join(
        f"<dt>{escape(n.zh if lang == 'zh' else n.en)}</dt>"
        f"<dd>{escape(for_people(n.value, n.column, lang))}</dd>"
        for n in report.notes
    )
    return f'<dl class="notes">{items}</dl>'


def section(report: Report, lang: str) -> str:
    charts = "".join(f"<figure>{_chart(report, c, lang)}</figure>" for c in report.charts)
    return (
        f'<section id="{escape(report.name)}"><h2>{escape(title(report, lang))}</h2>'
        f'<p class="as-of">{escape(subtitle(report, lang))}</p>'
        f"{charts}{_table(report, lang)}{_notes(report, lang)}</section>"
    )


def render(reports: Sequence[Report], lang: str) -> str:
    heading = PAGE_TITLE[lang] if len(reports) != 1 else title(reports[0], lang)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        f"<title>{escape(heading)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(PAGE_TITLE[lang])}</h1>"
        + "".join(section(r, lang) for r in reports)
        + "</body></html>\n"
    )
