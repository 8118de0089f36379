"""Decoding a page of the log reads the keys of the customers it meets in one round trip,
not one per customer; what it does not find it leaves to the one-at-a-time path, which
alone may conclude that a key was destroyed."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID, uuid4

from adapters.event_store import EventStore
from adapters.keys import KeyStore, new_key
from domain.events.customer import CustomerPersonalDataErased, CustomerRegistered
from domain.personal_data import ERASED_NAME
from tests.erasure.test_key_transactions import envelope, registration


class CountingKeys:
    def __init__(self, rows: dict[UUID, bytes]) -> None:
        self.rows = rows
        self.single_reads: list[UUID] = []
        self.bulk_reads: list[list[UUID]] = []

    def read(self, customer_id: UUID) -> bytes | None:
        self.single_reads.append(customer_id)
        return self.rows.get(customer_id)

    def read_many(self, customer_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        self.bulk_reads.append(list(customer_ids))
        return {c: self.rows[c] for c in customer_ids if c in self.rows}


def test_prefetched_keys_are_read_in_one_go_and_answer_later_lookups() -> None:
    known = [uuid4() for _ in range(5)]
    table = CountingKeys({c: new_key() for c in known})
    keys = KeyStore(table.read, read_many=table.read_many)

    keys.prefetch([*known, known[0]])

    assert table.bulk_reads == [known]
    assert all(keys.cipher(c) is not None for c in known)
    assert table.single_reads == []
    keys.prefetch(known)  # all cached: no second round trip
    assert len(table.bulk_reads) == 1


def test_a_key_not_found_by_prefetch_is_looked_up_again_not_assumed_destroyed() -> None:
    customer_id = uuid4()
    table = CountingKeys({})
    keys = KeyStore(table.read, read_many=table.read_many)

    keys.prefetch([customer_id])
    table.rows[customer_id] = new_key()  # written by another process since

    assert keys.cipher(customer_id) is not None
    assert table.single_reads == [customer_id]


def test_a_store_without_bulk_reads_prefetches_nothing() -> None:
    table = CountingKeys({uuid4(): new_key()})
    keys = KeyStore(table.read)
    keys.prefetch(list(table.rows))
    assert table.bulk_reads == []


def test_decoding_a_page_after_prefetch_reads_no_key_one_at_a_time(store_url: str) -> None:
    customers = [uuid4() for _ in range(30)]
    with EventStore(store_url) as writer:
        writer.append([registration(c) for c in customers])
        writer.append([CustomerPersonalDataErased(**envelope(customers[0], 2), reason="DSR-9")])
    with EventStore(store_url) as reader:  # a cold cache, as a projection process has
        page = reader.read(after=0, limit=100)
        reader.prefetch_keys((n.topic, n.originator_id, n.state) for n in page)
        single_reads: list[UUID] = []
        read_one = reader.keys._read

        def counted(customer_id: UUID) -> bytes | None:
            single_reads.append(customer_id)
            return read_one(customer_id)

        reader.keys._read = counted
        events = [reader.decode(n) for n in page]

    registered = [e for e in events if isinstance(e, CustomerRegistered)]
    assert [e.aggregate_id for e in registered] == customers
    assert registered[0].profile.name == ERASED_NAME  # its key is gone
    assert {e.profile.name for e in registered[1:]} == {"Han Mei"}
    assert single_reads == [customers[0]]  # only the erased one, found absent


def test_a_key_read_while_an_erasure_committed_does_not_come_back() -> None:
    """A bulk or single read that started before an erasure and ends after it must not
    put the destroyed key back over the erasure's mark."""
    customer_id = uuid4()
    table = CountingKeys({customer_id: new_key()})
    keys = KeyStore(table.read, read_many=table.read_many)
    read_many, read_one = table.read_many, table.read

    def erased_during_bulk_read(ids: Sequence[UUID]) -> dict[UUID, bytes]:
        found = read_many(ids)
        keys.forget([customer_id], destroyed=True)  # the erasure's append, meanwhile
        return found

    def erased_during_read(cid: UUID) -> bytes | None:
        found = read_one(cid)
        keys.forget([customer_id], destroyed=True)
        return found

    keys._read_many = erased_during_bulk_read
    keys.prefetch([customer_id])
    assert keys.cipher(customer_id) is None

    keys.forget([customer_id])  # a destroyed mark stays: nothing to drop
    other = KeyStore(erased_during_read)
    keys = other
    other.cipher(customer_id)  # read before the erasure, returned to its caller once
    assert other.cipher(customer_id) is None
