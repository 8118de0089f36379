"""``crm import`` as a user runs it: the executable, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest

from application import CRM
from application.commands import MergeCustomers
from application.handlers.customer import EXTERNAL_REF_SCOPE
from domain.events.reservations import UniqueValueClaimed, reservation_id
from tests.application.builders import MANAGER

CRM_EXE = Path(sys.executable).with_name("crm")

CUSTOMERS = (
    "\ufeffexternal_ref,kind,name,phone,email,tier,registered_at,address_line1,address_city\n"
    "ERP-1001,company,华信贸易有限公司,+86 21 5555 0101,buy@huaxin.example,partner,"
    '2019-03-04,"88 Nanjing Rd, Bldg 2",上海\n'
    'ERP-1002,individual,"王 ""小明""",,wang@example.cn,,2020-07-01T09:30:00+08:00,,\n'
    "ERP-1003,company,Lotus Foods,,,,,,\n"
)
ORDERS = (
    "order_ref,customer_ref,currency,status,approved_at,fulfilled_at,paid_at,"
    "sku,item_name,quantity,unit_price,discount_pct,unit_cost\n"
    "SO-1,ERP-1001,CNY,paid,2021-05-10,2021-05-12,2021-06-01,SHF-100,Shelving,40,1280,10,900\n"
    "SO-1,,,,,,,BIN-20,Storage bin,200,35.5,,\n"
    "SO-2,ERP-1002,CNY,approved,2023-01-15T10:00:00+08:00,,,TEA-1,龙井茶,2,388,,\n"
)
BAD_ORDERS = (
    "order_ref,customer_ref,currency,status,approved_at,fulfilled_at,paid_at,"
    "sku,item_name,quantity,unit_price,discount_pct,unit_cost\n"
    "SO-9,ERP-1001,CNY,approved,2021-05-10,,,SHF-100,Shelving,1,100,,\n"  # fine on its own
    "SO-10,ERP-1001,XYZ,approved,2021-05-10,,,SHF-100,Shelving,1,100,,\n"
    "SO-11,NOBODY,CNY,approved,2021-05-10,,,SHF-100,Shelving,1,100,,\n"
    "SO-12,ERP-1002,CNY,fulfilled,2021-05-10,,,SHF-100,Shelving,1,100,,\n"
    "SO-13,ERP-1002,CNY,approved,1999-13-01,,,SHF-100,Shelving,1,-100,,\n"
)


