"""Every report in every format and language (in process, for speed), the figures held
against the typed queries, and the usage errors: one line, exit 2."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from adapters.cli import main
from adapters.cli.report import parse_instant
from adapters.reports.catalogue import REPORTS
from adapters.reports.source import ReportError
from application import CRM, NotFound
from domain.lifecycle_vocabulary import LifecycleStage
from tests.reports.conftest import run_crm

FORMATS = ("table", "csv", "json", "html")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_report_renders_in_every_format(
    demo_db: str, name: str, lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {}
    for fmt in FORMATS:
        args = ("report", name, "--db", demo_db, "--format", fmt, "--lang", lang)
        code, out, err = run(capsys, *args)
        assert code == 0, err
        outputs[fmt] = out
    objects = json.loads(outputs["json"])
    table = list(csv.reader(io.StringIO(outputs["csv"])))
    assert isinstance(objects, list)
    assert len(table) == len(objects) + 1  # the header, then one line per object
    if objects:
        assert len(table[0]) == len(objects[0])
        assert all(list(o) == list(objects[0]) for o in objects)
    assert outputs["html"].startswith("<!DOCTYPE html>")
    assert outputs["table"].splitlines()[0].endswith("Z)")  # says when it is as of


def test_the_funnel_now_counts_the_stages_of_the_lifecycle_table(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", "funnel", "--db", demo_db, "--format", "json")
    with CRM.open(demo_db) as crm:
        stages = Counter(r["stage"] for r in _lifecycle_rows(crm))

    assert code == 0
    assert {r["stage"]: r["customers"] for r in json.loads(out)} == {
        s.value: stages[s.value] for s in LifecycleStage
    }


def test_the_funnel_as_of_a_past_date_agrees_with_each_customers_lifecycle(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = parse_instant("2025-03-31")
    args = ("report", "funnel", "--db", demo_db, "--format", "json", "--as-of", "2025-03-31")
    code, out, _ = run(capsys, *args)
    expected: Counter[str] = Counter()
    with CRM.open(demo_db) as crm:
        for row in _lifecycle_rows(crm):
            try:
                expected[crm.lifecycle(row["customer_id"], as_of=at).stage.value] += 1
            except NotFound:
                continue  # not a customer yet at that date
    funnel = {r["stage"]: r["customers"] for r in json.loads(out)}

    assert code == 0
    assert funnel == {s.value: expected[s.value] for s in LifecycleStage}
    assert sum(funnel.values()) < 41  # some customers arrived later


def test_the_funnel_as_of_today_is_the_funnel_now(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Today's date means the end of today, which has not all happened: the answer is now's
    (it was refused as a future date)."""
    today = datetime.now(UTC).date().isoformat()
    code, out, err = run(capsys, "report", "funnel", "--db", demo_db, "--format", "json")
    as_of_today = run(
        capsys, "report", "funnel", "--db", demo_db, "--format", "json", "--as-of", today
    )
    assert (code, as_of_today[0]) == (0, 0), err + as_of_today[2]
    counts = [{r["stage"]: r["customers"] for r in json.loads(o)} for o in (out, as_of_today[1])]
    assert counts[0] == counts[1]


