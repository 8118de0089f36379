"""The soak test's ledger, held against the log: what the writers were told against what
the store holds.

An acknowledged command must be in the log exactly once: one command record naming the
events its result named, those events stored as returned, nothing else under its command
id but its unique-value claims. A refused command must have left nothing at all under its
command id. Nothing may be in the log that no acknowledged command accounts for. Every
(stream, version) is stored once and every stream's versions run 1..n without a gap. Loyalty
balances, raced for by every writer, must chain from event to event (no lost update) and
end at the sum of the acknowledged awards and redemptions, also when the customer is loaded
through its snapshot.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from uuid import UUID

from application import CRM
from application.command_log import CommandRecorded
from domain.aggregates import Customer
from domain.events.base import DomainEvent
from domain.events.customer import LoyaltyPointsEarned, LoyaltyPointsRedeemed
from tests.reliability.soak_workload import Attempt

PAGE = 5_000
Key = tuple[UUID, int]


@dataclass
class LedgerReport:
    tried: int = 0
    acknowledged: int = 0
    replayed: int = 0  # resends answered with the first result
    refused: Counter[str] = field(default_factory=Counter)  # error (and rule) -> count
    deliberate: int = 0  # invalid whatever the interleaving, refused as predicted
    # Commands that set no business time, refused because another writer's event, stamped
    # by a clock read after theirs, committed between their clock read and their load.
    clock_races: int = 0
    events: int = 0  # stored rows: business events, command records, claims
    business_events: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def refusals(self) -> int:
        return sum(self.refused.values())


def read_log(crm: CRM) -> list[tuple[int, DomainEvent]]:
    """Every stored event with its position, in log order."""
    log: list[tuple[int, DomainEvent]] = []
    after = 0
    while page := crm.store.read(after=after, limit=PAGE):
        log.extend((n.id, crm.store.decode(n)) for n in page)
        after = page[-1].id
    return log


def _key(event: DomainEvent) -> Key:
    return (event.aggregate_id, event.version)


def check(crm: CRM, attempts: Iterable[Attempt]) -> LedgerReport:
    attempts = list(attempts)
    report = LedgerReport(tried=len(attempts))
    problem = report.problems.append
    log = [event for _, event in read_log(crm)]
    report.events = len(log)

    stored = Counter(_key(e) for e in log)
    problem_keys = [key for key, n in stored.items() if n != 1]
    for key in problem_keys:
        problem(f"{key} stored {stored[key]} times")
    versions: defaultdict[UUID, list[int]] = defaultdict(list)
    for event in log:
        versions[event.aggregate_id].append(event.version)
    for stream, found in versions.items():
        if sorted(found) != list(range(1, len(found) + 1)):
            problem(f"stream {stream} has versions {sorted(found)[:10]}...")

    by_key = {_key(e): e for e in log}
    by_command: defaultdict[str | None, list[DomainEvent]] = defaultdict(list)
    for event in log:
        by_command[event.command_id].append(event)
    business = [e for e in log if not type(e).bookkeeping]
    report.business_events = len(business)

    acknowledged = {a.command_id: a for a in attempts if a.result and a.resend_of is None}
    report.acknowledged = len(acknowledged)
    referenced: Counter[Key] = Counter()
    for command_id, attempt in acknowledged.items():
        assert attempt.result is not None
        refs = [_key(e) for e in attempt.result.events]
        records = [e for e in by_command[command_id] if isinstance(e, CommandRecorded)]
        if len(records) != 1:
            problem(f"acknowledged {command_id} has {len(records)} command records")
            continue
        (record,) = records
        referenced.update((r.aggregate_id, r.version) for r in record.events)
        if [(r.aggregate_id, r.version) for r in record.events] != refs:
            problem(f"{command_id}: the record names {record.events}, the result {refs}")
        if record.command_type != type(attempt.command).__name__:
            problem(f"{command_id}: recorded as {record.command_type}")
        for event in attempt.result.events:
            if by_key.get(_key(event)) != event:
                name = type(event).__name__
                problem(f"{command_id}: {name} {_key(event)} not stored as returned")
        own = {_key(e) for e in by_command[command_id] if not type(e).bookkeeping}
        if own != set(refs):
            problem(f"{command_id}: stored business events {own} but the result named {refs}")

    for attempt in attempts:
        if attempt.error is not None:
            report.refused[_refusal(attempt.error)] += 1
            if (
                getattr(attempt.error, "rule", None) == "occurred_at_in_order"
                and attempt.command.occurred_at is None
            ):
                report.clock_races += 1
            if attempt.must_fail is not None and attempt.expected:
                report.deliberate += 1
            if attempt.reuses is None and by_command.get(attempt.command_id):
                problem(f"refused {attempt.command_id} left {by_command[attempt.command_id]}")
        elif attempt.resend_of is not None and attempt.expected:
            report.replayed += 1
        if not attempt.expected:
            problem(
                f"{attempt.command_id} {type(attempt.command).__name__}: unexpected outcome "
                f"{attempt.error!r}"
                + (f" (must fail with {attempt.must_fail.__name__})" if attempt.must_fail else "")
            )

    for command_id, events in by_command.items():
        if command_id not in acknowledged:
            problem(f"{len(events)} events of {command_id}, which nobody was told succeeded")
    unreferenced = Counter(_key(e) for e in business) - referenced
    overreferenced = referenced - Counter(_key(e) for e in business)
    if unreferenced or overreferenced:
        problem(f"business events not named once by a command record: {unreferenced}")
        problem(f"named by command records but not stored once: {overreferenced}")

    _check_loyalty(crm, log, acknowledged.values(), problem)
    return report


def _refusal(error: BaseException) -> str:
    rule = getattr(error, "rule", None)
    return type(error).__name__ + (f" {rule}" if rule else "")


def _check_loyalty(
    crm: CRM,
    log: list[DomainEvent],
    acknowledged: Iterable[Attempt],
    report: Callable[[str], None],
) -> None:
    told: Counter[UUID] = Counter()  # the balance the acknowledgements add up to
    for attempt in acknowledged:
        assert attempt.result is not None
        for event in attempt.result.events:
            if isinstance(event, LoyaltyPointsEarned):
                told[event.aggregate_id] += event.points
            elif isinstance(event, LoyaltyPointsRedeemed):
                told[event.aggregate_id] -= event.points
    chained: Counter[UUID] = Counter()
    for event in sorted(log, key=_key):
        if isinstance(event, LoyaltyPointsEarned | LoyaltyPointsRedeemed):
            sign = 1 if isinstance(event, LoyaltyPointsEarned) else -1
            chained[event.aggregate_id] += sign * event.points
            if event.balance_after != chained[event.aggregate_id]:
                report(
                    f"customer {event.aggregate_id} v{event.version}: balance_after "
                    f"{event.balance_after}, the events before it add up to "
                    f"{chained[event.aggregate_id]}"
                )
    for customer_id in set(told) | set(chained):
        loaded = crm.load(Customer, customer_id).loyalty_points
        if not told[customer_id] == chained[customer_id] == loaded:
            report(
                f"customer {customer_id}: acknowledged points add up to {told[customer_id]}, "
                f"the log to {chained[customer_id]}, the loaded customer holds {loaded}"
            )