def crm_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CRM_EXE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def topics(store_url: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    with CRM.open(store_url) as crm:
        after = 0
        while page := crm.store.read(after=after):
            counts.update(n.topic for n in page)
            after = page[-1].id
    return counts


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {}
    for name, text in {
        "customers": CUSTOMERS,
        "orders": ORDERS,
        "bad_orders": BAD_ORDERS,
    }.items():
        made[name] = tmp_path / f"{name}.csv"
        made[name].write_text(text, encoding="utf-8")
    return made


def test_a_good_file_is_imported_and_importing_it_again_creates_nothing_new(
    store_url: str, files: dict[str, Path]
) -> None:
    customers = crm_cli("import", "customers", files["customers"], "--db", store_url)
    orders = crm_cli("import", "orders", files["orders"], "--db", store_url, "--batch-size", "1")
    after_first = topics(store_url)
    customers_again = crm_cli("import", "customers", files["customers"], "--db", store_url)
    orders_again = crm_cli("import", "orders", files["orders"], "--db", store_url)

    for run in (customers, orders, customers_again, orders_again):
        assert run.returncode == 0, run.stderr
    assert "imported 3 customers: 3 new, 0 already imported" in customers.stdout
    assert "imported 2 orders: 2 new, 0 already imported" in orders.stdout
    assert "in 2 transactions" in orders.stdout
    assert "imported 3 customers: 0 new, 3 already imported" in customers_again.stdout
    assert "imported 2 orders: 0 new, 2 already imported" in orders_again.stdout
    assert after_first["CustomerRegistered"] == 3
    assert after_first["OrderImported"] == 2
    assert topics(store_url) == after_first


def test_a_file_with_bad_rows_writes_nothing_and_reports_every_bad_line(
    store_url: str, files: dict[str, Path]
) -> None:
    assert crm_cli("import", "customers", files["customers"], "--db", store_url).returncode == 0
    before = topics(store_url)

    run = crm_cli("import", "orders", files["bad_orders"], "--db", store_url)

    assert run.returncode == 1
    assert run.stdout == ""
    problems = run.stderr.strip().splitlines()
    assert problems == [
        "bad_orders.csv:3: currency: 'XYZ' is not an ISO 4217 currency code",
        "bad_orders.csv:4: customer_ref: no customer has external_ref 'NOBODY' "
        "(import the customers first)",
        "bad_orders.csv:5: fulfilled_at: fulfilled needs fulfilled_at (import_dates_match_status)",
        "bad_orders.csv:6: approved_at: Input should be a valid datetime or date, month value "
        "is outside expected range of 1-12 (got '1999-13-01')",
        "bad_orders.csv:6: unit_price: must not be negative (got '-100')",
        "bad_orders.csv: 5 problems on 4 lines; nothing was written",
    ]
    assert topics(store_url) == before


def test_a_dry_run_checks_and_reports_but_writes_nothing(
    store_url: str, files: dict[str, Path]
) -> None:
    run = crm_cli("import", "customers", files["customers"], "--db", store_url, "--dry-run")
    bad = crm_cli("import", "orders", files["orders"], "--db", store_url, "--dry-run")

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (
        "customers.csv: 3 rows, 3 customers, all valid; dry run: 3 would be new, "
        "0 already imported; nothing written"
    )
    # No customer is stored yet, so every order's customer_ref is unknown.
    assert bad.returncode == 1
    assert bad.stderr.count("no customer has external_ref") == 2
    assert topics(store_url) == Counter()


def test_a_bad_header_and_a_missing_file_are_clear_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("external_ref,name,colour\nA-1,Ann,red\n", encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'crm.db'}"

    header = crm_cli("import", "customers", path, "--db", store)
    missing = crm_cli("import", "customers", tmp_path / "nope.csv", "--db", store)

    assert header.returncode == 1
    assert header.stderr.splitlines() == [
        "customers.csv:1: colour: unknown column",
        "customers.csv:1: kind: required column is missing",
        "customers.csv: 2 problems on 1 line; nothing was written",
    ]
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"crm: no such file: {tmp_path / 'nope.csv'}"


def test_the_help_documents_both_file_formats() -> None:
    run = crm_cli("import", "--help")

    assert run.returncode == 0
    for words in ("customers.csv:", "orders.csv:", "order_ref", "customer_ref", "attr.KEY"):
        assert words in run.stdout


def test_orders_of_a_customer_merged_into_another_land_on_the_survivor(
    store_url: str, files: dict[str, Path]
) -> None:
    """ERP-1002 was a duplicate of ERP-1001, merged since; the source system still files
    its orders under ERP-1002. They are imported for the survivor, not refused."""
    assert crm_cli("import", "customers", files["customers"], "--db", store_url).returncode == 0
    with CRM.open(store_url) as crm:
        survivor, duplicate = (owner_of(crm, ref) for ref in ("ERP-1001", "ERP-1002"))
        crm.execute(MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), actor=MANAGER)

    run = crm_cli("import", "orders", files["orders"], "--db", store_url)

    assert run.returncode == 0, run.stderr
    with CRM.open(store_url) as crm:
        imported = [
            crm.store.decode(n)
            for n in crm.store.read(after=0, limit=10_000)
            if n.topic == "OrderImported"
        ]
    assert sorted(e.external_ref for e in imported) == ["SO-1", "SO-2"]  # type: ignore[attr-defined]
    assert {e.customer_id for e in imported} == {survivor}  # type: ignore[attr-defined]
    again = crm_cli("import", "orders", files["orders"], "--db", store_url)
    assert again.returncode == 0, again.stderr
    assert "2 orders: 0 new, 2 already imported" in again.stdout


def test_a_file_imported_before_its_customer_was_merged_imports_again_as_nothing_new(
    store_url: str, files: dict[str, Path]
) -> None:
    """The source system files the same orders again after ERP-1002 was merged into
    ERP-1001: they were imported already (under ERP-1002), not imported with other values."""
    assert crm_cli("import", "customers", files["customers"], "--db", store_url).returncode == 0
    assert crm_cli("import", "orders", files["orders"], "--db", store_url).returncode == 0
    with CRM.open(store_url) as crm:
        survivor, duplicate = (owner_of(crm, ref) for ref in ("ERP-1001", "ERP-1002"))
        crm.execute(MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), actor=MANAGER)

    again = crm_cli("import", "orders", files["orders"], "--db", store_url)

    assert again.returncode == 0, again.stderr
    assert "2 orders: 0 new, 2 already imported" in again.stdout
    assert topics(store_url)["OrderImported"] == 2


def owner_of(crm: CRM, external_ref: str) -> UUID:
    (claim,) = crm.store.load(reservation_id(EXTERNAL_REF_SCOPE, external_ref))
    assert isinstance(claim, UniqueValueClaimed)
    return claim.owner_id


def test_a_file_imported_in_the_middle_of_a_chain_of_merges_imports_again_as_nothing_new(
    store_url: str, files: dict[str, Path]
) -> None:
    """ERP-1001 was merged into ERP-1002 before the orders came (SO-1 went to 1002), and
    ERP-1002 into ERP-1003 after: SO-1 is found recorded one merge on, not at either end."""
    assert crm_cli("import", "customers", files["customers"], "--db", store_url).returncode == 0
    with CRM.open(store_url) as crm:
        first, second, third = (owner_of(crm, f"ERP-100{n}") for n in (1, 2, 3))
        crm.execute(MergeCustomers(survivor_id=second, duplicate_id=first), actor=MANAGER)
    assert crm_cli("import", "orders", files["orders"], "--db", store_url).returncode == 0
    with CRM.open(store_url) as crm:
        crm.execute(MergeCustomers(survivor_id=third, duplicate_id=second), actor=MANAGER)

    again = crm_cli("import", "orders", files["orders"], "--db", store_url)

    assert again.returncode == 0, again.stderr
    assert "2 orders: 0 new, 2 already imported" in again.stdout
