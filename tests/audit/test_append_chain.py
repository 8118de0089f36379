"""Sealing on append: the predecessor's hash comes from what was just loaded, not from an
extra read; several writers, several events of one stream in one append, and a fresh
process all produce chains that verify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from adapters.audit.verify import verify_chains
from application import CRM
from application.commands import AwardLoyaltyPoints
from domain.aggregates.base import Aggregate
from domain.context import CommandContext
from tests.application.builders import MANAGER, register


def _spy_reads(crm: CRM, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    original = crm.store.recorder.select_events

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(crm.store.recorder, "select_events", spy)
    return calls


def test_a_command_on_an_existing_stream_reads_it_once(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = register(crm)
    reads = _spy_reads(crm, monkeypatch)

    crm.execute(AwardLoyaltyPoints(customer_id=customer, points=5), actor=MANAGER)

    # the customer's whole stream, once; none for the predecessor's hash
    assert [r.get("lte") for r in reads] == [None]
    assert verify_chains(crm.store).ok


def test_a_process_that_did_not_load_the_stream_reads_only_the_predecessor(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CRM.open(store_url) as first:
        customer = register(first)
        first.execute(AwardLoyaltyPoints(customer_id=customer, points=5), actor=MANAGER)
        aggregate = first.audit.as_of(customer)
    with CRM.open(store_url) as second:
        reads = _spy_reads(second, monkeypatch)
        context = CommandContext(actor_id="mgr-1", now=_now(aggregate), command_id="x")
        aggregate.award_loyalty_points(context, points=1)  # type: ignore[attr-defined]

        second.store.append(aggregate.collect_events())

        assert reads == [{"gt": 1, "lte": 2}]
        assert verify_chains(second.store).ok


def test_writers_taking_turns_on_one_stream_keep_one_chain(store_url: str) -> None:
    with CRM.open(store_url) as a, CRM.open(store_url) as b:
        customer = register(a)
        for turn in range(6):
            writer = (a, b)[turn % 2]
            writer.execute(AwardLoyaltyPoints(customer_id=customer, points=1), actor=MANAGER)

        report = verify_chains(a.store)

    assert report.ok and report.unhashed == 0
    assert report.events >= 7


def test_several_events_of_one_stream_in_one_append_chain_in_order(crm: CRM) -> None:
    customer = register(crm)
    aggregate = crm.audit.as_of(customer)
    context = CommandContext(actor_id="mgr-1", now=_now(aggregate), command_id="y")
    for points in (1, 2, 3):
        aggregate.award_loyalty_points(context, points=points)  # type: ignore[attr-defined]

    crm.store.append(aggregate.collect_events())

    assert verify_chains(crm.store).ok
    assert [e.version for e in crm.events(customer)] == [1, 2, 3, 4]


def test_a_bulk_reader_can_hand_over_the_heads_it_read(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CRM.open(store_url) as first:
        customer = register(first)
        aggregate = first.audit.as_of(customer)
    with CRM.open(store_url) as second:
        second.store.remember_loaded(second.store.recorder.select_events(customer))
        reads = _spy_reads(second, monkeypatch)
        context = CommandContext(actor_id="mgr-1", now=_now(aggregate), command_id="z")
        aggregate.award_loyalty_points(context, points=1)  # type: ignore[attr-defined]

        second.store.append(aggregate.collect_events())

        assert reads == []
        assert verify_chains(second.store).ok


def _now(aggregate: Aggregate) -> datetime:
    assert aggregate.last_occurred_at is not None
    return aggregate.last_occurred_at
