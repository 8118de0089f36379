"""Command throughput of crm-core against the stock ``eventsourcing`` library, same run.

    .venv/bin/python -m bench.commands [--size N] [--runs R] [--out PATH] [--stores sqlite,postgres]

Two workloads, each on SQLite (a fresh file per run) and PostgreSQL (a fresh schema per
run, dropped afterwards):

* ``new_aggregates``: ours ``crm.execute(RegisterCustomer(...))`` N times (sales rep);
  baseline: a trivial ``eventsourcing.domain.Aggregate`` created and saved N times.
* ``one_stream``: ours ``AwardLoyaltyPoints`` N times on one customer (sales manager: a
  sales rep may not award points); baseline: get, trigger one ``@event`` method, save, N
  times on one aggregate. The stream grows, so the cost of loading it shows.

Each run opens fresh stores, executes one untimed warm-up command on each side, then times
N commands with ``time.perf_counter``. Ours and the baseline alternate within a run. The
figure is the median of commands per second over the runs; ratio = ours / baseline (below
1 means crm-core is slower). This is a benchmark, not a test: it asserts only that the
commands were recorded.
"""

from __future__ import annotations

import argparse
import collections
import gc
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql

from application import CRM, Actor, Role
from application.commands import AwardLoyaltyPoints, RegisterCustomer
from bench.common import (
    POSTGRES,
    check,
    machine_info,
    parse_stores,
    pg_connect,
    start,
    text_table,
    write_results,
)
from domain.aggregates.customer import Customer

WORKLOADS = {
    "new_aggregates": {
        "ours": "crm.execute(RegisterCustomer(...)), new customer each time",
        "baseline": "eventsourcing Aggregate created and saved, new aggregate each time",
    },
    "one_stream": {
        "ours": "crm.execute(AwardLoyaltyPoints(...)) on one customer (growing stream)",
        "baseline": "repository.get + one @event method + save on one aggregate",
    },
}
DEFAULT_OUT = Path(__file__).with_name("results-commands.json")

REP = Actor(id="bench-rep", roles=frozenset({Role.SALES_REP}))
MANAGER = Actor(id="bench-manager", roles=frozenset({Role.SALES_MANAGER}))


# ---- the baseline: the library's own application and aggregate -------------------------


class Counter(Aggregate):
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @event("Incremented")
    def increment(self, by: int) -> None:
        self.count += by


class BaselineApp(Application[uuid.UUID]):
    name = "Baseline"


# ---- stores ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """Where one side of one run writes: a SQLite file or a PostgreSQL schema."""

    kind: str
    sqlite_path: Path | None = None
    schema: str = ""

    @property
    def crm_url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        p = POSTGRES
        return (
            f"postgresql://{p['user']}@{p['host']}:{p['port']}/{p['dbname']}?schema={self.schema}"
        )

    @property
    def library_env(self) -> dict[str, str]:
        if self.kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
            }
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": str(POSTGRES["dbname"]),
            "POSTGRES_HOST": str(POSTGRES["host"]),
            "POSTGRES_PORT": str(POSTGRES["port"]),
            "POSTGRES_USER": str(POSTGRES["user"]),
            "POSTGRES_PASSWORD": "",
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        }


@contextmanager
def fresh_store(kind: str, label: str) -> Iterator[Store]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
            yield Store(kind, sqlite_path=Path(tmp) / f"{label}.db")
        return
    schema = f"bench_{uuid.uuid4().hex}"
    with pg_connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield Store(kind, schema=schema)
    finally:
        with pg_connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# ---- one timed run of each side ----------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One side's timed run: commands per second and stored rows written per command."""

    per_s: float
    rows_per_command: float


def _timed(loop: Callable[[], None], size: int) -> float:
    gc.collect()
    started = time.perf_counter()
    loop()
    return size / (time.perf_counter() - started)


def _topics(crm: CRM) -> collections.Counter[str]:
    """How many stored rows of each event type the store holds."""
    counts: collections.Counter[str] = collections.Counter()
    after = 0
    while page := crm.store.read(after=after, limit=1000):
        counts.update(n.topic for n in page)
        after = page[-1].id
    return counts


def ours_new_aggregates(store: Store, size: int) -> Side:
    with CRM.open(store.crm_url) as crm:
        crm.execute(RegisterCustomer(kind="company", name="Warm-up Co."), actor=REP)
        rows_before = crm.store.count_events()

        def loop() -> None:
            for i in range(size):
                crm.execute(RegisterCustomer(kind="company", name=f"Customer {i}"), actor=REP)

        rate = _timed(loop, size)
        rows = crm.store.count_events() - rows_before
        check(_topics(crm)["CustomerRegistered"] == size + 1, "every registration recorded")
    return Side(rate, rows / size)


def ours_one_stream(store: Store, size: int) -> Side:
    with CRM.open(store.crm_url) as crm:
        customer_id = crm.execute(
            RegisterCustomer(kind="company", name="Loyal Co."), actor=REP
        ).aggregate_id
        crm.execute(AwardLoyaltyPoints(customer_id=customer_id, points=1), actor=MANAGER)
        rows_before = crm.store.count_events()

        def loop() -> None:
            for _ in range(size):
                crm.execute(AwardLoyaltyPoints(customer_id=customer_id, points=1), actor=MANAGER)

        rate = _timed(loop, size)
        rows = crm.store.count_events() - rows_before
        customer = crm.load(Customer, customer_id)
        check(customer.version == size + 2, "the stream grew by one event per command")
        check(customer.loyalty_points == size + 1, "every award counted")
    return Side(rate, rows / size)


