"""A decision is stored only if the streams it read, and does not write, have not moved.

An order reads its customer and writes only itself: a merge of that customer committed
between the read and the append would not collide with anything the order writes. Each
write path — a plain command, a batch, a group commit — looks at those streams inside its
append's own transaction, once no other writer can insert, and decides again if one moved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.audit.verify import verify_chains
from adapters.imports import streams
from application import CRM
from application import batch as batch_module
from application import crm as crm_module
from application import group_commit as group_commit_module
from application.commands import AwardLoyaltyPoints, MergeCustomers, RecordContact
from application.commands.order import ImportOrder
from application.errors import ConcurrencyConflict
from application.handlers import registry
from domain.errors import RuleViolation
from tests.application.builders import ADMIN, MANAGER, REP, register
from tests.application.test_group_commit import Handlers, grouped, run_as_one_group
from tests.imports.test_execute_batch import count_appends, order, topics


def merge_after_first_decision(
    monkeypatch: pytest.MonkeyPatch, store_url: str, survivor: Any, duplicate: Any
) -> list[str]:
    """Wraps the ImportOrder handler: once it has decided the first time, another CRM
    (another process, say) merges the order's customer away. The runs, by command id."""
    runs: list[str] = []
    real: Callable[..., Any] = registry.HANDLERS[ImportOrder]

    def deciding(uow: Any, command: Any, context: Any) -> Any:
        runs.append(str(command.command_id))
        decided = real(uow, command, context)
        if len(runs) == 1:
            with CRM.open(store_url) as other:
                other.execute(
                    MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), actor=MANAGER
                )
        return decided

    monkeypatch.setitem(registry.HANDLERS, ImportOrder, deciding)
    return runs


