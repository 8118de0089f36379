"""Snapshots are a cache of replay: loading from one must give exactly what replaying every
event gives, and a snapshot this code cannot trust must be ignored, never believed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.audit.verify import verify_chains
from adapters.cli.demo import run_demo
from adapters.snapshot_store import SnapshotStore
from application import CRM
from application.commands import AwardLoyaltyPoints, EraseCustomerPersonalData, RecordContact
from application.settings import Settings
from application.snapshots import SnapshotError, decode_state, encode_state, fingerprint
from domain.aggregates import Complaint, Customer, Opportunity, Order
from domain.aggregates.base import Aggregate
from tests.application.builders import ADMIN, register
from tests.imports.test_execute_batch import order

KINDS: tuple[type[Aggregate], ...] = (Customer, Opportunity, Order, Complaint)


def state(aggregate: Aggregate) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending"}


def every_aggregate(crm: CRM) -> Iterator[Aggregate]:
    seen: set[UUID] = set()
    for notification in crm.store.read(after=0, limit=1_000_000):
        stream = UUID(str(notification.originator_id))
        if stream in seen:
            continue
        seen.add(stream)
        first = crm.store.load(stream, to_version=1)
        kind = next((k for k in KINDS if isinstance(first[0], k.starts_with)), None)
        if kind is not None:
            yield kind.replay(crm.store.load(stream))


@pytest.fixture
def snapshotting(store_url: str) -> Iterator[CRM]:
    with CRM.open(store_url, settings=Settings(snapshot_interval=5)) as crm:
        yield crm


def test_every_aggregate_of_a_demo_history_survives_the_state_codec(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_demo(store_url, customers=30, seed=11, reports=False)
    capsys.readouterr()
    with CRM.open(store_url) as crm:
        kinds: set[str] = set()
        for aggregate in every_aggregate(crm):
            restored = decode_state(type(aggregate), encode_state(aggregate))
            assert type(restored) is type(aggregate)
            assert state(restored) == state(aggregate), aggregate.id
            kinds.add(aggregate.kind)
    assert kinds == {k.kind for k in KINDS}


def test_a_stream_is_snapshotted_each_interval_and_loads_as_a_replay_would(
    snapshotting: CRM,
) -> None:
    crm = snapshotting
    customer_id = register(crm)
    for n in range(11):  # versions 2..12: crosses 5 and 10
        crm.execute(
            AwardLoyaltyPoints(customer_id=customer_id, points=10 + n, reason="purchase"),
            actor=ADMIN,
        )
    assert crm.snapshots is not None
    crm.snapshots.flush()
    stored = SnapshotStore(crm.store).get(customer_id)
    assert stored is not None
    assert (stored.kind, stored.version) == ("customer", 10)
    assert stored.fingerprint == fingerprint(Customer)

    replayed = Customer.replay(crm.store.load(customer_id))
    loaded = crm.load(Customer, customer_id)
    assert loaded.version == 12
    assert state(loaded) == state(replayed)
    # Older than the snapshot: the snapshot cannot serve, the replay stops at 7.
    assert state(crm.load(Customer, customer_id, version=7)) == state(
        Customer.replay(crm.store.load(customer_id, to_version=7))
    )
    # Commands keep working from the snapshot, and their events still chain.
    crm.execute(
        RecordContact(
            customer_id=customer_id, channel="phone", direction="outbound", summary="Called."
        ),
        actor=ADMIN,
    )
    assert crm.load(Customer, customer_id).contacts == replayed.contacts + 1
    report = verify_chains(crm.store)
    assert (report.ok, report.unhashed) == (True, 0)


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("another code's fingerprint", {"fingerprint": "0" * 16}),
        ("another kind", {"kind": "order"}),
        ("unreadable state", {"state": "{not json"}),
        ("a type outside the domain", {"state": json.dumps({"x": {"$enum": "os:system"}})}),
    ],
)
def test_a_snapshot_this_code_cannot_trust_is_ignored(
    snapshotting: CRM, what: str, change: dict[str, str]
) -> None:
    crm = snapshotting
    customer_id = register(crm)
    crm.execute(
        AwardLoyaltyPoints(customer_id=customer_id, points=5, reason="purchase"), actor=ADMIN
    )
    honest = {
        "kind": "customer",
        "fingerprint": fingerprint(Customer),
        "state": encode_state(Customer.replay(crm.store.load(customer_id))),
    }
    # A lie that would show if it were believed: a million points.
    lie = json.loads(honest["state"])
    lie["loyalty_points"] = 1_000_000
    fields = {**honest, "state": json.dumps(lie), **change}
    SnapshotStore(crm.store).put(
        customer_id, fields["kind"], 2, fields["fingerprint"], fields["state"]
    )
    loaded = crm.load(Customer, customer_id)
    assert loaded.loyalty_points == 5, what


def test_the_codec_refuses_to_name_types_outside_the_domain() -> None:
    with pytest.raises(SnapshotError, match="outside the domain"):
        decode_state(Customer, json.dumps({"profile": {"$model": "subprocess:Popen", "data": {}}}))
    with pytest.raises(TypeError, match="not a domain type"):
        encode_state_of({"settings": Settings()})
    with pytest.raises(TypeError, match="cannot snapshot a PosixPath"):
        encode_state_of({"path": Path("/tmp")})  # noqa: S108 - a value, never touched


def encode_state_of(values: dict[str, Any]) -> str:
    aggregate = Customer.__new__(Customer)
    aggregate._pending = []
    for name, value in values.items():
        setattr(aggregate, name, value)
    return encode_state(aggregate)


def test_snapshots_are_off_when_the_interval_is_zero(store_url: str) -> None:
    with CRM.open(store_url, settings=Settings(snapshot_interval=0)) as crm:
        customer_id = register(crm)
        assert crm.snapshots is None
        assert crm.load(Customer, customer_id).version == 1


PHONE = "+86 139 0000 7777"


def awards(customer_id: UUID, count: int) -> list[AwardLoyaltyPoints]:
    return [
        AwardLoyaltyPoints(customer_id=customer_id, points=10 + n, reason="purchase")
        for n in range(count)
    ]


def snapshot_version(crm: CRM, aggregate_id: UUID) -> int | None:
    assert crm.snapshots is not None
    crm.snapshots.flush()
    stored = SnapshotStore(crm.store).get(aggregate_id)
    return None if stored is None else stored.version


def test_a_batch_snapshots_a_stream_it_moves_across_the_interval(snapshotting: CRM) -> None:
    """As ``execute`` would: the versions 2..12 of one batch cross 5 and 10."""
    crm = snapshotting
    customer_id = register(crm)
    outcomes = crm.execute_batch(awards(customer_id, 11), actor=ADMIN)

    assert all(outcome.ok for outcome in outcomes)
    assert snapshot_version(crm, customer_id) == 10
    replayed = Customer.replay(crm.store.load(customer_id))
    assert state(crm.load(Customer, customer_id)) == state(replayed)
    assert replayed.version == 12


def test_checked_commands_written_later_snapshot_what_they_stored(snapshotting: CRM) -> None:
    crm = snapshotting
    customer_id = register(crm)
    checked = crm.check_batch(awards(customer_id, 6), actor=ADMIN)
    assert snapshot_version(crm, customer_id) is None  # checking stores nothing

    outcomes = crm.write_checked(checked, actor=ADMIN)

    assert all(outcome.ok for outcome in outcomes)
    assert snapshot_version(crm, customer_id) == 5
    loaded = crm.load(Customer, customer_id)
    assert state(loaded) == state(Customer.replay(crm.store.load(customer_id)))
    assert loaded.version == 7


def test_a_batch_that_erases_a_customer_leaves_no_snapshot_from_before(
    snapshotting: CRM,
) -> None:
    """Version 5, in clear, is taken in the same batch as the erasure (version 7): the
    snapshot store drops it, as the erasure came after it."""
    crm = snapshotting
    customer_id = register(crm, kind="individual", name="Wei Zhang", phone=PHONE)
    erase = EraseCustomerPersonalData(customer_id=customer_id, reason="DSR-1")
    outcomes = crm.execute_batch([*awards(customer_id, 5), erase], actor=ADMIN)

    assert all(outcome.ok for outcome in outcomes)
    assert snapshot_version(crm, customer_id) is None
    assert crm.load(Customer, customer_id).version == 7


def test_nothing_decided_from_a_read_without_personal_values_is_snapshotted(
    store_url: str,
) -> None:
    """A batch of orders reads their customers without decrypting them: right for deciding
    an order, but no state built from such a read may become a snapshot. (With an interval
    of 1, the order's version 1 would be due.)"""
    with CRM.open(store_url, settings=Settings(snapshot_interval=1)) as crm:
        customer_id = register(crm)
        assert snapshot_version(crm, customer_id) == 1  # via execute, decrypted
        outcomes = crm.execute_batch([order(customer_id, "O-1")], actor=ADMIN)

        assert all(outcome.ok for outcome in outcomes)
        order_id = outcomes[0].result.aggregate_id  # type: ignore[union-attr]
        assert snapshot_version(crm, order_id) is None
        assert snapshot_version(crm, customer_id) == 1


@pytest.fixture
def late_snapshots(monkeypatch: pytest.MonkeyPatch, store_url: str) -> Iterator[CRM]:
    """Snapshots written half a second after they are asked for (a busy database): what a
    batch queued lands after whatever the next batch stores, unless someone waits for it."""
    real = SnapshotStore.put

    def late(self: SnapshotStore, *args: Any) -> None:
        time.sleep(0.5)
        real(self, *args)

    monkeypatch.setattr(SnapshotStore, "put", late)
    with CRM.open(store_url, settings=Settings(snapshot_interval=5)) as crm:
        yield crm


def snapshot_state(crm: CRM, customer_id: UUID) -> str:
    assert crm.snapshots is not None
    crm.snapshots.flush()
    stored = SnapshotStore(crm.store).get(customer_id)
    return "" if stored is None else stored.state


def test_a_snapshot_an_earlier_batch_queued_does_not_outlive_the_erasure(
    late_snapshots: CRM,
) -> None:
    """Batch one takes the customer to version 5 (a snapshot, the phone in clear, written
    late); batch two erases them. Written after the erasure, the snapshot is dropped."""
    crm = late_snapshots
    customer_id = register(crm, kind="individual", name="Wei Zhang", phone=PHONE)
    assert all(o.ok for o in crm.execute_batch(awards(customer_id, 4), actor=ADMIN))
    erase = EraseCustomerPersonalData(customer_id=customer_id, reason="DSR-1")
    assert all(o.ok for o in crm.execute_batch([erase], actor=ADMIN))

    assert PHONE not in snapshot_state(crm, customer_id)


def test_a_snapshot_a_checked_batch_queued_does_not_outlive_the_next_batchs_erasure(
    late_snapshots: CRM,
) -> None:
    crm = late_snapshots
    customer_id = register(crm, kind="individual", name="Wei Zhang", phone=PHONE)
    erase = EraseCustomerPersonalData(customer_id=customer_id, reason="DSR-1")
    checked = crm.check_batch([*awards(customer_id, 4), erase], actor=ADMIN)
    for outcomes in crm.write_checked_batches([checked[:4], checked[4:]], actor=ADMIN):
        assert all(o.ok for o in outcomes)

    assert PHONE not in snapshot_state(crm, customer_id)
    assert crm.load(Customer, customer_id).version == 6


def test_a_snapshot_written_after_another_process_erased_the_customer_is_dropped(
    late_snapshots: CRM, store_url: str
) -> None:
    """This process queues a snapshot (the phone in clear); another erases the customer
    before it is written. The erasure deleted the customer's snapshot, and the late one
    must not bring the phone back: writing it first looks whether the customer was erased."""
    crm = late_snapshots
    customer_id = register(crm, kind="individual", name="Wei Zhang", phone=PHONE)
    for command in awards(customer_id, 4):  # version 5: a snapshot, half a second late
        crm.execute(command, actor=ADMIN)
    with CRM.open(store_url, settings=Settings(snapshot_interval=0)) as other:
        other.execute(
            EraseCustomerPersonalData(customer_id=customer_id, reason="DSR-1"), actor=ADMIN
        )

    assert snapshot_state(crm, customer_id) == ""
    assert crm.load(Customer, customer_id).version == 6


def test_snapshots_of_customers_with_and_without_personal_data_are_still_written(
    snapshotting: CRM,
) -> None:
    crm = snapshotting
    person = register(crm, kind="individual", name="Wei Zhang", phone=PHONE)  # has a key
    company = register(crm)  # a company's name is not personal data: no key
    for customer_id in (person, company):
        crm.execute_batch(awards(customer_id, 4), actor=ADMIN)

    assert snapshot_version(crm, person) == snapshot_version(crm, company) == 5


def test_a_snapshot_taken_after_the_erasure_is_kept(snapshotting: CRM) -> None:
    """It holds only blanked values; dropping it would replay the erased customer's whole
    stream on every load from then on. (Only an erasure after a snapshot's version drops it.)"""
    crm = snapshotting
    customer_id = register(crm, kind="individual", name="Wei Zhang", phone=PHONE)
    crm.execute(EraseCustomerPersonalData(customer_id=customer_id, reason="DSR-1"), actor=ADMIN)
    for command in awards(customer_id, 10):  # versions 3..12: crosses 5 and 10
        crm.execute(command, actor=ADMIN)

    assert snapshot_version(crm, customer_id) == 10
    assert PHONE not in snapshot_state(crm, customer_id)
    loaded = crm.load(Customer, customer_id)
    assert state(loaded) == state(Customer.replay(crm.store.load(customer_id)))
