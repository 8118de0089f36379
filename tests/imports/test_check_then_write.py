"""``crm.check_batch`` then ``crm.write_checked``: an import decides each command once.

The check keeps what each command would store; writing stores exactly that, unless the
store changed since where the check read it, in which case the commands run again.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from structlog.testing import capture_logs

from adapters.audit.verify import verify_chains
from adapters.cli.importer import run_import as run_import_command
from adapters.event_store import EncodedAppend, EventStore
from adapters.imports.streams import load_streams, stream_versions_in
from adapters.sql import dialect_of, read_transaction
from application import CRM, handlers
from application.command_log import command_stream_id, derived_id
from application.commands import MergeCustomers, RegisterCustomer, UpdateCustomerProfile
from application.commands.order import ImportOrder
from domain.events.customer import CustomerRegistered, CustomersMerged
from tests.application.builders import ADMIN, MANAGER, REP, register
from tests.imports.test_execute_batch import customer, order, topics


def rival_takes(store_url: str, external_ref: str) -> None:
    """Another writer registers a customer under this external ref after the check."""
    with CRM.open(store_url) as rival:
        rival.execute(
            RegisterCustomer(kind="company", name="Rival", external_ref=external_ref), actor=REP
        )


def _decided(result: Any) -> Any:
    """A command's result without the events' recorded_at."""
    if result is None:
        return None
    events = [e.model_dump(exclude={"recorded_at"}) for e in result.events]
    return (result.aggregate_id, result.version, result.command_id, result.replayed, events)


def test_writing_what_was_checked_stores_what_execute_batch_would(crm: CRM, store_url: str) -> None:
    owner = register(crm, external_ref="OWNER")
    commands = [customer("R-1"), customer("R-2", kind="individual", phone="+86 139 1234 5678")]
    commands += [order(owner, "O-1"), order(owner, "O-2")]

    checked = crm.check_batch(commands, actor=ADMIN)
    assert crm.store.count_events() == 3  # the owner, its claim and its record: nothing new
    outcomes = crm.write_checked(checked, actor=ADMIN)

    assert all(o.ok for o in outcomes)
    # The same decisions; only recorded_at moves on, to when the store took the events.
    assert [_decided(o.result) for o in outcomes] == [_decided(c.outcome.result) for c in checked]
    for written, decided in zip(outcomes, checked, strict=True):
        assert written.result is not None and decided.outcome.result is not None
        for after, before in zip(written.result.events, decided.outcome.result.events, strict=True):
            assert after.recorded_at >= before.recorded_at
    counts = topics(crm)
    assert counts["CustomerRegistered"] == 3
    assert counts["OrderImported"] == 2
    assert counts["UniqueValueClaimed"] == 5
    assert counts["CommandRecorded"] == 5
    assert verify_chains(crm.store).ok
    # The personal values are readable again (encrypted with a key created in the append).
    second = outcomes[1].result
    assert second is not None
    with CRM.open(store_url) as fresh:
        [registered] = fresh.store.load(second.aggregate_id)
        assert isinstance(registered, CustomerRegistered)
        assert registered.profile.contact.phone == "+86 139 1234 5678"
    # Importing the same commands again records nothing and replays the first results.
    again = crm.check_batch(commands, actor=ADMIN)
    assert all(c.outcome.result is not None and c.outcome.result.replayed for c in again)
    assert all(c.events == () for c in again)


def test_a_check_with_a_bad_command_keeps_nothing_to_store_for_it(crm: CRM) -> None:
    checked = crm.check_batch([customer("R-1"), order(UUID(int=7), "O-1")], actor=ADMIN)

    assert checked[0].outcome.ok and checked[0].events
    assert not checked[1].outcome.ok and checked[1].events == ()
    assert crm.store.count_events() == 0


def test_each_command_is_decided_once_from_check_to_write(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_handler_calls(monkeypatch, RegisterCustomer)
    appends = count_inserts(crm, monkeypatch)

    checked = crm.check_batch([customer(f"R-{i}") for i in range(4)], actor=ADMIN)
    crm.write_checked(checked[:2], actor=ADMIN)
    crm.write_checked(checked[2:], actor=ADMIN)

    assert len(calls) == 4
    assert appends == [6, 6]  # per customer: its registration, its claim, its record
    assert topics(crm)["CustomerRegistered"] == 4


def test_a_customer_merged_after_the_check_refuses_its_orders_and_nothing_is_written(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check read the customer as active; by the write it is a closed duplicate. The
    batch is decided again against the store as it is, as a batch of execute_batch is."""
    survivor = register(crm, external_ref="SURVIVOR")
    duplicate = register(crm, external_ref="DUPLICATE")
    calls = count_handler_calls(monkeypatch, ImportOrder)
    checked = crm.check_batch([order(duplicate, "O-1"), order(duplicate, "O-2")], actor=ADMIN)
    assert all(c.outcome.ok for c in checked)
    assert dict(checked[0].reads) == {duplicate: 1}

    crm.execute(MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), actor=MANAGER)
    outcomes = crm.write_checked(checked, actor=ADMIN)

    assert [o.ok for o in outcomes] == [False, False]
    assert len(calls) == 4  # checked once, then decided again
    assert topics(crm)["OrderImported"] == 0
    assert crm.store.load(command_stream_id("import:order:O-1")) == []


