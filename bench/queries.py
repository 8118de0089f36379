"""Latency of the retention and churn-risk queries on a realistic book, against raw reads.

    .venv/bin/python -m bench.queries [--customers N] [--purchases P] [--runs R]
        [--stores sqlite,postgres] [--out PATH]

A book of N customers (default 23,500) and P purchases (default 70,000) over the two years
before 2026-01-01 is generated once per invocation (seeded, so the same every time) and
written straight into the read-model tables ``customer_purchases`` and
``customer_lifecycle`` of a fresh store (PostgreSQL: a new schema, ANALYZEd, dropped
afterwards; SQLite: a file in a temporary directory) — not through commands, which would
take an hour, and not through the projections, whose speed ``bench.projections``
measures. The tables themselves are made by the runner, as in production, so they carry
exactly the indexes the projections declare.

Per store, every query is timed through the public API (``CRM.open(url).read_models...``)
as of the end of the history, R times (default 5) after one untimed warm-up, and the
median is reported. Baselines measured in the same run, on the same store:

* ``raw fetch``: the raw driver (``sqlite3`` / ``psycopg``) fetching every row of the
  table the query reads (``SELECT * FROM customer_purchases``; for churn risk
  ``SELECT * FROM customer_lifecycle WHERE at_risk``), nothing else: what any answer
  computed in Python from those rows costs at least;
* ``SQL view`` (PostgreSQL only): ``SELECT * FROM`` the matching view (``retention_rfm``,
  ``retention_abc``, ``retention_cohorts``, ``retention_repeat_rate``, ``churn_risk``), the
  same figures computed by the database (as of ``now()``, so over the same purchases).

``ratio`` is ours / raw fetch (medians): how many bare fetches one answer costs. This is a
benchmark, not a test: it asserts only that each answer covers the book it was asked about.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from adapters.sql import Dialect
from application import CRM
from bench.common import (
    POSTGRES,
    STORES,
    check,
    machine_info,
    parse_stores,
    pg_connect,
    start,
    write_results,
)
from domain.lifecycle import COMPLAINT_PAST_SLA, LATEST_SATISFACTION_DISSATISFIED
from projections.lifecycle import LIFECYCLE
from projections.purchases import PURCHASES
from projections.schema import Table

DEFAULT_OUT = Path(__file__).with_name("results-queries.json")
HISTORY_END = datetime(2026, 1, 1, tzinfo=UTC)  # the queries are asked as of this instant
HISTORY_DAYS = 730
SEED = 20261201
TARGET_MS = 300
QUERIES = ("rfm", "abc", "pareto", "cohorts", "repeat_rate", "churn_risk")
VIEWS = {
    "rfm": "retention_rfm",
    "abc": "retention_abc",
    "cohorts": "retention_cohorts",
    "repeat_rate": "retention_repeat_rate",
    "churn_risk": "churn_risk",
}
CHURN_WARNING_DAYS = 180
CHURN_AFTER_DAYS = 365


# ---- the book -------------------------------------------------------------------------------


@dataclass
class Book:
    purchases: list[dict[str, Any]] = field(default_factory=list)
    lifecycle: list[dict[str, Any]] = field(default_factory=list)
    buyers: int = 0
    standing_buyers: int = 0  # with a purchase that still counts at the end
    cny_buyers: int = 0
    at_risk: int = 0


def generate(customers: int, purchases: int) -> Book:
    """A seeded book: about 70 % of customers buy; how often follows a heavy-tailed
    weight (a few buy every month, most once or twice), so ABC and the 80/20 check have
    the shape of a real book; 5 % of buyers pay in USD; 4 % of orders are cancelled."""
    rng = random.Random(SEED)
    start = HISTORY_END - timedelta(days=HISTORY_DAYS)
    span = HISTORY_DAYS * 86400
    ids = [UUID(int=rng.getrandbits(128), version=4) for _ in range(customers)]
    buyer_count = max(1, min(customers, purchases, round(customers * 0.7)))
    buyers = ids[:buyer_count]
    weights = [rng.paretovariate(1.3) for _ in buyers]
    counts = [1] * buyer_count
    for index in rng.choices(range(buyer_count), weights=weights, k=purchases - buyer_count):
        counts[index] += 1
    book = Book(buyers=buyer_count)
    standing: dict[UUID, list[tuple[datetime, Decimal]]] = {}
    for customer, count, weight in zip(buyers, counts, weights, strict=True):
        currency = "USD" if rng.random() < 0.05 else "CNY"
        first = start + timedelta(seconds=rng.randrange(span))
        scale = 800 * min(weight, 20)
        standing[customer] = []
        for n in range(count):
            approved = (
                first
                if n == 0
                else first
                + timedelta(seconds=rng.randrange(int((HISTORY_END - first).total_seconds())))
            )
            total = Decimal(round(rng.lognormvariate(math.log(scale), 0.8), 2)).quantize(
                Decimal("0.01")
            )
            cancelled = (
                approved + timedelta(days=rng.randint(1, 10)) if rng.random() < 0.04 else None
            )
            book.purchases.append(
                {
                    "order_id": UUID(int=rng.getrandbits(128), version=4),
                    "customer_id": customer,
                    "approved_at": approved,
                    "total": total,
                    "margin": (total * Decimal("0.3")).quantize(Decimal("0.01"))
                    if rng.random() < 0.6
                    else None,
                    "currency": currency,
                    "cancelled_at": cancelled,
                    "source": "OrderImported" if rng.random() < 0.3 else "OrderApproved",
                }
            )
            if cancelled is None or cancelled > HISTORY_END:
                standing[customer].append((approved, total))
        standing[customer].sort()
        book.cny_buyers += currency == "CNY" and bool(standing[customer])
    for n, customer in enumerate(ids):
        book.lifecycle.append(_lifecycle_row(rng, n, customer, standing.get(customer, [])))
    book.at_risk = sum(row["at_risk"] for row in book.lifecycle)
    book.standing_buyers = sum(bool(s) for s in standing.values())
    return book


def _lifecycle_row(
    rng: random.Random, n: int, customer: UUID, standing: list[tuple[datetime, Decimal]]
) -> dict[str, Any]:
    """A ``customer_lifecycle`` row whose stage and at-risk flag follow DESIGN §3 from the
    customer's standing purchases (satisfaction and complaints drawn at random)."""
    registered = HISTORY_END - timedelta(days=HISTORY_DAYS + 30, seconds=rng.randrange(86400))
    first = standing[0][0] if standing else None
    last = standing[-1][0] if standing else None
    reasons: list[str] = []
    if last is None:
        stage = rng.choice(("suspect", "prospect", "prospect", "disqualified"))
        since = registered
    elif (HISTORY_END - last).days > CHURN_AFTER_DAYS:
        stage, since = "churned", last + timedelta(days=CHURN_AFTER_DAYS)
    else:
        if (HISTORY_END - last).days > CHURN_WARNING_DAYS:
            reasons.append(f"no_purchase_for_{CHURN_WARNING_DAYS}_days")
        stage = rng.choice(
            ("first_time_buyer",)
            if len(standing) == 1
            else ("repeat_buyer", "repeat_buyer", "long_term", "member", "advocate")
        )
        since = last
    if stage != "disqualified" and rng.random() < 0.03:
        reasons.append(LATEST_SATISFACTION_DISSATISFIED)
    if stage != "disqualified" and rng.random() < 0.01:
        reasons.append(COMPLAINT_PAST_SLA)
    return {
        "customer_id": customer,
        "display_name": f"Customer {n}",
        "stage": stage,
        "stage_since": since,
        "tier": rng.choice(("transactional", "transactional", "preferred_supplier")),
        "owner": f"u-{rng.randrange(40)}",
        "first_purchase_at": first,
        "last_purchase_at": last,
        "purchases": len(standing),
        "lifetime_value": sum((total for _, total in standing), Decimal(0)),
        "currency": "CNY" if standing else None,
        "is_member": stage == "member",
        "at_risk": bool(reasons),
        "at_risk_reasons": ",".join(reasons),
        "next_change_at": last + timedelta(days=CHURN_AFTER_DAYS) if last else None,
        "transitions": 1 + bool(standing) + (stage == "churned"),
        "updated_at": HISTORY_END,
    }


