"""The ``crm`` command as a user runs it: a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from projections.opportunity_pipeline import OpportunityPipelineProjection


def crm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )


def _recorded_and_replayed(output: str) -> tuple[int, int]:
    match = re.search(r"recorded now: ([\d,]+) .* idempotent\): ([\d,]+)", output)
    assert match, output
    return int(match[1].replace(",", "")), int(match[2].replace(",", ""))


def test_demo_records_a_history_once_and_replays_it_the_second_time(store_url: str) -> None:
    first = crm("demo", "--customers", "25", "--db", store_url)
    second = crm("demo", "--customers", "25", "--db", store_url)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    recorded, replayed = _recorded_and_replayed(first.stdout)
    assert recorded > 100 and replayed == 0
    assert _recorded_and_replayed(second.stdout)[0] == 0
    for heading in ("Opportunity pipeline", "Orders by status", "Complaint SLA compliance"):
        assert heading in first.stdout
    assert (
        first.stdout.split("time:")[1].split("\n", 1)[1]
        == second.stdout.split("time:")[1].split("\n", 1)[1]
    )


def test_migrate_creates_the_store(tmp_path: Path) -> None:
    result = crm("migrate", "--db", f"sqlite:///{tmp_path / 'new.db'}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new.db").exists()


def test_a_bad_store_url_is_one_clear_line_and_a_non_zero_exit() -> None:
    result = crm("migrate", "--db", "mysql://nowhere/db")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "unsupported store URL scheme" in result.stderr


def test_projections_run_rebuild_and_status(store_url: str) -> None:
    assert crm("demo", "--customers", "10", "--db", store_url).returncode == 0

    ran = crm("projections", "run", "--once", "--db", store_url)
    rebuilt = crm("projections", "rebuild", "--db", store_url)
    status = crm("projections", "status", "--db", store_url)

    assert ran.returncode == rebuilt.returncode == status.returncode == 0, (
        ran.stderr + rebuilt.stderr
    )
    assert "opportunity_pipeline: caught up to position" in ran.stdout
    assert "rebuilt opportunity_pipeline" in rebuilt.stdout
    (line,) = [row for row in status.stdout.splitlines() if row.startswith("opportunity_pipeline")]
    _, version, position, head, lag, *_ = line.split()
    assert (version, position, lag) == (str(OpportunityPipelineProjection.version), head, "0")