def test_a_merge_committed_just_before_the_append_is_seen_by_the_append_itself(
    crm: CRM, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether the streams a batch read have moved is looked at inside the append's own
    transaction, once no other writer can insert: a merge committed after any look taken
    before the append, just before it, still makes the batch be decided again."""
    survivor = register(crm, external_ref="SURVIVOR")
    duplicate = register(crm, external_ref="DUPLICATE")
    checked = crm.check_batch([order(duplicate, "O-1")], actor=ADMIN)
    append = EventStore.append_encoded
    merged: list[bool] = []

    def merge_then_append(self: EventStore, encoded: EncodedAppend, **kwargs: Any) -> list[int]:
        if not merged:
            merged.append(True)
            with CRM.open(store_url) as other:
                other.execute(
                    MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), actor=MANAGER
                )
        return append(self, encoded, **kwargs)

    monkeypatch.setattr(EventStore, "append_encoded", merge_then_append)
    with capture_logs() as logs:
        outcomes = crm.write_checked(checked, actor=ADMIN)

    assert merged == [True]
    assert [o.ok for o in outcomes] == [False]
    assert any(e["event"] == "batch_stale" and e["moved_streams"] == 1 for e in logs)
    assert topics(crm)["OrderImported"] == 0
    assert verify_chains(crm.store).ok


def test_a_stream_another_writer_took_since_the_check_refuses_that_command_alone(
    crm: CRM, store_url: str
) -> None:
    checked = crm.check_batch([customer(f"R-{i}") for i in range(3)], actor=ADMIN)
    rival_takes(store_url, "R-1")

    outcomes = crm.write_checked(checked, actor=ADMIN)

    assert [o.ok for o in outcomes] == [True, False, True]
    assert getattr(outcomes[1].error, "rule", None) == "external_ref_unique"
    assert topics(crm)["CustomerRegistered"] == 3  # two of ours and the rival's
    assert verify_chains(crm.store).ok


def test_keys_of_existing_customers_are_read_in_bulk(
    crm: CRM, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading many customers' streams reads their keys in one round trip per chunk, not
    one per customer as each is decoded."""
    ids = [
        register(crm, kind="individual", name=f"Wang {i}", email=f"w{i}@example.cn")
        for i in range(5)
    ]
    with CRM.open(store_url) as cold:
        single: list[UUID] = []
        many: list[list[UUID]] = []
        read, read_many = cold.store.keys._read, cold.store.keys._read_many
        assert read_many is not None

        def read_one(customer_id: UUID) -> bytes | None:
            single.append(customer_id)
            return read(customer_id)

        def read_all(customer_ids: Any) -> dict[UUID, bytes]:
            many.append(list(customer_ids))
            return read_many(customer_ids)

        monkeypatch.setattr(cold.store.keys, "_read", read_one)
        monkeypatch.setattr(cold.store.keys, "_read_many", read_all)
        streams = load_streams(cold.store, ids)

    assert single == []
    assert [sorted(batch) for batch in many] == [sorted(ids)]
    names = [streams[i][0].profile.name for i in ids]  # type: ignore[attr-defined]
    assert names == [f"Wang {i}" for i in range(5)]


def test_streams_by_topic_and_their_versions(crm: CRM) -> None:
    survivor = register(crm)
    duplicate = register(crm)
    other = register(crm)
    crm.execute(MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), actor=MANAGER)
    ids = [survivor, duplicate, other]

    merges = load_streams(crm.store, ids, topics=(CustomersMerged.event_type(),))
    with read_transaction(crm.store) as cursor:
        versions = stream_versions_in(cursor, dialect_of(crm.store), [*ids, UUID(int=1)])

    assert set(merges) <= {survivor, duplicate}
    assert all(isinstance(e, CustomersMerged) for events in merges.values() for e in events)
    assert duplicate in merges
    assert versions == {i: len(crm.store.load(i)) for i in ids}


