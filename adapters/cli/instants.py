"""Instants typed on the command line, read the same way by every command that asks
"as of when?" (``crm report --as-of``, ``crm audit as-of --at``).

A person who asks for a customer as of 2025-12-31 means that day included: a bare date is
the end of that UTC day. Two commands that read the same words differently would show an
auditor a record without the events a report of the same date counted.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

EXPECTED = "expected a date YYYY-MM-DD or an ISO 8601 instant"
# An instant has a time; something Python reads as one without (2025-12-31Z,
# 2025-12-31+08:00, a week date with an offset) would be that day's start somewhere: the
# other end of the day from the date alone. Refused.
TIME_SEPARATOR = re.compile(r"[Tt ]")
UTC_SUFFIX = re.compile(r"[Zz]$")


def as_of_instant(text: str) -> datetime:
    """A date (also in ISO 8601's basic form, 20251231: read as an instant it would mean
    the start of the day) is the last microsecond of that UTC day; an instant without an
    offset is UTC. Raises ``ValueError`` saying what was expected."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if day == date.max:  # 9999-12-31, the usual "everything" sentinel
            return datetime.max.replace(tzinfo=UTC)
        return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(microseconds=1)
    try:
        instant = datetime.fromisoformat(UTC_SUFFIX.sub("+00:00", text))
    except ValueError:
        raise ValueError(f"{text!r}: {EXPECTED}") from None
    if not TIME_SEPARATOR.search(text):
        raise ValueError(
            f"{text!r}: a date takes no offset; give a time with it, or the date alone"
        )
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    try:
        return instant.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first instant there is
        raise ValueError(f"{text!r}: out of range") from None
