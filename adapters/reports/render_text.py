"""Plain-text tables for a terminal. Chinese characters take two columns there, so
widths are counted in terminal cells, not in characters."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from adapters.reports.cells import for_people
from adapters.reports.model import Kind, Report, header, title

NUMERIC = {Kind.INT, Kind.MONEY, Kind.NUMBER, Kind.RATE}
AS_OF = {"en": "as of", "zh": "截至"}
NOW = {"en": "now", "zh": "当前"}
OMITTED = {"en": "… {n} more rows", "zh": "… 另有 {n} 行"}
EMPTY = {"en": "(no rows)", "zh": "（无数据）"}


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, cells: int, right: bool) -> str:
    gap = " " * (cells - width(text))
    return gap + text if right else text + gap


def subtitle(report: Report, lang: str) -> str:
    return f"{AS_OF[lang]} {report.as_of or NOW[lang]}"


def render_one(report: Report, lang: str) -> str:
    head = [header(c, lang) for c in report.columns]
    body = [
        [for_people(v, c, lang) for v, c in zip(row, report.columns, strict=True)]
        for row in report.rows
    ]
    widths = [max(width(text) for text in column) for column in zip(head, *body, strict=True)]
    right = [c.kind in NUMERIC for c in report.columns]
    lines = [f"{title(report, lang)} ({subtitle(report, lang)})"]
    for n, cells in enumerate([head, *body]):
        lines.append(
            "  ".join(_pad(t, w, r) for t, w, r in zip(cells, widths, right, strict=True)).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not body:
        lines.append(EMPTY[lang])
    if report.omitted:
        lines.append(OMITTED[lang].format(n=report.omitted))
    for note in report.notes:
        label = note.zh if lang == "zh" else note.en
        lines.append(f"{label}: {for_people(note.value, note.column, lang)}")
    return "\n".join(lines) + "\n"


def render(reports: Sequence[Report], lang: str) -> str:
    return "\n".join(render_one(report, lang) for report in reports)
