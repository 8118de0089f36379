"""``python -m bench``: every benchmark in one run, one table, one ``bench/results.json``.

Each benchmark stays a module of its own (``python -m bench.commands`` and so on, each
measuring its baseline in the same run and writing its own JSON); this runs them one after
another in fresh processes, so that one's memory and caches do not colour the next, then
gathers their figures. ``--tiny`` is what CI runs: it proves that every benchmark still
works, and its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results.json"


@dataclass(frozen=True)
class Bench:
    name: str
    full: tuple[str, ...]
    tiny: tuple[str, ...]


BENCHES = (
    Bench("commands", ("--size", "1000", "--runs", "3"), ("--size", "20", "--runs", "1")),
    Bench(
        "projections",
        ("--events", "100000", "--runs", "3", "--stock-events", "20000"),
        # 2,000 events: far below where processes start, so no "2 processes" row to mislabel.
        ("--events", "2000", "--runs", "1", "--workers", "1"),
    ),
    Bench("imports", ("--customers", "20000", "--runs", "3"), ("--customers", "50", "--runs", "1")),
    Bench("audit", ("--runs", "3"), ("--sizes", "2000,4000", "--runs", "1")),
    Bench("concurrency", ("--runs", "5"), ("--commands", "40", "--runs", "1")),
    Bench("snapshots", ("--runs", "20"), ("--events", "300", "--runs", "3")),
    Bench(
        "queries",
        ("--runs", "5"),
        ("--customers", "300", "--purchases", "900", "--runs", "1"),
    ),
)


@dataclass(frozen=True)
class Figure:
    benchmark: str
    figure: str
    ours: float | None
    baseline: float | None
    baseline_name: str
    unit: str
    ratio: float | None


# ---- one reader per benchmark's JSON: its figures as (ours, baseline, ratio) rows ------------


def _commands(data: dict[str, Any]) -> Iterator[Figure]:
    for f in data["figures"]:
        yield Figure(
            "commands",
            f"{f['workload']} ({f['store']})",
            f["ours_median_per_s"],
            f["baseline_median_per_s"],
            "stock eventsourcing",
            "commands/s",
            f["ratio"],
        )


def _projections(data: dict[str, Any]) -> Iterator[Figure]:
    for f in data["figures"]:
        where = f"{f['store']}, batch {f['batch_size']}, {f['events']:,} events"
        ours = f["ours"]["median_per_s"]
        if f.get("stock"):
            yield Figure(
                "projections",
                f"catch-up ({where})",
                ours,
                f["stock"]["median_per_s"],
                "stock ProjectionRunner",
                "events/s",
                f["ours_over_stock"],
            )
        yield Figure(
            "projections",
            f"catch-up ({where})",
            ours,
            f["raw_read"]["median_per_s"],
            "raw read + decode",
            "events/s",
            f["ours_over_raw"],
        )


# The import's business-event figures: (baseline key, what it is against, name, ratio key);
# a run made before a baseline existed lacks its key.
IMPORT_BASELINES = (
    (
        "floor_median_business_events_per_s",
        "the store floor",
        "the same rows through our recorder, nothing decided",
        "of_floor",
    ),
    (
        "ceiling_business_events_per_s",
        "the ceiling of any import here",
        "cores / CPU of the steps every import needs + storing",
        "of_ceiling",
    ),
)


def _imports(data: dict[str, Any]) -> Iterator[Figure]:
    for f in data["figures"]:
        workers = f.get("workers", 1)
        processes = f"{workers} process{'es' if workers > 1 else ''}"
        yield Figure(
            "imports",
            f"{f['workload']} ({f['customers']:,} customers, {f['orders']:,} orders, {processes})",
            f["ours_median_rows_per_s"],
            f["copy_median_rows_per_s"],
            "psycopg COPY",
            "stored rows/s",
            f["ratio"],
        )
        for key, against, name, ratio in IMPORT_BASELINES:
            if key in f:
                yield Figure(
                    "imports",
                    f"csv_import_postgres against {against}, target 20,000 ({processes})",
                    f["ours_median_business_events_per_s"],
                    f[key],
                    name,
                    "business events/s",
                    f[ratio],
                )


def _audit(data: dict[str, Any]) -> Iterator[Figure]:
    raw = {(f["store"], f["events"]): f for f in data["figures"] if f["what"] == "raw"}
    for f in data["figures"]:
        if f["what"] == "raw":
            continue
        base = raw.get((f["store"], f["events"]))
        yield Figure(
            "audit",
            f"{f['what']} ({f['store']}, {f['events']:,} events, peak RSS {f['peak_rss_mb']} MB)",
            f["median_per_s"],
            base["median_per_s"] if base else None,
            "raw row read",
            "events/s",
            f.get("ratio_to_raw"),
        )


def _queries(data: dict[str, Any]) -> Iterator[Figure]:
    for store in data["results"]:
        for f in store["figures"]:
            yield Figure(
                "queries",
                f"{f['query']} ({f['store']}, {f['rows']:,} rows out)",
                f["ours_median_ms"],
                f["raw_fetch_median_ms"],
                "raw fetch of the table",
                "ms (lower is better)",
                f["ratio"],
            )


def _concurrency(data: dict[str, Any]) -> Iterator[Figure]:
    for f in data["figures"]:
        n = f["threads"]
        yield Figure(
            "concurrency",
            f"{n} thread{'s' if n > 1 else ''}, group commit (postgres)",
            f["ours_group_median_per_s"],
            f["stock_median_per_s"],
            f"stock eventsourcing, {n} thread{'s' if n > 1 else ''}",
            "commands/s",
            f["ratio_group_to_stock"],
        )
        yield Figure(
            "concurrency",
            f"{n} thread{'s' if n > 1 else ''}, plain execute (postgres)",
            f["ours_plain_median_per_s"],
            f["stock_median_per_s"],
            f"stock eventsourcing, {n} thread{'s' if n > 1 else ''}",
            "commands/s",
            f["ratio_plain_to_stock"],
        )
        latency = f.get("latency_median_ms")
        if latency:
            yield Figure(
                "concurrency",
                "single-caller latency, group commit (postgres)",
                latency["ours_group"],
                latency["stock"],
                "stock eventsourcing",
                "ms (lower is better)",
                f.get("latency_ratio_group_to_stock"),
            )


def _snapshots(data: dict[str, Any]) -> Iterator[Figure]:
    for f in data["figures"]:
        yield Figure(
            "snapshots",
            f"load a customer of {f['events']:,} events ({f['store']}, "
            f"snapshot + {f['tail_events']} events)",
            f["ours_median_ms"],
            f["replay_median_ms"],
            "replay of every event",
            "ms (lower is better)",
            f["ratio"],
        )


def _generic(name: str) -> Callable[[dict[str, Any]], Iterator[Figure]]:
    """A benchmark whose JSON this runner does not know row by row: its figures are kept
    in results.json and shown by their ``ours``/``baseline``/``ratio``-like keys."""

    def read(data: dict[str, Any]) -> Iterator[Figure]:
        for f in data.get("figures", []):
            ours = next((v for k, v in f.items() if k.startswith("ours") and _num(v)), None)
            base = next((v for k, v in f.items() if k.startswith("baseline") and _num(v)), None)
            label = ", ".join(
                str(v) for k, v in f.items() if isinstance(v, str) and len(str(v)) < 40
            )
            yield Figure(name, label[:70], ours, base, "see JSON", "", f.get("ratio"))

    return read


def _num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


READERS: dict[str, Callable[[dict[str, Any]], Iterator[Figure]]] = {
    "commands": _commands,
    "projections": _projections,
    "imports": _imports,
    "audit": _audit,
    "queries": _queries,
    "snapshots": _snapshots,
    "concurrency": _concurrency,
}


# ---- running -----------------------------------------------------------------------------------


def run(bench: Bench, args: tuple[str, ...], out: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", f"bench.{bench.name}", *args, "--out", str(out)]
    print(f"\n== {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=HERE.parent)  # noqa: S603 # nosec B603 # our own modules
    data: dict[str, Any] = json.loads(out.read_text())
    data["suite_elapsed_s"] = round(time.perf_counter() - started, 1)
    return data


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"


def print_table(figures: list[Figure]) -> None:
    header = ("benchmark", "figure", "ours", "baseline", "baseline is", "unit", "ratio")
    rows = [
        (
            f.benchmark,
            f.figure,
            _cell(f.ours),
            _cell(f.baseline),
            f.baseline_name,
            f.unit,
            "-" if f.ratio is None else f"{f.ratio:.3f}",
        )
        for f in figures
    ]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    print()
    for n, row in enumerate([header, *rows]):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("medians of several runs; ratio = ours / baseline, both measured in the same run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: proves they run (CI)")
    parser.add_argument(
        "--only", help="comma-separated subset: " + ", ".join(b.name for b in BENCHES)
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default bench/results.json")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    unknown = set(args.only.split(",")) - {b.name for b in BENCHES} if args.only else set()
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    results: dict[str, Any] = {}
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as scratch:
        for bench in chosen:
            data = run(bench, bench.tiny if args.tiny else bench.full, Path(scratch) / "out.json")
            results[bench.name] = data
            figures.extend(READERS.get(bench.name, _generic(bench.name))(data))
    print_table(figures)
    args.out.write_text(
        json.dumps(
            {
                "suite": "python -m bench" + (" --tiny" if args.tiny else ""),
                "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "elapsed_s": round(time.perf_counter() - started, 1),
                "summary": [f.__dict__ for f in figures],
                "benchmarks": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
