"""Kill test (DESIGN, projections): a projection process killed with SIGKILL in the middle
of a batch, restarted, ends with tables equal to a rebuild; no event applied twice, none
skipped. On SQLite and on PostgreSQL.

The history is the demo's. It ends on 2026-01-01, far enough in the past that the
time-driven columns (complaint SLAs, churn, birthdays) do not change over the seconds
between the restarted run's tick and the rebuild's, both on the real clock.

``crm projections run`` is started through a wrapper script written into ``tmp_path`` (no
production code reads its environment variables). It logs every event each projection's
``apply`` is given, committed or not: the test sorts that out by position. For the first
run it also shrinks the batch and, once the test asks for it (half the history being
committed), makes the last projection of the lockstep group note the batch in a marker
file and sleep after writing its rows. The six other projections have then written their
rows and moved their tracking positions in the batch's open transaction: the test kills the
process there, on seeing the marker, not after a blind pause. The restart is
``crm projections run --once`` through the same wrapper, logging only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pytest

from adapters.event_store import EventStore
from adapters.projection_runner import TRACKING, ProjectionRunner
from adapters.sql import dialect_of, query, read_transaction
from domain.events.base import DomainEvent, event_class
from domain.events.opportunity import (
    OpportunityLost,
    OpportunityOpened,
    OpportunityQuoted,
    OpportunityReopened,
    OpportunityStageChanged,
    OpportunityWon,
)
from domain.events.order import (
    OrderApproved,
    OrderCancelled,
    OrderImported,
    OrderStatus,
    OrderSubmittedForApproval,
)
from projections import all_projections
from projections.base import handled_topics
from tests.projections.tables import dump

ROOT = Path(__file__).resolve().parents[2]
BATCH_SIZE = 25  # notifications per batch: the demo's ~1,400 make ~55 batches
PAUSE_PER_EVENT = 0.1  # seconds, in the open transaction of the batch the kill cuts
DEADLINE = 30.0
PROJECTIONS_LAST = all_projections()[-1].name  # the wrapper's sleeper, applied last
# Each opens a row of opportunity_stage_history.
STAGE_ENTRIES = (
    OpportunityOpened,
    OpportunityStageChanged,
    OpportunityWon,
    OpportunityLost,
    OpportunityReopened,
)

WRAPPER = '''\
"""`crm`, instrumented for the kill test (kill test only; no production code reads this).

Every projection's ``apply`` appends the events it was given to a log: committed or not,
the test sorts that out by position. With CRM_KILL_TEST_BATCH the runner reads smaller
batches. Once the file CRM_KILL_TEST_SLOW_FROM exists, the last projection of each lockstep
group, after writing its rows, notes the batch's last event in the file CRM_KILL_TEST_MARKER
and sleeps CRM_KILL_TEST_PAUSE seconds per event, inside the batch's open transaction.
"""

import os
import sys
import time

from adapters.cli import main
from adapters.projection_runner import ProjectionRunner
from projections import all_projections

BATCH = os.environ.get("CRM_KILL_TEST_BATCH")
PAUSE = float(os.environ.get("CRM_KILL_TEST_PAUSE", "0"))
SLOW_FROM = os.environ.get("CRM_KILL_TEST_SLOW_FROM")
MARKER = os.environ.get("CRM_KILL_TEST_MARKER", "")
APPLIED = os.open(os.environ["CRM_KILL_TEST_APPLIED"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)

if BATCH:
    _init = ProjectionRunner.__init__

    def _small_batches(self, *args, **kwargs):
        kwargs["batch_size"] = int(BATCH)
        _init(self, *args, **kwargs)

    ProjectionRunner.__init__ = _small_batches


def _instrument(cls, slow):
    apply = cls.apply

    def instrumented(self, events, rows):
        apply(self, events, rows)
        lines = "".join(f"{self.name} {e.aggregate_id} {e.version}\\n" for e in events)
        os.write(APPLIED, lines.encode())  # one append, whole lines
        if slow and os.path.exists(SLOW_FROM):
            last = events[-1]
            with open(MARKER + ".tmp", "w") as marker:
                marker.write(f"{last.aggregate_id} {last.version}")
            os.replace(MARKER + ".tmp", MARKER)
            time.sleep(PAUSE * len(events))

    cls.apply = instrumented


PROJECTIONS = all_projections()
for projection in PROJECTIONS:  # the last one is applied last in each lockstep group
    _instrument(type(projection), slow=SLOW_FROM and projection is PROJECTIONS[-1])

sys.exit(main(sys.argv[1:]))
'''


def _crm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def _positions(store: EventStore) -> dict[str, int]:
    """Committed tracking positions, read through the test's own connection."""
    d = dialect_of(store)
    with read_transaction(store) as cursor:
        rows = query(cursor, d, f"SELECT projection, position FROM {d.table(TRACKING.name)}")
    return {row["projection"]: int(row["position"]) for row in rows}


