"""The fast paths of the retention queries give exactly the reference answers.

``crm.read_models.rfm / abc / pareto / cohorts / repeat_purchase_rate`` have the database
select and group the purchases that count (``application.purchase_totals``) and the
domain decide from buyer totals with integer arithmetic; ``domain.retention``'s functions
over ``Purchase`` values are the reference. Here both answer the same random books,
boundaries included (an order approved or cancelled exactly at T, midnight UTC, ties,
zero totals, two currencies, an ``as_of`` given in another time zone). No timing: that is
``bench/queries.py``'s job.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sql import (
    dialect_of,
    execute,
    executemany,
    query,
    read_transaction,
    write_transaction,
)
from application import CRM
from domain import retention
from domain.retention import Purchase
from projections.purchases import PURCHASES

START = datetime(2024, 1, 1, tzinfo=UTC)
T = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))
COVERING_INDEX = "ix_customer_purchases_customer_id_approved_at_cancelled_at_curr"


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _book(seed: int) -> list[dict[str, Any]]:
    """About 60 customers' purchases, with the instants and amounts where a careless fast
    path would differ: exactly at T, at midnight UTC, equal totals and first purchases."""
    rng = random.Random(seed)
    instants = [
        T,
        T - timedelta(microseconds=1),
        T + timedelta(microseconds=1),
        datetime(2025, 6, 30, tzinfo=UTC),  # T's UTC midnight: a window's edge
        datetime(2025, 6, 1, tzinfo=UTC) - timedelta(microseconds=1),  # a month's edge
        datetime(2025, 6, 29, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 12, 31, 16, 30, tzinfo=UTC),  # 2025-01-01 in Shanghai, 2024 in UTC
    ]
    amounts = [Decimal("0"), Decimal("100"), Decimal("100.00"), Decimal("12.5"), Decimal("999")]
    rows = []
    for _ in range(60):
        customer = _uuid(rng)
        currency = "USD" if rng.random() < 0.2 else "CNY"
        for _ in range(rng.choice((1, 1, 2, 3, 6))):
            if rng.random() < 0.3:
                approved = rng.choice(instants)
            else:
                approved = START + timedelta(seconds=rng.randrange(700 * 86400))
            total = (
                rng.choice(amounts)
                if rng.random() < 0.4
                else Decimal(rng.randrange(1, 10**7)).scaleb(-2)
            )
            cancelled = None
            if rng.random() < 0.15:
                cancelled = rng.choice(
                    (T, approved - timedelta(days=1), approved + timedelta(days=rng.randint(0, 40)))
                )
            rows.append(
                {
                    "order_id": _uuid(rng),
                    "customer_id": customer,
                    "approved_at": approved,
                    "total": total,
                    "margin": None,
                    "currency": currency,
                    "cancelled_at": cancelled,
                    "source": "OrderImported",
                }
            )
    return rows


def _fill(crm: CRM, rows: list[dict[str, Any]]) -> None:
    crm.read_models.runner  # noqa: B018 - the runner makes the tables
    d = dialect_of(crm.store)
    names = ", ".join(PURCHASES.column_names)
    marks = ", ".join([d.param] * len(PURCHASES.columns))
    with write_transaction(crm.store) as cursor:
        executemany(
            cursor,
            d,
            f"INSERT INTO {d.table(PURCHASES.name)} ({names}) VALUES ({marks})",
            [[d.to_db(c.type, row[c.name]) for c in PURCHASES.columns] for row in rows],
        )


def _instants() -> Iterator[datetime]:
    yield T
    yield T - timedelta(microseconds=1)
    yield T.astimezone(SHANGHAI)
    yield datetime(2025, 1, 1, 3, 0, tzinfo=SHANGHAI)  # still 2024 in UTC
    yield START - timedelta(days=1)  # before any purchase
    yield datetime(2027, 1, 1, tzinfo=UTC)  # after every purchase and cancellation


def _json(value: Any) -> Any:
    """Compared as JSON too, so that ``Decimal('100')`` and ``Decimal('100.00')`` differ."""
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value.model_dump(mode="json")


@pytest.mark.parametrize("seed", [1, 2])
def test_the_grouped_queries_answer_what_the_reference_functions_answer(
    store_url: str, seed: int
) -> None:
    with CRM.open(store_url) as crm:
        _fill(crm, _book(seed))
        models = crm.read_models
        every = models.purchases()
        checked = 0
        for at in _instants():
            for currency in ("CNY", "USD"):
                mine = retention.in_currency(every, currency)
                for window in (None, 1, 30, 400):
                    fast = models.rfm(as_of=at, currency=currency, window_days=window)
                    reference = retention.rfm(mine, at, window_days=window)
                    assert _json(fast) == _json(reference), (at, currency, window)
                    checked += len(fast)
                fast_abc = models.abc(as_of=at, currency=currency)
                assert _json(fast_abc) == _json(retention.abc(mine, at)), (at, currency)
                fast_pareto = models.pareto(as_of=at, currency=currency)
                assert _json(fast_pareto) == _json(retention.pareto_check(mine, at))
            assert _json(models.cohorts(as_of=at)) == _json(retention.cohort_matrix(every, at))
            assert models.repeat_purchase_rate(as_of=at) == retention.repeat_purchase_rate(
                every, at
            )
            assert str(models.repeat_purchase_rate(as_of=at)) == str(
                retention.repeat_purchase_rate(every, at)
            )
    assert checked > 200  # the books are not empty where they are asked about


def test_an_rfm_window_below_one_day_is_refused_on_the_fast_path_too(crm: CRM) -> None:
    with pytest.raises(ValueError, match="window_days must be at least 1"):
        crm.read_models.rfm(as_of=T, window_days=0)


def test_a_missing_index_is_created_when_an_existing_store_opens(store_url: str) -> None:
    """Stores made before the covering index was declared get it from the runner."""
    with CRM.open(store_url) as crm:
        crm.read_models.runner  # noqa: B018 - the runner makes the tables
        d = dialect_of(crm.store)
        with write_transaction(crm.store) as cursor:
            name = d.quote(COVERING_INDEX)
            if d.kind == "postgres":
                name = f"{d.quote(d.schema)}.{name}"
            execute(cursor, d, f"DROP INDEX {name}")
        assert COVERING_INDEX not in _indexes(crm)
    with CRM.open(store_url) as crm:
        crm.read_models.runner  # noqa: B018
        assert COVERING_INDEX in _indexes(crm)


def _indexes(crm: CRM) -> set[str]:
    d = dialect_of(crm.store)
    if d.kind == "sqlite":
        statement = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        params: list[str] = [PURCHASES.name]
    else:
        statement = (
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = %s AND tablename = %s"
        )
        params = [d.schema, PURCHASES.name]
    with read_transaction(crm.store) as cursor:
        return {row["name"] for row in query(cursor, d, statement, params)}


# ---- the integer arithmetic of shares against Fractions ----------------------------------

amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)


def _purchases(totals: list[Decimal], customers: int) -> list[Purchase]:
    ids = [UUID(int=n + 1) for n in range(customers)]
    return [
        Purchase(
            order_id=UUID(int=10**6 + n),
            customer_id=ids[n % customers],
            approved_at=START + timedelta(days=n % 37),
            total=total,
            currency="CNY",
        )
        for n, total in enumerate(totals)
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(amounts, min_size=1, max_size=40), st.integers(min_value=1, max_value=12))
def test_abc_and_pareto_shares_equal_the_fraction_arithmetic(
    totals: list[Decimal], customers: int
) -> None:
    purchases = _purchases(totals, customers)
    rows = retention.abc(purchases, T)
    whole = sum((row.monetary for row in rows), Decimal(0))
    above = Decimal(0)
    for row in rows:
        share_above = Fraction(above) / Fraction(whole) if whole else Fraction(0)
        above += row.monetary
        cumulative = Fraction(above) / Fraction(whole) if whole else Fraction(0)
        assert row.share_above == retention.display_rate(share_above)
        assert row.cumulative_share == retention.display_rate(cumulative)
        assert row.abc_class is retention.abc_class_for(share_above)
    check = retention.pareto_check(purchases, T)
    top = Fraction(check.top_revenue) / Fraction(whole) if whole else Fraction(0)
    assert check.top_share == retention.display_rate(top)
    assert check.holds is (bool(whole) and top >= Fraction(80, 100))


def test_shares_exactly_on_a_class_boundary_and_on_a_rounding_half() -> None:
    # 80 + 15 + 5 = 100: the second buyer has exactly 80 % above it (B, not A), the third
    # exactly 95 % (C, not B).
    rows = retention.abc(_purchases([Decimal(80), Decimal(15), Decimal(5)], 3), T)
    assert [(r.share_above, r.abc_class.value) for r in rows] == [
        (Decimal("0.0000"), "A"),
        (Decimal("0.8000"), "B"),
        (Decimal("0.9500"), "C"),
    ]
    # 1 of 20,000 is 0.00005: half a unit of the 4th place, rounded up to 0.0001.
    assert retention.repeat_purchase_rate_of(20000, 1) == Decimal("0.0001")
    # 19,999 of 20,000 above the second buyer is 0.99995: it reads 1.0000, and is C.
    rows = retention.abc(_purchases([Decimal(19999), Decimal(1)], 2), T)
    assert (rows[1].share_above, rows[1].abc_class.value) == (Decimal("1.0000"), "C")
    assert retention.repeat_purchase_rate_of(0, 0) == Decimal("0.0000")


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_repeat_rate_rounds_like_display_rate(repeat: int, buyers: int) -> None:
    repeat = min(repeat, buyers)
    assert retention.repeat_purchase_rate_of(buyers, repeat) == retention.display_rate(
        Fraction(repeat, buyers)
    )
