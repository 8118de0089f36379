"""``crm audit as-of | export | schemas | verify``: the auditor's verbs (DESIGN §6, §7)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from uuid import UUID

from adapters.audit.export import write_export
from adapters.audit.schemas import write_schemas
from adapters.audit.verify import Finding, verify_chains
from adapters.cli.instants import as_of_instant
from adapters.event_store import EventStore

DEFAULT_DB = "sqlite:///crm.db"
UNHASHED_EXAMPLES = 5


def add_audit_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = verbs.add_parser("audit", help="replay, export and verify the event log")
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")

    as_of = actions.add_parser("as-of", help="an aggregate as of an instant or version, as JSON")
    as_of.add_argument("aggregate_id", type=UUID, metavar="ID")
    when = as_of.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--at",
        type=_as_of,
        help="business time: a date (the end of that UTC day) or an ISO 8601 instant (naive = UTC)",
    )
    when.add_argument("--version", type=int, help="stream version, from 1")

    export = actions.add_parser(
        "export", help="the log as JSON Lines on stdout, in log order (streamed)"
    )
    export.add_argument("--aggregate", type=UUID, metavar="ID", help="one stream only")
    export.add_argument(
        "--since",
        type=_utc,
        help="from this instant, inclusive (ISO 8601; a date is its 00:00 UTC)",
    )
    export.add_argument(
        "--until",
        type=_utc,
        help="up to this instant, exclusive (ISO 8601; a date is its 00:00 UTC: that day is out)",
    )
    export.add_argument(
        "--time",
        choices=("occurred_at", "recorded_at"),
        default="occurred_at",
        help="which time --since/--until compare (default: business time, occurred_at)",
    )

    schemas = actions.add_parser("schemas", help="write the JSON Schemas of events and export")
    schemas.add_argument("directory", type=Path, metavar="DIR")

    actions.add_parser("verify", help="recompute every hash chain; exit 1 if any is broken")
    actions.add_parser(
        "diff",
        help="catch the read models up, rebuild them into scratch tables and compare row by "
        "row; exit 1 on any difference",
    )
    for action in (as_of, export, actions.choices["verify"], actions.choices["diff"]):
        action.add_argument("--db", default=DEFAULT_DB, help="store URL (default: %(default)s)")


def run_audit(args: argparse.Namespace) -> int:
    if args.action == "schemas":
        written = write_schemas(args.directory)
        print(f"wrote {len(written)} schema files to {args.directory}", file=sys.stderr)
        return 0
    from application import CRM

    with CRM.open(args.db) as crm:
        if args.action == "as-of":
            view = crm.audit.view(args.aggregate_id, at=args.at, version=args.version)
            print(view.model_dump_json(indent=2))
            return 0
        if args.action == "export":
            count = write_export(
                crm.store,
                sys.stdout,
                aggregate_id=args.aggregate,
                since=args.since,
                until=args.until,
                time_field=args.time,
            )
            sys.stdout.flush()
            print(f"exported {count} events", file=sys.stderr)
            return 0
        if args.action == "diff":
            return _diff(crm.store)
        return _verify(crm.store)


def _verify(store: EventStore) -> int:
    unhashed: list[UUID] = []

    def show(finding: Finding) -> None:
        if finding.broken:
            print(
                f"{finding.reason:<9} {finding.aggregate_id} v{finding.version}: {finding.detail}"
            )
        elif len(unhashed) < UNHASHED_EXAMPLES:
            unhashed.append(finding.aggregate_id)

    report = verify_chains(store, on_finding=show)
    rate = report.events / report.seconds if report.seconds else 0.0
    if report.unhashed:
        examples = ", ".join(str(i) for i in unhashed)
        print(
            f"unhashed  {report.unhashed} streams were written before hash chains and cannot "
            f"be verified (e.g. {examples})"
        )
    verdict = "BROKEN" if report.broken else "ok"
    print(
        f"{verdict}: {report.events} events in {report.streams} streams, "
        f"{report.broken} broken, {report.unhashed} unhashed "
        f"({report.seconds:.2f}s, {rate:,.0f} events/s)"
    )
    return 1 if report.broken else 0


def _diff(store: EventStore) -> int:
    from adapters.audit.diff import diff_projections

    report = diff_projections(store)
    for table in report.tables:
        print(
            f"{table.table}: {table.live_rows} live rows, {table.rebuilt_rows} rebuilt, "
            f"{table.differences} differ"
        )
        for row in table.shown:
            key = ", ".join(f"{k}={v}" for k, v in row.key.items())
            if row.kind != "changed":
                where = "live only" if row.kind == "extra" else "rebuilt only"
                print(f"  {row.kind:<8} [{key}] ({where})")
            for name, (live, rebuilt) in row.columns.items():
                print(f"  changed  [{key}] {name}: live {live!r}, rebuilt {rebuilt!r}")
        if table.differences > len(table.shown):
            print(f"  ... and {table.differences - len(table.shown)} more")
    verdict = "DIFFERENT" if report.differences else "same"
    print(
        f"{verdict}: {report.differences} differing rows at position {report.position}, "
        f"as of {report.at.isoformat()}"
    )
    return 1 if report.differences else 0


def _as_of(text: str) -> datetime:
    try:
        return as_of_instant(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _utc(text: str) -> datetime:
    from datetime import UTC

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
