"""The CSV side of imports: reading files, building commands, and where each error lands."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest

from adapters.cli.import_plans import customer_plans, order_plans
from adapters.imports.csv_file import RowError, read_csv
from adapters.imports.formats import CUSTOMERS, ORDERS
from application.commands import RegisterCustomer
from application.commands.order import ImportOrder

ORDER_HEADER = (
    "order_ref,customer_ref,currency,status,approved_at,fulfilled_at,paid_at,"
    "sku,item_name,quantity,unit_price,discount_pct,unit_cost\n"
)
CUSTOMER_ID = uuid4()


def write(tmp_path: Path, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / "file.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def customers(tmp_path: Path, text: str, *, bom: bool = False) -> tuple[list, list[RowError]]:
    content = read_csv(write(tmp_path, text, bom=bom), CUSTOMERS)
    if content.fatal:
        return [], content.errors
    plans, errors = customer_plans(content.rows)
    return plans, errors + content.errors


def orders(tmp_path: Path, body: str) -> tuple[list, list[RowError]]:
    content = read_csv(write(tmp_path, ORDER_HEADER + body), ORDERS)
    assert content.errors == []
    return order_plans(content.rows, {"C-1": CUSTOMER_ID}, "import:orders.csv")


def where(errors: list[RowError]) -> list[tuple[int, str]]:
    return sorted((e.line, e.column) for e in errors)


def test_a_customer_row_with_a_bom_chinese_name_quotes_address_and_attributes(
    tmp_path: Path,
) -> None:
    plans, errors = customers(
        tmp_path,
        "external_ref,kind,name,email,registered_at,address_line1,address_city,attr.erp_group\n"
        'ERP-1,company,"华信贸易 ""总部""",Buy@HuaXin.example,2019-03-04,'
        '"88 Nanjing Rd, Bldg 2",上海,A\n',
        bom=True,
    )

    assert errors == []
    (plan,) = plans
    command = plan.command
    assert isinstance(command, RegisterCustomer)
    assert command.name == '华信贸易 "总部"'
    assert command.email == "buy@huaxin.example"
    assert command.address is not None and command.address.line1 == "88 Nanjing Rd, Bldg 2"
    assert command.address.city == "上海"
    assert command.attributes == {"erp_group": "A"}
    assert command.occurred_at is not None and command.occurred_at.isoformat() == (
        "2019-03-04T00:00:00+00:00"
    )
    assert command.command_id == "import:customer:ERP-1"
    assert plan.source.lines == (2,)


def test_a_quoted_cell_spanning_lines_keeps_the_next_rows_line_numbers_true(
    tmp_path: Path,
) -> None:
    plans, errors = customers(
        tmp_path,
        "external_ref,kind,name,address_line1\n"
        'A-1,company,Two Lines Co,"Unit 5\nBlock B"\n'
        "A-2,robot,Bad Kind,\n",
    )

    assert [p.ref for p in plans] == ["A-1"]
    assert where(errors) == [(4, "kind")]


def test_missing_and_unknown_columns_are_reported_on_the_header_line(tmp_path: Path) -> None:
    _, errors = customers(tmp_path, "external_ref,name,colour,name\nA-1,Ann,red,Ann\n")

    assert where(errors) == [(1, "colour"), (1, "kind"), (1, "name")]
    reasons = {e.column: e.reason for e in errors}
    assert reasons["kind"] == "required column is missing"
    assert reasons["colour"] == "unknown column"
    assert reasons["name"] == "column appears twice"


def test_an_empty_file_and_a_file_that_is_not_utf8_are_one_clear_error(tmp_path: Path) -> None:
    _, empty = customers(tmp_path, "")
    path = tmp_path / "latin1.csv"
    path.write_bytes("external_ref,kind,name\nA-1,company,Café\n".encode("latin-1"))
    latin1 = read_csv(path, CUSTOMERS).errors

    assert [e.reason for e in empty] == ["the file is empty; the first line must name columns"]
    # At its line and place in it: a byte offset into a 20,000-line file is no help.
    assert [(e.line, e.reason) for e in latin1] == [
        (2, "byte 16 of this line is not UTF-8 (0xe9); save the file as UTF-8")
    ]


