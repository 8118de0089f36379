"""Audit streaming speed and memory: ``crm audit verify`` and ``export`` against a raw read.

    .venv/bin/python -m bench.audit [--sizes 100000,1000000] [--runs R] [--stores sqlite,postgres]
        [--out PATH]

For each store and size, a log of N sealed events is made once: a template of realistic
events (``bench.projections.generate``, through the aggregates) is replicated under fresh
stream ids until N rows exist, each copy chained with the real sealing code
(``PydanticEventMapper.sealed``), and bulk-loaded (SQLite ``executemany``, PostgreSQL
``COPY``) into the library's ``stored_events`` table. Then, per run, three things are
timed, each in a child process of its own so that its peak RSS is its own:

* ``verify``: ``adapters.audit.verify.verify_chains(store)``, every chain recomputed;
* ``export``: ``adapters.audit.export.write_export(store, /dev/null)``, every line
  written;
* ``raw read`` (the baseline): the same rows fetched in pages of the same size with the
  export's keyset ``SELECT`` as plain tuples through the same pool, nothing done with them.

Figures: the median of events/s over the runs; ``ratio`` = ours / raw read (1 would be
"as fast as reading the rows at all"); peak RSS (MB) of the child, and its growth from
the smallest to the largest size (the issue asks for less than 100 MB between 100,000 and
1,000,000 events). This is a benchmark, not a test: it checks only that every event was
verified or exported and that the intact log verifies.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog
from psycopg import sql

from adapters.audit.chain import GENESIS
from adapters.event_store import EVENTS_TABLE, EventStore
from adapters.mapper import PydanticEventMapper
from bench.common import (
    POSTGRES,
    machine_info,
    parse_stores,
    pg_connect,
    start,
    text_table,
    write_results,
)

TEMPLATE_EVENTS = 5_000
PAGE = 5_000
WHAT = ("raw", "verify", "export")


# ---- the log ------------------------------------------------------------------------------


def template_rows() -> list[tuple[UUID, int, str, bytes]]:
    """Realistic events, unsealed: (stream, version, type, content) in log order."""
    from bench.projections import generate

    mapper = PydanticEventMapper()
    rows = []
    for event in generate(TEMPLATE_EVENTS).events:
        stored = mapper.to_stored_event(event)
        rows.append((event.aggregate_id, event.version, stored.topic, stored.state))
    return rows


def sealed_rows(
    template: list[tuple[UUID, int, str, bytes]], size: int
) -> Iterator[tuple[UUID, int, str, bytes]]:
    """``size`` sealed rows: copy k of the template under stream ids derived from k."""
    from eventsourcing.persistence import StoredEvent

    made = 0
    copy = 0
    while made < size:
        heads: dict[UUID, str] = {}
        namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"crm-bench-audit/{copy}")
        for stream, number, topic, content in template:
            if made == size:
                return
            new_id = uuid.uuid5(namespace, stream.hex)
            row, hash_ = PydanticEventMapper.sealed(
                StoredEvent(new_id, number, topic, content), heads.get(new_id, GENESIS)
            )
            heads[new_id] = hash_
            made += 1
            yield new_id, number, topic, row.state
        copy += 1


@contextmanager
def filled_store(
    kind: str, size: int, template: list[tuple[UUID, int, str, bytes]], workdir: Path
) -> Iterator[str]:
    """A store URL holding ``size`` sealed events and nothing else; removed afterwards."""
    if kind == "sqlite":
        path = workdir / f"audit-{size}.db"
        url = f"sqlite:///{path}"
    else:
        schema = f"bench_audit_{uuid.uuid4().hex[:12]}"
        url = (
            f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/"
            f"{POSTGRES['dbname']}?schema={schema}"
        )
    try:
        EventStore(url).close()  # the library creates its tables
        rows = sealed_rows(template, size)
        if kind == "sqlite":
            with sqlite3.connect(path) as connection:
                connection.executemany(
                    f"INSERT INTO {EVENTS_TABLE} VALUES (?, ?, ?, ?)",
                    ((i.hex, v, t, s) for i, v, t, s in rows),
                )
        else:
            with pg_connect() as connection:
                table = sql.Identifier(schema, EVENTS_TABLE)
                copy_sql = sql.SQL(
                    "COPY {} (originator_id, originator_version, topic, state) FROM STDIN"
                ).format(table)
                with connection.cursor().copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
                connection.execute(sql.SQL("ANALYZE {}").format(table))
        yield url
    finally:
        if kind == "sqlite":
            path.unlink(missing_ok=True)
        else:
            with pg_connect() as connection:
                connection.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


# ---- one measurement, in a child process ----------------------------------------------------


def child(what: str, url: str) -> dict[str, Any]:
    """Runs in the child: time one pass over the log, return events and seconds."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    with EventStore(url) as store:
        started = time.perf_counter()
        if what == "verify":
            from adapters.audit.verify import verify_chains

            report = verify_chains(store)
            events, ok = report.events, report.ok and report.unhashed == 0
        elif what == "export":
            from adapters.audit.export import write_export

            with open(os.devnull, "w", encoding="utf-8") as sink:
                events, ok = write_export(store, sink), True
        else:
            events, ok = raw_read(store), True
        seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds, "ok": ok}


