"""``order_approvals``: one row per approval node of each submission round — the pending
queue by node and role, and how long each decision took (审批流程). A merged duplicate's
orders are its survivor's (``projections.merges``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from domain.events.base import DomainEvent
from domain.events.customer import CustomersMerged
from domain.events.order import (
    OrderApprovalStepApproved,
    OrderCancelled,
    OrderDrafted,
    OrderRejected,
    OrderSubmittedForApproval,
)
from projections.base import Projection, Row, RowStore, ids_of
from projections.merges import Aliases, merged_table, repoint
from projections.schema import ColumnType as T
from projections.schema import Table, col

APPROVALS = Table(
    "order_approvals",
    (
        col("order_id", T.UUID, nullable=False),
        col("round", T.INTEGER, nullable=False),
        col("step", T.INTEGER, nullable=False),
        col("node", T.TEXT, nullable=False),
        col("role", T.TEXT, nullable=False),
        col("customer_id", T.UUID, nullable=False),
        col("total", T.DECIMAL, nullable=False),
        col("currency", T.TEXT, nullable=False),
        col("policy_version", T.TEXT, nullable=False),
        col("reasons", T.TEXT, nullable=False),
        col("submitted_by", T.TEXT, nullable=False),
        col("submitted_at", T.TIMESTAMP, nullable=False),
        # waiting: an earlier node must decide first; pending: in this node's queue;
        # approved / rejected: decided; withdrawn: the order was cancelled or rejected earlier
        col("status", T.TEXT, nullable=False),
        col("waiting_since", T.TIMESTAMP),
        col("decided_by", T.TEXT),
        col("decided_at", T.TIMESTAMP),
        col("seconds_to_decide", T.INTEGER),
        col("comment", T.TEXT),
    ),
    primary_key=("order_id", "round", "step"),
    indexes=(("status", "node"), ("customer_id",)),
)
ORDERS = Table(
    "order_approvals__orders",
    (
        col("order_id", T.UUID, nullable=False),
        col("customer_id", T.UUID, nullable=False),
        col("round", T.INTEGER, nullable=False),
        col("steps", T.INTEGER, nullable=False),
        col("current_step", T.INTEGER, nullable=False),
    ),
    primary_key=("order_id",),
    indexes=(("customer_id",),),
)
MERGED = merged_table("order_approvals")


DECISIONS = (OrderApprovalStepApproved, OrderRejected)


class OrderApprovalsProjection(Projection):
    name: ClassVar[str] = "order_approvals"
    version: ClassVar[int] = 2
    tables: ClassVar[tuple[Table, ...]] = (APPROVALS, ORDERS, MERGED)
    handles = (
        CustomersMerged
        | OrderDrafted
        | OrderSubmittedForApproval
        | OrderApprovalStepApproved
        | OrderRejected
        | OrderCancelled
    )
    personal_values: ClassVar[frozenset[str]] = frozenset()  # merges are read for ids only
    aliases: ClassVar[Aliases] = Aliases(MERGED)

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        deciding = ids_of(events, (OrderSubmittedForApproval, *DECISIONS, OrderCancelled))
        rows.prefetch(ORDERS.name, deciding)
        rows.prefetch(APPROVALS.name, deciding)
        self.aliases.prefetch(rows, [e.customer_id for e in events if isinstance(e, OrderDrafted)])
        for event in events:
            if isinstance(event, CustomersMerged) and event.on_survivor:
                survivor = self.aliases.record(rows, event)
                for table in (ORDERS, APPROVALS):
                    repoint(rows, table, "customer_id", event.duplicate_id, survivor)
                continue
            if not isinstance(
                event, (OrderDrafted, OrderSubmittedForApproval, *DECISIONS, OrderCancelled)
            ):
                continue
            if isinstance(event, OrderDrafted):
                rows.upsert(
                    ORDERS.name,
                    {
                        "order_id": event.aggregate_id,
                        "customer_id": self.aliases.resolve(rows, event.customer_id),
                        "round": 0,
                        "steps": 0,
                        "current_step": 0,
                    },
                )
                continue
            order = rows.get(ORDERS.name, {"order_id": event.aggregate_id})
            if order is None:
                continue  # imported orders never went through approval here
            if isinstance(event, OrderSubmittedForApproval):
                order.update(round=order["round"] + 1, steps=len(event.route), current_step=1)
                for step, node in enumerate(event.route, start=1):
                    rows.upsert(
                        APPROVALS.name,
                        {
                            "order_id": event.aggregate_id,
                            "round": order["round"],
                            "step": step,
                            "node": node.value,
                            "role": node.role,
                            "customer_id": order["customer_id"],
                            "total": event.total.amount,
                            "currency": event.total.currency,
                            "policy_version": event.policy_version,
                            "reasons": "; ".join(event.reasons),
                            "submitted_by": event.submitted_by,
                            "submitted_at": event.occurred_at,
                            "status": "pending" if step == 1 else "waiting",
                            "waiting_since": event.occurred_at if step == 1 else None,
                            "decided_by": None,
                            "decided_at": None,
                            "seconds_to_decide": None,
                            "comment": None,
                        },
                    )
                rows.upsert(ORDERS.name, order)
            elif isinstance(event, OrderApprovalStepApproved | OrderRejected):
                current = self._step(rows, order, order["current_step"])
                if current is None:
                    continue
                approved = isinstance(event, OrderApprovalStepApproved)
                current.update(
                    status="approved" if approved else "rejected",
                    decided_by=event.approver_id,
                    decided_at=event.occurred_at,
                    seconds_to_decide=int(
                        (event.occurred_at - current["waiting_since"]).total_seconds()
                    ),
                    comment=event.comment
                    if isinstance(event, OrderApprovalStepApproved)
                    else event.reason,
                )
                rows.upsert(APPROVALS.name, current)
                if approved and order["current_step"] < order["steps"]:
                    order["current_step"] += 1
                    following = self._step(rows, order, order["current_step"])
                    if following is not None:
                        following.update(status="pending", waiting_since=event.occurred_at)
                        rows.upsert(APPROVALS.name, following)
                else:
                    self._withdraw_rest(rows, order, from_step=order["current_step"] + 1)
                    order["current_step"] = order["steps"] + 1
                rows.upsert(ORDERS.name, order)
            elif isinstance(event, OrderCancelled):
                self._withdraw_rest(rows, order, from_step=order["current_step"])
                order["current_step"] = order["steps"] + 1
                rows.upsert(ORDERS.name, order)

    @staticmethod
    def _step(rows: RowStore, order: Row, step: int) -> Row | None:
        key = {"order_id": order["order_id"], "round": order["round"], "step": step}
        return rows.get(APPROVALS.name, key) if order["round"] else None

    def _withdraw_rest(self, rows: RowStore, order: Row, *, from_step: int) -> None:
        for step in range(max(from_step, 1), order["steps"] + 1):
            row = self._step(rows, order, step)
            if row is not None and row["status"] in ("pending", "waiting"):
                row.update(status="withdrawn", waiting_since=None)
                rows.upsert(APPROVALS.name, row)
