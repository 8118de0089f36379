"""UTC discipline: every instant in the domain is timezone-aware UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from domain.errors import RuleViolation

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2200, 12, 31)


def ensure_utc(moment: datetime) -> datetime:
    """Reject naive datetimes instead of guessing their zone: a guess silently shifts history."""
    if moment.tzinfo is UTC:  # already UTC (most calls: every event's timestamps)
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (naive datetimes are ambiguous)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"datetime {moment.isoformat()} is out of range") from None


# What pydantic's lax mode would read as Unix time: 20240101, "20240101", "1.7e9", ...
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
NUMBER_FOR_INSTANT = (
    "a number is not a date and time: write it in ISO 8601 with its offset, "
    "e.g. 2024-05-01T09:30:00+08:00 (Unix time is refused)"
)


def refuse_number_as_date(value: Any) -> Any:
    """For pydantic date fields, before parsing (see ``_is_number``)."""
    if _is_number(value):
        raise ValueError("a number is not a date: write it in ISO 8601, e.g. 2024-05-01")
    return value


def refuse_number_as_instant(value: Any) -> Any:
    """For pydantic datetime fields, before parsing (see ``_is_number``)."""
    if _is_number(value):
        raise ValueError(NUMBER_FOR_INSTANT)
    return value


def _is_number(value: Any) -> bool:
    """Lax pydantic reads a number, or a string of digits, as Unix time: the compact date
    "20240101" of many ERP exports became 1970-08-23 06:15:01 without a word. Seconds or
    milliseconds, local or UTC: a number leaves too much to guess, so date fields refuse
    it. (A bool is left to pydantic, which refuses it naming its type.)"""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | Decimal):
        return True
    return isinstance(value, str | bytes) and _NUMBER.fullmatch(_text(value)) is not None


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def plausible_date(day: date) -> date:
    """For pydantic fields: the same range as ``check_plausible``, as a validation error."""
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE} and {LATEST_DATE}")
    return day


def check_plausible(day: date, *, field: str) -> date:
    """Dates outside 1900-2200 are typing errors, not CRM facts."""
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise RuleViolation(
            "date_out_of_range",
            f"{day.isoformat()} is outside {EARLIEST_DATE.isoformat()}..{LATEST_DATE.isoformat()}",
            field=field,
        )
    return day
