"""The PostgreSQL retention views give exactly the library's figures (DESIGN §4)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.sql import dialect_of, query, read_transaction
from application import CRM
from application.commands import ImportOrder, OrderLine
from tests.application.builders import ADMIN, register


def _history(crm: CRM) -> None:
    rng = random.Random(11)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(30):
        customer = register(crm, name=f"Buyer {n}")
        for _ in range(rng.choice((1, 1, 2, 3, 5))):
            approved = start + timedelta(days=rng.randint(0, 700), seconds=rng.randint(0, 86399))
            status = "cancelled" if rng.random() < 0.1 else "approved"
            crm.execute(
                ImportOrder(
                    customer_id=customer,
                    lines=[OrderLine(sku="S", name="S", quantity=rng.randint(1, 9),
                                     unit_price=Decimal(rng.choice((100, 250, 999))))],
                    currency="CNY",
                    status=status,
                    approved_at=approved,
                    cancelled_at=approved + timedelta(days=3) if status == "cancelled" else None,
                    import_batch_id="views",
                ),
                actor=ADMIN,
            )  # fmt: skip


def _view(crm: CRM, name: str, order: str) -> tuple[datetime, list[dict[str, Any]]]:
    d = dialect_of(crm.store)
    with read_transaction(crm.store) as cursor:
        now = query(cursor, d, "SELECT now() AS now")[0]["now"]
        rows = query(cursor, d, f"SELECT * FROM {d.table(name)} ORDER BY {order}")
    return now, rows


def test_the_retention_views_equal_the_library(postgres_url: str) -> None:
    with CRM.open(postgres_url) as crm:
        _history(crm)
        crm.read_models.catch_up()
        now, rfm_rows = _view(crm, "retention_rfm", "customer_id")
        _, abc_rows = _view(crm, "retention_abc", "rank")
        _, cohort_rows = _view(crm, "retention_cohorts", "cohort, month_offset")
        _, (repeat,) = _view(crm, "retention_repeat_rate", "buyers")
        rfm = crm.read_models.rfm(as_of=now)
        abc = crm.read_models.abc(as_of=now)
        cohorts = crm.read_models.cohorts(as_of=now)
        repeat_rate = crm.read_models.repeat_purchase_rate(as_of=now)

    assert len(rfm) > 20
    columns = ("customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score")
    assert [(*tuple(r[c] for c in columns), r["m_score"], r["segment"]) for r in rfm_rows] == [
        (*tuple(getattr(r, c) for c in columns), r.m_score, r.segment.value) for r in rfm
    ]
    assert [(r["customer_id"], r["share_above"], r["abc_class"]) for r in abc_rows] == [
        (r.customer_id, r.share_above, r.abc_class.value) for r in abc
    ]
    assert [
        (r["cohort"], r["size"], r["month_offset"], r["active"], r["rate"]) for r in cohort_rows
    ] == [
        (row.cohort, row.size, k, active, rate)
        for row in cohorts.rows
        for k, (active, rate) in enumerate(zip(row.active, row.rates, strict=True))
    ]
    assert repeat["repeat_purchase_rate"] == repeat_rate > 0
