"""Each renderer on a hand-made report: what a person reads, what a program parses, and
that nothing in the data can break out of the HTML."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest

from adapters.reports import render_csv, render_html, render_json, render_text, svg
from adapters.reports.figures import mean, median, share
from adapters.reports.model import BarChart, Column, HeatMap, Kind, LineChart, Note, Report
from adapters.reports.render_text import width
from adapters.reports.vocabulary import STAGES, reason_zh, reasons

EVIL = "<script>alert(\"x\")</script> & 'quoted'"
CUSTOMER = UUID("12345678-1234-5678-1234-567812345678")
BEIJING = timezone(timedelta(hours=8))


def sample() -> Report:
    return Report(
        name="sample",
        en="Sample",
        zh="样例",
        columns=(
            Column("customer_id", "customer id", "客户编号", Kind.ID),
            Column("name", "name", "客户名称"),
            Column("stage", "stage", "阶段", Kind.LABEL, STAGES),
            Column("value", "value", "金额", Kind.MONEY),
            Column("rate", "rate", "比率", Kind.RATE),
            Column("at", "at", "时间", Kind.DATETIME),
            Column("month", "month", "月份", Kind.MONTH),
            Column("member", "member", "会员", Kind.BOOL),
            Column(
                "reasons",
                "reasons",
                "原因",
                Kind.LABELS,
                reasons(["no_purchase_for_180_days", "complaint_past_sla"]),
            ),
        ),
        rows=(
            (
                CUSTOMER,
                "王芳",
                "first_time_buyer",
                Decimal("1234567.5"),
                Decimal("0.8125"),
                datetime(2025, 1, 2, 9, 30, tzinfo=BEIJING),
                date(2025, 1, 1),
                True,
                ("no_purchase_for_180_days", "complaint_past_sla"),
            ),
            (CUSTOMER, EVIL, "churned", Decimal(0), None, None, date(2025, 2, 1), False, ()),
        ),
        as_of="2026-01-01T00:00:00Z",
        notes=(Note("holds", "成立", True, Kind.BOOL),),
        charts=(
            BarChart(label="stage", value="value"),
            LineChart(x="month", y="rate"),
            HeatMap(row="month", cells=("rate",)),
        ),
    )


def test_a_text_table_lines_up_chinese_text_in_terminal_cells() -> None:
    text = render_text.render([sample()], "zh")
    lines = text.splitlines()

    assert lines[0] == "样例 (截至 2026-01-01T00:00:00Z)"
    header, row, other = lines[1], lines[3], lines[4]

    def starts(line: str, text: str) -> int:
        return width(line[: line.index(text)])

    # the stage column starts at the same terminal cell on every line, although the names
    # before it are Chinese (two cells a character) on one row and ASCII on the other
    assert starts(header, "阶段") == starts(row, "首次购买客户") == starts(other, "流失客户")
    # money is right-aligned: both amounts end in the same cell
    assert starts(row, "1,234,567.50") + 12 == starts(other, " 0.00") + 5
    assert "1,234,567.50" in lines[3] and "81.2 %" in lines[3]
    assert "2025-01-02 01:30" in lines[3]  # shown in UTC
    assert "超过180天未购买、投诉处理超过服务时限" in lines[3]
    assert lines[-1] == "成立: 是"


def test_english_text_keeps_the_codes() -> None:
    text = render_text.render([sample()], "en")
    assert "first_time_buyer" in text and "首次购买客户" not in text
    assert "no_purchase_for_180_days, complaint_past_sla" in text
    assert "holds: yes" in text


def test_csv_has_stable_keys_and_exact_values() -> None:
    rows = list(csv.reader(io.StringIO(render_csv.render(sample(), "en"))))

    assert rows[0] == [
        "customer_id", "name", "stage", "value", "rate", "at", "month", "member", "reasons",
    ]  # fmt: skip
    assert rows[1] == [
        str(CUSTOMER),
        "王芳",
        "first_time_buyer",
        "1234567.5",
        "0.8125",
        "2025-01-02T01:30:00Z",
        "2025-01",
        "true",
        "no_purchase_for_180_days;complaint_past_sla",
    ]
    assert rows[2][1] == EVIL and rows[2][4] == "" and rows[2][7] == "false"


def test_chinese_csv_has_chinese_headers_and_labels() -> None:
    rows = list(csv.reader(io.StringIO(render_csv.render(sample(), "zh"))))
    assert rows[0][:3] == ["客户编号", "客户名称", "阶段"]
    assert rows[1][2] == "首次购买客户"


def test_json_is_a_list_of_objects_with_the_same_keys_in_every_language() -> None:
    english = json.loads(render_json.render(sample(), "en"))
    chinese = json.loads(render_json.render(sample(), "zh"))

    assert [list(o) for o in english] == [list(o) for o in chinese]
    first = english[0]
    assert first["value"] == "1234567.5"  # Decimal as a string, never a float
    assert first["at"] == "2025-01-02T01:30:00Z"
    assert first["member"] is True
    assert first["reasons"] == ["no_purchase_for_180_days", "complaint_past_sla"]
    assert english[1]["rate"] is None and english[1]["reasons"] == []
    assert chinese[0]["stage"] == "首次购买客户"
    assert english[0]["stage"] == "first_time_buyer"


def test_html_escapes_every_piece_of_text_and_forbids_scripts() -> None:
    page = render_html.render([sample()], "en")

    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;" in page
    assert "default-src 'none'" in page  # the Content-Security-Policy: no script may run
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert page.count("<svg") == 3
    assert "<table>" in page and page.count("<tr>") == 3


def test_html_in_chinese_names_its_language_and_labels() -> None:
    page = render_html.render([sample()], "zh")
    assert '<html lang="zh-CN">' in page
    assert "首次购买客户" in page and "截至" in page


def test_svg_bars_scale_to_the_largest_value_and_survive_all_zeros() -> None:
    drawn = svg.bars("x", ["a", "b"], [2.0, 1.0], ["2", "1"])
    assert 'width="420.0"' in drawn and 'width="210.0"' in drawn
    assert "<rect" in svg.bars("x", ["a"], [0.0], ["0"])


def test_svg_line_breaks_at_a_missing_value() -> None:
    drawn = svg.line("gap", ["1", "2", "3", "4"], [1.0, -1.0, None, 0.5], ["1", "-1", "-", "0.5"])
    assert drawn.count("<polyline") == 1  # the lone last point is a dot, not a line
    assert drawn.count("<circle") == 3


def test_svg_heat_map_shades_by_rate_and_leaves_missing_cells_empty() -> None:
    drawn = svg.heat_map("c", ["2025-01"], ["M0", "M1"], [[1.0, None]], [["100 %", "-"]])
    assert drawn.count("<rect") == 1
    assert "rgb(31,78,140)" in drawn


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("no_purchase_for_90_days", "超过90天未购买"),
        ("latest_satisfaction_dissatisfied", "最近一次满意度为不满意"),
        ("something_new", "something_new"),
    ],
)
def test_at_risk_reasons_have_chinese_labels(code: str, label: str) -> None:
    assert reason_zh(code) == label


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="row 0 has 1 cells, not 2"):
        Report("r", "R", "R", (Column("a", "a", "a"), Column("b", "b", "b")), (("x",),))


def test_head_keeps_the_first_rows_and_counts_the_rest() -> None:
    cut = sample().head(1)
    assert len(cut.rows) == 1 and cut.omitted == 1
    assert "… 1 more rows" in render_text.render([cut], "en")
    assert datetime(2025, 1, 2, 1, 30, tzinfo=UTC) == cut.rows[0][5]


def test_shares_and_medians_are_exact_and_defined_on_nothing() -> None:
    assert share(1, 3) == Decimal("0.3333") and share(2, 3) == Decimal("0.6667")
    assert str(share(0, 0)) == "0.0000"  # an empty store is a report of zeros
    assert median([5, 1, 3]) == 3 and median([1, 2, 3, 10]) == Decimal("2.5")
    assert median([]) is None and mean([]) is None
    assert mean([1, 2]) == Decimal("1.5")
