"""Merged customers in read models: re-point the duplicate's rows, remember the alias.

When a duplicate is folded into a survivor (``CustomersMerged``), every projection that
stores a customer id moves the duplicate's rows to the survivor and keeps the pair in a
small table of its own (``<projection>__merged``), so that it still rebuilds alone. The
alias matters for events processed after the merge that still carry the duplicate's id:
an order drafted for the duplicate by a command that read it just before the merge and
committed just after. Such an event lands on the survivor.

Projections act on the survivor's copy of the event only (``CustomersMerged.on_survivor``);
the duplicate's copy carries the same payload.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from domain.events.base import DomainEvent
from domain.events.customer import CustomersMerged
from projections.base import Row, RowStore
from projections.schema import ColumnType as T
from projections.schema import Table, col


def merged_table(projection: str) -> Table:
    return Table(
        f"{projection}__merged",
        (
            col("duplicate_id", T.UUID, nullable=False),
            col("survivor_id", T.UUID, nullable=False),
        ),
        primary_key=("duplicate_id",),
        indexes=(("survivor_id",),),
    )


def merges_in(events: Iterable[DomainEvent]) -> list[CustomersMerged]:
    """The merges of a batch, each once (its survivor's copy)."""
    return [e for e in events if isinstance(e, CustomersMerged) and e.on_survivor]


class Aliases:
    """Which customer a (possibly merged) customer id stands for now, in one projection."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def prefetch(self, rows: RowStore, customer_ids: Iterable[UUID]) -> None:
        """Answer the batch's ``resolve`` calls from memory (one read for all of them)."""
        rows.prefetch(self.table.name, customer_ids)

    def resolve(self, rows: RowStore, customer_id: UUID) -> UUID:
        alias = rows.get(self.table.name, {"duplicate_id": customer_id})
        return customer_id if alias is None else alias["survivor_id"]

    def record(self, rows: RowStore, merge: CustomersMerged) -> UUID:
        """Remember the merge; customers merged into the duplicate earlier now stand for
        the survivor too (merges chain: no alias ever points at a merged customer).
        Returns the survivor as it stands now."""
        survivor = self.resolve(rows, merge.survivor_id)
        for earlier in rows.select(self.table.name, {"survivor_id": merge.duplicate_id}):
            rows.upsert(self.table.name, {**earlier, "survivor_id": survivor})
        rows.upsert(self.table.name, {"duplicate_id": merge.duplicate_id, "survivor_id": survivor})
        return survivor


def repoint(
    rows: RowStore, table: Table, column: str, duplicate: UUID, survivor: UUID
) -> list[Row]:
    """Move every row of ``table`` whose ``column`` is the duplicate to the survivor (the
    column needs an index); a row keyed by that column is deleted and written anew.
    Returns the moved rows, as written."""
    moved: list[Row] = []
    keyed = column in table.primary_key
    for row in rows.select(table.name, {column: duplicate}):
        if keyed:
            rows.delete(table.name, {k: row[k] for k in table.primary_key})
        new: dict[str, Any] = {**row, column: survivor}
        rows.upsert(table.name, new)
        moved.append(new)
    return moved
