"""Erasure end to end, on SQLite and PostgreSQL: after ``EraseCustomerPersonalData`` no
table (nor, on SQLite, any byte of the database files) holds the customer's personal values
in clear text; read models, export and as-of show them as erased; the hash chains verify;
a rebuild equals the live read models; counts and amounts are what they were."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
import structlog
from freezegun import freeze_time
from psycopg import sql

from adapters.audit.diff import diff_projections
from adapters.audit.export import export_lines
from adapters.audit.verify import verify_chains
from adapters.event_store import AppendConflict
from adapters.sql import dialect_of, query, read_transaction
from adapters.store_url import parse_store_url
from application import CRM, Actor, Role, RuleViolation
from application.command_log import CommandRecorded, command_stream_id, fingerprint
from application.commands import (
    Address,
    AwardLoyaltyPoints,
    EraseCustomerPersonalData,
    ImportOrder,
    JoinMembership,
    MergeCustomers,
    OrderLine,
    RegisterCustomer,
    UpdateCustomerProfile,
)
from application.settings import Settings
from domain.aggregates.customer import Customer
from domain.events.customer import CustomerRegistered
from domain.personal_data import ERASED_NAME
from domain.values import ContactPoints

ADMIN = Actor(id="admin-1", roles=frozenset({Role.ADMIN}))
DIRECTOR = Actor(id="dir-1", roles=frozenset({Role.DIRECTOR}))
START = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)

NAME = "Ouyang Xiaoqing"
PHONE = "+86 137 2468 1357"
EMAIL = "ouyang.xq@example.com"
STREET = "18 Xiangyang Lane"
BIRTHDAY = date(1987, 11, 23)
PERSONAL = (NAME, PHONE, EMAIL.lower(), STREET, BIRTHDAY.isoformat())
# The company beside her: nothing of it is erased.
COMPANY = "Qiuyue Trading Co."
COMPANY_EMAIL = "orders@qiuyue.example.com"


def person(crm: CRM, name: str = NAME, ref: str = "P-1") -> UUID:
    return crm.execute(
        RegisterCustomer(
            kind="individual",
            name=name,
            phone=PHONE,
            email=EMAIL,
            address=Address(line1=STREET, city="Hangzhou", country="CN"),
            birthday=BIRTHDAY,
            region="east",
            external_ref=ref,
        ),
        actor=ADMIN,
    ).aggregate_id


def history(crm: CRM) -> tuple[UUID, UUID]:
    """An individual who bought twice, is a member with points; a company beside her."""
    with freeze_time(START) as clock:
        customer = person(crm)
        company = crm.execute(
            RegisterCustomer(kind="company", name=COMPANY, email=COMPANY_EMAIL), actor=ADMIN
        ).aggregate_id
        for n, amount in enumerate(("1200.50", "349.90"), start=1):
            clock.tick(timedelta(days=10))
            crm.execute(
                ImportOrder(
                    customer_id=customer,
                    lines=[OrderLine(sku="TEA-1", name="Tea", quantity=1, unit_price=amount)],
                    currency="CNY",
                    status="approved",
                    approved_at=START + timedelta(days=10 * n),
                    import_batch_id="erasure-test",
                    external_ref=f"SO-{n}",
                ),
                actor=ADMIN,
            )
        clock.tick(timedelta(days=1))
        crm.execute(JoinMembership(customer_id=customer), actor=ADMIN)
        crm.execute(AwardLoyaltyPoints(customer_id=customer, points=120), actor=ADMIN)
        crm.execute(UpdateCustomerProfile(customer_id=customer, name=NAME + " Jr"), actor=ADMIN)
        crm.execute(UpdateCustomerProfile(customer_id=customer, name=NAME), actor=ADMIN)
        crm.read_models.catch_up()
    return customer, company


def erase(crm: CRM, customer_id: UUID) -> None:
    with freeze_time(START + timedelta(days=40)):
        crm.execute(
            EraseCustomerPersonalData(customer_id=customer_id, reason="DSR-2026-17"), actor=DIRECTOR
        )


# ---- searching the database ---------------------------------------------------------------


def clear_text_found(crm: CRM, store_url: str, values: tuple[str, ...]) -> set[str]:
    """The values found anywhere in the store: every byte of the SQLite files (main file,
    write-ahead log, shared memory; free pages included), or every table of the
    PostgreSQL schema, each row as text and each bytea column as bytes."""
    location = parse_store_url(store_url)
    if location.kind == "sqlite":
        path = Path(location.sqlite_name)
        blobs = [p.read_bytes() for p in (path, *path.parent.glob(path.name + "-*")) if p.exists()]
        return {v for v in values if any(v.encode() in blob for blob in blobs)}
    found: set[str] = set()
    with psycopg.connect(
        host=location.host, port=location.port, user=location.user, dbname=location.dbname
    ) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (location.schema,),
        ).fetchall()
        assert len(tables) > 10  # events, keys, tracking and every read model
        for (table,) in tables:
            name = sql.Identifier(location.schema, table)
            byte_columns = [
                c
                for (c,) in connection.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s AND data_type = 'bytea'",
                    (location.schema, table),
                ).fetchall()
            ]
            for value in values:
                conditions = [sql.SQL("strpos(t::text, %s) > 0")]
                params: list[object] = [value]
                for column in byte_columns:
                    conditions.append(
                        sql.SQL("position(convert_to(%s, 'UTF8') in {}) > 0").format(
                            sql.Identifier(column)
                        )
                    )
                    params.append(value)
                hit = connection.execute(
                    sql.SQL("SELECT count(*) FROM {} AS t WHERE {}").format(
                        name, sql.SQL(" OR ").join(conditions)
                    ),
                    params,
                ).fetchone()
                if hit and hit[0]:
                    found.add(value)
    return found


def key_of(store_url: str, customer_id: UUID) -> bytes | None:
    location = parse_store_url(store_url)
    if location.kind == "sqlite":
        import sqlite3

        with sqlite3.connect(location.sqlite_name) as connection:
            row = connection.execute(
                "SELECT key FROM customer_keys WHERE customer_id = ?", (str(customer_id),)
            ).fetchone()
        return bytes(row[0]) if row else None
    with psycopg.connect(
        host=location.host, port=location.port, user=location.user, dbname=location.dbname
    ) as connection:
        row = connection.execute(
            sql.SQL("SELECT key FROM {} WHERE customer_id = %s").format(
                sql.Identifier(location.schema, "customer_keys")
            ),
            (customer_id,),
        ).fetchone()
    return bytes(row[0]) if row else None


def lifecycle_row(crm: CRM, customer_id: UUID) -> dict[str, object]:
    d = dialect_of(crm.store)
    with read_transaction(crm.store) as cursor:
        (row,) = query(
            cursor,
            d,
            f"SELECT * FROM {d.table('customer_lifecycle')} WHERE customer_id = {d.param}",
            [customer_id if d.kind == "postgres" else str(customer_id)],
        )
    return dict(row)


def spellings(key: bytes) -> list[str]:
    return [key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()]


@pytest.fixture
def erased_store(store_url: str) -> Iterator[tuple[CRM, UUID, UUID]]:
    with CRM.open(store_url) as crm:
        customer, company = history(crm)
        yield crm, customer, company


# ---- the tests ------------------------------------------------------------------------------


def test_after_erasure_no_table_or_file_holds_her_personal_data(
    erased_store: tuple[CRM, UUID, UUID], store_url: str
) -> None:
    crm, customer, company = erased_store
    # The search sees what is there: before erasure the read models hold her name
    # (customer_lifecycle) and birthday (follow_ups); her phone, e-mail and address are in
    # clear nowhere even then (the log holds them encrypted; no read model copies them).
    assert clear_text_found(crm, store_url, PERSONAL) == {NAME, BIRTHDAY.isoformat()}

    erase(crm, customer)

    assert clear_text_found(crm, store_url, PERSONAL) == set()
    # the company's values, not erased, are still there: its registered name in clear,
    # its e-mail encrypted (in clear nowhere, as hers never was) and readable with its key
    assert clear_text_found(crm, store_url, (COMPANY, COMPANY_EMAIL)) == {COMPANY}
    assert key_of(store_url, customer) is None
    assert key_of(store_url, company) is not None
    assert crm.load(Customer, company).profile.contact.email == COMPANY_EMAIL


def erase_in_one_batch(crm: CRM, customer_id: UUID) -> None:
    command = EraseCustomerPersonalData(customer_id=customer_id, reason="DSR-2026-17")
    with freeze_time(START + timedelta(days=40)):
        (outcome,) = crm.execute_batch([command], actor=DIRECTOR)
    assert outcome.ok


def erase_checked_then_written(crm: CRM, customer_id: UUID) -> None:
    command = EraseCustomerPersonalData(customer_id=customer_id, reason="DSR-2026-17")
    with freeze_time(START + timedelta(days=40)):
        checked = crm.check_batch([command], actor=DIRECTOR)
        for outcomes in crm.write_checked_batches([checked], actor=DIRECTOR):
            assert all(outcome.ok for outcome in outcomes)


def erase_checked_then_written_alone(crm: CRM, customer_id: UUID) -> None:
    command = EraseCustomerPersonalData(customer_id=customer_id, reason="DSR-2026-17")
    with freeze_time(START + timedelta(days=40)):
        checked = crm.check_batch([command], actor=DIRECTOR)
        assert all(outcome.ok for outcome in crm.write_checked(checked, actor=DIRECTOR))


@pytest.mark.parametrize(
    "erasing",
    [erase_in_one_batch, erase_checked_then_written, erase_checked_then_written_alone],
    ids=lambda f: f.__name__,
)
def test_an_erasure_in_a_batch_leaves_no_clear_text_either(
    erased_store: tuple[CRM, UUID, UUID], store_url: str, erasing: Any
) -> None:
    """As through ``execute``: the read models blank her at once, and on SQLite the
    write-ahead log drops the pages that held her (no catch-up left to the host)."""
    crm, customer, _ = erased_store
    assert clear_text_found(crm, store_url, PERSONAL) == {NAME, BIRTHDAY.isoformat()}

    erasing(crm, customer)

    assert clear_text_found(crm, store_url, PERSONAL) == set()
    assert lifecycle_row(crm, customer)["display_name"] == ERASED_NAME


def test_read_models_show_her_as_erased_and_every_count_and_amount_is_unchanged(
    erased_store: tuple[CRM, UUID, UUID],
) -> None:
    crm, customer, _ = erased_store
    at = START + timedelta(days=40)
    before = crm.lifecycle(customer, as_of=at)
    row_before = lifecycle_row(crm, customer)
    assert row_before["display_name"] == NAME
    purchases = crm.read_models.repeat_purchase_rate(as_of=at)
    birthdays = crm.read_models.operations.follow_ups_due(at + timedelta(days=400))
    assert [f.customer_id for f in birthdays] == [customer]
    loyalty = crm.load(Customer, customer).loyalty_points
    events = len(crm.events(customer))

    erase(crm, customer)

    assert crm.lifecycle(customer, as_of=at) == before
    row = lifecycle_row(crm, customer)
    assert row["display_name"] == ERASED_NAME
    assert {k: v for k, v in row.items() if k != "display_name"} == {
        k: v for k, v in row_before.items() if k != "display_name"
    }
    assert row["purchases"] == 2 and Decimal(str(row["lifetime_value"])) == Decimal("1550.40")
    assert crm.read_models.repeat_purchase_rate(as_of=at) == purchases
    assert crm.read_models.operations.follow_ups_due(at + timedelta(days=400)) == []
    customer_now = crm.load(Customer, customer)
    assert customer_now.loyalty_points == loyalty == 120
    assert customer_now.is_member and customer_now.personal_data_erased
    assert customer_now.profile.name == ERASED_NAME
    assert customer_now.profile.contact == ContactPoints() and customer_now.profile.birthday is None
    assert len(crm.events(customer)) == events + 1


def test_chains_verify_and_a_rebuild_equals_the_live_read_models(
    erased_store: tuple[CRM, UUID, UUID],
) -> None:
    crm, customer, _ = erased_store
    erase(crm, customer)

    assert verify_chains(crm.store).ok
    report = diff_projections(crm.store, clock=lambda: START + timedelta(days=41))
    assert report.differences == 0, report


def test_export_and_as_of_show_her_as_erased_and_never_a_key(
    erased_store: tuple[CRM, UUID, UUID], store_url: str
) -> None:
    crm, customer, _ = erased_store
    key = key_of(store_url, customer)
    assert key is not None
    exported_before = json.dumps(list(export_lines(crm.store)), ensure_ascii=False)
    # the export carries personal values as stored: encrypted, never in clear text
    assert not [v for v in PERSONAL if v in exported_before]

    with structlog.testing.capture_logs() as logs:
        erase(crm, customer)

    exported = json.dumps(list(export_lines(crm.store)), ensure_ascii=False)
    for text in (exported, exported_before, repr(logs)):
        assert not [v for v in PERSONAL if v in text]
        assert not [s for s in spellings(key) if s in text]
    assert COMPANY in exported
    registered = crm.audit.view(customer, version=1)  # as it stood before the erasure, too
    now = crm.audit.view(customer)
    for view in (registered, now):
        profile = view.state["profile"]
        assert profile["name"] == ERASED_NAME
        assert profile["contact"] == {"phone": None, "email": None, "address": None}
        assert profile["birthday"] is None
        assert profile["region"] == "east"
    assert now.state["personal_data_erased"] is True
    (first,) = crm.events(customer)[:1]
    assert isinstance(first, CustomerRegistered) and first.profile.name == ERASED_NAME


def test_after_erasure_personal_data_is_refused_and_the_rest_goes_on(
    erased_store: tuple[CRM, UUID, UUID], store_url: str
) -> None:
    crm, customer, _ = erased_store
    erase(crm, customer)

    with pytest.raises(RuleViolation) as refused:
        crm.execute(
            UpdateCustomerProfile(customer_id=customer, email="new@example.com"), actor=ADMIN
        )
    assert (refused.value.rule, refused.value.field) == ("personal_data_erased", "contact")
    with pytest.raises(RuleViolation) as again:
        crm.execute(EraseCustomerPersonalData(customer_id=customer, reason="again"), actor=ADMIN)
    assert again.value.rule == "personal_data_erased"
    crm.execute(AwardLoyaltyPoints(customer_id=customer, points=5), actor=ADMIN)
    crm.execute(UpdateCustomerProfile(customer_id=customer, region="west"), actor=ADMIN)
    assert crm.load(Customer, customer).loyalty_points == 125
    assert key_of(store_url, customer) is None  # no key was made again


def test_erasing_a_survivor_erases_the_duplicate_merged_into_it(store_url: str) -> None:
    with CRM.open(store_url) as crm:
        with freeze_time(START):
            survivor = person(crm, ref="P-1")
            duplicate = person(crm, name=NAME + " (web shop)", ref="P-2")
            crm.execute(
                MergeCustomers(
                    survivor_id=survivor,
                    duplicate_id=duplicate,
                    field_choices={"name": "duplicate"},
                ),
                actor=ADMIN,
            )
        with pytest.raises(RuleViolation) as closed:
            crm.execute(EraseCustomerPersonalData(customer_id=duplicate, reason="x"), actor=ADMIN)
        assert closed.value.rule == "customer_merged"

        erase(crm, survivor)

        assert key_of(store_url, survivor) is None and key_of(store_url, duplicate) is None
        for customer_id in (survivor, duplicate):
            loaded = crm.load(Customer, customer_id)
            assert loaded.personal_data_erased and loaded.profile.name == ERASED_NAME
        assert lifecycle_row(crm, survivor)["display_name"] == ERASED_NAME
        assert clear_text_found(crm, store_url, (*PERSONAL, NAME + " (web shop)")) == set()
        assert verify_chains(crm.store).ok


def test_the_customers_snapshot_goes_with_the_key(store_url: str) -> None:
    with CRM.open(store_url, settings=Settings(snapshot_interval=3)) as crm:
        with freeze_time(START):
            customer = person(crm)
            for _ in range(3):
                crm.execute(AwardLoyaltyPoints(customer_id=customer, points=1), actor=ADMIN)
        assert crm.snapshots is not None
        crm.snapshots.flush()
        crm.read_models.catch_up()
        assert NAME in clear_text_found(crm, store_url, (NAME,))

        erase(crm, customer)

        assert clear_text_found(crm, store_url, PERSONAL) == set()
        assert crm.load(Customer, customer).loyalty_points == 3


def test_an_in_memory_store_erases_too() -> None:
    """``memory://`` keeps its keys in the process: nothing to read while a writer (the
    projection runner, decoding inside its transaction) holds the database."""
    with CRM.open("memory://") as crm:
        customer, _ = history(crm)
        erase(crm, customer)
        report = diff_projections(crm.store, clock=lambda: START + timedelta(days=41))
        assert crm.load(Customer, customer).profile.name == ERASED_NAME
        assert lifecycle_row(crm, customer)["display_name"] == ERASED_NAME
        assert report.differences == 0 and verify_chains(crm.store).ok


def test_an_erasing_batch_stored_before_the_next_batch_failed_is_reported_and_completed(
    erased_store: tuple[CRM, UUID, UUID],
) -> None:
    """The caller's batches come from a reader that fails after the first: that batch was
    in flight and is stored all the same, so the caller hears of it, and its erasure is
    completed, before the failure."""
    crm, customer, _ = erased_store
    with freeze_time(START + timedelta(days=40)):
        command = EraseCustomerPersonalData(customer_id=customer, reason="DSR-2026-17")
        first = crm.check_batch([command], actor=DIRECTOR)

        def batches() -> Iterator[Any]:
            yield first
            raise OSError("the next chunk could not be read")

        heard: list[Any] = []
        writing = crm.write_checked_batches(batches(), actor=DIRECTOR)
        heard.append(next(writing))
        with pytest.raises(OSError, match="next chunk"):
            next(writing)

    assert [[o.ok for o in outcomes] for outcomes in heard] == [[True]]
    assert lifecycle_row(crm, customer)["display_name"] == ERASED_NAME


def test_a_batch_settled_one_by_one_after_a_conflict_completes_its_erasure_once(
    erased_store: tuple[CRM, UUID, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    crm, customer, _ = erased_store
    completions: list[int] = []
    complete = crm._complete_erasure
    monkeypatch.setattr(crm, "_complete_erasure", lambda: (completions.append(1), complete()))
    append = crm.store.append
    appends: list[int] = []

    def conflicting_once(events: Any, **kwargs: Any) -> Any:
        appends.append(len(events))
        if len(appends) == 1:  # the batch's own append: another writer came first
            raise AppendConflict("a rival took a stream")
        return append(events, **kwargs)

    monkeypatch.setattr(crm.store, "append", conflicting_once)
    command = EraseCustomerPersonalData(customer_id=customer, reason="DSR-2026-17")
    with freeze_time(START + timedelta(days=40)):
        (outcome,) = crm.execute_batch([command], actor=DIRECTOR)

    assert outcome.ok and len(appends) == 2  # refused in bulk, then stored alone
    assert completions == [1]
    assert lifecycle_row(crm, customer)["display_name"] == ERASED_NAME


def test_after_erasure_no_answer_tells_a_right_guess_of_her_values_from_a_wrong_one(
    store_url: str,
) -> None:
    """The record of her registration kept a fingerprint of it: a hash of her name, phone
    and e-mail, which anyone could check a guess against (sending the command again, or
    offline). It is hers, under her key, and goes with it."""
    registration = RegisterCustomer(
        kind="individual", name=NAME, phone=PHONE, email=EMAIL, command_id="erp:P-9"
    )
    wrong = registration.model_copy(update={"phone": "+86 137 0000 0000"})
    with CRM.open(store_url) as crm:
        with freeze_time(START):
            customer = crm.execute(registration, actor=ADMIN).aggregate_id
            with pytest.raises(RuleViolation) as reused:  # before: a changed value is told
                crm.execute(wrong, actor=ADMIN)
        assert reused.value.rule == "command_id_unique"
        crm.read_models.catch_up()
        assert clear_text_found(crm, store_url, (fingerprint(registration),)) == set()

        erase(crm, customer)
        right = crm.execute(registration, actor=ADMIN)
        guessed = crm.execute(wrong, actor=ADMIN)
        (in_a_batch,) = crm.execute_batch([wrong], actor=ADMIN)
        (record,) = crm.store.load(command_stream_id("erp:P-9"))
        # What holds no personal value is still compared: another command under the id.
        with pytest.raises(RuleViolation) as other:
            crm.execute(registration.model_copy(update={"region": "west"}), actor=ADMIN)
        assert other.value.rule == "command_id_unique"

    assert right.replayed and guessed.replayed
    assert in_a_batch.result is not None and in_a_batch.result.replayed
    assert right.aggregate_id == guessed.aggregate_id == in_a_batch.result.aggregate_id
    assert isinstance(record, CommandRecorded) and record.fingerprint is None
    assert key_of(store_url, customer) is None  # no key was made again


def erase_elsewhere(store_url: str, customer_id: UUID) -> None:
    """The erasure by another process: nothing in this one hears of it."""
    script = (
        "import sys, uuid\n"
        "from application import CRM, Actor, Role\n"
        "from application.commands import EraseCustomerPersonalData\n"
        "with CRM.open(sys.argv[1]) as crm:\n"
        "    crm.execute(EraseCustomerPersonalData(customer_id=uuid.UUID(sys.argv[2]),"
        " reason='DSR-9'), actor=Actor(id='dir', roles=frozenset({Role.DIRECTOR})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, store_url, str(customer_id)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_process_that_held_her_key_when_another_erased_her_checks_no_guess_either(
    store_url: str,
) -> None:
    """Her record's stream holds no erasure to tell this process the key is gone: the key
    is read from the table, not from this process's cache, before the record is decoded."""
    registration = RegisterCustomer(
        kind="individual", name=NAME, phone=PHONE, command_id="erp:P-10"
    )
    wrong = registration.model_copy(update={"name": "Ouyang Xiaoming"})
    with CRM.open(store_url) as holder:
        with freeze_time(START):
            customer = holder.execute(registration, actor=ADMIN).aggregate_id
            assert holder.execute(registration, actor=ADMIN).replayed  # its key is cached
        erase_elsewhere(store_url, customer)

        answers = [holder.execute(command, actor=ADMIN) for command in (registration, wrong)]
        (in_a_batch,) = holder.execute_batch([wrong], actor=ADMIN)

    assert [a.replayed for a in answers] == [True, True]
    assert in_a_batch.result is not None and in_a_batch.result.replayed


def test_a_customer_with_personal_data_is_not_merged_into_an_erased_one(store_url: str) -> None:
    """Its data could never be erased after: the erased survivor refuses a second erasure,
    the merged duplicate refuses one of its own."""
    with CRM.open(store_url) as crm:
        with freeze_time(START):
            erased, live = person(crm, ref="P-1"), person(crm, ref="P-2")
        erase(crm, erased)
        with freeze_time(START + timedelta(days=41)), pytest.raises(RuleViolation) as refused:
            crm.execute(MergeCustomers(survivor_id=erased, duplicate_id=live), actor=DIRECTOR)
        erase(crm, live)
        with freeze_time(START + timedelta(days=41)):
            crm.execute(MergeCustomers(survivor_id=erased, duplicate_id=live), actor=DIRECTOR)

    assert (refused.value.rule, refused.value.field) == ("personal_data_erased", "survivor_id")
