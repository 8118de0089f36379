"""``crm.execute_batch``: many commands, one transaction, one outcome per command."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from application import CRM, NotFound, PermissionDenied, RuleViolation, ValidationError
from application.command_log import derived_id
from application.commands import RegisterCustomer
from application.commands.order import ImportOrder
from domain.aggregates.customer import Customer
from domain.events.order import OrderImported
from domain.vocabulary import CustomerKind
from tests.application.builders import ADMIN, REP, register


def customer(ref: str, **fields: Any) -> RegisterCustomer:
    values: dict[str, Any] = {
        "kind": "company",
        "name": f"{ref} Co.",
        "external_ref": ref,
        "command_id": f"import:customer:{ref}",
    }
    values.update(fields)
    return RegisterCustomer(**values)


def order(customer_id: Any, ref: str, **fields: Any) -> ImportOrder:
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "lines": [{"sku": "A-1", "name": "Item", "quantity": 2, "unit_price": "10.50"}],
        "currency": "CNY",
        "status": "approved",
        "approved_at": "2021-03-01T08:00:00Z",
        "import_batch_id": "test",
        "external_ref": ref,
        "command_id": f"import:order:{ref}",
    }
    values.update(fields)
    return ImportOrder(**values)


def topics(crm: CRM) -> Counter[str]:
    counts: Counter[str] = Counter()
    after = 0
    while page := crm.store.read(after=after):
        counts.update(n.topic for n in page)
        after = page[-1].id
    return counts


def count_appends(crm: CRM, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = crm.store.append

    def append(events: Any, **kwargs: Any) -> list[int]:
        calls.append(len(events))
        return real(events, **kwargs)

    monkeypatch.setattr(crm.store, "append", append)
    return calls


def test_a_batch_is_one_append_and_each_bad_command_fails_alone_with_its_typed_error(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(crm, external_ref="TAKEN")
    known = register(crm)
    appends = count_appends(crm, monkeypatch)
    commands = [
        customer("R-1"),
        customer("TAKEN"),  # the store already has it
        order(uuid4(), "O-1"),  # no such customer
        RegisterCustomer.model_construct(kind=CustomerKind.COMPANY, name=""),  # not validated
        order(known, "O-2", status="paid"),  # paid needs fulfilled_at and paid_at
        order(known, "O-3"),
    ]

    outcomes = crm.execute_batch(commands, actor=ADMIN)

    assert [o.ok for o in outcomes] == [True, False, False, False, False, True]
    assert isinstance(outcomes[1].error, RuleViolation)
    assert outcomes[1].error.rule == "external_ref_unique"
    assert isinstance(outcomes[2].error, NotFound) and outcomes[2].error.field == "customer_id"
    assert isinstance(outcomes[3].error, ValidationError)
    assert isinstance(outcomes[4].error, RuleViolation)
    assert outcomes[4].error.rule == "import_dates_match_status"
    assert len(appends) == 1
    # registration, claim, command record; O-3: import, claim, command record.
    assert appends == [6]
    assert topics(crm)["CustomerRegistered"] == 3
    assert topics(crm)["OrderImported"] == 1
    first = outcomes[0].result
    assert first is not None and not first.replayed
    assert crm.load(Customer, first.aggregate_id).external_ref == "R-1"


def test_an_actor_who_may_not_run_a_command_is_refused_for_that_command_only(crm: CRM) -> None:
    known = register(crm)

    outcomes = crm.execute_batch([customer("R-1"), order(known, "O-1")], actor=REP)

    assert outcomes[0].ok
    assert isinstance(outcomes[1].error, PermissionDenied)
    assert topics(crm)["OrderImported"] == 0


def test_a_command_sees_what_the_commands_before_it_in_the_batch_recorded(crm: CRM) -> None:
    registration = customer("R-1")
    customer_id = derived_id(registration, "customer")
    commands = [
        registration,
        order(customer_id, "O-1"),
        customer("R-1", name="Same Ref, Other Id").model_copy(update={"command_id": "other"}),
        order(customer_id, "O-1", command_id="import:order:O-1-again"),
    ]

    outcomes = crm.execute_batch(commands, actor=ADMIN)

    assert [o.ok for o in outcomes] == [True, True, False, False]
    assert [getattr(o.error, "rule", None) for o in outcomes[2:]] == [
        "external_ref_unique",
        "order_external_ref_unique",
    ]
    imported = outcomes[1].result
    assert imported is not None
    (event,) = imported.events
    assert isinstance(event, OrderImported) and event.customer_id == customer_id
    assert event.total.amount == Decimal("21.00")


def test_the_same_command_id_twice_in_a_batch_is_one_command(crm: CRM) -> None:
    outcomes = crm.execute_batch(
        [customer("R-1"), customer("R-1"), customer("R-1", name="Changed")], actor=ADMIN
    )

    first, again, changed = outcomes
    assert first.result is not None and again.result is not None
    assert again.result.replayed and again.result.aggregate_id == first.result.aggregate_id
    assert isinstance(changed.error, RuleViolation)
    assert changed.error.rule == "command_id_unique"
    assert topics(crm)["CustomerRegistered"] == 1


def test_running_a_batch_again_records_nothing_and_returns_the_first_results(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = crm.execute_batch([customer(f"R-{i}") for i in range(5)], actor=ADMIN)
    customer_id = first[0].result.aggregate_id  # type: ignore[union-attr]
    orders = [order(customer_id, f"O-{i}") for i in range(3)]
    crm.execute_batch(orders, actor=ADMIN)
    before = crm.store.count_events()
    appends = count_appends(crm, monkeypatch)

    again = crm.execute_batch([customer(f"R-{i}") for i in range(5)] + orders, actor=ADMIN)

    assert appends == []
    assert crm.store.count_events() == before
    assert all(o.result is not None and o.result.replayed for o in again)
    assert [o.result.aggregate_id for o in again[:5]] == [  # type: ignore[union-attr]
        o.result.aggregate_id  # type: ignore[union-attr]
        for o in first
    ]
    assert [o.result.events for o in again[:5]] == [o.result.events for o in first]  # type: ignore[union-attr]


def test_a_dry_run_reports_every_outcome_and_records_nothing(crm: CRM) -> None:
    register(crm, external_ref="TAKEN")
    before = crm.store.count_events()

    outcomes = crm.execute_batch([customer("R-1"), customer("TAKEN")], actor=ADMIN, dry_run=True)

    assert outcomes[0].ok and outcomes[0].result is not None
    assert getattr(outcomes[1].error, "rule", None) == "external_ref_unique"
    assert crm.store.count_events() == before


def test_a_conflict_with_another_writer_falls_back_to_one_command_at_a_time_losing_nothing(
    crm: CRM, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the batch's reads and its append another writer registers R-2: the append
    conflicts, nothing of the batch is stored, and each command is then settled alone."""
    real = crm.store.append
    calls: list[int] = []

    def append_after_a_rival(events: Any, **kwargs: Any) -> list[int]:
        calls.append(len(events))
        if len(calls) == 1:
            with CRM.open(store_url) as rival:
                rival.execute(
                    RegisterCustomer(kind="company", name="Rival", external_ref="R-2"), actor=REP
                )
        return real(events, **kwargs)

    monkeypatch.setattr(crm.store, "append", append_after_a_rival)

    outcomes = crm.execute_batch([customer(f"R-{i}") for i in range(4)], actor=ADMIN)

    assert [o.ok for o in outcomes] == [True, True, False, True]
    assert getattr(outcomes[2].error, "rule", None) == "external_ref_unique"
    assert len(calls) == 1 + 3  # the batch, then each command that could still be applied
    assert topics(crm)["CustomerRegistered"] == 4  # three of ours and the rival's
    assert topics(crm)["CommandRecorded"] == 4
