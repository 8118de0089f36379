"""``follow_ups``: the 回访 reminder list — scheduled follow-ups and every customer's next
birthday (a birthday greeting is a follow-up too).

A merged duplicate's follow-ups are its survivor's, and its birthday row goes: the survivor
greets once, on the birthday the merge chose. No other stream names a customer here, so
nothing recorded after a merge can still carry the duplicate's id: no alias table.

A birthday is personal data: when a customer's is erased, its birthday row goes (a rebuild
reads the erased birthday as none, and makes no row).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import ClassVar
from uuid import NAMESPACE_OID, UUID, uuid5

from domain.events.base import DomainEvent
from domain.events.customer import (
    CustomerPersonalDataErased,
    CustomerProfileUpdated,
    CustomerRegistered,
    CustomersMerged,
    FollowUpCompleted,
    FollowUpMissed,
    FollowUpScheduled,
)
from projections.base import Projection, Row, RowStore
from projections.merges import repoint
from projections.schema import ColumnType as T
from projections.schema import Table, col

FOLLOW_UPS = Table(
    "follow_ups",
    (
        col("follow_up_id", T.UUID, nullable=False),
        col("customer_id", T.UUID, nullable=False),
        col("purpose", T.TEXT, nullable=False),
        col("due_at", T.TIMESTAMP, nullable=False),
        col("status", T.TEXT, nullable=False),
        col("assignee_id", T.TEXT),
        col("scheduled_at", T.TIMESTAMP, nullable=False),
        col("done_at", T.TIMESTAMP),
        col("birthday", T.DATE),
    ),
    primary_key=("follow_up_id",),
    indexes=(("status", "due_at"), ("customer_id",)),
)


def birthday_row_id(customer_id: UUID) -> UUID:
    return uuid5(NAMESPACE_OID, f"crm-core:birthday:{customer_id}")


def next_birthday(birthday: date, on_or_after: date) -> date:
    """The first birthday on or after a day; 29 February is kept on the 28th in other years."""
    for year in (on_or_after.year, on_or_after.year + 1):
        try:
            candidate = birthday.replace(year=year)
        except ValueError:
            candidate = date(year, 2, 28)
        if candidate >= on_or_after:
            return candidate
    raise AssertionError("unreachable: next year's birthday is always later")  # pragma: no cover


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


class FollowUpsProjection(Projection):
    name: ClassVar[str] = "follow_ups"
    version: ClassVar[int] = 3
    tables: ClassVar[tuple[Table, ...]] = (FOLLOW_UPS,)
    handles = (
        FollowUpScheduled
        | FollowUpCompleted
        | FollowUpMissed
        | CustomerRegistered
        | CustomerProfileUpdated
        | CustomersMerged
        | CustomerPersonalDataErased
    )
    personal_values: ClassVar[frozenset[str]] = frozenset({"birthday"})  # the birthday row

    def __init__(self) -> None:
        # The runner's clock at the start of a catch-up: a birthday row is written due on
        # the next birthday from then on, where the tick after the catch-up would roll it.
        self._today: date | None = None

    def catch_up_begins(self, now: datetime) -> None:
        self._today = now.date()

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        for event in events:
            if isinstance(event, FollowUpScheduled):
                rows.upsert(
                    FOLLOW_UPS.name,
                    {
                        "follow_up_id": event.follow_up_id,
                        "customer_id": event.aggregate_id,
                        "purpose": event.purpose.value,
                        "due_at": event.due_at,
                        "status": "scheduled",
                        "assignee_id": event.assignee_id,
                        "scheduled_at": event.occurred_at,
                        "done_at": None,
                        "birthday": None,
                    },
                )
            elif isinstance(event, FollowUpCompleted | FollowUpMissed):
                row = rows.get(FOLLOW_UPS.name, {"follow_up_id": event.follow_up_id})
                if row is not None:
                    completed = isinstance(event, FollowUpCompleted)
                    row.update(
                        status="completed" if completed else "missed", done_at=event.occurred_at
                    )
                    rows.upsert(FOLLOW_UPS.name, row)
            elif isinstance(event, CustomerRegistered) and event.profile.birthday is not None:
                self._birthday(rows, event.aggregate_id, event.profile.birthday, event.occurred_at)
            elif isinstance(event, CustomerProfileUpdated) and "birthday" in event.changed_fields:
                self._birthday_changed(rows, event.aggregate_id, event.birthday, event.occurred_at)
            elif isinstance(event, CustomersMerged) and event.on_survivor:
                rows.delete(FOLLOW_UPS.name, {"follow_up_id": birthday_row_id(event.duplicate_id)})
                repoint(rows, FOLLOW_UPS, "customer_id", event.duplicate_id, event.survivor_id)
                if "birthday" in event.taken.fields:
                    self._birthday_changed(
                        rows, event.survivor_id, event.taken.birthday, event.occurred_at
                    )
            elif isinstance(event, CustomerPersonalDataErased):
                rows.delete(FOLLOW_UPS.name, {"follow_up_id": birthday_row_id(event.aggregate_id)})

    def _birthday_changed(
        self, rows: RowStore, customer_id: UUID, birthday: date | None, at: datetime
    ) -> None:
        if birthday is None:
            rows.delete(FOLLOW_UPS.name, {"follow_up_id": birthday_row_id(customer_id)})
        else:
            self._birthday(rows, customer_id, birthday, at)

    def _birthday(self, rows: RowStore, customer_id: UUID, birthday: date, at: datetime) -> None:
        on_or_after = at.date() if self._today is None else max(at.date(), self._today)
        row: Row = {
            "follow_up_id": birthday_row_id(customer_id),
            "customer_id": customer_id,
            "purpose": "birthday",
            "due_at": _midnight(next_birthday(birthday, on_or_after)),
            "status": "scheduled",
            "assignee_id": None,
            "scheduled_at": at,
            "done_at": None,
            "birthday": birthday,
        }
        rows.upsert(FOLLOW_UPS.name, row)

    def tick(self, now: datetime, rows: RowStore) -> None:
        """A birthday that has passed rolls on to the next one."""
        # only the automatic rows (they carry the birthday), not a follow-up someone
        # scheduled with the purpose "birthday", nor every follow-up ever due
        for row in rows.select_due(FOLLOW_UPS.name, "due_at", now, present=("birthday",)):
            if row["due_at"].date() >= now.date():
                continue
            row["due_at"] = _midnight(next_birthday(row["birthday"], now.date()))
            rows.upsert(FOLLOW_UPS.name, row)