def test_a_command_whose_customer_was_merged_meanwhile_is_decided_again(
    crm: CRM, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor, duplicate = register(crm), register(crm)
    runs = merge_after_first_decision(monkeypatch, store_url, survivor, duplicate)

    with pytest.raises(RuleViolation) as refused:
        crm.execute(order(duplicate, "O-1"), actor=ADMIN)

    assert refused.value.rule == "customer_merged"
    assert runs == ["import:order:O-1", "import:order:O-1"]  # decided again, then refused
    assert topics(crm)["OrderImported"] == 0
    assert verify_chains(crm.store).ok


def test_a_batch_whose_customer_was_merged_meanwhile_is_decided_again_in_bulk(
    crm: CRM, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor, duplicate, other = register(crm), register(crm), register(crm)
    merge_after_first_decision(monkeypatch, store_url, survivor, duplicate)

    appends = count_appends(crm, monkeypatch)
    with capture_logs() as logs:
        outcomes = crm.execute_batch([order(duplicate, "O-1"), order(other, "O-2")], actor=ADMIN)

    assert [o.ok for o in outcomes] == [False, True]
    assert getattr(outcomes[0].error, "rule", None) == "customer_merged"
    (conflict,) = [e for e in logs if e["event"] == "batch_conflict"]
    assert (conflict["moved_streams"], conflict["then"]) == (1, "decide_again")
    assert appends == [6, 3]  # refused as decided first; decided again in bulk, stored
    assert topics(crm)["OrderImported"] == 1
    assert verify_chains(crm.store).ok


def test_a_group_member_whose_customer_was_merged_meanwhile_goes_back_alone(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handlers = Handlers(monkeypatch)
    with grouped(store_url) as crm, CRM.open(store_url) as other:
        survivor, duplicate, calm = register(crm), register(crm), register(crm)
        handlers.before["hot"] = lambda: other.execute(
            MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), actor=MANAGER
        )
        calls = [
            (order(duplicate, "O-1").model_copy(update={"command_id": "hot"}), ADMIN),
            (
                RecordContact(
                    customer_id=calm,
                    channel="phone",
                    direction="outbound",
                    summary="Called.",
                    command_id="calm",
                ),
                REP,
            ),
        ]
        with capture_logs() as logs:
            outcomes = run_as_one_group(crm, handlers, calm, calls)

        assert isinstance(outcomes[0], RuleViolation) and outcomes[0].rule == "customer_merged"
        assert not isinstance(outcomes[1], Exception)
        assert handlers.runs["hot"] == 2 and handlers.runs["calm"] == 1
        (conflict,) = [e for e in logs if e["event"] == "group_commit_conflict"]
        assert conflict["sent_back"] == 1
        assert topics(crm)["OrderImported"] == 0
        assert verify_chains(crm.store).ok


def looks_taken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many streams each append's look covered (0: no look)."""
    taken: list[int] = []
    real = streams.unmoved

    def counting(store: Any, read: Any) -> Any:
        taken.append(len(read))
        return real(store, read)

    for module in (crm_module, batch_module, group_commit_module):
        monkeypatch.setattr(module, "unmoved", counting)
    return taken


def test_a_command_that_writes_all_it_read_pays_for_no_look(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = register(crm)
    taken = looks_taken(monkeypatch)
    crm.execute(AwardLoyaltyPoints(customer_id=customer_id, points=5), actor=MANAGER)
    crm.execute(order(customer_id, "O-1"), actor=ADMIN)  # reads its customer, writes itself
    assert taken == [0, 1]


def test_a_command_whose_customer_keeps_moving_gives_up_with_a_concurrency_conflict(
    crm: CRM, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = register(crm)
    real: Callable[..., Any] = registry.HANDLERS[ImportOrder]

    def deciding(uow: Any, command: Any, context: Any) -> Any:
        decided = real(uow, command, context)
        with CRM.open(store_url) as other:  # moves the customer after every decision
            other.execute(AwardLoyaltyPoints(customer_id=customer_id, points=1), actor=MANAGER)
        return decided

    monkeypatch.setitem(registry.HANDLERS, ImportOrder, deciding)
    with pytest.raises(ConcurrencyConflict):
        crm.execute(order(customer_id, "O-1"), actor=ADMIN)
    assert topics(crm)["OrderImported"] == 0


def test_a_group_member_reading_what_a_later_member_writes_goes_back_when_it_moved(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader comes first in the group, the writer of the same customer second; the
    customer is merged away from outside once both decided. The group's append collides on
    the writer's version, and the reader goes back too: its decision read what moved."""
    handlers = Handlers(monkeypatch)
    with grouped(store_url) as crm, CRM.open(store_url) as other:
        survivor, duplicate, gate = register(crm), register(crm), register(crm)
        handlers.before["writer"] = lambda: other.execute(
            MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), actor=MANAGER
        )
        calls = [
            (order(duplicate, "O-1").model_copy(update={"command_id": "reader"}), ADMIN),
            (
                AwardLoyaltyPoints(customer_id=duplicate, points=5, command_id="writer"),
                MANAGER,
            ),
        ]
        with capture_logs() as logs:
            outcomes = run_as_one_group(crm, handlers, gate, calls)

        assert isinstance(outcomes[0], RuleViolation) and outcomes[0].rule == "customer_merged"
        assert isinstance(outcomes[1], RuleViolation) and outcomes[1].rule == "customer_merged"
        assert handlers.runs["reader"] == 2 and handlers.runs["writer"] == 2
        (conflict,) = [e for e in logs if e["event"] == "group_commit_conflict"]
        assert conflict["sent_back"] == 2
        assert topics(crm)["OrderImported"] == 0
        assert verify_chains(crm.store).ok


def test_a_group_finds_every_stream_that_moved_in_one_query(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two members whose written customers moved and one whose read customer moved: the
    send-back looks at every stream the group wrote or read in one statement, not one each."""
    looks: list[tuple[int, int]] = []  # (streams asked about, statements run) per look
    real = group_commit_module.moved_since

    def counting(cursor: Any, dialect: Any, expected: Any) -> Any:
        counted = CountingCursor(cursor)
        try:
            return real(counted, dialect, expected)
        finally:
            looks.append((len(expected), counted.statements))

    monkeypatch.setattr(group_commit_module, "moved_since", counting)
    handlers = Handlers(monkeypatch)
    with grouped(store_url) as crm, CRM.open(store_url) as other:
        first, second, read, calm, gate = (register(crm) for _ in range(5))
        for command_id, customer in (("w1", first), ("w2", second), ("r1", read)):
            handlers.before[command_id] = lambda customer=customer: other.execute(
                AwardLoyaltyPoints(customer_id=customer, points=1), actor=MANAGER
            )
        calls = [
            (AwardLoyaltyPoints(customer_id=first, points=5, command_id="w1"), MANAGER),
            (AwardLoyaltyPoints(customer_id=second, points=5, command_id="w2"), MANAGER),
            (order(read, "O-1").model_copy(update={"command_id": "r1"}), ADMIN),
            (AwardLoyaltyPoints(customer_id=calm, points=5, command_id="calm"), MANAGER),
        ]
        with capture_logs() as logs:
            outcomes = run_as_one_group(crm, handlers, gate, calls)

        assert not any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
        assert [handlers.runs[c] for c in ("w1", "w2", "r1", "calm")] == [2, 2, 2, 1]
        (conflict,) = [e for e in logs if e["event"] == "group_commit_conflict"]
        assert (conflict["streams"], conflict["sent_back"]) == (3, 3)
        # Written: three customers, the order, its order_ref claim and four command records;
        # read and not written: one customer.
        assert looks == [(3 + 1 + 1 + 4 + 1, 1)]
        assert topics(crm)["OrderImported"] == 1
        assert verify_chains(crm.store).ok


class CountingCursor:
    """A cursor that counts the statements run through it."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return self._cursor.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)