def test_the_import_decides_each_row_once_and_a_bad_file_still_writes_nothing(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_handler_calls(monkeypatch, RegisterCustomer)
    good = tmp_path / "customers.csv"
    good.write_text(
        "external_ref,kind,name\nERP-1,company,One Co.\nERP-2,company,Two Co.\n", "utf-8"
    )
    bad = tmp_path / "more.csv"
    bad.write_text("external_ref,kind,name\nERP-3,company,Three Co.\nERP-4,nobody,Four\n", "utf-8")

    assert run_import(good, store_url, batch_size=1)[0] == 0
    assert len(calls) == 2
    code, output = run_import(bad, store_url)
    assert code == 1
    assert "more.csv:3: kind:" in output and "nothing was written" in output
    with CRM.open(store_url) as crm:
        assert topics(crm)["CustomerRegistered"] == 2
    assert (
        "customers.csv: imported 2 customers: 0 new, 2 already imported"
        in (run_import(good, store_url)[1])
    )


def count_inserts(crm: CRM, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of each insert (``append`` and ``append_encoded`` both end in one)."""
    calls: list[int] = []
    real = crm.store.append_encoded

    def append_encoded(encoded: EncodedAppend, **kwargs: Any) -> list[int]:
        calls.append(len(encoded.rows))
        return real(encoded, **kwargs)

    monkeypatch.setattr(crm.store, "append_encoded", append_encoded)
    return calls


def count_handler_calls(monkeypatch: pytest.MonkeyPatch, kind: type[Any]) -> list[Any]:
    calls: list[Any] = []
    real: Callable[..., Any] = handlers.HANDLERS[kind]

    def counting(uow: Any, command: Any, context: Any) -> Any:
        calls.append(command)
        return real(uow, command, context)

    monkeypatch.setitem(handlers.HANDLERS, kind, counting)
    return calls


def run_import(path: Path, store_url: str, *, batch_size: int = 500) -> tuple[int, str]:
    """``crm import customers`` in this process (without the CLI's logging set-up, which is
    process-wide), so that its handlers can be counted."""
    args = argparse.Namespace(
        what="customers",
        file=path,
        db=store_url,
        dry_run=False,
        batch_size=batch_size,
        batch_id=None,
        workers=1,  # counting handlers needs every command decided in this process
    )
    buffer = io.StringIO()
    with redirect_stdout(buffer), redirect_stderr(buffer):
        code = run_import_command(args)
    return code, buffer.getvalue()


def test_a_command_reading_what_an_earlier_one_in_the_batch_created_is_written_at_once(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order's customer is registered by the same batch: the store does not have it
    yet when the batch is written, and that is no reason to decide the batch again."""
    register_command = customer("NEW")
    new_customer = derived_id(register_command, "customer")
    calls = count_handler_calls(monkeypatch, ImportOrder)
    appends = count_inserts(crm, monkeypatch)

    checked = crm.check_batch([register_command, order(new_customer, "O-1")], actor=ADMIN)
    outcomes = crm.write_checked(checked, actor=ADMIN)

    assert [o.ok for o in outcomes] == [True, True]
    assert len(calls) == 1
    assert appends == [6]
    assert topics(crm)["OrderImported"] == 1


def test_batches_written_in_turn_stop_at_the_first_refused_and_store_nothing_after_it(
    crm: CRM, store_url: str
) -> None:
    checked = crm.check_batch([customer(f"R-{i}") for i in range(6)], actor=ADMIN)
    rival_takes(store_url, "R-2")

    seen: list[list[bool]] = []
    written = crm.write_checked_batches([checked[0:2], checked[2:4], checked[4:6]], actor=ADMIN)
    for outcomes in written:
        seen.append([o.ok for o in outcomes])
        if not all(seen[-1]):
            written.close()
            break

    assert seen == [[True, True], [False, True]]
    counts = topics(crm)
    assert counts["CustomerRegistered"] == 4  # and the rival's R-2
    for late in checked[4:6]:
        assert late.outcome.result is not None
        assert crm.store.load(late.outcome.result.aggregate_id) == []
    assert verify_chains(crm.store).ok


def test_a_batch_writing_a_stream_the_batch_before_wrote_chains_to_it(
    crm: CRM, store_url: str
) -> None:
    """The second batch is encoded while the first is being stored: its event is still
    chained to the first batch's, and its personal values stay readable."""
    register_command = customer("NEW", kind="individual", name="Wang Wei", phone="+86 1")
    new_customer = derived_id(register_command, "customer")
    assert new_customer is not None
    update = UpdateCustomerProfile(
        customer_id=new_customer, phone="+86 139 0000 0002", command_id="update-new"
    )
    checked = crm.check_batch([register_command, update], actor=ADMIN)

    with capture_logs() as logs:
        batches = crm.write_checked_batches([checked[:1], checked[1:]], actor=ADMIN)
        outcomes = [outcome for batch in batches for outcome in batch]

    assert [o.ok for o in outcomes] == [True, True]
    # Stored as checked, not decided again: the second batch encrypted with the key the
    # first one was creating, rather than minting a second key that would conflict.
    assert [e for e in logs if e["event"] == "batch_stale"] == []
    assert verify_chains(crm.store).ok
    with CRM.open(store_url) as fresh:
        events = fresh.store.load(new_customer)
    assert [e.version for e in events] == [1, 2]
    assert events[1].contact.phone == "+86 139 0000 0002"  # type: ignore[attr-defined]


def test_a_batch_that_fails_to_encode_still_reports_the_one_stored_meanwhile(
    crm: CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = crm.check_batch([customer(f"E-{i}") for i in range(4)], actor=ADMIN)
    encode = crm.store.encode
    calls: list[int] = []

    def failing_second(events: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return encode(events, *args, **kwargs)

    monkeypatch.setattr(crm.store, "encode", failing_second)
    written = crm.write_checked_batches([checked[0:2], checked[2:4]], actor=ADMIN)
    seen = [[o.ok for o in next(written)]]
    with pytest.raises(RuntimeError, match="disk on fire"):
        next(written)

    assert seen == [[True, True]]  # stored while the second was encoded, and reported
    assert topics(crm)["CustomerRegistered"] == 2


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_batch_continuing_a_stream_an_earlier_batch_failed_to_create_is_decided_again(
    crm: CRM, store_url: str, pipelined: bool
) -> None:
    """The second batch was checked on top of the first: when the first is refused at
    write time, the second must not hang its events on a stream that was never stored."""
    register_command = customer("GAP")
    new_customer = derived_id(register_command, "customer")
    assert new_customer is not None
    update = UpdateCustomerProfile(customer_id=new_customer, name="Renamed", command_id="gap-1")
    checked = crm.check_batch([register_command, update], actor=ADMIN)
    rival_takes(store_url, "GAP")

    if pipelined:
        first, second = crm.write_checked_batches([checked[:1], checked[1:]], actor=ADMIN)
    else:
        first = crm.write_checked(checked[:1], actor=ADMIN)
        second = crm.write_checked(checked[1:], actor=ADMIN)

    assert [o.ok for o in first] == [False]
    assert [o.ok for o in second] == [False]
    assert crm.store.recorder.select_events(new_customer) == []
    assert verify_chains(crm.store).ok


def test_events_written_after_their_check_are_recorded_when_the_store_took_them(
    store_url: str,
) -> None:
    """DESIGN §2: ``recorded_at`` is when the store took the event; business time stays
    the one the decision used."""
    checked_at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    now = [checked_at]
    with CRM.open(store_url, clock=lambda: now[0]) as crm:
        checked = crm.check_batch([customer("LATE-1")], actor=ADMIN)
        now[0] = checked_at + timedelta(hours=1)
        (outcome,) = crm.write_checked(checked, actor=ADMIN)
        stored = [crm.store.decode(n) for n in crm.store.read(after=0)]

    assert stored and {e.recorded_at for e in stored} == {now[0]}
    registered = next(e for e in stored if isinstance(e, CustomerRegistered))
    assert registered.occurred_at == checked_at
    assert outcome.result is not None
    assert list(outcome.result.events) == [registered]  # the caller sees what was stored