# ---- stores ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    kind: str
    url: str
    fetch: Callable[[str], int]  # raw driver: run a statement, fetch every row, count them


@contextmanager
def fresh_store(kind: str, book: Book) -> Iterator[Store]:
    """A store whose read-model tables the runner made and the bench filled with ``book``."""
    if kind == "postgres":
        schema = f"bench_{uuid.uuid4().hex}"
        p = POSTGRES
        url = f"postgresql://{p['user']}@{p['host']}:{p['port']}/{p['dbname']}?schema={schema}"
        try:
            _make_tables(url)
            with pg_connect() as conn:
                _fill_postgres(conn, schema, book)
            with pg_connect() as conn:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))

                def fetch(statement: str) -> int:
                    with conn.cursor() as cursor:
                        cursor.execute(statement)
                        return len(cursor.fetchall())

                yield Store(kind, url, fetch)
        finally:
            with pg_connect() as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
        return
    with tempfile.TemporaryDirectory(prefix="crm-bench-queries-") as tmp:
        url = f"sqlite:///{tmp}/crm.db"
        _make_tables(url)
        conn = sqlite3.connect(f"{tmp}/crm.db")
        try:
            _fill_sqlite(conn, book)

            def fetch_sqlite(statement: str) -> int:
                return len(conn.execute(statement).fetchall())

            yield Store(kind, url, fetch_sqlite)
        finally:
            conn.close()


