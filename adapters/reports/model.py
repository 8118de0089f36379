"""A report as plain data: a title, typed columns and rows of raw values.

Each report is built once from the read models and handed to a renderer per format, so
a renderer never queries anything and the four formats cannot disagree about a figure.
Cells hold raw values (codes, ``Decimal``, ``datetime``); the column's ``kind`` and
``labels`` say how to show them, so translating to Chinese is a rendering decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    LABEL = "label"  # a vocabulary code, shown through the column's labels
    LABELS = "labels"  # several codes, comma-separated in the cell
    ID = "id"
    INT = "int"
    MONEY = "money"
    NUMBER = "number"  # a Decimal that is not money (a gap, a mean, days)
    RATE = "rate"  # a fraction of 1, shown as a percentage in tables
    DATETIME = "datetime"
    DATE = "date"
    MONTH = "month"
    BOOL = "bool"


@dataclass(frozen=True)
class Column:
    key: str  # stable: the JSON key and the English CSV header
    en: str
    zh: str
    kind: Kind = Kind.TEXT
    labels: Mapping[str, str] = field(default_factory=dict)  # code -> Chinese label


@dataclass(frozen=True)
class Note:
    """A figure about the whole report (the 80/20 check, a recovery rate), shown under the
    table; CSV and JSON carry rows only, so every note is also a report of its own."""

    en: str
    zh: str
    value: object
    kind: Kind = Kind.TEXT
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def column(self) -> Column:
        """Shown exactly as a cell of this kind would be."""
        return Column(self.en, self.en, self.zh, self.kind, self.labels)


@dataclass(frozen=True)
class BarChart:
    label: str  # column key of the bar labels
    value: str  # column key of the bar lengths


@dataclass(frozen=True)
class LineChart:
    x: str
    y: str


@dataclass(frozen=True)
class HeatMap:
    row: str  # column key of the row labels
    cells: tuple[str, ...]  # column keys of the cells, each a rate in [0, 1]


Chart = BarChart | LineChart | HeatMap


@dataclass(frozen=True)
class Report:
    name: str
    en: str
    zh: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[object, ...], ...]
    as_of: str | None = None  # ISO 8601 instant the figures are as of, None: "now"
    notes: tuple[Note, ...] = ()
    charts: tuple[Chart, ...] = ()
    omitted: int = 0  # rows left out by ``head``

    def __post_init__(self) -> None:
        width = len(self.columns)
        for n, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"report {self.name}: row {n} has {len(row)} cells, not {width}")

    def column(self, key: str) -> int:
        for n, column in enumerate(self.columns):
            if column.key == key:
                return n
        raise KeyError(f"report {self.name} has no column {key!r}")

    def values(self, key: str) -> list[object]:
        n = self.column(key)
        return [row[n] for row in self.rows]

    def head(self, limit: int) -> Report:
        """The first ``limit`` rows, remembering how many were left out (for long lists on
        the one-page HTML report)."""
        if len(self.rows) <= limit:
            return self
        return replace(self, rows=self.rows[:limit], omitted=len(self.rows) - limit)


def title(report: Report, lang: str) -> str:
    return report.zh if lang == "zh" else report.en


def header(column: Column, lang: str) -> str:
    return column.zh if lang == "zh" else column.en
