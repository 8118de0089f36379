"""Command throughput with many callers on PostgreSQL: plain path, group commit, stock library.

    .venv/bin/python -m bench.concurrency [--commands N] [--runs R] [--threads 1,8] [--out PATH]

For each thread count, three sides, each on a fresh PostgreSQL schema (dropped afterwards):

* ``ours_plain``: ``crm.execute(RegisterCustomer(...))`` from T threads, default settings;
* ``ours_group``: the same with ``Settings(group_commit=True)``;
* ``stock``: the ``eventsourcing`` Application saving a new trivial aggregate from T
  threads (each thread its own aggregates).

N commands in all per side and run, split evenly over the threads, which start together
at a barrier; throughput is N over the wall time from the barrier to the last thread's
end. With one thread each command is also timed alone: single-caller latency is the
median of those times. Sides alternate within a run (their order rotates from run to
run); the figure is the median over the runs, ratio = ours / stock from the same runs.
The machine is shared, so ratios measured side by side mean more than any absolute rate.
This is a benchmark, not a test: it asserts only that every command was recorded once.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from application import CRM, Settings
from application.commands import RegisterCustomer
from bench.commands import REP, BaselineApp, Counter, Store, _topics, fresh_store
from bench.common import check, machine_info, start, write_results

DEFAULT_OUT = Path(__file__).with_name("results-concurrency.json")
SIDES = ("ours_plain", "ours_group", "stock")
DESCRIPTIONS = {
    "ours_plain": "crm.execute(RegisterCustomer(...)), default settings",
    "ours_group": "crm.execute(RegisterCustomer(...)), Settings(group_commit=True)",
    "stock": "eventsourcing Application.save(new Aggregate), each thread its own aggregates",
}


@dataclass(frozen=True)
class Timed:
    per_s: float
    latencies_ms: list[float]


def _in_threads(threads: int, commands: int, one: Callable[[int, int], None]) -> Timed:
    """``one(thread, n)`` for every command, ``commands // threads`` per thread, all
    threads released together."""
    per_thread = commands // threads
    barrier = threading.Barrier(threads + 1)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        mine = latencies[thread]
        barrier.wait()
        try:
            for n in range(per_thread):
                started = time.perf_counter()
                one(thread, n)
                mine.append((time.perf_counter() - started) * 1000)
        except BaseException as error:  # reported by the caller
            errors.append(error)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    gc.collect()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"a benchmark thread failed: {errors[0]!r}") from errors[0]
    return Timed(per_thread * threads / elapsed, [ms for mine in latencies for ms in mine])


def ours(store: Store, threads: int, commands: int, *, group_commit: bool) -> Timed:
    settings = Settings(group_commit=group_commit)
    with CRM.open(store.crm_url, settings=settings, pool_size=max(5, threads)) as crm:
        crm.execute(RegisterCustomer(kind="company", name="Warm-up Co."), actor=REP)

        def one(thread: int, n: int) -> None:
            crm.execute(RegisterCustomer(kind="company", name=f"Customer {thread}-{n}"), actor=REP)

        timed = _in_threads(threads, commands, one)
        recorded = _topics(crm)["CustomerRegistered"]
        check(recorded == 1 + commands // threads * threads, "every registration once")
    return timed


def stock(store: Store, threads: int, commands: int) -> Timed:
    app = BaselineApp(env=store.library_env)
    try:
        app.save(Counter(name="warm-up"))

        def one(thread: int, n: int) -> None:
            app.save(Counter(name=f"counter {thread}-{n}"))

        timed = _in_threads(threads, commands, one)
        total = app.recorder.max_notification_id()
        check(total == 1 + commands // threads * threads, "every aggregate once")
    finally:
        app.close()
    return timed


RUNNERS: dict[str, Callable[[Store, int, int], Timed]] = {
    "ours_plain": lambda s, t, n: ours(s, t, n, group_commit=False),
    "ours_group": lambda s, t, n: ours(s, t, n, group_commit=True),
    "stock": stock,
}


def measure(threads: int, commands: int, runs: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    latencies: dict[str, list[float]] = {side: [] for side in SIDES}
    for run in range(runs):
        order = SIDES[run % len(SIDES) :] + SIDES[: run % len(SIDES)]
        for side in order:
            with fresh_store("postgres", side) as store:
                timed = RUNNERS[side](store, threads, commands)
            rates[side].append(round(timed.per_s, 1))
            latencies[side].append(statistics.median(timed.latencies_ms))
        print(
            f"  {threads} thread(s) run {run + 1}/{runs}: "
            + ", ".join(f"{side} {rates[side][-1]:.0f}/s" for side in SIDES),
            file=sys.stderr,
            flush=True,
        )
    medians = {side: statistics.median(rates[side]) for side in SIDES}
    figure: dict[str, Any] = {
        "threads": threads,
        "commands": commands // threads * threads,
        **{f"{side}_median_per_s": round(medians[side], 1) for side in SIDES},
        "ratio_group_to_stock": round(medians["ours_group"] / medians["stock"], 3),
        "ratio_plain_to_stock": round(medians["ours_plain"] / medians["stock"], 3),
        "ratio_group_to_plain": round(medians["ours_group"] / medians["ours_plain"], 3),
        # The load of a shared machine moves both sides of a run together: the median of
        # the ratios within each run is steadier than the ratio of the medians.
        "paired_ratio_group_to_stock": round(
            statistics.median(
                g / s for g, s in zip(rates["ours_group"], rates["stock"], strict=True)
            ),
            3,
        ),
        "runs_per_s": rates,
    }
    if threads == 1:
        figure["latency_median_ms"] = {
            side: round(statistics.median(latencies[side]), 3) for side in SIDES
        }
        figure["latency_ratio_group_to_stock"] = round(
            statistics.median(latencies["ours_group"]) / statistics.median(latencies["stock"]),
            3,
        )
    return figure


def render_table(figures: list[dict[str, Any]]) -> str:
    header = ("threads", "plain/s", "group/s", "stock/s", "group:stock", "paired", "plain:stock")
    rows = [
        (
            str(f["threads"]),
            f"{f['ours_plain_median_per_s']:.1f}",
            f"{f['ours_group_median_per_s']:.1f}",
            f"{f['stock_median_per_s']:.1f}",
            f"{f['ratio_group_to_stock']:.3f}",
            f"{f['paired_ratio_group_to_stock']:.3f}",
            f"{f['ratio_plain_to_stock']:.3f}",
        )
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.concurrency",
        description="Commands/s with many callers on PostgreSQL: plain, group commit, stock.",
    )
    parser.add_argument(
        "--commands", type=int, default=2000, help="commands per side and run (default 2000)"
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--threads", default="1,8", help="thread counts (default 1,8)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results")
    args = parser.parse_args(argv)
    try:
        args.thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        parser.error("--threads takes comma-separated whole numbers, e.g. 1,8")
    if not args.thread_counts or min(args.thread_counts) < 1:
        parser.error("--threads takes thread counts of at least 1")
    if args.runs < 1 or args.commands < max(args.thread_counts):
        parser.error("--runs must be at least 1 and --commands at least the thread count")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (code := start(["postgres"])) is not None:
        return code
    started = time.perf_counter()
    figures = []
    for threads in args.thread_counts:
        print(f"measuring {threads} thread(s) ...", file=sys.stderr, flush=True)
        figures.append(measure(threads, args.commands, args.runs))
    elapsed = time.perf_counter() - started

    print(f"commands/s on PostgreSQL, median of {args.runs} runs of {args.commands} commands")
    print(render_table(figures))
    for f in figures:
        if "latency_median_ms" in f:
            lat = f["latency_median_ms"]
            print(
                f"single caller, median ms per command: group {lat['ours_group']:.3f}, "
                f"plain {lat['ours_plain']:.3f}, stock {lat['stock']:.3f}"
            )
    print("group:stock = ratio of the medians; paired = median of the ratios within each run")
    print(f"took {elapsed:.1f}s")
    result = {
        "benchmark": "concurrency",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(["postgres"]),
        "parameters": {
            "commands": args.commands,
            "runs": args.runs,
            "threads": args.thread_counts,
            "warmup_commands": 1,
        },
        "sides": DESCRIPTIONS,
        "figures": figures,
        "elapsed_s": round(elapsed, 1),
    }
    write_results(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
