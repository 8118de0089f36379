"""How one cell reads: for people (tables, HTML) and for programs (CSV, JSON).

People get thousands separators, percentages and Chinese labels; programs get exact
values: Decimals as strings (never floats), instants in ISO 8601 UTC, rates as fractions
of 1, codes in English unless Chinese was asked for.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from adapters.reports.model import Column, Kind

YES_NO = {"en": ("yes", "no"), "zh": ("是", "否")}
MISSING = "-"


def _label(code: str, column: Column, lang: str) -> str:
    return column.labels.get(code, code) if lang == "zh" else code


def _codes(value: object) -> list[str]:
    if isinstance(value, str):
        return [c for c in value.split(",") if c]
    return [str(c) for c in value] if isinstance(value, tuple | list) else [str(value)]


def _instant(value: datetime) -> datetime:
    return value.astimezone(UTC)


def for_people(value: object, column: Column, lang: str) -> str:
    if value is None:
        return MISSING
    kind = column.kind
    if kind is Kind.LABEL:
        return _label(str(value), column, lang)
    if kind is Kind.LABELS:
        separator = "、" if lang == "zh" else ", "
        return separator.join(_label(c, column, lang) for c in _codes(value)) or MISSING
    if kind is Kind.BOOL:
        yes, no = YES_NO["zh" if lang == "zh" else "en"]
        return yes if value else no
    if kind is Kind.MONEY and isinstance(value, Decimal | int):
        return f"{value:,.2f}"
    if kind is Kind.RATE and isinstance(value, Decimal | int):
        return f"{Decimal(value) * 100:.1f} %"
    if kind is Kind.NUMBER and isinstance(value, Decimal | int):
        return f"{value:,}"
    if kind is Kind.INT and isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return _instant(value).strftime("%Y-%m-%d %H:%M")
    if kind is Kind.MONTH and isinstance(value, date):
        return value.strftime("%Y-%m")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def for_programs(value: object, column: Column, lang: str) -> object:
    """A JSON-ready value: str, int, bool, None or a list of str."""
    if value is None:
        return None
    kind = column.kind
    if kind is Kind.LABEL:
        return _label(str(value), column, lang)
    if kind is Kind.LABELS:
        return [_label(c, column, lang) for c in _codes(value)]
    if isinstance(value, bool | int) and kind in (Kind.BOOL, Kind.INT):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _instant(value).isoformat().replace("+00:00", "Z")
    if kind is Kind.MONTH and isinstance(value, date):
        return value.strftime("%Y-%m")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def for_csv(value: object, column: Column, lang: str) -> str:
    data = for_programs(value, column, lang)
    if data is None:
        return ""
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, list):
        return ";".join(data)
    return str(data)
