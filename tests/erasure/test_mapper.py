"""The mapper encrypts exactly the personal values, with the key of the customer they
belong to; they read back in clear with the key and as erased without it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.keys import ENCRYPTED, KeyStore, new_key
from adapters.mapper import PydanticEventMapper
from domain.events.base import DomainEvent
from domain.events.customer import (
    CustomerProfile,
    CustomerProfileUpdated,
    CustomerRegistered,
    CustomersMerged,
    ProfileValues,
)
from domain.personal_data import ERASED_NAME
from domain.values import Address, ContactPoints
from domain.vocabulary import CustomerKind

AT = datetime(2026, 3, 1, tzinfo=UTC)
CONTACT = ContactPoints(
    phone="+86 139 1234 5678",
    email="chen.jie@example.com",
    address=Address(line1="88 Nanjing Road", city="Shanghai", country="CN"),
)
CLEAR = ("Chen Jie", "139 1234 5678", "chen.jie@example.com", "Nanjing Road", "1988-02-29")


def envelope(aggregate_id: UUID, version: int = 1) -> dict[str, object]:
    return {
        "aggregate_id": aggregate_id,
        "version": version,
        "recorded_at": AT,
        "occurred_at": AT,
        "actor_id": "rep-1",
    }


def registration(customer_id: UUID, kind: CustomerKind = CustomerKind.INDIVIDUAL) -> DomainEvent:
    profile = CustomerProfile(
        kind=kind, name="Chen Jie", contact=CONTACT, birthday=date(1988, 2, 29), region="east"
    )
    return CustomerRegistered(**envelope(customer_id), profile=profile)


class Keys:
    """A key table in memory: what ``customer_keys`` holds, readable by a ``KeyStore``."""

    def __init__(self) -> None:
        self.rows: dict[UUID, bytes] = {}
        self.store = KeyStore(self.rows.get)

    def cipher_for(self, customer_id: UUID) -> AESGCM:
        key = self.rows.setdefault(customer_id, new_key())
        return AESGCM(key)

    def destroy(self, customer_id: UUID) -> None:
        del self.rows[customer_id]
        self.store.forget([customer_id])


def stored_and_read(event: DomainEvent, keys: Keys) -> tuple[bytes, DomainEvent]:
    mapper = PydanticEventMapper(keys.store)
    stored = mapper.to_stored_event(event, keys.cipher_for)
    return stored.state, mapper.to_domain_event(stored)


def test_personal_values_are_stored_encrypted_and_read_back_with_the_key() -> None:
    keys = Keys()
    customer_id = uuid4()
    event = registration(customer_id)

    state, read = stored_and_read(event, keys)

    assert read == event
    for text in CLEAR:
        assert text.encode() not in state
    profile = json.loads(state)["profile"]
    for value in (profile["name"], profile["birthday"], *profile["contact"].values()):
        assert set(value) == {ENCRYPTED}
    assert profile["region"] == "east"  # not personal: clear
    assert keys.rows[customer_id] not in state


def test_without_the_key_personal_values_read_as_erased_and_the_rest_is_intact() -> None:
    keys = Keys()
    customer_id = uuid4()
    event = registration(customer_id)
    mapper = PydanticEventMapper(keys.store)
    stored = mapper.to_stored_event(event, keys.cipher_for)

    keys.destroy(customer_id)
    read = mapper.to_domain_event(stored)

    assert isinstance(read, CustomerRegistered)
    assert read.profile.name == ERASED_NAME
    assert read.profile.contact == ContactPoints()
    assert read.profile.birthday is None
    assert read.profile.region == "east"
    assert read.model_dump(exclude={"profile"}) == event.model_dump(exclude={"profile"})


def test_a_company_name_stays_clear_an_update_that_does_not_say_company_is_encrypted() -> None:
    keys = Keys()
    customer_id = uuid4()
    state, _ = stored_and_read(registration(customer_id, CustomerKind.COMPANY), keys)
    assert json.loads(state)["profile"]["name"] == "Chen Jie"

    rename = CustomerProfileUpdated(
        **envelope(customer_id, 2), changed_fields=("name",), name="Chen Jie Trading"
    )
    state, read = stored_and_read(rename, keys)
    assert b"Chen Jie Trading" not in state and read == rename
    as_company = CustomerProfileUpdated(
        **envelope(customer_id, 2),
        changed_fields=("kind", "name"),
        kind=CustomerKind.COMPANY,
        name="Chen Jie Trading",
    )
    state, read = stored_and_read(as_company, keys)
    assert json.loads(state)["name"] == "Chen Jie Trading" and read == as_company


def test_a_merge_carries_the_survivors_values_under_the_survivors_key_on_both_streams() -> None:
    keys = Keys()
    survivor, duplicate = uuid4(), uuid4()
    taken = ProfileValues(
        fields=("contact", "birthday"), contact=CONTACT, birthday=date(1990, 1, 1)
    )
    copies = [
        CustomersMerged(
            **envelope(stream, 2), survivor_id=survivor, duplicate_id=duplicate, taken=taken
        )
        for stream in (survivor, duplicate)
    ]
    mapper = PydanticEventMapper(keys.store)
    stored = [mapper.to_stored_event(copy, keys.cipher_for) for copy in copies]
    assert set(keys.rows) == {survivor}
    assert [mapper.to_domain_event(s) for s in stored] == copies

    keys.destroy(survivor)
    for row in stored:
        read = mapper.to_domain_event(row)
        assert isinstance(read, CustomersMerged)
        assert read.taken.contact == ContactPoints() and read.taken.birthday is None


def test_ciphertext_moved_to_another_customer_or_field_does_not_decrypt() -> None:
    keys = Keys()
    first, second = uuid4(), uuid4()
    mapper = PydanticEventMapper(keys.store)
    one = json.loads(mapper.to_stored_event(registration(first), keys.cipher_for).state)
    two = mapper.to_stored_event(registration(second), keys.cipher_for)
    keys.rows[second] = keys.rows[first]  # even under the same key
    keys.store.forget([second])
    forged = json.loads(two.state)
    forged["profile"]["contact"]["email"] = one["profile"]["contact"]["phone"]

    read = PydanticEventMapper.decode(
        two.topic, second, 1, json.dumps(forged).encode(), keys=keys.store
    )

    assert isinstance(read, CustomerRegistered)
    assert read.profile.contact.email is None  # neither the phone nor an error


def test_events_without_personal_values_are_stored_as_before() -> None:
    keys = Keys()
    customer_id = uuid4()
    update = CustomerProfileUpdated(
        **envelope(customer_id, 2), changed_fields=("region",), region="west"
    )
    state, read = stored_and_read(update, keys)
    assert ENCRYPTED.encode() not in state and read == update
    assert keys.rows == {}  # no key made for nothing to encrypt


def test_a_reader_of_some_personal_values_gets_only_those_decrypted_the_rest_as_erased() -> None:
    keys = Keys()
    customer_id = uuid4()
    mapper = PydanticEventMapper(keys.store)
    stored = mapper.to_stored_event(registration(customer_id), keys.cipher_for)

    def read(reads: frozenset[str] | None) -> CustomerProfile:
        event = mapper.decode(
            stored.topic, customer_id, 1, stored.state, keys=keys.store, reads=reads
        )
        assert isinstance(event, CustomerRegistered)
        return event.profile

    everything = read(None)
    assert (everything.name, everything.birthday) == ("Chen Jie", date(1988, 2, 29))
    assert everything.contact == CONTACT

    birthday_only = read(frozenset({"birthday"}))
    assert birthday_only.birthday == date(1988, 2, 29)
    assert birthday_only.name == ERASED_NAME
    assert birthday_only.contact == ContactPoints()

    name_and_email = read(frozenset({"name", "contact.email"}))
    assert name_and_email.name == "Chen Jie"
    assert name_and_email.contact == ContactPoints(email="chen.jie@example.com")
    assert name_and_email.birthday is None

    nothing = read(frozenset())
    assert (nothing.name, nothing.birthday, nothing.contact) == (ERASED_NAME, None, ContactPoints())
    # Not decrypting is not erasing: the key is still there for the next reader.
    assert read(None) == everything


def test_a_company_name_stored_in_clear_reads_as_it_is_whatever_the_reader_reads() -> None:
    keys = Keys()
    customer_id = uuid4()
    mapper = PydanticEventMapper(keys.store)
    stored = mapper.to_stored_event(
        registration(customer_id, CustomerKind.COMPANY), keys.cipher_for
    )
    event = mapper.decode(
        stored.topic, customer_id, 1, stored.state, keys=keys.store, reads=frozenset()
    )
    assert isinstance(event, CustomerRegistered)
    assert event.profile.name == "Chen Jie"
    assert event.profile.birthday is None
