"""Group commit: concurrent callers share one transaction, each keeping its own outcome.

A group is formed deterministically: a first caller's command is held inside its handler
(it leads, alone, on the plain path) while the other callers queue behind it; once they
are all queued it is let go, and the next leader takes the whole queue as one group.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from adapters.projection_runner import ProjectionRunner
from application import CRM, Actor, NotFound, Role, RuleViolation, Settings, group_commit
from application.command_log import derived_id
from application.commands import (
    AwardLoyaltyPoints,
    ChangeRelationshipTier,
    RecordContact,
    RedeemLoyaltyPoints,
    RegisterCustomer,
)
from application.commands.base import Command
from application.handlers import registry
from application.result import CommandResult
from domain.aggregates.customer import Customer
from projections.opportunity_pipeline import OpportunityPipelineProjection
from tests.application.builders import MANAGER, REP, open_opportunity
from tests.late_commit import hold_insert_open
from tests.projections.tables import dump

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CONTACT = {"channel": "phone", "direction": "outbound", "summary": "Called about the renewal."}
DIRECTOR = Actor(id="dir-1", roles=frozenset({Role.DIRECTOR}))


def grouped(url: str, **kwargs: Any) -> CRM:
    return CRM.open(url, settings=Settings(group_commit=True), **kwargs)


def fixed_clock() -> datetime:
    return NOW


def contact(customer_id: UUID) -> RecordContact:
    return RecordContact(customer_id=customer_id, **CONTACT)


class Handlers:
    """Wraps the registered handlers: counts each command id's handler runs, holds the
    gate command until released, and runs a ``before`` hook once per command id, after
    its handler decided and before its events are appended."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs: Counter[str] = Counter()
        self.gate_id = "gate"
        self.release = threading.Event()
        self.before: dict[str, Callable[[], None]] = {}
        for command_type, handler in list(registry.HANDLERS.items()):
            monkeypatch.setitem(registry.HANDLERS, command_type, self._wrap(handler))

    def _wrap(self, handler: Any) -> Any:
        def run(uow: Any, command: Command, context: Any) -> Any:
            command_id = str(command.command_id)
            self.runs[command_id] += 1
            if command_id == self.gate_id:
                assert self.release.wait(timeout=30)
            decided = handler(uow, command, context)
            hook = self.before.pop(command_id, None)
            if hook is not None:  # after the handler has read its state, before the append
                hook()
            return decided

        return run


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Handlers:
    return Handlers(monkeypatch)