def _wait_for(
    condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes], output: Path
) -> None:
    """Poll ``condition`` with short waits until it holds, bounded by a deadline."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if process.poll() is not None:
            pytest.fail(
                f"the projection process exited ({process.returncode}) before {what}:\n"
                + output.read_text()[-2000:]
            )
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n" + output.read_text()[-2000:])
        time.sleep(0.005)


def _applied(log: Path) -> list[tuple[str, str, int]]:
    """(projection, aggregate id, version) of each event the instrumented process applied."""
    return [
        (name, aggregate_id, int(version))
        for name, aggregate_id, version in (line.split() for line in log.read_text().splitlines())
    ]


def _assert_counts_match_the_log(store: EventStore, events: list[DomainEvent]) -> None:
    """Counters in the tables that a replayed or skipped event would push off the counts
    read from the log itself."""
    stage_entries: Counter[UUID] = Counter()
    quotes: Counter[UUID] = Counter()
    submissions: Counter[UUID] = Counter()
    approval_steps: Counter[UUID] = Counter()
    purchased: dict[UUID, bool] = {}  # order id -> cancelled since its purchase
    for event in events:
        oid = event.aggregate_id
        if isinstance(event, STAGE_ENTRIES):
            stage_entries[oid] += 1
        elif isinstance(event, OpportunityQuoted):
            quotes[oid] += 1
        elif isinstance(event, OrderSubmittedForApproval):
            submissions[oid] += 1
            approval_steps[oid] += len(event.route)
        elif isinstance(event, OrderApproved):
            purchased[oid] = False
        elif isinstance(event, OrderCancelled) and oid in purchased:
            purchased[oid] = True
        elif isinstance(event, OrderImported):
            purchased[oid] = event.status is OrderStatus.CANCELLED
    assert stage_entries and quotes and submissions and purchased, "the demo history is too thin"

    pipeline = dump(store, next(p for p in all_projections() if p.name == "opportunity_pipeline"))
    history: defaultdict[UUID, list[int]] = defaultdict(list)
    for row in pipeline["opportunity_stage_history"]:
        history[row["opportunity_id"]].append(row["seq"])
    assert {oid: sorted(seqs) for oid, seqs in history.items()} == {
        oid: list(range(1, n + 1)) for oid, n in stage_entries.items()
    }
    deals = {row["opportunity_id"]: row for row in pipeline["opportunity_pipeline"]}
    assert {oid: deal["stage_seq"] for oid, deal in deals.items()} == dict(stage_entries)
    assert {oid: deal["quotes"] for oid, deal in deals.items() if deal["quotes"]} == dict(quotes)

    approvals = dump(store, next(p for p in all_projections() if p.name == "order_approvals"))
    rounds = {r["order_id"]: r["round"] for r in approvals["order_approvals__orders"]}
    assert {oid: n for oid, n in rounds.items() if n} == dict(submissions)
    assert Counter(r["order_id"] for r in approvals["order_approvals"]) == approval_steps

    purchases = dump(store, next(p for p in all_projections() if p.name == "customer_purchases"))
    rows = purchases["customer_purchases"]
    assert {r["order_id"] for r in rows} == set(purchased)
    standing = [r for r in rows if r["cancelled_at"] is None]
    assert len(standing) == sum(not cancelled for cancelled in purchased.values())
    assert {r["order_id"] for r in standing} == {o for o, c in purchased.items() if not c}


def test_a_projection_process_killed_mid_batch_and_restarted_equals_a_rebuild(
    store_url: str, tmp_path: Path
) -> None:
    demo = _crm("demo", "--customers", "60", "--no-projections", "--db", store_url)
    assert demo.returncode == 0, demo.stderr

    wrapper = tmp_path / "instrumented_crm.py"
    wrapper.write_text(WRAPPER)
    slow_from, marker = tmp_path / "slow", tmp_path / "in_flight"
    first_log, second_log = tmp_path / "applied-1", tmp_path / "applied-2"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }

    with EventStore(store_url) as store:
        # The read-model tables and tracking rows (position 0), made here so that the test
        # can poll the positions from the start; the process finds them made.
        runner = ProjectionRunner(store, all_projections())
        names = list(runner.projections)
        head = store.max_position()
        assert head > 20 * BATCH_SIZE
        notifications = store.read(after=0, limit=head)
        position_of = {(str(n.originator_id), n.originator_version): n.id for n in notifications}
        events = [store.decode(n) for n in notifications if not event_class(n.topic).bookkeeping]

        output = tmp_path / "run-1.out"
        with output.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, str(wrapper), "projections", "run", "--db", store_url],
                cwd=ROOT,
                env={
                    **env,
                    "CRM_KILL_TEST_APPLIED": str(first_log),
                    "CRM_KILL_TEST_BATCH": str(BATCH_SIZE),
                    "CRM_KILL_TEST_PAUSE": str(PAUSE_PER_EVENT),
                    "CRM_KILL_TEST_SLOW_FROM": str(slow_from),
                    "CRM_KILL_TEST_MARKER": str(marker),
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            # Half the history committed, for every projection...
            _wait_for(
                lambda: min(_positions(store)[n] for n in names) >= head // 2,
                "half the history applied",
                process,
                output,
            )
            # ...then a batch in flight: six projections' rows written, the last one's
            # written and sleeping, the transaction open.
            slow_from.touch()
            _wait_for(marker.exists, "a batch in flight", process, output)
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(timeout=10) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

        killed_at = _positions(store)
        assert all(0 < killed_at[n] < head for n in names), (killed_at, head)
        # The batch in flight was cut: its last event's position was not committed, though
        # every projection had applied it in the open transaction.
        aggregate_id, version = marker.read_text().split()
        in_flight_at = position_of[aggregate_id, int(version)]
        assert all(killed_at[n] < in_flight_at for n in names), (killed_at, in_flight_at)
        first = _applied(first_log)
        cut = {name for name, aggregate, v in first if position_of[aggregate, v] > killed_at[name]}
        # Each projection is given only the events it handles: every one given some event
        # of the batch in flight (the sleeper, applied last, at least) had applied it in
        # the open transaction. The sleeper's last event is the marker; the projections
        # applied before it were given the whole batch, which may run past the marker with
        # events the sleeper does not handle: up to the last event anyone applied.
        topic_at = {n.id: n.topic for n in notifications}
        handled = {p.name: handled_topics(p) for p in runner.projections.values()}
        batch_end = max(position_of[aggregate, v] for _, aggregate, v in first)
        given = {
            name
            for name, topics in handled.items()
            if any(
                topics is None or topic_at[at] in topics
                for at in range(
                    killed_at[name] + 1,
                    (in_flight_at if name == PROJECTIONS_LAST else batch_end) + 1,
                )
                if at in topic_at and not event_class(topic_at[at]).bookkeeping
            )
        }
        assert PROJECTIONS_LAST in given
        assert cut == given

        restarted = subprocess.run(
            [sys.executable, str(wrapper), "projections", "run", "--once", "--db", store_url],
            cwd=ROOT,
            env={**env, "CRM_KILL_TEST_APPLIED": str(second_log)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert restarted.returncode == 0, restarted.stderr
        for name in names:
            assert f"{name}: caught up to position {head}" in restarted.stdout

        # Each business event applied exactly once to each projection: by the killed
        # process in a committed batch, or by the restarted one.
        committed = [
            (name, aggregate, v)
            for name, aggregate, v in first
            if position_of[aggregate, v] <= killed_at[name]
        ]
        applied = Counter(committed + _applied(second_log))
        expected = Counter(
            (n, str(e.aggregate_id), e.version)
            for n in names
            for e in events
            if handled[n] is None or e.event_type() in handled[n]
        )
        assert applied == expected, {
            "twice": sorted(+(applied - expected)),
            "skipped": sorted(+(expected - applied)),
        }

        for status in runner.status():
            assert (status.position, status.lag_events, status.last_error) == (head, 0, None)
            assert status.version == status.code_version
        incremental = {p.name: dump(store, p) for p in runner.projections.values()}
        _assert_counts_match_the_log(store, events)

        for name, projection in runner.projections.items():
            assert runner.rebuild(name) == head
            assert dump(store, projection) == incremental[name], name