def _make_tables(url: str) -> None:
    with CRM.open(url) as crm:
        crm.read_models.runner  # noqa: B018 - making the runner makes the tables


def _rows(dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(dialect.to_db(c.type, row[c.name]) for c in table.columns) for row in rows]


def _fill_sqlite(conn: sqlite3.Connection, book: Book) -> None:
    d = Dialect("sqlite")
    with conn:
        for table, rows in ((PURCHASES, book.purchases), (LIFECYCLE, book.lifecycle)):
            marks = ", ".join("?" * len(table.columns))
            conn.executemany(
                f"INSERT INTO {d.table(table.name)} ({', '.join(table.column_names)}) "
                f"VALUES ({marks})",
                _rows(d, table, rows),
            )
    conn.execute("ANALYZE")


def _fill_postgres(conn: psycopg.Connection[Any], schema: str, book: Book) -> None:
    d = Dialect("postgres", schema)
    for table, rows in ((PURCHASES, book.purchases), (LIFECYCLE, book.lifecycle)):
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(schema, table.name),
            sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names),
        )
        with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in _rows(d, table, rows):
                copy.write_row(row)
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table.name)))


# ---- timing ---------------------------------------------------------------------------------


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    answer = call()
    return (time.perf_counter() - started) * 1000, answer


def _questions(crm: CRM) -> dict[str, Callable[[], Any]]:
    models = crm.read_models
    return {
        "rfm": lambda: models.rfm(as_of=HISTORY_END),
        "abc": lambda: models.abc(as_of=HISTORY_END),
        "pareto": lambda: models.pareto(as_of=HISTORY_END),
        "cohorts": lambda: models.cohorts(as_of=HISTORY_END),
        "repeat_rate": lambda: models.repeat_purchase_rate(as_of=HISTORY_END),
        "churn_risk": lambda: models.operations.churn_risk(),
    }


def _size(name: str, answer: Any) -> int:
    """Rows in an answer, so that each can be checked against the book."""
    if name == "cohorts":
        return sum(row.size for row in answer.rows)
    if name == "pareto":
        return int(answer.buyers)
    if name == "repeat_rate":
        return 1
    return len(answer)


def measure_store(kind: str, book: Book, runs: int) -> dict[str, Any]:
    per_query: dict[str, dict[str, list[float]]] = {
        q: {"ours": [], "raw_fetch": [], "view": []} for q in QUERIES
    }
    sizes: dict[str, int] = {}
    with fresh_store(kind, book) as store, CRM.open(store.url) as crm:
        questions = _questions(crm)
        for name, ask in questions.items():  # warm-up: connections, caches, the runner
            sizes[name] = _size(name, ask())
        for run in range(1, runs + 1):
            purchases_ms, fetched = _timed(lambda: store.fetch("SELECT * FROM customer_purchases"))
            check(fetched == len(book.purchases), "raw fetch read every purchase")
            at_risk_ms, fetched = _timed(
                lambda: store.fetch("SELECT * FROM customer_lifecycle WHERE at_risk")
            )
            check(fetched == book.at_risk, "raw fetch read every customer at risk")
            for name, ask in questions.items():
                ms, _ = _timed(ask)
                per_query[name]["ours"].append(ms)
                per_query[name]["raw_fetch"].append(
                    at_risk_ms if name == "churn_risk" else purchases_ms
                )
                if kind == "postgres" and name in VIEWS:
                    view_ms, _ = _timed(
                        lambda name=name: store.fetch(f"SELECT * FROM {VIEWS[name]}")
                    )
                    per_query[name]["view"].append(view_ms)
            print(
                f"  {kind} run {run}/{runs}: "
                + ", ".join(f"{q} {per_query[q]['ours'][-1]:.0f}" for q in QUERIES)
                + f" ms; raw fetch {purchases_ms:.0f} ms",
                file=sys.stderr,
                flush=True,
            )
    check(sizes["rfm"] == book.cny_buyers, "rfm answers for every CNY buyer")
    check(sizes["abc"] == sizes["pareto"] == book.cny_buyers, "abc ranks every CNY buyer")
    check(sizes["cohorts"] == book.standing_buyers, "cohorts hold every buyer")
    check(sizes["churn_risk"] == book.at_risk, "churn risk lists every customer at risk")
    figures = []
    for name in QUERIES:
        timings = per_query[name]
        ours = statistics.median(timings["ours"])
        raw = statistics.median(timings["raw_fetch"])
        figures.append(
            {
                "query": name,
                "store": kind,
                "rows": sizes[name],
                "ours_median_ms": round(ours, 1),
                "ours_min_ms": round(min(timings["ours"]), 1),
                "ours_max_ms": round(max(timings["ours"]), 1),
                "raw_fetch_median_ms": round(raw, 1),
                "view_median_ms": round(statistics.median(timings["view"]), 1)
                if timings["view"]
                else None,
                "ratio": round(ours / raw, 2),
                "meets_target": ours < TARGET_MS,
                "runs_ms": [round(ms, 1) for ms in timings["ours"]],
            }
        )
    return {"store": kind, "figures": figures}


