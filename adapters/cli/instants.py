"""Instants typed on the command line, read the same way by every command that asks
"as of when?" (``crm report --as-of``, ``crm audit as-of --at``).

A person who asks for a customer as of 2025-12-31 means that day included: a bare date is
the end of that UTC day. Two commands that read the same words differently would show an
auditor a record without the events a report of the same date counted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

EXPECTED = "expected a date YYYY-MM-DD or an ISO 8601 instant"


def as_of_instant(text: str) -> datetime:
    """A date (also in ISO 8601's basic form, 20251231: read as an instant it would mean
    the start of the day) is the last microsecond of that UTC day; an instant without an
    offset is UTC. Raises ``ValueError`` saying what was expected."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(microseconds=1)
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r}: {EXPECTED}") from None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
