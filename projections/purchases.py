"""``customer_purchases``: the fact table behind retention (DESIGN §2.3, §4).

A purchase is an order that reached ``approved``, dated at its approval, and not later
cancelled; its value is the order total after discounts. Cancelled purchases keep their
row with ``cancelled_at`` set, so that "as of T" questions stay answerable. A merged
duplicate's purchases are its survivor's (``projections.merges``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import ClassVar

from domain.events.base import DomainEvent
from domain.events.customer import CustomersMerged
from domain.events.order import (
    OrderApproved,
    OrderCancelled,
    OrderDrafted,
    OrderImported,
    OrderLine,
    OrderLinesChanged,
    OrderStatus,
)
from domain.values import round_to_minor_unit
from projections.base import Projection, RowStore, ids_of
from projections.merges import Aliases, merged_table, repoint
from projections.retention_views import RETENTION_VIEWS, View
from projections.schema import ColumnType as T
from projections.schema import Table, col

PURCHASES = Table(
    "customer_purchases",
    (
        col("order_id", T.UUID, nullable=False),
        col("customer_id", T.UUID, nullable=False),
        col("approved_at", T.TIMESTAMP, nullable=False),
        col("total", T.DECIMAL, nullable=False),
        col("margin", T.DECIMAL),
        col("currency", T.TEXT, nullable=False),
        col("cancelled_at", T.TIMESTAMP),
        col("source", T.TEXT, nullable=False),
    ),
    primary_key=("order_id",),
    # The retention queries group the purchases that count as of T by customer: with every
    # column they read in one index, SQLite scans the index alone in customer order, and
    # PostgreSQL's grouping by month can too (EXPLAIN; README of bench/). It begins with
    # (customer_id, approved_at), so it also serves what that index did.
    indexes=(("customer_id", "approved_at", "cancelled_at", "currency", "total"), ("approved_at",)),
)
# What the projection must remember about orders not (yet) approved.
ORDERS = Table(
    "customer_purchases__orders",
    (
        col("order_id", T.UUID, nullable=False),
        col("customer_id", T.UUID, nullable=False),
        col("currency", T.TEXT, nullable=False),
        col("margin", T.DECIMAL),
    ),
    primary_key=("order_id",),
    indexes=(("customer_id",),),
)
MERGED = merged_table("customer_purchases")


def margin(lines: Sequence[OrderLine], currency: str) -> Decimal | None:
    """Net revenue minus cost, when every line states its unit cost; else unknown."""
    if any(line.unit_cost is None for line in lines):
        return None
    with localcontext(prec=50):
        cost = sum((line.quantity * (line.unit_cost or Decimal(0)) for line in lines), Decimal(0))
        revenue = sum((line.total(currency) for line in lines), Decimal(0))
    return revenue - round_to_minor_unit(cost, currency)


class CustomerPurchasesProjection(Projection):
    name: ClassVar[str] = "customer_purchases"
    version: ClassVar[int] = 2
    tables: ClassVar[tuple[Table, ...]] = (PURCHASES, ORDERS, MERGED)
    views: ClassVar[tuple[View, ...]] = RETENTION_VIEWS
    aliases: ClassVar[Aliases] = Aliases(MERGED)
    handles = (
        CustomersMerged
        | OrderDrafted
        | OrderLinesChanged
        | OrderApproved
        | OrderCancelled
        | OrderImported
    )
    personal_values: ClassVar[frozenset[str]] = frozenset()  # merges are read for ids only

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        rows.prefetch(ORDERS.name, ids_of(events, (OrderLinesChanged, OrderApproved)))
        rows.prefetch(PURCHASES.name, ids_of(events, OrderCancelled))
        self.aliases.prefetch(
            rows, [e.customer_id for e in events if isinstance(e, OrderDrafted | OrderImported)]
        )
        for event in events:
            if isinstance(event, CustomersMerged) and event.on_survivor:
                self._merged(event, rows)
            elif isinstance(event, OrderDrafted):
                rows.upsert(
                    ORDERS.name,
                    {
                        "order_id": event.aggregate_id,
                        "customer_id": self.aliases.resolve(rows, event.customer_id),
                        "currency": event.currency,
                        "margin": margin(event.lines, event.currency),
                    },
                )
            elif isinstance(event, OrderLinesChanged):
                order = rows.get(ORDERS.name, {"order_id": event.aggregate_id})
                if order is not None:
                    order["margin"] = margin(event.lines, order["currency"])
                    rows.upsert(ORDERS.name, order)
            elif isinstance(event, OrderApproved):
                order = rows.get(ORDERS.name, {"order_id": event.aggregate_id})
                if order is not None:
                    rows.upsert(
                        PURCHASES.name,
                        {
                            "order_id": event.aggregate_id,
                            "customer_id": order["customer_id"],
                            "approved_at": event.occurred_at,
                            "total": event.total.amount,
                            "margin": order["margin"],
                            "currency": event.total.currency,
                            "cancelled_at": None,
                            "source": "OrderApproved",
                        },
                    )
            elif isinstance(event, OrderCancelled):
                purchase = rows.get(PURCHASES.name, {"order_id": event.aggregate_id})
                if purchase is not None:
                    purchase["cancelled_at"] = event.occurred_at
                    rows.upsert(PURCHASES.name, purchase)
            elif isinstance(event, OrderImported):
                rows.upsert(
                    PURCHASES.name,
                    {
                        "order_id": event.aggregate_id,
                        "customer_id": self.aliases.resolve(rows, event.customer_id),
                        "approved_at": event.approved_at,
                        "total": event.total.amount,
                        "margin": margin(event.lines, event.currency),
                        "currency": event.currency,
                        "cancelled_at": event.cancelled_at
                        if event.status is OrderStatus.CANCELLED
                        else None,
                        "source": "OrderImported",
                    },
                )

    def _merged(self, merge: CustomersMerged, rows: RowStore) -> None:
        """The duplicate's purchases, and its orders not yet approved, are the survivor's."""
        survivor = self.aliases.record(rows, merge)
        for table in (PURCHASES, ORDERS):
            repoint(rows, table, "customer_id", merge.duplicate_id, survivor)