def raw_read(store: EventStore) -> int:
    """The baseline: every row fetched by position in pages, as plain tuples, through the
    same pool and the same query the export uses; nothing done with the rows."""
    from adapters.audit.log_reader import _fetch, _position_query

    query = _position_query(store, one_stream=False)
    after, count = 0, 0
    while True:
        rows = _fetch(store, query, (after, PAGE))
        count += len(rows)
        if len(rows) < PAGE:
            return count
        after = rows[-1][0]


def measure_once(what: str, url: str) -> dict[str, Any]:
    """Run one child; its own peak RSS comes from ``wait4``."""
    process = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "bench.audit", "--child", what, url],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout is not None  # noqa: S101
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{what} child failed with exit code {process.returncode}")
    result: dict[str, Any] = json.loads(output)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux: KiB
    return result


def measure(kind: str, size: int, url: str, runs: int) -> list[dict[str, Any]]:
    figures = []
    per: dict[str, list[dict[str, Any]]] = {what: [] for what in WHAT}
    for run in range(1, runs + 1):
        for what in WHAT:  # alternate, so a slow moment of the machine hits all three
            result = measure_once(what, url)
            if result["events"] != size or not result["ok"]:
                raise RuntimeError(f"{what} on {kind} handled {result['events']} of {size}")
            per[what].append(result)
            _progress(
                f"  {kind} {size:,} run {run}/{runs} {what}: "
                f"{size / result['seconds']:,.0f} events/s, {result['peak_rss_mb']} MB"
            )
    raw = statistics.median(size / r["seconds"] for r in per["raw"])
    for what in WHAT:
        rates = [size / r["seconds"] for r in per[what]]
        median = statistics.median(rates)
        figures.append(
            {
                "store": kind,
                "events": size,
                "what": what,
                "median_per_s": round(median),
                "min_per_s": round(min(rates)),
                "max_per_s": round(max(rates)),
                "ratio_to_raw": round(median / raw, 3),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in per[what]),
                "runs_per_s": [round(rate) for rate in rates],
            }
        )
    return figures


# ---- report ---------------------------------------------------------------------------------


def rss_growth(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    growth = []
    for kind in sorted({f["store"] for f in figures}):
        for what in WHAT:
            mine = sorted(
                (f for f in figures if f["store"] == kind and f["what"] == what),
                key=lambda f: f["events"],
            )
            if len(mine) >= 2:
                growth.append(
                    {
                        "store": kind,
                        "what": what,
                        "from_events": mine[0]["events"],
                        "to_events": mine[-1]["events"],
                        "rss_growth_mb": round(mine[-1]["peak_rss_mb"] - mine[0]["peak_rss_mb"], 1),
                    }
                )
    return growth


def render_table(figures: list[dict[str, Any]]) -> str:
    header = ("store", "events", "what", "median/s", "min/s", "max/s", "ours/raw", "peak RSS MB")
    rows = [
        (
            f["store"],
            f"{f['events']:,}",
            f["what"],
            f"{f['median_per_s']:,}",
            f"{f['min_per_s']:,}",
            f"{f['max_per_s']:,}",
            f"{f['ratio_to_raw']:.3f}",
            f"{f['peak_rss_mb']:.1f}",
        )
        for f in figures
    ]
    return text_table(header, rows, left=3)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit", description="Audit verify/export speed and memory."
    )
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="comma-separated event counts (default %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure (default 3)")
    parser.add_argument(
        "--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results-audit.json",
        help="JSON results (default bench/results-audit.json)",
    )
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.size_list = [int(s) for s in args.sizes.split(",") if s]
    args.kinds = parse_stores(parser, args.stores)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    start([])  # still drop schemas and files
    started = time.perf_counter()
    _progress(f"generating a template of {TEMPLATE_EVENTS:,} events through the aggregates ...")
    template = template_rows()
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="crm-bench-audit-") as tmp:
        for kind in args.kinds:
            for size in args.size_list:
                _progress(f"loading {size:,} sealed events into {kind} ...")
                with filled_store(kind, size, template, Path(tmp)) as url:
                    figures.extend(measure(kind, size, url, args.runs))
    elapsed = time.perf_counter() - started
    growth = rss_growth(figures)
    print(f"crm audit verify / export, events/s, median of {args.runs} run(s)")
    print(render_table(figures))
    for g in growth:
        print(
            f"peak RSS growth {g['store']} {g['what']}: {g['rss_growth_mb']:+.1f} MB "
            f"from {g['from_events']:,} to {g['to_events']:,} events"
        )
    print(f"raw = keyset SELECT of the same rows in pages of {PAGE:,}; took {elapsed:.1f}s")
    result = {
        "benchmark": "audit",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(args.kinds),
        "parameters": {"sizes": args.size_list, "runs": args.runs, "page": PAGE},
        "figures": figures,
        "rss_growth": growth,
        "elapsed_s": round(elapsed, 1),
    }
    write_results(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
