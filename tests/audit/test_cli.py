"""``crm audit`` as an auditor runs it: a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from application import CRM
from tests.audit.history import record_history, run_sql, stream_key

ROOT = Path(__file__).resolve().parents[2]


def crm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "audit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )


def test_as_of_export_verify_and_a_tampered_row(store_url: str, tmp_path: Path) -> None:
    with CRM.open(store_url) as session:
        history = record_history(session)
        total = session.store.count_events()

    as_of = crm("as-of", str(history.customer_id), "--version", "3", "--db", store_url)
    at = crm(
        "as-of", str(history.customer_id), "--at", history.at(3).isoformat(), "--db", store_url
    )
    # A date is that whole day, as in ``crm report --as-of``: version 4 came at 09:00 on it.
    day = crm(
        "as-of", str(history.customer_id), "--at", f"{history.at(3):%Y-%m-%d}", "--db", store_url
    )
    ever = crm("as-of", str(history.customer_id), "--at", "9999-12-31", "--db", store_url)
    export = crm("export", "--db", store_url)
    one = crm("export", "--aggregate", str(history.customer_id), "--db", store_url)
    verified = crm("verify", "--db", store_url)
    diff = crm("diff", "--db", store_url)

    assert as_of.returncode == 0, as_of.stderr
    view = json.loads(as_of.stdout)
    assert (view["kind"], view["version"], view["state"]["tier"]) == ("customer", 3, "partner")
    assert json.loads(at.stdout)["state"]["loyalty_points"] == 120
    assert day.returncode == 0, day.stderr
    assert ever.returncode == 0, ever.stderr
    assert json.loads(ever.stdout)["version"] == 5
    assert (json.loads(day.stdout)["version"], json.loads(day.stdout)["at"]) == (
        4,
        f"{history.at(3):%Y-%m-%d}T23:59:59.999999Z",
    )
    assert export.returncode == 0, export.stderr
    assert len(export.stdout.splitlines()) == total
    assert f"exported {total} events" in export.stderr
    assert [json.loads(line)["version"] for line in one.stdout.splitlines()] == [1, 2, 3, 4, 5]
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith(f"ok: {total} events")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert "customer_lifecycle: 1 live rows, 1 rebuilt, 0 differ" in diff.stdout
    assert diff.stdout.splitlines()[-1].startswith("same: 0 differing rows at position ")

    run_sql(
        store_url,
        "UPDATE stored_events SET topic = 'MembershipLeft' "
        "WHERE originator_id = ? AND originator_version = 5",
        (stream_key(store_url, history.customer_id),),
    )
    broken = crm("verify", "--db", store_url)

    assert broken.returncode == 1
    first, summary = broken.stdout.splitlines()
    assert first.startswith(f"altered   {history.customer_id} v5: ")
    assert summary.startswith(f"BROKEN: {total} events") and "1 broken" in summary


def test_schemas_and_errors_are_one_line(tmp_path: Path) -> None:
    written = crm("schemas", str(tmp_path / "schemas"))
    bad_time = crm("export", "--since", "yesterday", "--db", f"sqlite:///{tmp_path / 'x.db'}")
    bad_at = crm("as-of", "00000000-0000-4000-8000-000000000000", "--at", "31/12/2025", "--db", "x")
    unknown = crm(
        "as-of",
        "00000000-0000-4000-8000-000000000000",
        "--version",
        "1",
        "--db",
        f"sqlite:///{tmp_path / 'x.db'}",
    )

    assert written.returncode == 0, written.stderr
    assert (tmp_path / "schemas" / "events" / "CustomerRegistered.schema.json").exists()
    assert (tmp_path / "schemas" / "export-line.schema.json").exists()
    assert bad_time.returncode == 2 and "not an ISO 8601 time" in bad_time.stderr
    assert bad_at.returncode == 2
    assert "'31/12/2025': expected a date YYYY-MM-DD or an ISO 8601 instant" in bad_at.stderr
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        "crm: NotFound: aggregate 00000000-0000-4000-8000-000000000000 not found"
    ]
