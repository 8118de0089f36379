"""The ``crm`` command line. Every error is one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from adapters.store_url import StoreURLError

DEFAULT_DB = "sqlite:///crm.db"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm", description="Event-sourced CRM core.")
    parser.add_argument("--log-level", default="warning", help="debug, info, warning (default)")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines to stderr")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    demo = verbs.add_parser("demo", help="record a deterministic sample history and summarise it")
    demo.add_argument(
        "--db", default="sqlite:///crm-demo.db", help="store URL (default: %(default)s)"
    )
    demo.add_argument(
        "--customers", type=int, default=2000, help="how many customers (default: %(default)s)"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    demo.add_argument(
        "--no-projections",
        action="store_true",
        help="record the history only; leave the read models to `crm projections run`",
    )

    migrate = verbs.add_parser("migrate", help="create the store's tables if they are missing")
    migrate.add_argument("--db", default=DEFAULT_DB, help="store URL (default: %(default)s)")

    projections = verbs.add_parser("projections", help="keep the read-model tables current")
    actions = projections.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="catch up, then follow new events until interrupted")
    run.add_argument("--once", action="store_true", help="catch up and exit")
    run.add_argument("--poll", type=float, default=0.5, help="seconds between polls on SQLite")
    run.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1,
        help="processes for a long catch-up on PostgreSQL, this one included, one group of "
        "projections each (default: the CPUs this process may use, %(default)s; SQLite "
        "always uses one)",
    )
    rebuild = actions.add_parser(
        "rebuild", help="rebuild from zero beside the live tables, then swap"
    )
    rebuild.add_argument("name", nargs="?", help="one projection (default: all)")
    actions.add_parser("status", help="position, lag and last error of each projection")
    for action in (run, rebuild, actions.choices["status"]):
        action.add_argument("--db", default=DEFAULT_DB, help="store URL (default: %(default)s)")

    from adapters.cli.import_args import add_import_parser

    add_import_parser(verbs)

    from adapters.cli.report import add_parsers as add_report_parsers

    add_report_parsers(verbs, DEFAULT_DB)

    from adapters.cli.audit import add_audit_parser

    add_audit_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from adapters.logging_setup import configure_logging

    configure_logging(args.log_level, json=args.log_json)
    try:
        if args.verb == "demo":
            from adapters.cli.demo import run_demo

            return run_demo(
                args.db,
                customers=args.customers,
                seed=args.seed,
                reports=not args.no_projections,
            )
        if args.verb == "projections":
            from adapters.cli.projections import run_projections

            return run_projections(args)
        if args.verb == "audit":
            from adapters.cli.audit import run_audit

            return run_audit(args)
        if args.verb == "import":
            from adapters.cli.importer import run_import

            return run_import(args)
        if args.verb in ("report", "export"):
            from adapters.cli.report import run_export, run_report

            return run_report(args) if args.verb == "report" else run_export(args)
        if args.verb == "migrate":
            from application import CRM

            with CRM.open(args.db) as crm:
                print(f"store ready: {crm.store.location.display}")
            return 0
    except StoreURLError as error:
        print(f"crm: bad --db URL: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`crm export ... | head`): nothing to say, as any tool a
        # pipe closes on. stdout points at nothing now, so the flush at exit cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as error:  # one line for the user; details with --log-level debug
        print(f"crm: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 2
