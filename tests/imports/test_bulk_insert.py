"""The PostgreSQL insert sends rows as binary column arrays: same rows, same order."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.audit.verify import verify_chains
from application import CRM
from domain.events.customer import CustomerRegistered
from tests.application.builders import ADMIN
from tests.imports.test_execute_batch import customer

AWKWARD = (
    'a "quoted" name',
    "back\\slash \\x00 and {braces}, (parens)",
    "龙井茶 贸易",
    "tab\there",
)


def test_a_batch_is_stored_in_the_order_given_with_every_byte_kept(
    crm: CRM, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    positions: list[list[int]] = []
    real = crm.store.append

    def append(events: Any, **kwargs: Any) -> list[int]:
        positions.append(real(events, **kwargs))
        return positions[-1]

    monkeypatch.setattr(crm.store, "append", append)
    commands = [
        customer(f"R-{i}", kind="individual", name=name, email=f"p{i}@example.cn")
        for i, name in enumerate(AWKWARD * 50)
    ]

    outcomes = crm.execute_batch(commands, actor=ADMIN)

    assert all(o.ok for o in outcomes)
    [stored_at] = positions
    assert len(stored_at) == 3 * len(commands)
    assert stored_at == sorted(stored_at) and len(set(stored_at)) == len(stored_at)
    with CRM.open(store_url) as fresh:
        notes = list(fresh.store.read(after=0, limit=10_000))
        assert [n.id for n in notes] == stored_at
        registered = [
            fresh.store.decode(n) for n in notes if n.topic == CustomerRegistered.event_type()
        ]
    assert [e.profile.name for e in registered] == [c.name for c in commands]  # type: ignore[attr-defined]
    assert [e.aggregate_id for e in registered] == [
        o.result.aggregate_id for o in outcomes if o.result is not None
    ]
    assert verify_chains(crm.store).ok
