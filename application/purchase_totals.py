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

# SQL SUM over SQLite's TEXT decimals would add binary floats: there the totals of a
# buyer come back as one comma-separated text and are added as Decimals in Python.
SQLITE_MONETARY = "group_concat(total, ',')"
POSTGRES_MONETARY = "sum(total)"
# Each purchase's UTC month as 'YYYY-MM', repeats included: a set in Python drops them more
# cheaply than DISTINCT, which makes both databases sort each buyer's months.
SQLITE_MONTHS = "group_concat(substr(approved_at, 1, 7))"
POSTGRES_MONTHS = "string_agg(to_char(approved_at AT TIME ZONE 'UTC', 'YYYY-MM'), ',')"


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

    def where(self) -> tuple[str, list[Any]]:
        d = self.dialect
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
        return condition, params

    def grouped(self, columns: str, convert: Callable[[Any], T]) -> list[T]:
        """``convert`` of each row of ``SELECT columns ... GROUP BY customer_id`` over the
        counted rows. Rows are converted as they are read, so that each driver row is freed
        at once instead of living on (and being scanned by the cyclic GC) until the last."""
        statement, params = self._grouped(columns)
        with read_transaction(self.store) as cursor:
            execute(cursor, self.dialect, statement, params)
            return [convert(row) for row in iter(cursor.fetchone, None)]

    def over_buyers(self, columns: str, per_buyer: str) -> Any:
        """The one row of ``SELECT columns FROM (SELECT per_buyer ... GROUP BY customer_id)``."""
        inner, params = self._grouped(per_buyer)
        statement = f"SELECT {columns} FROM ({inner}) AS per_buyer"  # noqa: S608 # nosec B608 # fixed text
        with read_transaction(self.store) as cursor:
            execute(cursor, self.dialect, statement, params)
            return cursor.fetchone()

    def _grouped(self, columns: str) -> tuple[str, list[Any]]:
        d = self.dialect
        condition, params = self.where()
        statement = (
            f"SELECT {columns} FROM {d.table(PURCHASES.name)} "  # noqa: S608 # nosec B608 # fixed column text, a quoted table name, placeholders
            f"WHERE {condition} GROUP BY customer_id"
        )
        return statement, params


TOTALS = (
    "customer_id, min(approved_at) AS first_at, max(approved_at) AS last_at, "
    "count(*) AS frequency, {monetary} AS monetary"
)


def buyer_totals(counted: CountedPurchases) -> list[BuyerTotals]:
    """Each buyer's first and last purchase, number of purchases and their sum."""
    if counted.dialect.kind == "postgres":
        return counted.grouped(TOTALS.format(monetary=POSTGRES_MONETARY), _postgres_totals)
    with localcontext(prec=EXACT_DIGITS):
        return counted.grouped(TOTALS.format(monetary=SQLITE_MONETARY), _sqlite_totals)


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
    months = SQLITE_MONTHS if counted.dialect.kind == "sqlite" else POSTGRES_MONTHS
    indexes: dict[str, int] = {}  # a book spans a few dozen months: parse each once

    def index(month: str) -> int:
        found = indexes.get(month)
        if found is None:
            found = indexes[month] = month_index(date(int(month[:4]), int(month[5:7]), 1))
        return found

    return counted.grouped(
        f"{months} AS months", lambda row: {index(month) for month in row["months"].split(",")}
    )


def repeat_counts(counted: CountedPurchases) -> tuple[int, int]:
    """How many buyers, and how many of them with at least two purchases."""
    row = counted.over_buyers(
        "count(*) AS buyers, "
        "coalesce(sum(CASE WHEN frequency >= 2 THEN 1 ELSE 0 END), 0) AS repeat_buyers",
        "count(*) AS frequency",
    )
    return int(row["buyers"]), int(row["repeat_buyers"])
