"""UTC discipline: every instant in the domain is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime

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
