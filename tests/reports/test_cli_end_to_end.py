"""``crm report`` and ``crm export`` run as a user runs them (a subprocess), on SQLite and
PostgreSQL: every format, both languages, and the mistakes a user makes."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path

from adapters.cli.report import parse_instant
from application import CRM
from domain.retention import RfmSegment
from tests.reports.conftest import CRM_EXE, EVIL_NAME, fill, run_crm


def report(url: str, *args: str) -> str:
    result = run_crm("report", *args, "--db", url)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_format_and_language_on_both_stores(store_url: str, tmp_path: Path) -> None:
    fill(store_url)
    as_of = parse_instant("2026-01-01")
    with CRM.open(store_url) as crm:
        crm.read_models.catch_up()
        abc = crm.read_models.abc(as_of=as_of)
        rfm_rows = crm.read_models.rfm(as_of=as_of)

    funnel = report(store_url, "funnel")
    assert funnel.startswith("Lifecycle funnel (as of ")
    assert "first_time_buyer" in funnel and "customers: 41" in funnel

    funnel_zh = report(store_url, "funnel", "--lang", "zh")
    assert funnel_zh.startswith("客户发展漏斗 (截至 ")
    assert "首次购买客户" in funnel_zh and "客户总数: 41" in funnel_zh

    rfm_csv = report(store_url, "rfm", "--format", "csv", "--as-of", "2026-01-01")
    rfm = list(csv.DictReader(io.StringIO(rfm_csv)))
    assert [r["segment"] for r in rfm] == [s.value for s in RfmSegment]
    by_segment = Counter(row.segment.value for row in rfm_rows)
    assert [int(r["buyers"]) for r in rfm] == [by_segment[s.value] for s in RfmSegment]

    cohorts_csv = report(store_url, "cohorts", "--format", "csv", "--lang", "zh")
    cohorts = list(csv.reader(io.StringIO(cohorts_csv)))
    assert cohorts[0][:3] == ["队列", "人数", "第0月"]
    assert all(row[2] == "1.0000" for row in cohorts[1:])  # M0 is the cohort itself

    classes = json.loads(report(store_url, "abc", "--format", "json", "--as-of", "2026-01-01"))
    assert [c["abc_class"] for c in classes] == ["A", "B", "C"]
    counted = Counter(row.abc_class.value for row in abc)
    assert [c["buyers"] for c in classes] == [counted[k] for k in "ABC"]
    assert sum(Decimal(c["revenue"]) for c in classes) == sum(r.monetary for r in abc)

    risks = json.loads(report(store_url, "churn-risk", "--format", "json", "--lang", "zh"))
    (evil,) = [r for r in risks if r["display_name"] == EVIL_NAME]
    assert evil["reasons"] == ["最近一次满意度为不满意"] and evil["stage"] == "猜想客户"
    assert set(evil) == set(risks[0])

    page = tmp_path / "all.html"
    report(store_url, "all", "--format", "html", "--out", str(page))
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") >= 6 and '<section id="cohorts">' in html
    assert EVIL_NAME not in html and "&lt;script&gt;document.title" in html

    page_zh = tmp_path / "all-zh.html"
    report(store_url, "all", "--format", "html", "--lang", "zh", "--out", str(page_zh))
    html_zh = page_zh.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html_zh and "客户发展漏斗" in html_zh


def test_export_dumps_a_read_model_table_as_csv(store_url: str, tmp_path: Path) -> None:
    fill(store_url)
    out = tmp_path / "lifecycle.csv"

    result = run_crm("export", "customer_lifecycle", "--db", store_url, "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert "exported 41 rows of customer_lifecycle" in result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 41
    assert {"customer_id", "stage", "lifetime_value", "at_risk", "updated_at"} <= set(rows[0])
    assert {r["at_risk"] for r in rows} <= {"true", "false"}
    assert all(r["updated_at"].endswith("Z") for r in rows)
    (evil,) = [r for r in rows if r["display_name"] == EVIL_NAME]
    assert evil["stage"] == "suspect"


def test_an_export_whose_reader_stops_early_ends_quietly(store_url: str) -> None:
    """``crm export ... | head -1``: the pipe closes under it; no error line, the exit
    status of a process a pipe closed on. (More rows than a pipe holds, so that the
    export is still writing when the reader goes.)"""
    assert run_crm("demo", "--customers", "400", "--db", store_url).returncode == 0
    with subprocess.Popen(
        [str(CRM_EXE), "export", "customer_lifecycle", "--db", store_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as export:
        assert export.stdout is not None and export.stderr is not None
        first = export.stdout.readline()
        export.stdout.close()
        error = export.stderr.read().decode()
        code = export.wait(timeout=120)

    assert first.startswith(b"customer_id,")
    assert "Error" not in error and "crm:" not in error, error
    assert code == 128 + signal.SIGPIPE
