"""The command path end to end, on SQLite and on PostgreSQL: recording, idempotency,
restarts, races and logs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from freezegun import freeze_time
from structlog.testing import capture_logs

from application import CRM, ConcurrencyConflict, RuleViolation, ValidationError
from application.commands import (
    AwardLoyaltyPoints,
    Money,
    OpenOpportunity,
    RegisterCustomer,
)
from domain.aggregates import Customer
from domain.events import CustomerRegistered, LoyaltyPointsEarned, OpportunityOpened
from tests.application.builders import MANAGER, REP, register

FROZEN = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


class TestRecording:
    @freeze_time(FROZEN)
    def test_a_command_records_its_event_with_actor_and_times(self, crm: CRM) -> None:
        result = crm.execute(
            RegisterCustomer(kind="individual", name="Li Wei", email="li.wei@example.com"),
            actor=REP,
        )

        (event,) = result.events
        assert isinstance(event, CustomerRegistered)
        assert (result.version, event.version) == (1, 1)
        assert event.actor_id == REP.id
        assert event.recorded_at == event.occurred_at == FROZEN
        assert crm.events(result.aggregate_id) == [event]

    def test_events_come_back_from_the_store_equal_to_what_was_recorded(self, crm: CRM) -> None:
        customer_id = register(crm)
        result = crm.execute(
            OpenOpportunity(
                customer_id=customer_id,
                title="Cold storage",
                estimated_value=Money(amount=Decimal("1234567.891"), currency="KWD"),
            ),
            actor=REP,
        )
        (stored,) = crm.events(result.aggregate_id)
        assert isinstance(stored, OpportunityOpened)
        assert stored == result.events[0]
        assert stored.estimated_value.amount == Decimal("1234567.891")


class TestIdempotency:
    def test_a_repeated_command_id_records_nothing_and_returns_the_first_result(
        self, crm: CRM
    ) -> None:
        command = RegisterCustomer(kind="company", name="Acme", command_id="import-7:row-1")
        first = crm.execute(command, actor=REP)
        count = crm.store.count_events()

        again = crm.execute(command, actor=REP)

        assert crm.store.count_events() == count
        assert again.replayed and not first.replayed
        assert (again.aggregate_id, again.version, again.events) == (
            first.aggregate_id,
            first.version,
            first.events,
        )

    def test_a_command_id_is_remembered_across_a_restart(self, store_url: str) -> None:
        command = RegisterCustomer(kind="company", name="Acme", command_id="cmd-restart")
        with CRM.open(store_url) as crm:
            first = crm.execute(command, actor=REP)
        with CRM.open(store_url) as reopened:
            count = reopened.store.count_events()
            again = reopened.execute(command, actor=REP)
            assert reopened.store.count_events() == count
        assert again.replayed
        assert again.aggregate_id == first.aggregate_id
        assert again.events == first.events

    def test_reusing_a_command_id_for_a_different_command_is_rejected(self, crm: CRM) -> None:
        crm.execute(RegisterCustomer(kind="company", name="Acme", command_id="k-1"), actor=REP)
        count = crm.store.count_events()

        with pytest.raises(RuleViolation) as caught:
            crm.execute(RegisterCustomer(kind="company", name="Other", command_id="k-1"), actor=REP)

        assert (caught.value.rule, caught.value.field) == ("command_id_unique", "command_id")
        assert crm.store.count_events() == count

    def test_a_command_without_id_is_recorded_each_time_under_its_own_key(self, crm: CRM) -> None:
        first = crm.execute(RegisterCustomer(kind="company", name="Acme"), actor=REP)
        second = crm.execute(RegisterCustomer(kind="company", name="Acme"), actor=REP)
        assert first.aggregate_id != second.aggregate_id
        assert first.command_id is not None and first.command_id.startswith("auto-")
        assert first.events[0].command_id == first.command_id != second.command_id

    def test_a_write_whose_acknowledgement_was_lost_is_not_applied_twice(self, crm: CRM) -> None:
        """The driver may retry an insert that had in fact committed; the retry collides,
        and the command must be recognised as done rather than re-applied."""
        customer_id = register(crm)
        original_append = crm.store.append
        calls = 0

        def append_then_lose_the_ack(events: list[object], **kwargs: Any) -> list[int]:
            nonlocal calls
            calls += 1
            positions = original_append(events, **kwargs)  # type: ignore[arg-type]
            if calls == 1:
                original_append(events, **kwargs)  # type: ignore[arg-type]  # the retry: collides
            return positions

        crm.store.append = append_then_lose_the_ack  # type: ignore[method-assign]
        result = crm.execute(AwardLoyaltyPoints(customer_id=customer_id, points=10), actor=MANAGER)

        assert crm.load(Customer, customer_id).loyalty_points == 10
        assert [e.version for e in crm.events(customer_id)] == [1, 2]
        assert result.version == 2


def _racing_clock(parties: int) -> Callable[[], datetime]:
    """A clock that holds each thread's first reading until all have read it, so that
    every racer loads the same aggregate version before anyone writes."""
    barrier = threading.Barrier(parties, timeout=10)
    seen: set[int] = set()
    lock = threading.Lock()

    def now() -> datetime:
        me = threading.get_ident()
        with lock:
            first = me not in seen
            seen.add(me)
        if first:
            barrier.wait()
        return datetime.now(UTC)

    return now


def _race(crm: CRM, commands: list[object]) -> list[object]:
    outcomes: list[object] = [None] * len(commands)

    def run(index: int) -> None:
        try:
            outcomes[index] = crm.execute(commands[index], actor=MANAGER)  # type: ignore[arg-type]
        except Exception as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


class TestConcurrency:
    def test_two_racers_without_retries_one_wins_one_conflicts_nothing_lost(
        self, store_url: str
    ) -> None:
        with CRM.open(store_url) as setup:
            customer_id = register(setup)
        with CRM.open(store_url, clock=_racing_clock(2), max_attempts=1) as crm:
            outcomes = _race(
                crm,
                [AwardLoyaltyPoints(customer_id=customer_id, points=p) for p in (10, 20)],
            )
            events = crm.events(customer_id)

        conflicts = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
        applied = [o for o in outcomes if not isinstance(o, Exception)]
        assert (len(applied), len(conflicts)) == (1, 1), outcomes
        assert [e.version for e in events] == [1, 2]
        assert conflicts[0].aggregate_ids == (customer_id,)

    def test_two_racers_with_retries_are_both_applied_in_sequence(self, store_url: str) -> None:
        with CRM.open(store_url) as setup:
            customer_id = register(setup)
        with CRM.open(store_url, clock=_racing_clock(2)) as crm:
            outcomes = _race(
                crm,
                [AwardLoyaltyPoints(customer_id=customer_id, points=p) for p in (10, 20)],
            )
            events = crm.events(customer_id)
            customer = crm.load(Customer, customer_id)

        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert [e.version for e in events] == [1, 2, 3]
        earned = [e for e in events if isinstance(e, LoyaltyPointsEarned)]
        assert sorted(e.points for e in earned) == [10, 20]
        assert [e.balance_after for e in earned][-1] == customer.loyalty_points == 30

    def test_a_clock_read_that_races_another_writers_commit_is_read_again(
        self, store_url: str
    ) -> None:
        """The clock says 10:00; before the command loads its customer, another writer
        records an event at 10:05. The command is not refused for going back in time: it
        reads the clock again (10:10) and applies."""
        times = iter(
            [datetime(2026, 3, 2, 10, 0, tzinfo=UTC), datetime(2026, 3, 2, 10, 10, tzinfo=UTC)]
        )
        with CRM.open(store_url, clock=lambda: datetime(2026, 3, 2, 9, tzinfo=UTC)) as setup:
            customer_id = register(setup)
        with CRM.open(store_url, clock=lambda: datetime(2026, 3, 2, 10, 5, tzinfo=UTC)) as other:
            raced = False

            def clock() -> datetime:
                nonlocal raced
                now = next(times)
                if not raced:
                    raced = True
                    other.execute(
                        AwardLoyaltyPoints(customer_id=customer_id, points=1), actor=MANAGER
                    )
                return now

            with CRM.open(store_url, clock=clock) as crm:
                result = crm.execute(
                    AwardLoyaltyPoints(customer_id=customer_id, points=2), actor=MANAGER
                )
        assert [e.occurred_at.minute for e in result.events] == [10]
        assert result.version == 3

    def test_racing_registrations_of_one_external_ref_make_one_customer(
        self, store_url: str
    ) -> None:
        with CRM.open(store_url, clock=_racing_clock(2)) as crm:
            outcomes = _race(
                crm,
                [
                    RegisterCustomer(kind="company", name=name, external_ref="ERP-42")
                    for name in ("First", "Second")
                ],
            )
            count = crm.store.count_events()

        errors = [o for o in outcomes if isinstance(o, RuleViolation)]
        assert len(errors) == 1, outcomes
        assert (errors[0].rule, errors[0].field) == ("external_ref_unique", "external_ref")
        assert count == 3  # one CustomerRegistered, its external_ref claim, its command record


class TestLogs:
    def test_each_command_logs_one_event_without_personal_data(self, crm: CRM) -> None:
        with capture_logs() as logs:
            customer_id = register(crm, name="Zhang San", email="zhang.san@example.com")
            with pytest.raises(RuleViolation):
                register(crm, name="Zhang San", birthday="2099-01-01")

        assert [entry["outcome"] for entry in logs] == ["applied", "rejected"]
        assert logs[0]["command"] == "RegisterCustomer"
        assert logs[0]["aggregate_id"] == str(customer_id)
        assert logs[0]["actor_id"] == REP.id
        assert logs[1]["rule"] == "birthday_not_in_future"
        assert all("duration_ms" in entry for entry in logs)
        flat = repr(logs)
        assert "Zhang" not in flat and "zhang.san" not in flat


def test_memory_stores_are_private_to_each_crm() -> None:
    with CRM.open("memory://") as first, CRM.open("memory://") as second:
        register(first)
        assert first.store.count_events() == 2  # the event and its command record
        assert second.store.count_events() == 0


def test_a_command_built_without_validation_is_validated_by_execute(crm: CRM) -> None:
    customer_id = register(crm)
    count = crm.store.count_events()
    unchecked = AwardLoyaltyPoints.model_construct(customer_id=customer_id, points=-5)

    with pytest.raises(ValidationError) as caught:
        crm.execute(unchecked, actor=MANAGER)

    assert caught.value.errors()[0]["loc"] == ("points",)
    assert crm.store.count_events() == count
