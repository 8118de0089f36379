"""CSV import throughput into PostgreSQL against raw psycopg COPY of the same rows, same run.

    .venv/bin/python -m bench.imports [--customers N] [--runs R] [--batch-size B]
        [--workers 1,2] [--out PATH]

Each run generates (seeded, so every run is the same) ``customers.csv`` with N customers and
``orders.csv`` with about 3.5 N historical orders of one to three lines each, then times
``crm import customers`` followed by ``crm import orders`` (the real command, in process:
reading, checking every row against the rules, batched writes) into a fresh PostgreSQL
schema, once for each ``--workers`` count (processes: 1, and the CLI's default on this
machine, its CPUs). The baseline then COPYs exactly the rows that import stored (same ids, versions,
topics and state bytes) into a scratch table of the same shape as ``stored_events``, in a
fresh schema, in one transaction: the cost of getting those bytes into PostgreSQL at all.
A second baseline, the store floor, inserts the same rows again through the store's own
recorder (``EventStore``: table lock, notify, the columns insert, every index) into a fresh
store, one transaction per import batch, from one process: what writing them costs with no
reading, checking, deciding or encoding at all. Writers serialise on the events table's
lock, so no number of import processes can store faster than this.

Figures: stored rows per second (every row the import wrote: events, unique-value claims,
command records), business events per second (customers registered plus orders imported),
each the median over the runs; ratio = ours / COPY on stored rows; ``of_floor`` = ours /
store floor, on business events. The run also prices the steps every import needs and the
ceiling they allow on this machine's cores (``bench/import_ceiling.py``): ``of_ceiling`` =
ours / that ceiling, for the rows as stored (``ceiling_stored``) and for one row per
business event (``ceiling_one_row``). This is a benchmark, not a test: it asserts only that
everything was recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import io
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import sql

from adapters.cli import main as crm_main
from adapters.cli.import_args import default_workers
from adapters.event_store import EventStore
from adapters.imports.formats import LINE_COLUMNS, ORDER_COLUMNS
from adapters.keys import KeyChanges
from bench.common import POSTGRES, check, machine_info, pg_connect, start, write_results
from bench.import_ceiling import (
    BUSINESS_TOPICS,
    STEPS,
    ceiling,
    required_work,
    store_cpu_seconds,
)

DEFAULT_OUT = Path(__file__).with_name("results-imports.json")
ORDERS_PER_CUSTOMER = 3.5
SEED = 20261201
CUSTOMER_HEADER = (
    *("external_ref", "kind", "name", "phone", "email", "region", "tier"),
    *("registered_at", "address_line1", "address_city", "attr.erp_group"),
)

CITIES = ("上海", "北京", "广州", "深圳", "杭州", "成都", "Singapore", "Hamburg")
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "Smith", "Müller")
PRODUCTS = (
    ("SHF-100", "Shelving unit", "1280"),
    ("BIN-20", "Storage bin", "35.50"),
    ("TEA-1", "龙井茶 250g", "388"),
    ("DESK-7", "Standing desk", "2450"),
    ("LMP-3", "Desk lamp", "129.90"),
    ("CHR-2", "Office chair", "899"),
)


# ---- the files -----------------------------------------------------------------------------


def write_files(directory: Path, customers: int) -> tuple[Path, Path, int, int]:
    """customers.csv and orders.csv: their paths, the number of orders and of order lines."""
    rng = random.Random(SEED)
    customer_path = directory / "customers.csv"
    order_path = directory / "orders.csv"
    start = datetime(2016, 1, 1, tzinfo=UTC)
    registered: list[datetime] = []
    with customer_path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(CUSTOMER_HEADER)
        for i in range(customers):
            company = rng.random() < 0.4
            when = start + timedelta(days=rng.randrange(0, 365 * 6), seconds=rng.randrange(86400))
            registered.append(when)
            out.writerow(
                [
                    f"C-{i:07d}",
                    "company" if company else "individual",
                    f"{rng.choice(SURNAMES)}{'贸易有限公司' if company else '先生'} {i}",
                    f"+86 139 {rng.randrange(10**7, 10**8)}",
                    f"customer{i}@example.cn",
                    rng.choice(("East", "North", "South", "West")),
                    rng.choice(("transactional", "preferred_supplier", "partner")),
                    when.isoformat(),
                    f"{rng.randrange(1, 999)} Nanjing Rd, Bldg {rng.randrange(1, 9)}",
                    rng.choice(CITIES),
                    rng.choice("ABC"),
                ]
            )
    orders = round(customers * ORDERS_PER_CUSTOMER)
    lines = 0
    with order_path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([*ORDER_COLUMNS, *LINE_COLUMNS])
        for n in range(orders):
            owner = rng.randrange(customers)
            approved = registered[owner] + timedelta(days=rng.randrange(1, 700))
            status = rng.choice(("approved", "fulfilled", "paid", "paid", "cancelled"))
            fulfilled = approved + timedelta(days=2) if status in ("fulfilled", "paid") else None
            paid = approved + timedelta(days=20) if status == "paid" else None
            cancelled = approved + timedelta(days=1) if status == "cancelled" else None
            head = {
                "order_ref": f"SO-{n:08d}",
                "customer_ref": f"C-{owner:07d}",
                "currency": "CNY",
                "status": status,
                "approved_at": approved.isoformat(),
                "fulfilled_at": fulfilled.isoformat() if fulfilled else "",
                "paid_at": paid.isoformat() if paid else "",
                "cancelled_at": cancelled.isoformat() if cancelled else "",
                "order_type": "standard",
                "delivery_date": "",
                "payment_terms": "net 30",
            }
            for line, (sku, name, price) in enumerate(rng.sample(PRODUCTS, rng.randint(1, 3))):
                cells = dict.fromkeys(ORDER_COLUMNS, "") | {"order_ref": head["order_ref"]}
                if line == 0:
                    cells = head
                cells |= {
                    "sku": sku,
                    "item_name": name,
                    "spec": "",
                    "quantity": str(rng.randint(1, 50)),
                    "unit_price": price,
                    "discount_pct": rng.choice(("", "5", "10")),
                    "unit_cost": "",
                }
                out.writerow([cells[c] for c in (*ORDER_COLUMNS, *LINE_COLUMNS)])
                lines += 1
    return customer_path, order_path, orders, lines


# ---- stores --------------------------------------------------------------------------------


@contextmanager
def fresh_schema() -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex}"
    with pg_connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with pg_connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def store_url(schema: str) -> str:
    p = POSTGRES
    return f"postgresql://{p['user']}@{p['host']}:{p['port']}/{p['dbname']}?schema={schema}"


# ---- one run of each side -----------------------------------------------------------------


def ours(
    customer_path: Path, order_path: Path, schema: str, batch_size: int, workers: int
) -> float:
    """Seconds to import both files with the crm command in ``workers`` processes."""
    url = store_url(schema)
    # The store's tables exist before the clock starts, as they would in production.
    _quiet(["migrate", "--db", url])
    gc.collect()
    started = time.perf_counter()
    for what, path in (("customers", customer_path), ("orders", order_path)):
        args = ["import", what, str(path), "--db", url, "--batch-size", str(batch_size)]
        args += ["--workers", str(workers)]
        code, output = _quiet(args)
        if code != 0:
            raise RuntimeError(f"crm import {what} failed ({code}):\n{output[-2000:]}")
    return time.perf_counter() - started


def _quiet(argv: list[str]) -> tuple[int, str]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        code = crm_main(argv)
    return code, buffer.getvalue()


def stored_rows(schema: str) -> list[tuple[Any, ...]]:
    with pg_connect() as conn:
        return conn.execute(
            sql.SQL(
                "SELECT originator_id, originator_version, topic, state FROM {}.stored_events "
                "ORDER BY notification_id"
            ).format(sql.Identifier(schema))
        ).fetchall()


def baseline_copy(rows: list[tuple[Any, ...]], schema: str) -> float:
    """Seconds to COPY the same rows into a table shaped like ``stored_events``."""
    table = sql.Identifier(schema, "stored_events")
    with pg_connect() as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
                " topic text, state bytea, notification_id bigserial,"
                " PRIMARY KEY (originator_id, originator_version))"
            ).format(table)
        )
        gc.collect()
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            copy_sql = sql.SQL(
                "COPY {} (originator_id, originator_version, topic, state) FROM STDIN"
            ).format(table)
            with cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
        elapsed = time.perf_counter() - started
        (count,) = conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(table)).fetchone()  # type: ignore[misc]
    check(count == len(rows), "COPY stored every row")
    return elapsed


def store_floor(
    rows: list[tuple[Any, ...]], schema: str, rows_per_batch: int
) -> tuple[float, float]:
    """Seconds to insert the same rows through the store's recorder, ``rows_per_batch`` per
    transaction as the import's batches do, and the CPU seconds this process and
    PostgreSQL's spent meanwhile. The rows are as stored, sealed into their
    chains already: no hashing, no encoding, no deciding."""
    stored = [
        StoredEvent(originator_id=r[0], originator_version=r[1], topic=r[2], state=bytes(r[3]))
        for r in rows
    ]
    with EventStore(store_url(schema)) as store:
        gc.collect()
        busy = store_cpu_seconds()
        started = time.perf_counter()
        for first in range(0, len(stored), rows_per_batch):
            batch = stored[first : first + rows_per_batch]
            store.recorder.insert_events(batch, key_changes=KeyChanges())
        elapsed = time.perf_counter() - started
        busy = store_cpu_seconds() - busy
    with pg_connect() as conn:
        table = sql.Identifier(schema, "stored_events")
        (count,) = conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(table)).fetchone()  # type: ignore[misc]
    check(count == len(rows), "the store floor stored every row")
    return elapsed, busy


# ---- the whole benchmark --------------------------------------------------------------------


def measure(customers: int, runs: int, batch_size: int, workers: list[int]) -> list[dict[str, Any]]:
    per_run: dict[int, list[dict[str, Any]]] = {w: [] for w in workers}
    with tempfile.TemporaryDirectory(prefix="crm-bench-imports-") as tmp:
        customer_path, order_path, orders, order_lines = write_files(Path(tmp), customers)
        business = customers + orders
        for run in range(1, runs + 1):
            rows: list[tuple[Any, ...]] = []
            seconds: dict[int, float] = {}
            for count in workers:
                with fresh_schema() as schema:
                    seconds[count] = ours(customer_path, order_path, schema, batch_size, count)
                    found = stored_rows(schema)
                topics = Counter(row[2] for row in found)
                check(topics["CustomerRegistered"] == customers, "every customer registered")
                check(topics["OrderImported"] == orders, "every order imported")
                check(not rows or len(found) == len(rows), "every process count stores as much")
                rows = found
            with fresh_schema() as scratch:
                copy_seconds = baseline_copy(rows, scratch)
            with fresh_schema() as scratch:
                per_batch = batch_size * round(len(rows) / business)
                floor_seconds, floor_cpu = store_floor(rows, scratch, per_batch)
            # The business events' rows alone: the store floor of one row per business event.
            one_row = [row for row in rows if row[2] in BUSINESS_TOPICS]
            check(len(one_row) == business, "one business event per customer and order")
            with fresh_schema() as scratch:
                one_row_seconds, one_row_cpu = store_floor(one_row, scratch, batch_size)
            for count in workers:
                figures = {
                    "ours_s": round(seconds[count], 3),
                    "ours_rows_per_s": round(len(rows) / seconds[count], 1),
                    "ours_business_events_per_s": round(business / seconds[count], 1),
                    "copy_s": round(copy_seconds, 3),
                    "copy_rows_per_s": round(len(rows) / copy_seconds, 1),
                    "copy_business_events_per_s": round(business / copy_seconds, 1),
                    "floor_s": round(floor_seconds, 3),
                    "floor_business_events_per_s": round(business / floor_seconds, 1),
                    "floor_one_row_business_events_per_s": round(business / one_row_seconds, 1),
                    "floor_cpu_us_per_business_event": round(floor_cpu / business * 1e6, 2),
                    "floor_one_row_cpu_us_per_business_event": round(
                        one_row_cpu / business * 1e6, 2
                    ),
                    "stored_rows": len(rows),
                    "stored_bytes": sum(len(row[3]) for row in rows),
                }
                per_run[count].append(figures)
                print(
                    f"  run {run}/{runs}, {count} process(es): import {seconds[count]:.1f}s = "
                    f"{figures['ours_rows_per_s']:,.0f} rows/s "
                    f"({figures['ours_business_events_per_s']:,.0f} business events/s); "
                    f"COPY {copy_seconds:.2f}s = {figures['copy_rows_per_s']:,.0f} rows/s; "
                    f"store floor {floor_seconds:.2f}s = "
                    f"{figures['floor_business_events_per_s']:,.0f} business events/s "
                    f"(one row each: {figures['floor_one_row_business_events_per_s']:,.0f})",
                    file=sys.stderr,
                    flush=True,
                )
            del rows
        # Once: the steps' CPU is the fastest of three inside, and does not touch the store.
        work = required_work(customer_path, order_path, batch_size)
    return [
        _figure(customers, orders, order_lines, count, results, work)
        for count, results in per_run.items()
    ]


def _figure(
    customers: int,
    orders: int,
    order_lines: int,
    workers: int,
    per_run: list[dict[str, Any]],
    work: dict[str, dict[str, float]],
) -> dict[str, Any]:
    ours_rows = statistics.median(r["ours_rows_per_s"] for r in per_run)
    copy_rows = statistics.median(r["copy_rows_per_s"] for r in per_run)
    ours_business = statistics.median(r["ours_business_events_per_s"] for r in per_run)
    floor_business = statistics.median(r["floor_business_events_per_s"] for r in per_run)
    floor_one_row = statistics.median(r["floor_one_row_business_events_per_s"] for r in per_run)
    stored_ceiling = ceiling(
        work["stored"],
        floor_business,
        statistics.median(r["floor_cpu_us_per_business_event"] for r in per_run),
    )
    return {
        "workload": "csv_import_postgres",
        "ours": "crm import customers FILE + crm import orders FILE (check all, then batched)",
        "baseline": "psycopg COPY of the same stored rows into a stored_events-shaped table",
        "workers": workers,
        "customers": customers,
        "orders": orders,
        "order_lines": order_lines,
        "business_events": customers + orders,
        "stored_rows": per_run[0]["stored_rows"],
        "stored_bytes": per_run[0]["stored_bytes"],
        "ours_median_rows_per_s": round(ours_rows, 1),
        "ours_median_business_events_per_s": round(ours_business, 1),
        "ours_median_s": round(statistics.median(r["ours_s"] for r in per_run), 3),
        "copy_median_rows_per_s": round(copy_rows, 1),
        "copy_median_business_events_per_s": round(
            statistics.median(r["copy_business_events_per_s"] for r in per_run), 1
        ),
        "ratio": round(ours_rows / copy_rows, 3),
        "floor": "the same rows through the store's recorder, one transaction per batch",
        "floor_median_business_events_per_s": round(floor_business, 1),
        "of_floor": round(ours_business / floor_business, 3),
        "ceiling": "cores / (CPU per business event of the steps any import needs + store floor)",
        "ceiling_business_events_per_s": stored_ceiling["business_events_per_s"],
        "of_ceiling": round(ours_business / stored_ceiling["business_events_per_s"], 3),
        "ceiling_stored": stored_ceiling,
        "ceiling_one_row": ceiling(
            work["one_row"],
            floor_one_row,
            statistics.median(r["floor_one_row_cpu_us_per_business_event"] for r in per_run),
        ),
        "target_events_per_s": 20000,
        "runs": per_run,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.imports",
        description="CSV import throughput into PostgreSQL against raw COPY of the same rows.",
    )
    parser.add_argument("--customers", type=int, default=20000, help="default 20000")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--batch-size", type=int, default=500, help="default 500")
    parser.add_argument(
        "--workers",
        default=f"1,{default_workers()}" if default_workers() > 1 else "1",
        help="process counts to measure, comma-separated (default: 1 and the CLI's default)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.runs < 1 or args.batch_size < 1:
        parser.error("--customers, --runs and --batch-size must be at least 1")
    try:
        args.workers = [int(n) for n in args.workers.split(",")]
    except ValueError:
        parser.error("--workers: comma-separated process counts, e.g. 1,2")
    if not args.workers or min(args.workers) < 1:
        parser.error("--workers: each count must be at least 1")
    return args


def _print_ceilings(figures: list[dict[str, Any]]) -> None:
    """What the steps every import needs cost, and the speed they allow on this machine."""
    stored, one_row = figures[0]["ceiling_stored"], figures[0]["ceiling_one_row"]
    print(
        f"  ceiling on {stored['cores']} cores: CPU µs per business event of the steps any "
        "import needs (see bench/import_ceiling.py)"
    )
    heads = (*STEPS, "store", "total", "ceiling/s")
    print(f"  {'rows per business event':<24}" + "".join(f"{head:>12}" for head in heads))
    for label, c in (("as stored (3)", stored), ("one row (1)", one_row)):
        cells = [*(c["steps_us"][s] for s in STEPS), c["store_us"], c["total_us"]]
        print(
            f"  {label:<24}"
            + "".join(f"{v:>12.1f}" for v in cells)
            + f"{c['business_events_per_s']:>12,.0f}"
        )
    for figure in figures:
        print(
            f"  crm import, {figure['workers']} process(es): {figure['of_ceiling']:.2f} of the "
            f"ceiling as stored; target {figure['target_events_per_s']:,}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (code := start(["postgres"])) is not None:
        return code
    started = time.perf_counter()
    figures = measure(args.customers, args.runs, args.batch_size, args.workers)
    elapsed = time.perf_counter() - started
    first = figures[0]
    print(
        f"crm import into PostgreSQL: {first['customers']:,} customers + {first['orders']:,} "
        f"orders ({first['stored_rows']:,} stored rows), median of {args.runs} runs"
    )
    print(
        f"  {'processes':>9}  {'rows/s':>9}  {'business events/s':>17}  {'s':>6}  ours/COPY"
        "  ours/floor"
    )
    for figure in figures:
        print(
            f"  {figure['workers']:>9}  {figure['ours_median_rows_per_s']:>9,.0f}  "
            f"{figure['ours_median_business_events_per_s']:>17,.0f}  "
            f"{figure['ours_median_s']:>6.1f}  {figure['ratio']:>9.3f}  {figure['of_floor']:>10.3f}"
        )
    print(
        f"  COPY of the same rows: {first['copy_median_rows_per_s']:,.0f} rows/s "
        f"({first['copy_median_business_events_per_s']:,.0f} business events/s); "
        f"store floor: {first['floor_median_business_events_per_s']:,.0f} business events/s "
        f"(target {first['target_events_per_s']:,}); took {elapsed:.1f}s"
    )
    _print_ceilings(figures)
    result = {
        "benchmark": "imports",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "parameters": {
            "customers": args.customers,
            "orders_per_customer": ORDERS_PER_CUSTOMER,
            "runs": args.runs,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "seed": SEED,
        },
        "figures": figures,
        "elapsed_s": round(elapsed, 1),
    }
    write_results(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
