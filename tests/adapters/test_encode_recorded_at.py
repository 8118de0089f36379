"""``EventStore.encode(..., recorded_at=)`` stores what encoding restamped events would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.event_store import EventStore
from adapters.mapper import json_instant
from application import CRM
from application.commands import UpdateCustomerProfile
from domain.events.base import DomainEvent
from tests.application.builders import REP, register
from tests.domain.test_restamped import DECIDED, a_claim


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 1, 9, 1, tzinfo=UTC),
        datetime(2026, 12, 1, 9, 1, 2, 345678, tzinfo=UTC),
        datetime(2026, 12, 1, 17, 1, 2, 5, tzinfo=timezone(timedelta(hours=8))),
    ],
)
def test_json_instant_is_how_an_event_state_holds_a_timestamp(moment: datetime) -> None:
    assert (
        json_instant(moment) == a_claim().restamped(moment).model_dump(mode="json")["recorded_at"]
    )


def test_a_stamped_encoding_is_byte_for_byte_the_restamped_events_one(crm: CRM) -> None:
    store: EventStore = crm.store
    stored = DECIDED + timedelta(seconds=61, microseconds=5)
    claim = a_claim()
    [stamped] = store.encode([claim], recorded_at=stored).rows
    [restamped] = store.encode([claim.restamped(stored)]).rows
    [copied] = store.encode([claim.model_copy(update={"recorded_at": stored})]).rows
    assert stamped == restamped == copied  # what the batch writer stored before, too


def test_personal_values_read_back_the_same_from_a_stamped_encoding(crm: CRM) -> None:
    store: EventStore = crm.store
    customer_id = register(crm, kind="individual", name="Wang Fang")
    crm.execute(
        UpdateCustomerProfile(customer_id=customer_id, phone="+86 139 1234 5678"), actor=REP
    )
    # Version 2: encoded with the customer's stored key (a version 1 would make a new one).
    updated = store.load(customer_id)[-1]
    stored = DECIDED + timedelta(minutes=2)
    [row] = store.encode([updated], recorded_at=stored).rows
    decoded: DomainEvent = store.mapper.decode(
        row.topic, row.originator_id, row.originator_version, row.state, keys=store.keys
    )
    assert b"+86 139" not in row.state
    assert decoded == updated.restamped(stored)