def test_a_future_as_of_is_refused_by_every_report_but_follow_ups(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only follow-ups look ahead (due by then); the others would make up figures for
    months that have not happened (as 0 % retention)."""
    code, _, err = run(capsys, "report", "cohorts", "--db", demo_db, "--as-of", "2099-01-01")
    ahead, out, _ = run(capsys, "report", "follow-ups", "--db", demo_db, "--as-of", "2099-01-01")
    today = datetime.now(UTC).date().isoformat()
    _, later_today, _ = run(capsys, "report", "follow-ups", "--db", demo_db, "--as-of", today)

    assert code == 2
    assert err.strip() == (
        "crm: report cohorts: --as-of must not be in the future (it reports what has happened)"
    )
    assert ahead == 0 and "2099-01-01T23:59:59Z" in out.splitlines()[0]
    assert f"{today}T23:59:59Z" in later_today.splitlines()[0]  # due later today counts


def test_one_customers_lifecycle_as_of_a_date(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with CRM.open(demo_db) as crm:
        churned = next(r for r in _lifecycle_rows(crm) if r["stage"] == "churned")
        history = crm.lifecycle(churned["customer_id"], as_of=parse_instant("2026-06-30")).history

    code, out, err = run(
        capsys, "report", "lifecycle", "--db", demo_db, "--format", "json",
        "--customer", str(churned["customer_id"]), "--as-of", "2026-06-30",
    )  # fmt: skip

    assert code == 0, err
    rows = json.loads(out)
    assert [(r["from_stage"], r["to_stage"], r["cause"]) for r in rows] == [
        (t.from_stage.value if t.from_stage else None, t.to_stage.value, t.cause) for t in history
    ]
    assert rows[-1]["to_stage"] == "churned" and rows[-1]["cause"] == "time"


def test_the_html_page_writes_to_a_file(
    demo_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    args = ("report", "all", "--db", demo_db, "--format", "html", "--as-of", "2026-01-01")
    code, stdout, _ = run(capsys, *args, "--out", str(out))
    page = out.read_text(encoding="utf-8")

    assert code == 0 and stdout == ""
    assert "as of 2026-01-01T23:59:59Z" in page  # the reports that can look back
    assert page.count("as of 2026-01-01T23:59:59Z") < page.count('<p class="as-of">')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "churn-risk", "--as-of", "2025-01-01"], "report churn-risk cannot look back"),
        (["report", "funnel", "--as-of", "2999-01-01"], "must not be in the future"),
        (["report", "rfm", "--as-of", "last week"], "expected a date YYYY-MM-DD"),
        (["report", "sales"], "no report 'sales'; reports: funnel, "),
        (["report", "all", "--format", "csv"], "report all is one page"),
        (["report", "lifecycle", "--as-of", "2025-01-01"], "--as-of needs --customer ID"),
        (["report", "rfm", "--customer", "x"], "--customer is for the lifecycle report only"),
        (["export", "customer_lifecycle; DROP TABLE follow_ups"], "no read-model table"),
        (["export", "customer_lifecycle__events"], "known tables: complaint_cases, "),
    ],
)
def test_a_usage_mistake_is_one_line_and_exit_2(
    demo_db: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *args, "--db", demo_db)

    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err


def test_a_report_on_a_missing_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    result = run_crm("report", "funnel", "--db", f"sqlite:///{missing}")

    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"crm: no store at sqlite:///{missing} (run crm demo or crm migrate)"
    )
    assert not missing.exists()


def test_the_refused_export_name_left_every_table_in_place(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "export", "follow_ups; DROP TABLE follow_ups", "--db", demo_db)
    code, out, _ = run(capsys, "export", "follow_ups", "--db", demo_db)

    assert code == 0 and out.startswith("follow_up_id,")


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2025-12-31", datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("20251231", datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2025-12-31T08:00:00", datetime(2025, 12, 31, 8, tzinfo=UTC)),
        ("2025-12-31T08:00:00+08:00", datetime(2025, 12, 31, 0, tzinfo=UTC)),
        ("2025-12-31T08:00:00Z", datetime(2025, 12, 31, 8, tzinfo=UTC)),
        ("2025-12-31t08:00:00Z", datetime(2025, 12, 31, 8, tzinfo=UTC)),  # RFC 3339 allows it
        ("2025-12-31T08:00:00z", datetime(2025, 12, 31, 8, tzinfo=UTC)),
        ("2025-12-31 08:00:00+00:00", datetime(2025, 12, 31, 8, tzinfo=UTC)),
    ],
)
def test_as_of_reads_a_date_as_the_end_of_that_utc_day(text: str, instant: datetime) -> None:
    assert parse_instant(text) == instant


@pytest.mark.parametrize("text", ["31/12/2025", "1700000000", "2025123"])
def test_an_unreadable_as_of_is_a_report_error(text: str) -> None:
    with pytest.raises(ReportError, match=f"'{text}': expected a date YYYY-MM-DD"):
        parse_instant(text)


def test_the_last_date_there_is_means_everything() -> None:
    assert parse_instant("9999-12-31") == datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # A date with an offset would be that day's start there: the other end of the day.
        ("2025-12-31Z", "a date takes no offset"),
        ("2025-12-31+08:00", "a date takes no offset"),
        ("20251231Z", "a date takes no offset"),
        ("2025-W01-1Z", "a date takes no offset"),
        ("2025-12-31+08:00:00", "a date takes no offset"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
    ],
)
def test_an_as_of_that_names_no_instant_is_a_report_error(text: str, reason: str) -> None:
    with pytest.raises(ReportError, match=re.escape(f"--as-of '{text}': {reason}")):
        parse_instant(text)


def test_every_report_answers_the_last_date_there_is_or_refuses_it_in_one_line(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Never a traceback (9999-12-31 plus one day overflowed): a report that looks ahead
    answers, one that does not says why in one line (a future date, a missing --customer)."""
    for name in sorted(name for name, entry in REPORTS.items() if entry.as_of):
        code, _, err = run(capsys, "report", name, "--db", demo_db, "--as-of", "9999-12-31")
        refused = err.startswith(f"crm: report {name}: ")
        assert code == 0 or (code == 2 and refused and err.count("\n") == 1), f"{name}: {err}"


def _lifecycle_rows(crm: CRM) -> list[dict[str, UUID | str]]:
    from adapters.reports.tables import read_rows
    from projections.lifecycle import LIFECYCLE

    crm.read_models.catch_up()
    return list(read_rows(crm.store, LIFECYCLE))
