"""How long a long-lived customer takes to load: from its snapshot vs by replaying it all.

One customer with N events (registration, then loyalty points, contacts and follow-ups
in turn) is written straight through the aggregate into a fresh store; a snapshot is
taken of it at its last multiple of the interval, as the command path would. Then
``crm.load`` is timed with snapshots on (snapshot + tail) and off (every event: the
baseline, measured in the same run). The issue's target: under 5 ms for 10,000 events on
PostgreSQL.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from adapters.event_store import EventStore
from adapters.snapshot_store import SnapshotStore
from application import CRM
from application.settings import Settings
from application.snapshots import encode_state, fingerprint
from bench.projections import HistoryWriter, _customer_story
from domain.aggregates import Customer
from domain.vocabulary import ContactChannel, ContactDirection

DEFAULT_OUT = Path(__file__).with_name("results-snapshots.json")
PG = "postgresql://postgres@127.0.0.1:5432/test"
INTERVAL = 100


def long_customer(events: int, seed: int = 7) -> tuple[Customer, list[Any]]:
    writer = HistoryWriter(random.Random(seed))  # nosec B311 # sample data
    customer = None
    i = 0
    while customer is None:  # a story that registers and qualifies the customer
        writer.events.clear()
        customer = _customer_story(writer, i)
        i += 1
        if customer is not None and customer.is_disqualified:
            customer = None
    t = customer.last_occurred_at or datetime(2024, 1, 1, tzinfo=UTC)
    n = 0
    while customer.version < events:
        t += timedelta(minutes=7)
        n += 1
        if n % 2:
            writer.act(customer.award_loyalty_points, t, points=1 + n % 50, reason="purchase")
        else:
            writer.act(
                customer.record_contact,
                t,
                channel=ContactChannel.PHONE,
                direction=ContactDirection.OUTBOUND,
                summary="Checked in.",
            )
    mine = [e for e in writer.events if e.aggregate_id == customer.id]
    return customer, mine


@contextmanager
def store_url(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'snap-{uuid.uuid4().hex[:8]}.db'}"
        return
    schema = f"bench_snap_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG}?schema={schema}"
    finally:
        with psycopg.connect(PG.replace("postgresql://", "postgresql://"), autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # nosec B608 # generated name


def time_loads(url: str, customer_id: uuid.UUID, *, interval: int, runs: int) -> list[float]:
    with CRM.open(url, settings=Settings(snapshot_interval=interval)) as crm:
        crm.load(Customer, customer_id)  # warm: connections, fingerprints, statements
        timings = []
        for _ in range(runs):
            gc.collect()
            started = time.perf_counter()
            loaded = crm.load(Customer, customer_id)
            timings.append((time.perf_counter() - started) * 1000)
            assert loaded.version > 0  # noqa: S101 # nosec B101 # sanity, not a test
        return timings


def measure(kind: str, events: int, runs: int, workdir: Path) -> dict[str, Any]:
    customer, stream = long_customer(events)
    with store_url(kind, workdir) as url:
        with EventStore(url) as store:
            for start in range(0, len(stream), 1000):
                store.append(stream[start : start + 1000])
        # The worst case the command path leaves: the snapshot a whole interval behind
        # (at 10,000 events, the one taken at 9,900, and 100 events to replay on top).
        at = ((customer.version - 1) // INTERVAL) * INTERVAL
        snap = Customer.replay(stream[:at])
        with EventStore(url) as store:
            SnapshotStore(store).put(
                customer.id, "customer", snap.version, fingerprint(Customer), encode_state(snap)
            )
        with_snapshot = time_loads(url, customer.id, interval=INTERVAL, runs=runs)
        replay = time_loads(url, customer.id, interval=0, runs=runs)
    ours, base = statistics.median(with_snapshot), statistics.median(replay)
    return {
        "store": kind,
        "events": customer.version,
        "snapshot_version": at,
        "tail_events": customer.version - at,
        "ours_median_ms": round(ours, 3),
        "ours_min_ms": round(min(with_snapshot), 3),
        "replay_median_ms": round(base, 3),
        "ratio": round(ours / base, 4),
        "target_ms": 5,
        "meets_target": ours < 5,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.snapshots", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="events of the customer")
    parser.add_argument("--runs", type=int, default=20, help="timed loads per figure")
    parser.add_argument("--stores", default="postgres,sqlite")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = []
    with tempfile.TemporaryDirectory() as workdir:
        for kind in args.stores.split(","):
            print(f"{kind}: a customer with {args.events:,} events ...", file=sys.stderr)
            figures.append(measure(kind, args.events, args.runs, Path(workdir)))
    header = ("store", "events", "tail", "snapshot ms", "replay ms", "ratio", "< 5 ms")
    rows = [
        (
            f["store"],
            f"{f['events']:,}",
            str(f["tail_events"]),
            f"{f['ours_median_ms']:.2f}",
            f"{f['replay_median_ms']:.1f}",
            f"{f['ratio']:.4f}",
            "yes" if f["meets_target"] else "no",
        )
        for f in figures
    ]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print(f"medians of {args.runs} loads; replay = every event, no snapshot (same run)")
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "snapshots",
                "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"platform": platform.platform(), "python": platform.python_version()},
                "parameters": {"events": args.events, "runs": args.runs, "interval": INTERVAL},
                "figures": figures,
                "elapsed_s": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
