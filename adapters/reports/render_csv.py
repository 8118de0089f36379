"""CSV for spreadsheets and scripts: one header row (the stable keys in English, the
Chinese headers with ``--lang zh``), then exact values (see ``cells.for_csv``)."""

from __future__ import annotations

import csv
import io

from adapters.reports.cells import for_csv
from adapters.reports.model import Report


def render(report: Report, lang: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.zh if lang == "zh" else c.key for c in report.columns])
    for row in report.rows:
        writer.writerow([for_csv(v, c, lang) for v, c in zip(row, report.columns, strict=True)])
    return out.getvalue()
