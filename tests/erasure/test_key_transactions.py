"""A key is created and destroyed in the transaction of the events that need it: when the
append fails, neither the events nor the key change happen."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest

from adapters.event_store import AppendConflict, EventStore
from domain.events.base import DomainEvent
from domain.events.customer import (
    CustomerPersonalDataErased,
    CustomerProfile,
    CustomerRegistered,
    MembershipJoined,
)
from domain.personal_data import ERASED_NAME
from domain.values import ContactPoints
from domain.vocabulary import CustomerKind
from tests.erasure.test_erasure import key_of

AT = datetime(2026, 3, 1, tzinfo=UTC)


def envelope(aggregate_id: UUID, version: int) -> dict[str, object]:
    return {
        "aggregate_id": aggregate_id,
        "version": version,
        "recorded_at": AT,
        "occurred_at": AT,
        "actor_id": "admin-1",
    }


def registration(customer_id: UUID) -> DomainEvent:
    profile = CustomerProfile(
        kind=CustomerKind.INDIVIDUAL,
        name="Han Mei",
        contact=ContactPoints(email="han.mei@example.com"),
        birthday=date(1979, 8, 8),
    )
    return CustomerRegistered(**envelope(customer_id, 1), profile=profile)


def test_a_failed_append_creates_no_key_and_destroys_none(store_url: str) -> None:
    with EventStore(store_url) as store:
        existing, new = uuid4(), uuid4()
        store.append([registration(existing)])
        key = key_of(store_url, existing)
        assert key is not None
        taken = MembershipJoined(**envelope(existing, 1))  # version 1 is already stored

        with pytest.raises(AppendConflict):
            store.append([registration(new), taken])
        assert key_of(store_url, new) is None

        erasure = CustomerPersonalDataErased(**envelope(existing, 2), reason="DSR-3")
        with pytest.raises(AppendConflict):
            store.append([erasure, MembershipJoined(**envelope(existing, 1))])
        assert key_of(store_url, existing) == key
        (read,) = store.load(existing)
        assert isinstance(read, CustomerRegistered) and read.profile.name == "Han Mei"

        store.append([erasure])
        assert key_of(store_url, existing) is None
        read = store.load(existing)[0]
        assert isinstance(read, CustomerRegistered) and read.profile.name == ERASED_NAME


def test_another_process_that_cached_the_key_reads_erased_after_loading_the_erasure(
    store_url: str,
) -> None:
    customer = uuid4()
    with EventStore(store_url) as writer, EventStore(store_url) as reader:
        writer.append([registration(customer)])
        first = reader.load(customer)[0]
        assert isinstance(first, CustomerRegistered) and first.profile.name == "Han Mei"

        writer.append([CustomerPersonalDataErased(**envelope(customer, 2), reason="DSR-4")])

        first = reader.load(customer)[0]  # its cache held the key until it met the erasure
        assert isinstance(first, CustomerRegistered) and first.profile.name == ERASED_NAME
