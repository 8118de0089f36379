"""A batch decrypts the personal values it prefetches only if one of its commands reads them.

``ImportOrder`` checks that its customer is open, never who the customer is
(``Command.reads_personal_values``); decrypting 20,000 customer profiles to import their
orders was a tenth of an import's time.
"""

from __future__ import annotations

from typing import Any

import pytest
from freezegun import freeze_time

from adapters.imports.streams import load_streams
from application import CRM
from application import batch as batch_module
from application.commands import MergeCustomers, UpdateCustomerProfile
from application.commands.order import ImportOrder
from domain.events.customer import CustomerRegistered
from domain.personal_data import ERASED_NAME
from tests.application.builders import ADMIN, MANAGER, register
from tests.imports.test_execute_batch import order, topics


def reads_asked(monkeypatch: pytest.MonkeyPatch) -> list[frozenset[str] | None]:
    asked: list[frozenset[str] | None] = []
    real = batch_module.load_streams

    def spy(store: Any, stream_ids: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("reads"))
        return real(store, stream_ids, **kwargs)

    monkeypatch.setattr(batch_module, "load_streams", spy)
    return asked


def test_load_streams_leaves_unread_personal_values_erased(crm: CRM) -> None:
    customer_id = register(crm, kind="individual", name="Wang Fang")  # a company's is in clear
    clear = load_streams(crm.store, [customer_id])[customer_id][0]
    unread = load_streams(crm.store, [customer_id], reads=frozenset())[customer_id][0]
    assert isinstance(clear, CustomerRegistered) and isinstance(unread, CustomerRegistered)
    assert clear.profile.name == "Wang Fang"
    assert unread.profile.name == ERASED_NAME
    assert unread.model_dump(exclude={"profile"}) == clear.model_dump(exclude={"profile"})


def test_a_batch_of_imported_orders_decrypts_nothing_and_stores_them(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = register(crm, name="Wang Trading")
    asked = reads_asked(monkeypatch)
    outcomes = crm.execute_batch(
        [order(customer_id, "O-1"), order(customer_id, "O-2")], actor=ADMIN
    )
    assert [o.ok for o in outcomes] == [True, True]
    assert asked == [frozenset()]
    assert topics(crm)["OrderImported"] == 2


def test_an_order_for_a_merged_customer_is_refused_without_decrypting(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor, duplicate = register(crm, name="Wang Trading"), register(crm, name="Wang Trading")
    crm.execute(MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), actor=MANAGER)
    asked = reads_asked(monkeypatch)
    checked = crm.check_batch([order(duplicate, "O-1")], actor=ADMIN)
    assert asked == [frozenset()]
    error = checked[0].outcome.error
    assert error is not None and getattr(error, "rule", None) == "customer_merged"


def test_a_batch_with_a_command_that_reads_personal_values_decrypts_them(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = register(crm, name="Wang Trading")
    asked = reads_asked(monkeypatch)
    outcomes = crm.execute_batch(
        [
            order(customer_id, "O-1"),
            UpdateCustomerProfile(customer_id=customer_id, name="Wang Trading Ltd"),
        ],
        actor=ADMIN,
    )
    assert [o.ok for o in outcomes] == [True, True]
    assert asked == [None]
    assert crm.store.load(customer_id)[-1].event_type() == "CustomerProfileUpdated"


def test_orders_decided_without_decrypting_are_the_orders_decided_with_it(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = register(crm, kind="individual", name="Wang Fang", phone="+86 139 1234 5678")
    crm.execute(UpdateCustomerProfile(customer_id=customer_id, name="Wang Fang Li"), actor=ADMIN)
    commands = [
        order(customer_id, "O-1"),
        order(customer_id, "O-2", status="cancelled", cancelled_at="2021-03-02T08:00:00Z"),
    ]

    def decided() -> list[Any]:
        return [
            [e.model_dump(exclude={"recorded_at"}) for e in item.events] or repr(item.outcome.error)
            for item in crm.check_batch(commands, actor=ADMIN)
        ]

    asked = reads_asked(monkeypatch)
    with freeze_time("2026-06-01T08:00:00Z"):  # command records carry the time of deciding
        undecrypted = decided()
        monkeypatch.setattr(ImportOrder, "reads_personal_values", True)
        decrypted = decided()
    assert asked == [frozenset(), None]
    assert undecrypted == decrypted