@pytest.mark.parametrize(
    ("data", "line", "byte"),
    [
        # after a byte-order mark, which the decoder does not count
        (
            b"\xef\xbb\xbfexternal_ref,kind,name\r\nA-1,company,Acme\r\nA-2,company,Caf\xe9\r\n",
            3,
            16,
        ),
        (b"\xef\xbb\xbf\xffexternal_ref,kind,name\n", 1, 1),
        # lines ended by a lone CR, as the CSV reader ends them
        (b"external_ref,kind,name\rA-1,company,Acme\rA-2,company,Caf\xe9\r", 3, 16),
    ],
    ids=["bom-crlf", "bom-first-byte", "cr-only"],
)
def test_a_byte_that_is_not_utf8_is_found_where_an_editor_shows_it(
    tmp_path: Path, data: bytes, line: int, byte: int
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(data)
    (error,) = read_csv(path, CUSTOMERS).errors
    assert (error.line, error.reason.split(" of this line")[0]) == (line, f"byte {byte}")


def test_an_unclosed_quote_is_reported_where_it_opens_not_at_the_end(tmp_path: Path) -> None:
    rows = "".join(f"A-{n},company,Co {n}\n" for n in range(3, 40))
    path = write(
        tmp_path, f'external_ref,kind,name\nA-1,company,Acme\nA-2,company,"Acme Ltd\n{rows}'
    )
    content = read_csv(path, CUSTOMERS)
    assert content.fatal
    assert [(e.line, e.reason) for e in content.errors] == [
        (3, "not readable as CSV: unexpected end of data")
    ]


def test_a_file_unreadable_as_csv_is_refused_at_the_line_at_fault(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'external_ref,kind,name\nA-1,company,Acme\nA-2,company,"Acme" Ltd\nA-3,x,y\n'
    )
    content = read_csv(path, CUSTOMERS)

    assert content.fatal and content.rows == []
    assert [(e.line, e.reason) for e in content.errors] == [
        (3, "not readable as CSV: ',' expected after '\"'")
    ]


def test_bad_customer_rows_each_report_line_column_and_reason(tmp_path: Path) -> None:
    plans, errors = customers(
        tmp_path,
        "external_ref,kind,name,email,birthday,address_country\n"
        "C-1,company,Good Co,,,\n"
        "C-2,robot,Ann,not-an-email,1800-01-01,China\n"
        ",individual,No Ref,,,\n"
        "C-1,individual,Duplicate,,,\n"
        "C 3,company,Space In Ref,,,\n"
        "C-4,,Short Row\n",
    )

    assert [p.ref for p in plans] == ["C-1"]
    assert where(errors) == [
        (3, "address_country"),
        (3, "address_line1"),  # an address needs its first line
        (3, "birthday"),
        (3, "email"),
        (3, "kind"),
        (4, "external_ref"),
        (5, "external_ref"),
        (6, "external_ref"),
        (7, "-"),
    ]
    reasons = {(e.line, e.column): e.reason for e in errors}
    assert reasons[(3, "email")] == "is not an e-mail address (got 'not-an-email')"
    assert reasons[(5, "external_ref")] == "'C-1' is also on line 2"
    assert reasons[(7, "-")] == "has 3 cells where the header has 6"


def test_order_lines_group_by_order_ref_and_order_columns_may_be_blank_after_the_first(
    tmp_path: Path,
) -> None:
    plans, errors = orders(
        tmp_path,
        "SO-1,C-1,CNY,paid,2021-05-10,2021-05-12,2021-06-01,SHF-100,Shelving,40,1280,10,900\n"
        "SO-2,C-1,USD,approved,2022-01-01T09:30:00+08:00,,,TEA,龙井茶,2,388,,\n"
        "SO-1,,,,,,,BIN-20,Storage bin,200,35.5,,\n",
    )

    assert errors == []
    first, second = (p.command for p in plans)
    assert isinstance(first, ImportOrder) and isinstance(second, ImportOrder)
    assert [line.sku for line in first.lines] == ["SHF-100", "BIN-20"]
    assert first.lines[0].unit_cost == Decimal(900) and first.lines[0].discount_pct == 10
    assert first.customer_id == CUSTOMER_ID and first.external_ref == "SO-1"
    assert first.command_id == "import:order:SO-1"
    assert first.import_batch_id == "import:orders.csv"
    assert plans[0].source.lines == (2, 2, 4)
    assert second.approved_at.isoformat() == "2022-01-01T01:30:00+00:00"
    assert second.lines[0].name == "龙井茶"


def test_bad_order_rows_are_reported_at_the_line_of_the_order_line_at_fault(
    tmp_path: Path,
) -> None:
    plans, errors = orders(
        tmp_path,
        # 2: unknown currency and an impossible date; 3: negative price on its second line
        "SO-1,C-1,XYZ,approved,2021-13-10,,,A,Item A,1,10,,\n"
        "SO-1,,,,,,,B,Item B,1,-5,,\n"
        # 4: unknown customer; 5: a naive datetime; 6: a currency unlike its first line
        "SO-2,NOPE,CNY,approved,2021-01-01,,,A,Item A,1,10,,\n"
        "SO-3,C-1,CNY,approved,2021-01-01 10:00,,,A,Item A,1,10,,\n"
        "SO-4,C-1,CNY,approved,2021-01-01,,,A,Item A,1,10,,\n"
        "SO-4,,EUR,,,,,B,Item B,0,10,101,\n"
        # 8: no order_ref; 9: a good order
        ",C-1,CNY,approved,2021-01-01,,,A,Item A,1,10,,\n"
        "SO-5,C-1,CNY,approved,2021-01-01,,,A,Item A,1,10,,\n",
    )

    assert [p.ref for p in plans] == ["SO-5"]
    assert where(errors) == [
        (2, "approved_at"),
        (2, "currency"),
        (3, "unit_price"),
        (4, "customer_ref"),
        (5, "approved_at"),
        (7, "currency"),
        (7, "discount_pct"),
        (7, "quantity"),
        (8, "order_ref"),
    ]
    reasons = {(e.line, e.column): e.reason for e in errors}
    assert reasons[(2, "currency")] == "'XYZ' is not an ISO 4217 currency code"
    assert reasons[(2, "approved_at")].endswith("(got '2021-13-10')")
    assert reasons[(3, "unit_price")] == "must not be negative (got '-5')"
    assert reasons[(4, "customer_ref")].startswith("no customer has external_ref 'NOPE'")
    assert "timezone" in reasons[(5, "approved_at")]
    assert reasons[(7, "currency")].startswith("'EUR' differs from line 6 of order 'SO-4'")


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("abc", "Input should be a valid decimal (got 'abc')"),
        ("1e999", "Decimal input should have no more than 20 digits in total (got '1e999')"),
        ("NaN", "Input should be a finite number (got 'NaN')"),
        # Decimal("2_50") is 250: the format says no separators, and means it.
        ("2_50", "a number is written plainly, without digit separators (got '2_50')"),
    ],
)
def test_a_price_that_is_not_a_plain_number_is_refused(
    tmp_path: Path, cell: str, reason: str
) -> None:
    _, errors = orders(tmp_path, f"SO-1,C-1,CNY,approved,2021-01-01,,,A,Item A,1,{cell},,\n")

    assert [(e.line, e.column) for e in errors] == [(2, "unit_price")]
    assert errors[0].reason == reason