def run_as_one_group(
    crm: CRM, handlers: Handlers, gate_customer: UUID, calls: Sequence[tuple[Command, Actor]]
) -> list[CommandResult | Exception]:
    """Every call in its own thread, queued behind a held command, so that they are all
    taken as one group when it is let go. Each call's outcome, in the order given."""
    assert crm.group is not None
    outcomes: list[CommandResult | Exception | None] = [None] * len(calls)

    def call(index: int, command: Command, actor: Actor) -> None:
        try:
            outcomes[index] = crm.execute(command, actor=actor)
        except Exception as error:
            outcomes[index] = error

    gate = threading.Thread(
        target=lambda: crm.execute(
            contact(gate_customer).model_copy(update={"command_id": handlers.gate_id}), actor=REP
        )
    )
    gate.start()
    _until(lambda: handlers.runs[handlers.gate_id] == 1)
    threads = [
        threading.Thread(target=call, args=(i, command, actor))
        for i, (command, actor) in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    _until(lambda: crm.group is not None and crm.group.queued == len(calls))
    handlers.release.set()
    for thread in [gate, *threads]:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return [outcome for outcome in outcomes if outcome is not None]


def _until(condition: Callable[[], bool]) -> None:
    """Threads queueing is what is waited for here, not a projection."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the callers to queue"
        time.sleep(0.001)


def group_logs(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "group_commit"]


def stored_log(crm: CRM) -> list[tuple[str, UUID, int, dict[str, Any]]]:
    """The whole event log in order, decoded: topic, stream, version, payload."""
    rows: list[tuple[str, UUID, int, dict[str, Any]]] = []
    after = 0
    while page := crm.store.read(after=after, limit=500):
        for notification in page:
            event = crm.store.decode(notification)
            rows.append((notification.topic, event.aggregate_id, event.version, event.model_dump()))
        after = page[-1].id
    return rows


# ---- many callers -------------------------------------------------------------------------


def test_many_threads_get_their_own_results_and_every_event_is_stored_once(
    store_url: str,
) -> None:
    threads, per_thread = 8, 12
    with grouped(store_url) as crm:
        shared = crm.execute(RegisterCustomer(kind="company", name="Shared Co."), actor=REP)
        results: dict[tuple[int, int], CommandResult] = {}
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                own = crm.execute(
                    RegisterCustomer(kind="individual", name=f"Person {worker}"), actor=REP
                ).aggregate_id
                for n in range(per_thread):
                    target = shared.aggregate_id if n % 2 else own
                    results[(worker, n)] = crm.execute(
                        AwardLoyaltyPoints(customer_id=target, points=worker * 100 + n + 1),
                        actor=MANAGER,
                    )
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        with capture_logs() as logs:
            pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join(timeout=120)
        assert not errors, errors
        assert len(results) == threads * per_thread

        # Each caller got its own award back, and it is the stored one.
        for (worker, n), result in results.items():
            (earned,) = result.events
            assert earned.points == worker * 100 + n + 1  # type: ignore[attr-defined]
            assert earned.aggregate_id == result.aggregate_id
            assert crm.events(result.aggregate_id)[earned.version - 1] == earned

        # Stored exactly once: gap-free versions, one event per acknowledged award.
        log = stored_log(crm)
        keys = [(stream, version) for _, stream, version, _ in log]
        assert len(keys) == len(set(keys))
        awards = [row for row in log if row[0].endswith("LoyaltyPointsEarned")]
        assert len(awards) == threads * per_thread
        shared_customer = crm.load(Customer, shared.aggregate_id)
        expected = sum(w * 100 + n + 1 for w in range(threads) for n in range(1, per_thread, 2))
        assert shared_customer.loyalty_points == expected
        assert shared_customer.version == 1 + threads * per_thread // 2
        # Groups did form: fewer transactions than commands.
        assert group_logs(logs), "no group was ever formed"


def test_a_lone_caller_commits_at_once_on_the_plain_path(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were a lone caller ever to wait for company, each command would take half a minute.
    monkeypatch.setattr(group_commit, "GATHER_WAIT_S", 30.0)
    with grouped(store_url) as crm, capture_logs() as logs:
        started = time.perf_counter()
        results = [crm.execute(RegisterCustomer(kind="company", name="First"), actor=REP)]

        def later_caller() -> None:  # one caller after another: never two at a time
            for n in range(4):
                results.append(
                    crm.execute(RegisterCustomer(kind="company", name=f"Alone {n}"), actor=REP)
                )

        thread = threading.Thread(target=later_caller)
        thread.start()
        thread.join(timeout=120)
        elapsed = time.perf_counter() - started
        for result in results:
            assert crm.events(result.aggregate_id) == list(result.events)
    assert len(results) == 5
    assert not group_logs(logs)
    assert elapsed < 15


# ---- one caller's failure, one caller's conflict --------------------------------------------


def test_one_bad_command_in_a_group_fails_alone_with_its_typed_error(
    store_url: str, handlers: Handlers
) -> None:
    with grouped(store_url) as crm:
        customers = [
            crm.execute(RegisterCustomer(kind="company", name=f"Co {i}"), actor=REP).aggregate_id
            for i in range(4)
        ]
        calls: list[tuple[Command, Actor]] = [
            (AwardLoyaltyPoints(customer_id=customers[1], points=10), MANAGER),
            (RedeemLoyaltyPoints(customer_id=customers[2], points=5), REP),  # balance is 0
            (AwardLoyaltyPoints(customer_id=uuid4(), points=3), MANAGER),  # nobody
            (contact(customers[3]), REP),
            (RegisterCustomer(kind="individual", name="New Person"), REP),
        ]
        with capture_logs() as logs:
            outcomes = run_as_one_group(crm, handlers, customers[0], calls)

        (group,) = group_logs(logs)
        assert (group["commands"], group["committed"], group["failed"]) == (5, 3, 2)
        assert group["appends"] == 1
        redeem, nobody = outcomes[1], outcomes[2]
        assert isinstance(redeem, RuleViolation)
        assert (redeem.rule, redeem.field) == ("loyalty_points_never_negative", "points")
        assert isinstance(nobody, NotFound) and nobody.field == "customer_id"
        for outcome in (outcomes[0], outcomes[3], outcomes[4]):
            assert isinstance(outcome, CommandResult)
            assert crm.events(outcome.aggregate_id)[-1] == outcome.events[-1]
        assert [e.version for e in crm.events(customers[2])] == [1]  # nothing of the refusal
        assert crm.load(Customer, customers[1]).loyalty_points == 10


def test_a_conflict_in_a_group_retries_only_its_own_command(
    store_url: str, handlers: Handlers
) -> None:
    with grouped(store_url) as crm, CRM.open(store_url) as other:
        customers = [
            crm.execute(RegisterCustomer(kind="company", name=f"Co {i}"), actor=REP).aggregate_id
            for i in range(4)
        ]
        hot = customers[1]
        # While the group decides, another CRM (another process, say) writes the stream
        # the "hot" command writes: the group's append must collide with it.
        handlers.before["hot"] = lambda: other.execute(
            AwardLoyaltyPoints(customer_id=hot, points=1000), actor=MANAGER
        )
        calls: list[tuple[Command, Actor]] = [
            (AwardLoyaltyPoints(customer_id=customers[2], points=5, command_id="calm-1"), MANAGER),
            (AwardLoyaltyPoints(customer_id=hot, points=7, command_id="hot"), MANAGER),
            (contact(customers[3]).model_copy(update={"command_id": "calm-2"}), REP),
            (RegisterCustomer(kind="individual", name="Newcomer", command_id="calm-3"), REP),
        ]
        with capture_logs() as logs:
            outcomes = run_as_one_group(crm, handlers, customers[0], calls)

        assert all(isinstance(o, CommandResult) for o in outcomes), outcomes
        # The hot command ran twice (the group, then alone); every other command once.
        assert handlers.runs["hot"] == 2
        assert [handlers.runs[f"calm-{i}"] for i in (1, 2, 3)] == [1, 1, 1]
        (conflict,) = [e for e in logs if e["event"] == "group_commit_conflict"]
        assert conflict["sent_back"] == 1
        attempts = {
            e["aggregate_id"]: e["attempts"]
            for e in logs
            if e["event"] == "command" and e["outcome"] == "applied"
        }
        assert attempts[str(hot)] == 2
        assert attempts[str(customers[2])] == attempts[str(customers[3])] == 1
        (group,) = group_logs(logs)
        assert (group["committed"], group["alone"], group["appends"]) == (3, 1, 2)
        # Both awards on the hot stream are stored, one after the other.
        assert crm.load(Customer, hot).loyalty_points == 1007
        assert [e.version for e in crm.events(hot)] == [1, 2, 3]


# ---- idempotency ---------------------------------------------------------------------------


def test_a_command_id_given_twice_in_one_group_is_applied_once(
    store_url: str, handlers: Handlers
) -> None:
    with grouped(store_url) as crm:
        gate_customer = crm.execute(
            RegisterCustomer(kind="company", name="Gate Co."), actor=REP
        ).aggregate_id
        twice = RegisterCustomer(kind="company", name="Twice Ltd.", command_id="erp:42")
        calls: list[tuple[Command, Actor]] = [
            (twice, REP),
            (RegisterCustomer(kind="individual", name="Someone Else"), REP),
            (twice, REP),
        ]
        outcomes = run_as_one_group(crm, handlers, gate_customer, calls)
        first, _, second = outcomes
        assert isinstance(first, CommandResult) and isinstance(second, CommandResult)
        assert {first.replayed, second.replayed} == {False, True}
        assert first.aggregate_id == second.aggregate_id
        assert first.events == second.events
        assert [e.version for e in crm.events(first.aggregate_id)] == [1]
        assert handlers.runs["erp:42"] == 1


def test_a_command_id_recorded_by_an_earlier_group_is_replayed_or_refused(
    store_url: str, handlers: Handlers
) -> None:
    with grouped(store_url) as crm:
        gate_customer = crm.execute(
            RegisterCustomer(kind="company", name="Gate Co."), actor=REP
        ).aggregate_id
        earlier = crm.group.execute_together(  # type: ignore[union-attr]
            [
                AwardLoyaltyPoints(customer_id=gate_customer, points=4, command_id="award-1"),
                RegisterCustomer(kind="company", name="Early Co.", command_id="reg-1"),
            ],
            actor=DIRECTOR,
        )
        assert all(isinstance(o, CommandResult) and not o.replayed for o in earlier)
        calls: list[tuple[Command, Actor]] = [
            (
                AwardLoyaltyPoints(customer_id=gate_customer, points=4, command_id="award-1"),
                MANAGER,
            ),
            (AwardLoyaltyPoints(customer_id=gate_customer, points=9, command_id="reg-1"), MANAGER),
            (AwardLoyaltyPoints(customer_id=gate_customer, points=2), MANAGER),
        ]
        outcomes = run_as_one_group(crm, handlers, gate_customer, calls)

        replay, reused, fresh = outcomes
        assert isinstance(replay, CommandResult) and replay.replayed
        assert replay.events == earlier[0].events  # type: ignore[union-attr]
        assert isinstance(reused, RuleViolation) and reused.rule == "command_id_unique"
        assert isinstance(fresh, CommandResult) and not fresh.replayed
        assert crm.load(Customer, gate_customer).loyalty_points == 6
        assert handlers.runs["award-1"] == 1


# ---- the group path decides exactly what the plain path decides ------------------------------


OPS = st.one_of(
    st.tuples(st.just("register"), st.sampled_from([None, "ref-a", "ref-b"])),
    st.tuples(st.just("award"), st.integers(0, 3), st.integers(1, 50)),
    st.tuples(st.just("redeem"), st.integers(0, 3), st.integers(1, 60)),
    st.tuples(st.just("contact"), st.integers(0, 3)),
    st.tuples(
        st.just("tier"), st.integers(0, 3), st.sampled_from(["partner", "preferred_supplier"])
    ),
    st.tuples(st.just("again"), st.integers(0, 3)),
    st.tuples(st.just("nobody")),
)


def commands_for(ops: Sequence[tuple[Any, ...]]) -> list[Command]:
    """Commands with explicit ids, so that both paths create the same aggregates; customer
    indexes point at earlier registrations (or at nothing yet)."""
    registered: list[RegisterCustomer] = []
    customer_ids: list[UUID] = []
    commands: list[Command] = []
    for n, op in enumerate(ops):

        def customer(index: int) -> UUID:
            return customer_ids[index % len(customer_ids)] if customer_ids else uuid4()

        match op:
            case ("register", ref):
                command: Command = RegisterCustomer(
                    kind="company", name=f"Co {n}", external_ref=ref, command_id=f"c{n}"
                )
                registered.append(command)  # type: ignore[arg-type]
                customer_ids.append(derived_id(command, "customer"))  # type: ignore[arg-type]
            case ("award", index, points):
                command = AwardLoyaltyPoints(
                    customer_id=customer(index), points=points, command_id=f"c{n}"
                )
            case ("redeem", index, points):
                command = RedeemLoyaltyPoints(
                    customer_id=customer(index), points=points, command_id=f"c{n}"
                )
            case ("contact", index):
                command = contact(customer(index)).model_copy(update={"command_id": f"c{n}"})
            case ("tier", index, tier):
                command = ChangeRelationshipTier(
                    customer_id=customer(index), tier=tier, command_id=f"c{n}"
                )
            case ("again", index):
                if not registered or registered[index % len(registered)].external_ref:
                    continue
                command = registered[index % len(registered)]  # the same id, the same payload
            case _:
                command = AwardLoyaltyPoints(customer_id=uuid4(), points=1, command_id=f"c{n}")
        commands.append(command)
    return commands


def outcome_key(outcome: CommandResult | Exception) -> tuple[Any, ...]:
    if isinstance(outcome, CommandResult):
        return ("ok", outcome.aggregate_id, outcome.version, outcome.events, outcome.replayed)
    return ("error", type(outcome).__name__, getattr(outcome, "rule", None))


def assert_same_as_plain(plain_url: str, group_url: str, commands: Sequence[Command]) -> None:
    with CRM.open(plain_url, clock=fixed_clock) as plain:
        expected: list[CommandResult | Exception] = []
        for command in commands:
            try:
                expected.append(plain.execute(command, actor=DIRECTOR))
            except Exception as error:
                expected.append(error)
        plain_log = stored_log(plain)
    with grouped(group_url, clock=fixed_clock) as crm:
        assert crm.group is not None
        actual = crm.group.execute_together(commands, actor=DIRECTOR)
        group_log = stored_log(crm)
    assert [outcome_key(o) for o in actual] == [outcome_key(o) for o in expected]
    assert group_log == plain_log


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=14))
def test_a_group_records_what_the_plain_path_records_for_the_same_commands(
    ops: list[tuple[Any, ...]],
) -> None:
    assert_same_as_plain("memory://", "memory://", commands_for(ops))


def test_a_long_mixed_sequence_gives_the_same_log_on_both_paths(
    store_url: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    ops: list[tuple[Any, ...]] = [
        ("register", None), ("register", "ref-a"), ("award", 0, 40), ("redeem", 0, 30),
        ("redeem", 0, 30), ("register", "ref-a"), ("contact", 1), ("tier", 1, "partner"),
        ("tier", 1, "partner"), ("again", 0), ("nobody",), ("award", 1, 5), ("redeem", 1, 5),
    ]  # fmt: skip
    if store_url.startswith("sqlite"):
        plain_url = f"sqlite:///{tmp_path / 'plain.db'}"
    else:  # a schema of its own next to the test's, dropped with it at the end of the run
        prefix, schema = store_url.rsplit("schema=", 1)
        request.getfixturevalue("pg_schemas").append(f"plain_{schema}")
        plain_url = f"{prefix}schema=plain_{schema}"
    assert_same_as_plain(plain_url, store_url, commands_for(ops))


# ---- gap-free ordering for the projections --------------------------------------------------


def test_a_reader_never_skips_a_group_that_commits_late(postgres_url: str) -> None:
    """A writer holds its insert open under the table lock; a caller and then a group of
    callers wait behind it. The runner, reading meanwhile, sees none of them; once they
    commit, in order, it sees them all."""
    with grouped(postgres_url) as crm:
        assert crm.group is not None
        customer = crm.execute(
            RegisterCustomer(kind="company", name="Waiting Co."), actor=REP
        ).aggregate_id
        decoy = crm.execute(RegisterCustomer(kind="company", name="Decoy Co."), actor=REP)
        projection = OpportunityPipelineProjection()
        runner = ProjectionRunner(crm.store, [projection])
        runner.catch_up()
        slow = hold_insert_open(crm.store, decoy.aggregate_id)
        with capture_logs() as logs:
            callers = [
                threading.Thread(target=lambda n=n: open_opportunity(crm, customer, title=f"D{n}"))
                for n in range(4)
            ]
            callers[0].start()
            _until(lambda: crm.group is not None and crm.group.queued == 0)
            for thread in callers[1:]:
                thread.start()
            _until(lambda: crm.group is not None and crm.group.queued == 3)

            before = runner.catch_up()["opportunity_pipeline"]
            seen_before = len(dump(crm.store, projection)["opportunity_pipeline"])
            slow.commit()
            for thread in callers:
                thread.join(timeout=60)
            after = runner.catch_up()["opportunity_pipeline"]
        slow.close()

        seen_after = len(dump(crm.store, projection)["opportunity_pipeline"])
        lag = runner.status()[0].lag_events

    assert seen_before == 0  # nothing of the waiting writers while the insert was open
    assert after > before
    assert seen_after == 4  # every opportunity, the late-committing group's included
    assert lag == 0
    assert [entry["commands"] for entry in group_logs(logs)] == [3]
