"""The README's performance table, from ``bench/results.json`` (``python -m bench``).

    .venv/bin/python -m bench.readme_table [PATH]

Prints the sentence naming the run and a Markdown table, to paste under the README's
"Performance" heading: the figures are the suite's own, never typed by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent / "results.json"


def amount(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def table(results: dict[str, Any]) -> str:
    minutes = round(results["elapsed_s"] / 60)
    lines = [
        f"From one run of `.venv/bin/{results['suite']}` "
        f"({results['recorded_at']}, {minutes} min, the shared 2-core machine); "
        "`bench/results.json` holds every run's figures.",
        "",
        "| benchmark | figure | ours | baseline (same run) | ratio |",
        "|---|---|---|---|---|",
    ]
    for f in results["summary"]:
        unit, lower = f["unit"], ""
        if unit.endswith(" (lower is better)"):
            unit, lower = unit.removesuffix(" (lower is better)"), ", lower is better"
        ratio = "-" if f["ratio"] is None else f"{f['ratio']:.2f}"
        lines.append(
            f"| {f['benchmark']} | {f['figure']} | {amount(f['ours'])} {unit} | "
            f"{amount(f['baseline'])} {unit} ({f['baseline_name']}{lower}) | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT
    print(table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