def test_a_compact_date_is_refused_in_every_date_column_not_read_as_unix_time(
    tmp_path: Path,
) -> None:
    """Many ERP exports write 20240101; pydantic's lax mode read it as Unix seconds, and the
    orders of such a file were stored as approved on 1970-08-23 without a word."""
    _, order_errors = orders(
        tmp_path,
        "SO-1,C-1,CNY,paid,20240101,2024-01-03,1704326400,A,Item A,1,10,,\n",
    )
    _, customer_errors = customers(
        tmp_path,
        "external_ref,kind,name,birthday,registered_at\nC-1,individual,Ann,19900101,20240101\n",
    )

    assert where(order_errors) == [(2, "approved_at"), (2, "paid_at")]
    assert where(customer_errors) == [(2, "birthday"), (2, "registered_at")]
    reasons = {(e.line, e.column): e.reason for e in order_errors + customer_errors}
    assert reasons[(2, "approved_at")] == (
        "a number is not a date: write YYYY-MM-DD (00:00 UTC) or ISO 8601 with an offset, "
        "e.g. 2024-05-01T09:30:00+08:00 (got '20240101')"
    )
    assert reasons[(2, "registered_at")] == reasons[(2, "approved_at")]
    assert reasons[(2, "birthday")] == (
        "a number is not a date: write it in ISO 8601, e.g. 2024-05-01 (got '19900101')"
    )
