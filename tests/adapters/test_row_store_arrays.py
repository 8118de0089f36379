"""Set-based upserts (PostgreSQL: each column sent as one typed array, typed by its first
item) keep what a projection wrote, whatever number type it used in a numeric column."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

from adapters.projection_runner import ProjectionRunner
from adapters.row_store import SET_BASED_FROM, CursorRowStore
from adapters.sql import dialect_of, read_transaction, write_transaction
from application import CRM
from projections.purchases import PURCHASES, CustomerPurchasesProjection

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def purchase(n: int) -> dict[str, object]:
    return {
        "order_id": uuid4(),
        "customer_id": uuid4(),
        "approved_at": NOW,
        # the first row's total an int: the array must still be all Decimal
        "total": n if n % 3 == 0 else Decimal(f"{n}.25"),
        "margin": None if n % 2 else Decimal("1.50"),
        "currency": "CNY",
        "cancelled_at": None,
        "source": "OrderApproved",
    }


def test_many_rows_written_in_one_statement_read_back_as_written(crm: CRM) -> None:
    ProjectionRunner(crm.store, [CustomerPurchasesProjection()])  # makes the table
    written = [purchase(n) for n in range(3 * SET_BASED_FROM)]
    dialect = dialect_of(crm.store)
    with write_transaction(crm.store) as cursor:
        rows = CursorRowStore(
            cursor, dialect, {PURCHASES.name: PURCHASES}, {PURCHASES.name: PURCHASES.name}
        )
        for row in written:
            rows.upsert(PURCHASES.name, row)
        rows.flush()
    with read_transaction(crm.store) as cursor:
        rows = CursorRowStore(
            cursor, dialect, {PURCHASES.name: PURCHASES}, {PURCHASES.name: PURCHASES.name}
        )
        stored = {r["order_id"]: r for r in rows.select(PURCHASES.name, {"currency": "CNY"})}

    assert len(stored) == len(written)
    for row in written:
        back = stored[row["order_id"]]
        assert back["total"] == Decimal(str(row["total"]))
        assert back["margin"] == row["margin"]
