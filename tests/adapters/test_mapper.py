"""Stored events are readable JSON, carry their class version, and are upcast on load."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import uuid4

import pytest
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent

from adapters.event_store import EventStore
from adapters.mapper import PydanticEventMapper
from domain.events.base import DomainEvent
from domain.events.command_log import CommandRecorded

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


class CallNoted(DomainEvent):
    """Version 2 of a test-only event: v1 had ``note``; v2 renamed it to ``text`` and added
    ``channel``, which v1 events did not record (they were all phone calls)."""

    class_version: ClassVar[int] = 2

    text: str
    channel: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["text"] = state.pop("note")
        state["channel"] = "phone"


def _v1_state() -> bytes:
    return json.dumps(
        {
            "class_version": 1,
            "recorded_at": AT.isoformat(),
            "occurred_at": AT.isoformat(),
            "actor_id": "rep-1",
            "command_id": None,
            "note": "asked for a catalogue",
        }
    ).encode()


def test_an_event_stored_by_version_1_loads_as_version_2(store_url: str) -> None:
    stream = uuid4()
    with EventStore(store_url) as store:
        store.recorder.insert_events([StoredEvent(stream, 1, "CallNoted", _v1_state())])

        (event,) = store.load(stream)

    assert isinstance(event, CallNoted)
    assert (event.text, event.channel) == ("asked for a catalogue", "phone")
    assert event.occurred_at == AT


def test_stored_state_is_canonical_json_with_the_class_version() -> None:
    event = CallNoted(
        aggregate_id=uuid4(),
        version=1,
        recorded_at=AT,
        occurred_at=AT,
        actor_id="rep-1",
        text="客户要目录 'quoted' \"both\"",
        channel="wechat",
    )
    stored = PydanticEventMapper().to_stored_event(event)

    state = json.loads(stored.state)
    assert stored.topic == "CallNoted"
    assert state["class_version"] == 2
    assert "aggregate_id" not in state and "version" not in state
    assert "客户要目录".encode() in stored.state  # readable, not \u-escaped
    assert list(state) == sorted(state)
    assert PydanticEventMapper().to_domain_event(stored) == event


def test_an_event_from_a_newer_class_version_is_refused_not_misread() -> None:
    state = json.loads(_v1_state())
    state["class_version"] = 3
    stored = StoredEvent(uuid4(), 1, "CallNoted", json.dumps(state).encode())

    with pytest.raises(MapperDeserialisationError, match="newer than this code"):
        PydanticEventMapper().to_domain_event(stored)


def test_an_unknown_event_type_is_reported_with_its_stream() -> None:
    stream = uuid4()
    stored = StoredEvent(stream, 4, "NoSuchThingHappened", b"{}")

    with pytest.raises(MapperDeserialisationError, match=str(stream)):
        PydanticEventMapper().to_domain_event(stored)


def test_a_command_record_stored_before_version_2_names_no_subject_and_keeps_its_fingerprint() -> (
    None
):
    record = CommandRecorded(
        aggregate_id=uuid4(),
        version=1,
        recorded_at=datetime(2026, 1, 5, tzinfo=UTC),
        occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
        actor_id="a",
        command_id="erp:1",
        command_type="RegisterCustomer",
        fingerprint="ab" * 32,
        result_aggregate_id=uuid4(),
        result_version=1,
        events=(),
    )
    state = json.loads(PydanticEventMapper().to_stored_event(record).state)
    del state["subject_id"]
    state["class_version"] = 1
    stored = StoredEvent(
        originator_id=record.aggregate_id,
        originator_version=1,
        topic="CommandRecorded",
        state=json.dumps(state).encode(),
    )

    loaded = PydanticEventMapper().to_domain_event(stored)

    assert (loaded.subject_id, loaded.fingerprint) == (None, "ab" * 32)
