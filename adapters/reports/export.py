"""``crm export``: a read-model table as CSV, exactly as stored (Decimals as written,
instants in ISO 8601 UTC), streamed so that a large table is never held in memory."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TextIO

from adapters.event_store import EventStore
from adapters.reports.tables import read_rows, table_named


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | Decimal):
        return str(value)
    return str(value)


def export_csv(store: EventStore, name: str, out: TextIO) -> int:
    """Write the table ``name`` (checked against the projections' tables first) and return
    how many rows were written."""
    table = table_named(name)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    count = 0
    for row in read_rows(store, table):
        writer.writerow([_cell(row[c]) for c in table.column_names])
        count += 1
    return count
