"""The purchases that count as of an instant, totalled per buyer by the database.

The definitions stay in ``domain.retention``: this module only has the store select the
rows ``purchases_as_of`` would keep (approved at or before T, not cancelled at or before
T) and group them by customer, and turns each group into what the domain's
``*_of_buyers`` functions take. A book of 70,000 purchases then crosses into Python as
about 15,000 buyer rows instead of 70,000 validated ``Purchase`` values.

``customer_purchases`` holds each order once (its primary key is ``order_id``), so the
duplicate check of ``purchases_as_of`` has nothing to find here. On SQLite, timestamps are
fixed-width UTC text (``Dialect.to_db``), so comparing and taking min/max of the text is
comparing the instants, and its first seven characters are the UTC month.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from typing import Any, TypeVar
from uuid import UUID

from adapters.event_store import EventStore
from adapters.sql import Dialect, dialect_of, execute, read_transaction
from domain.retention import EXACT_DIGITS, BuyerTotals, month_index
from projections.purchases import PURCHASES
from projections.schema import ColumnType

T = TypeVar("T")

TOTALS = (
    "customer_id, min(approved_at) AS first_at, max(approved_at) AS last_at, "
    "count(*) AS frequency, "
)
# What is selected per buyer, by name and dialect. SQL SUM over SQLite's TEXT decimals
# would add binary floats: there a buyer's totals come back as one comma-separated text
# and are added as Decimals in Python. Months are each purchase's UTC month as 'YYYY-MM',
# repeats included: a set in Python drops them more cheaply than DISTINCT, which makes
# both databases sort each buyer's months.
PER_BUYER: dict[str, str] = {
    "totals sqlite": TOTALS + "group_concat(total, ',') AS monetary",
    "totals postgres": TOTALS + "sum(total) AS monetary",
    "months sqlite": "group_concat(substr(approved_at, 1, 7)) AS months",
    "months postgres": "string_agg(to_char(approved_at AT TIME ZONE 'UTC', 'YYYY-MM'), ',') "
    "AS months",
    "repeat sqlite": "count(*) AS frequency",
    "repeat postgres": "count(*) AS frequency",
}
# What is then selected over all buyers, for the figures that are one row.
OVER_BUYERS: dict[str, str] = {
    "repeat": "count(*) AS buyers, "
    "coalesce(sum(CASE WHEN frequency >= 2 THEN 1 ELSE 0 END), 0) AS repeat_buyers",
}


@dataclass(frozen=True)
class CountedPurchases:
    """Which rows of ``customer_purchases`` count: as of ``at``, optionally in one
    currency and approved at or after ``since`` (an RFM window's first instant)."""

    store: EventStore
    at: datetime
    currency: str | None = None
    since: datetime | None = None

    @property
    def dialect(self) -> Dialect:
        return dialect_of(self.store)

    def grouped(self, what: str, convert: Callable[[Any], T]) -> list[T]:
        """``convert`` of each buyer's row of ``PER_BUYER[what]``. Rows are converted as
        they are read, so that each driver row is freed at once instead of living on (and
        being scanned by the cyclic GC) until the last."""
        statement, params = self._statement(what)
        with read_transaction(self.store) as cursor:
            execute(cursor, self.dialect, statement, params)
            return [convert(row) for row in iter(cursor.fetchone, None)]

    def over_buyers(self, what: str) -> Any:
        """The one row of ``OVER_BUYERS[what]`` over the buyers' rows of ``PER_BUYER``."""
        statement, params = self._statement(what)
        with read_transaction(self.store) as cursor:
            execute(cursor, self.dialect, statement, params)
            return cursor.fetchone()

    def _statement(self, what: str) -> tuple[str, list[Any]]:
        d = self.dialect
        columns = PER_BUYER[f"{what} {d.kind}"]
        at = d.to_db(ColumnType.TIMESTAMP, self.at)
        condition = (
            f"approved_at <= {d.param} AND (cancelled_at IS NULL OR cancelled_at > {d.param})"
        )
        params: list[Any] = [at, at]
        if self.currency is not None:
            condition += f" AND currency = {d.param}"
            params.append(self.currency)
        if self.since is not None:
            condition += f" AND approved_at >= {d.param}"
            params.append(d.to_db(ColumnType.TIMESTAMP, self.since))
        grouped = (
            f"SELECT {columns} FROM {d.table(PURCHASES.name)} "  # noqa: S608 # nosec B608 # fixed text, a quoted table name, placeholders
            f"WHERE {condition} GROUP BY customer_id"
        )
        statement = (
            f"SELECT {OVER_BUYERS[what]} FROM ({grouped}) AS per_buyer"  # noqa: S608 # nosec B608 # fixed text
            if what in OVER_BUYERS
            else grouped
        )
        return statement, params


def buyer_totals(counted: CountedPurchases) -> list[BuyerTotals]:
    """Each buyer's first and last purchase, number of purchases and their sum."""
    if counted.dialect.kind == "postgres":
        return counted.grouped("totals", _postgres_totals)
    with localcontext(prec=EXACT_DIGITS):
        return counted.grouped("totals", _sqlite_totals)


def _postgres_totals(row: Any) -> BuyerTotals:
    return BuyerTotals(
        row["customer_id"],
        row["first_at"].astimezone(UTC),  # in the session's time zone until now
        row["last_at"].astimezone(UTC),
        row["frequency"],
        row["monetary"],
    )


def _sqlite_totals(row: Any) -> BuyerTotals:
    return BuyerTotals(
        UUID(row["customer_id"]),
        datetime.fromisoformat(row["first_at"]),  # the text ends in +00:00: UTC instants
        datetime.fromisoformat(row["last_at"]),
        row["frequency"],
        sum(map(Decimal, row["monetary"].split(",")), Decimal(0)),
    )


def buyer_months(counted: CountedPurchases) -> list[set[int]]:
    """Each buyer's months (``month_index``, UTC) with at least one purchase."""
    indexes: dict[str, int] = {}  # a book spans a few dozen months: parse each once

    def index(month: str) -> int:
        found = indexes.get(month)
        if found is None:
            found = indexes[month] = month_index(date(int(month[:4]), int(month[5:7]), 1))
        return found

    return counted.grouped(
        "months", lambda row: {index(month) for month in row["months"].split(",")}
    )


def repeat_counts(counted: CountedPurchases) -> tuple[int, int]:
    """How many buyers, and how many of them with at least two purchases."""
    row = counted.over_buyers("repeat")
    return int(row["buyers"]), int(row["repeat_buyers"])
