"""``DomainEvent.restamped``: ``model_copy(update={"recorded_at": ...})`` without a deep copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from domain.events.reservations import UniqueValueClaimed

DECIDED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def a_claim() -> UniqueValueClaimed:
    return UniqueValueClaimed(
        aggregate_id=uuid4(),
        version=1,
        recorded_at=DECIDED,
        occurred_at=DECIDED - timedelta(days=400),
        actor_id="crm-import",
        command_id="import:customer:C-1",
        scope="external_ref",
        value="C-1",
        owner_id=uuid4(),
    )


def test_restamped_equals_a_model_copy_with_the_new_recorded_at() -> None:
    claim = a_claim()
    stored = DECIDED + timedelta(minutes=1)
    restamped = claim.restamped(stored)
    assert restamped == claim.model_copy(update={"recorded_at": stored})
    assert restamped.model_dump() == {**claim.model_dump(), "recorded_at": stored}
    assert restamped.model_fields_set == claim.model_fields_set
    assert claim.recorded_at == DECIDED  # the original is untouched


def test_restamped_keeps_the_event_frozen_and_in_utc() -> None:
    eight_hours_east = timezone(timedelta(hours=8))
    restamped = a_claim().restamped(datetime(2026, 12, 1, 17, 1, tzinfo=eight_hours_east))
    assert restamped.recorded_at == datetime(2026, 12, 1, 9, 1, tzinfo=UTC)
    assert restamped.recorded_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        restamped.value = "C-2"  # type: ignore[misc]