def baseline_new_aggregates(store: Store, size: int) -> Side:
    app = BaselineApp(env=store.library_env)
    try:
        app.save(Counter(name="warm-up"))

        def loop() -> None:
            for i in range(size):
                app.save(Counter(name=f"counter {i}"))

        rate = _timed(loop, size)
        check(app.recorder.max_notification_id() == size + 1, "every aggregate recorded")
    finally:
        app.close()
    return Side(rate, 1.0)


def baseline_one_stream(store: Store, size: int) -> Side:
    app = BaselineApp(env=store.library_env)
    try:
        counter = Counter(name="one")
        app.save(counter)
        counter_id = counter.id
        warm = app.repository.get(counter_id)
        warm.increment(by=1)
        app.save(warm)

        def loop() -> None:
            for _ in range(size):
                aggregate = app.repository.get(counter_id)
                aggregate.increment(by=1)
                app.save(aggregate)

        rate = _timed(loop, size)
        final = app.repository.get(counter_id)
        check(final.version == size + 2 and final.count == size + 1, "every event recorded")
    finally:
        app.close()
    return Side(rate, 1.0)


SIDES: dict[str, tuple[Callable[[Store, int], Side], Callable[[Store, int], Side]]] = {
    "new_aggregates": (ours_new_aggregates, baseline_new_aggregates),
    "one_stream": (ours_one_stream, baseline_one_stream),
}


# ---- the whole benchmark -------------------------------------------------------------------


def measure(workload: str, kind: str, size: int, runs: int) -> dict[str, Any]:
    ours_fn, baseline_fn = SIDES[workload]
    per_run: list[dict[str, float]] = []
    rows: list[float] = []
    for run in range(1, runs + 1):
        with fresh_store(kind, "crm") as store:
            ours = ours_fn(store, size)
        with fresh_store(kind, "baseline") as store:
            baseline = baseline_fn(store, size)
        per_run.append(
            {"ours_per_s": round(ours.per_s, 1), "baseline_per_s": round(baseline.per_s, 1)}
        )
        rows.append(ours.rows_per_command)
        print(
            f"  {workload} {kind} run {run}/{runs}: ours {ours.per_s:.1f}/s, "
            f"baseline {baseline.per_s:.1f}/s",
            file=sys.stderr,
            flush=True,
        )
    ours_rates = [r["ours_per_s"] for r in per_run]
    baseline_rates = [r["baseline_per_s"] for r in per_run]
    ours_median = statistics.median(ours_rates)
    baseline_median = statistics.median(baseline_rates)
    return {
        "workload": workload,
        "store": kind,
        "ours": WORKLOADS[workload]["ours"],
        "baseline": WORKLOADS[workload]["baseline"],
        "ours_median_per_s": round(ours_median, 1),
        "ours_min_per_s": min(ours_rates),
        "ours_max_per_s": max(ours_rates),
        "baseline_median_per_s": round(baseline_median, 1),
        "baseline_min_per_s": min(baseline_rates),
        "baseline_max_per_s": max(baseline_rates),
        "ratio": round(ours_median / baseline_median, 3),
        # crm-core also records an idempotency row per command; the baseline writes one row.
        "ours_stored_rows_per_command": statistics.median(rows),
        "baseline_stored_rows_per_command": 1,
        "runs": per_run,
    }


def render_table(figures: list[dict[str, Any]]) -> str:
    header = (
        "workload",
        "store",
        "ours median/s",
        "ours min/s",
        "ours max/s",
        "baseline median/s",
        "ratio",
        "rows/cmd ours:base",
    )
    rows = [
        (
            f["workload"],
            f["store"],
            f"{f['ours_median_per_s']:.1f}",
            f"{f['ours_min_per_s']:.1f}",
            f"{f['ours_max_per_s']:.1f}",
            f"{f['baseline_median_per_s']:.1f}",
            f"{f['ratio']:.3f}",
            f"{f['ours_stored_rows_per_command']:g}:{f['baseline_stored_rows_per_command']:g}",
        )
        for f in figures
    ]
    return text_table(header, rows, left=2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.commands",
        description="Command throughput of crm-core against the stock eventsourcing library.",
    )
    parser.add_argument("--size", type=int, default=2000, help="commands per run (default 2000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (default 5)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON results (default bench/results-commands.json)",
    )
    parser.add_argument(
        "--stores",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (default both)",
    )
    args = parser.parse_args(argv)
    if args.size < 1 or args.runs < 1:
        parser.error("--size and --runs must be at least 1")
    args.kinds = parse_stores(parser, args.stores)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (code := start(args.kinds)) is not None:
        return code

    started = time.perf_counter()
    figures = []
    for kind in args.kinds:
        for workload in SIDES:
            print(f"measuring {workload} on {kind} ...", file=sys.stderr, flush=True)
            figures.append(measure(workload, kind, args.size, args.runs))
    elapsed = time.perf_counter() - started

    print(f"crm-core commands/s, median of {args.runs} runs of {args.size} commands each")
    print(render_table(figures))
    print(f"ratio = ours median / baseline median; took {elapsed:.1f}s")

    result = {
        "benchmark": "commands",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(args.kinds),
        "parameters": {
            "size": args.size,
            "runs": args.runs,
            "stores": args.kinds,
            "warmup_commands": 1,
        },
        "figures": figures,
        "elapsed_s": round(elapsed, 1),
    }
    write_results(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