# ---- the whole benchmark --------------------------------------------------------------------


def commit_measured() -> dict[str, Any]:
    """The commit, and whether the code measured (outside bench/) differed from it."""
    root = Path(__file__).resolve().parent.parent
    code = ("domain", "application", "adapters", "projections")
    try:
        head = _git(root, "rev-parse", "--short", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--", *code)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "tree_differs": None}
    return {"commit": head, "tree_differs": bool(dirty)}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(  # noqa: S603 # nosec B603 B607 # git with fixed arguments
        ["git", *args],  # noqa: S607
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def print_table(results: list[dict[str, Any]]) -> None:
    header = ("query", "store", "rows", "ours ms", "min", "max", "raw fetch ms", "view ms", "ratio")
    lines = [header]
    for result in results:
        for f in result["figures"]:
            lines.append(
                (
                    f["query"],
                    f["store"],
                    f"{f['rows']:,}",
                    f"{f['ours_median_ms']:.1f}",
                    f"{f['ours_min_ms']:.1f}",
                    f"{f['ours_max_ms']:.1f}",
                    f"{f['raw_fetch_median_ms']:.1f}",
                    "-" if f["view_median_ms"] is None else f"{f['view_median_ms']:.1f}",
                    f"{f['ratio']:.2f}",
                )
            )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print(
            "  ".join(
                cell.rjust(w) if i >= 2 else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.queries",
        description="Retention and churn-risk query latency against raw reads, same run.",
    )
    parser.add_argument("--customers", type=int, default=23500, help="default 23500")
    parser.add_argument("--purchases", type=int, default=70000, help="default 70000")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--stores", default=",".join(STORES), help="default sqlite,postgres")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.purchases < 1 or args.runs < 1:
        parser.error("--customers, --purchases and --runs must be at least 1")
    args.stores = tuple(parse_stores(parser, args.stores))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (code := start(["postgres"])) is not None:
        return code
    started = time.perf_counter()
    book = generate(args.customers, args.purchases)
    # The book (about 190,000 objects the cyclic GC tracks) stays in memory for the second
    # store: frozen, so that a collection during a timed query does not walk it (a host
    # process holds no such thing; unfrozen, it added about 100 ms to rfm and abc).
    gc.freeze()
    results = [measure_store(kind, book, args.runs) for kind in args.stores]
    elapsed = time.perf_counter() - started
    print(
        f"queries as of {HISTORY_END.date()} over {len(book.lifecycle):,} customers "
        f"({book.buyers:,} buyers, {book.at_risk:,} at risk) and {len(book.purchases):,} "
        f"purchases; median of {args.runs} runs, target < {TARGET_MS} ms"
    )
    print_table(results)
    result = {
        "benchmark": "queries",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **commit_measured(),
        "machine": machine_info(),
        "parameters": {
            "customers": args.customers,
            "purchases": args.purchases,
            "buyers": book.buyers,
            "cny_buyers": book.cny_buyers,
            "at_risk": book.at_risk,
            "as_of": HISTORY_END.isoformat(),
            "runs": args.runs,
            "seed": SEED,
            "target_ms": TARGET_MS,
        },
        "results": results,
        "elapsed_s": round(elapsed, 1),
    }
    write_results(args.out, result)
    print(f"wrote {args.out}; took {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
