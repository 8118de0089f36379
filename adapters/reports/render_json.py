"""JSON: a list of objects whose keys are the columns' stable English keys in every
language (programs key on them); values exact (see ``cells.for_programs``)."""

from __future__ import annotations

import json

from adapters.reports.cells import for_programs
from adapters.reports.model import Report


def render(report: Report, lang: str) -> str:
    objects = [
        {c.key: for_programs(v, c, lang) for v, c in zip(row, report.columns, strict=True)}
        for row in report.rows
    ]
    return json.dumps(objects, ensure_ascii=False, indent=2) + "\n"
