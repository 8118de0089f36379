"""``crm projections run|rebuild|status``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from application import CRM


def run_projections(args: argparse.Namespace) -> int:
    with CRM.open(args.db) as crm:
        read_models = crm.read_models
        if args.action == "status":
            _print_status(crm)
            return 0
        if args.action == "rebuild":
            names = [args.name] if args.name else list(read_models.runner.projections)
            for name in names:
                position = read_models.rebuild(name)
                print(f"rebuilt {name} up to position {position}")
            return 0
        # Installed before the first catch-up: a SIGTERM at any point stops the process
        # cleanly after the batch in hand (it used to kill it during the first catch-up).
        stop = threading.Event()
        if not args.once:
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        positions = read_models.catch_up(workers=args.workers)
        for name, position in positions.items():
            print(f"{name}: caught up to position {position}")
        if args.once or stop.is_set():
            return 0
        print("following new events; Ctrl-C to stop", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            read_models.runner.run_forever(
                should_stop=stop.is_set, poll_seconds=args.poll, workers=args.workers
            )
        return 0


def _print_status(crm: CRM) -> None:
    header = ("projection", "version", "position", "head", "lag events", "lag s", "last error")
    rows = [
        (
            s.projection,
            str(s.version) + ("" if s.version == s.code_version else f" (code {s.code_version})"),
            str(s.position),
            str(s.head),
            str(s.lag_events),
            f"{s.lag_seconds:.1f}",
            s.last_error or "-",
        )
        for s in crm.read_models.status()
    ]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
