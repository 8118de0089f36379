"""``crm report NAME`` and ``crm export VIEW``: catch the projections up, then answer from
the read-model tables. Usage mistakes (unknown name, a report that cannot look back, a
bad date) are one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from time import perf_counter
from uuid import UUID

import structlog

from adapters.cli.instants import as_of_instant
from adapters.reports import render_csv, render_html, render_json, render_text
from adapters.reports.catalogue import ALL, REPORTS, build, build_page
from adapters.reports.export import export_csv
from adapters.reports.source import ReportError, Source
from adapters.reports.tables import UnknownTable, known_tables
from adapters.store_url import parse_store_url
from application import CRM
from application.crm import utc_now

FORMATS = ("table", "csv", "json", "html")
LANGS = ("en", "zh")


def add_parsers(verbs: argparse._SubParsersAction[argparse.ArgumentParser], db: str) -> None:
    report = verbs.add_parser(
        "report",
        help="a read-model report as a table, CSV, JSON or an HTML page",
        description="Reports: " + ", ".join([*REPORTS, ALL]) + ". "
        "--as-of takes a date (the end of that UTC day) or an ISO 8601 instant.",
    )
    report.add_argument("name", metavar="NAME", help="one of: " + ", ".join([*REPORTS, ALL]))
    report.add_argument("--db", default=db, help="store URL (default: %(default)s)")
    report.add_argument("--as-of", help="DATE or ISO 8601 instant (default: now)")
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument("--lang", choices=LANGS, default="en")
    report.add_argument("--out", type=Path, help="write to FILE instead of stdout")
    report.add_argument("--currency", default="CNY", help="for rfm, abc, pareto (default: CNY)")
    report.add_argument("--customer", help="for lifecycle: one customer's history")

    export = verbs.add_parser(
        "export",
        help="dump a read-model table as CSV",
        description="Tables: " + ", ".join(known_tables()),
    )
    export.add_argument("view", metavar="VIEW", help="one of: " + ", ".join(known_tables()))
    export.add_argument("--db", default=db, help="store URL (default: %(default)s)")
    export.add_argument("--format", choices=("csv",), default="csv")
    export.add_argument("--out", type=Path, help="write to FILE instead of stdout")


def parse_instant(text: str) -> datetime:
    """``--as-of``, read as every command reads an instant (``adapters/cli/instants.py``)."""
    try:
        return as_of_instant(text)
    except ValueError as error:
        raise ReportError(f"--as-of {error}") from None


def _require_store(url: str) -> None:
    """A report on a store that does not exist would create an empty one and report
    nothing; say so instead."""
    location = parse_store_url(url)
    missing = not location.in_memory and not Path(location.sqlite_name).exists()
    if location.kind == "sqlite" and missing:
        raise ReportError(f"no store at {location.display} (run crm demo or crm migrate)")


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


def _render(args: argparse.Namespace, source: Source) -> str:
    if args.name == ALL:
        if args.format not in ("html", "table"):
            raise ReportError("report all is one page: use --format html (or table)")
        page = build_page(source)
        renderer = render_html.render if args.format == "html" else render_text.render
        return renderer(page, args.lang)
    report = build(args.name, source)
    one: dict[str, Callable[[], str]] = {
        "table": lambda: render_text.render([report], args.lang),
        "csv": lambda: render_csv.render(report, args.lang),
        "json": lambda: render_json.render(report, args.lang),
        "html": lambda: render_html.render([report], args.lang),
    }
    return one[args.format]()


def run_report(args: argparse.Namespace) -> int:
    try:
        if args.name != ALL and args.name not in REPORTS:
            raise ReportError(f"no report {args.name!r}; reports: {', '.join([*REPORTS, ALL])}")
        as_of = parse_instant(args.as_of) if args.as_of else None
        customer = None
        if args.customer:
            if args.name != "lifecycle":
                raise ReportError("--customer is for the lifecycle report only")
            try:
                customer = UUID(args.customer)
            except ValueError:
                raise ReportError(f"--customer {args.customer!r} is not a customer id") from None
        _require_store(args.db)
        started = perf_counter()
        with CRM.open(args.db) as crm:
            crm.read_models.catch_up()
            source = Source(crm, utc_now(), as_of, args.currency, customer)
            text = _render(args, source)
    except ReportError as error:
        print(f"crm: {error}", file=sys.stderr)
        return 2
    _write(text, args.out)
    # What was asked and how long it took; never a row (rows hold customers' names).
    structlog.get_logger("crm.reports").info(
        "report",
        report=args.name,
        format=args.format,
        lang=args.lang,
        as_of=source.as_of_text if as_of else None,
        bytes=len(text.encode()),
        duration_ms=round((perf_counter() - started) * 1000, 3),
    )
    return 0


def run_export(args: argparse.Namespace) -> int:
    try:
        _require_store(args.db)
        known = known_tables()
        if args.view not in known:
            raise UnknownTable(args.view, sorted(known))
        with CRM.open(args.db) as crm:
            crm.read_models.catch_up()
            if args.out is None:
                rows = export_csv(crm.store, args.view, sys.stdout)
            else:
                with args.out.open("w", encoding="utf-8", newline="") as out:
                    rows = export_csv(crm.store, args.view, out)
    except (ReportError, UnknownTable) as error:
        print(f"crm: {error.args[0]}", file=sys.stderr)
        return 2
    print(f"exported {rows} rows of {args.view}", file=sys.stderr)
    return 0
