"""``RowStore.select_due``: rows due by an instant, optionally only those with values in
some columns (the follow-ups tick rolls birthdays on without reading every follow-up
ever due)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from adapters.projection_runner import ProjectionRunner
from adapters.row_store import CursorRowStore
from adapters.sql import dialect_of, write_transaction
from application import CRM
from projections.follow_ups import FOLLOW_UPS, FollowUpsProjection

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def follow_up(due_at: datetime, birthday: date | None) -> dict[str, object]:
    return {
        "follow_up_id": uuid4(),
        "customer_id": uuid4(),
        "purpose": "birthday" if birthday else "renewal",
        "due_at": due_at,
        "status": "scheduled",
        "assignee_id": None,
        "scheduled_at": due_at - timedelta(days=30),
        "done_at": None,
        "birthday": birthday,
    }


def test_due_rows_with_and_without_a_value_required(crm: CRM) -> None:
    ProjectionRunner(crm.store, [FollowUpsProjection()])  # makes the table
    past_birthday = follow_up(NOW - timedelta(days=3), date(1990, 5, 29))
    past_call = follow_up(NOW - timedelta(days=2), None)
    future_birthday = follow_up(NOW + timedelta(days=3), date(1990, 6, 4))
    with write_transaction(crm.store) as cursor:
        rows = CursorRowStore(
            cursor,
            dialect_of(crm.store),
            {FOLLOW_UPS.name: FOLLOW_UPS},
            {FOLLOW_UPS.name: FOLLOW_UPS.name},
        )
        for row in (past_birthday, past_call, future_birthday):
            rows.upsert(FOLLOW_UPS.name, row)

        every = rows.select_due(FOLLOW_UPS.name, "due_at", NOW)
        birthdays = rows.select_due(FOLLOW_UPS.name, "due_at", NOW, present=("birthday",))
        with pytest.raises(KeyError, match="no columns"):
            rows.select_due(FOLLOW_UPS.name, "due_at", NOW, present=("nickname",))

    assert {r["follow_up_id"] for r in every} == {
        past_birthday["follow_up_id"],
        past_call["follow_up_id"],
    }
    assert [r["follow_up_id"] for r in birthdays] == [past_birthday["follow_up_id"]]
