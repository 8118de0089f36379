"""Maps pydantic domain events to the library's ``StoredEvent`` rows and back.

The stored state is canonical JSON (sorted keys, UTF-8, no insignificant spaces) so that a
person reading the table with psql can understand it, and so that a hash over it is
stable. The event's ``class_version`` is written into the state; on the way back, every
``upcast_vN_vN+1`` step of the current class runs before pydantic validates the result.
The library's own pydantic example mapper drops ``class_version``; this one does not.

The event store seals each state into its stream's hash chain (``adapters/audit/chain.py``)
before insert; decoding drops the two seal keys, so events never see them.

Personal values (``domain/personal_data.py``) are encrypted with their customer's key on
the way in and decrypted on the way out (``adapters/keys.py``). The chain covers the
stored ciphertext, so it verifies whether or not the key still exists; without the key a
value reads as erased.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
)
from pydantic import TypeAdapter

import domain.events  # noqa: F401 - importing the package registers every event type
from adapters.audit.chain import HASH_KEY, PREV_KEY, link_hash, seal
from adapters.canonical_json import canonical_json
from adapters.keys import (
    ENCRYPTED,
    KeyStore,
    decrypt,
    encrypt,
    forget_everywhere,
    is_encrypted,
    open_key_stores,
)
from domain.events.base import DomainEvent, event_class
from domain.personal_data import (
    SUBJECT_IN_PAYLOAD,
    candidate_values,
    data_subject,
    erased_value,
    get_path,
    personal_paths,
    set_path,
)
from domain.time import ensure_utc

CLASS_VERSION_KEY = "class_version"
ERASURE_TOPIC = "CustomerPersonalDataErased"
_ENCRYPTED_MARK = f'"{ENCRYPTED}"'.encode()
CipherFor = Callable[[UUID], AESGCM]


class PydanticEventMapper(Mapper[UUID]):
    """Stored type = the event's registered name; stored state = its fields minus the
    stream coordinates, which the row already holds."""

    def __init__(self, keys: KeyStore | None = None) -> None:
        super().__init__(transcoder=JSONTranscoder())
        self.keys = keys

    def to_stored_event(
        self,
        domain_event: Any,
        cipher_for: CipherFor | None = None,
        *,
        recorded_at: str | None = None,
    ) -> StoredEvent:
        """``cipher_for`` gives the key of the customer whose personal values the event
        carries; the event store always passes it. Without it values stay clear text
        (benchmarks that build rows by hand). ``recorded_at``: stored instead of the
        event's own, already in JSON form (``json_instant``)."""
        if not isinstance(domain_event, DomainEvent):
            raise TypeError(f"not a domain event: {type(domain_event).__name__}")
        state = domain_event.model_dump(mode="json", exclude={"aggregate_id", "version"})
        if recorded_at is not None:
            state["recorded_at"] = recorded_at
        state[CLASS_VERSION_KEY] = type(domain_event).class_version
        topic = domain_event.event_type()
        if cipher_for is not None:
            _encrypt_personal(topic, state, domain_event.aggregate_id, cipher_for)
        return StoredEvent(
            originator_id=domain_event.aggregate_id,
            originator_version=domain_event.version,
            topic=topic,
            state=canonical_json(state),
        )

    @staticmethod
    def sealed(stored_event: StoredEvent, prev: str) -> tuple[StoredEvent, str]:
        """The row to insert, chained to ``prev`` (the predecessor's hash), and its hash."""
        hash_ = link_hash(
            prev,
            stored_event.topic,
            _uuid(stored_event.originator_id),
            stored_event.originator_version,
            stored_event.state,
        )
        return (
            StoredEvent(
                originator_id=stored_event.originator_id,
                originator_version=stored_event.originator_version,
                topic=stored_event.topic,
                state=seal(stored_event.state, hash_, prev),
            ),
            hash_,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self.decode(
            stored_event.topic,
            stored_event.originator_id,
            stored_event.originator_version,
            stored_event.state,
            keys=self.keys,
        )

    @staticmethod
    def decode(
        topic: str,
        originator_id: UUID | str,
        version: int,
        state: bytes,
        *,
        keys: KeyStore | None = None,
        reads: frozenset[str] | None = None,
    ) -> DomainEvent:
        """``keys``: the reading store's, tried first; every open store's are tried after
        it (the projection runner decodes with no store in hand). ``reads``: the personal
        values (``PROFILE_PATHS``) the reader looks at, None for all; the others are not
        decrypted and read as erased."""
        try:
            cls = event_class(topic)
            data: dict[str, Any] = json.loads(state)
            data.pop(HASH_KEY, None)
            data.pop(PREV_KEY, None)
            if topic == ERASURE_TOPIC:
                forget_everywhere(_uuid(originator_id))
            elif _ENCRYPTED_MARK in state:
                _decrypt_personal(topic, data, _uuid(originator_id), keys, reads)
            upcast(cls, data)
            data["aggregate_id"] = originator_id
            data["version"] = version
            return cls.model_validate(data)
        except Exception as error:
            raise MapperDeserialisationError(
                f"cannot read stored event {topic} v{version} of {originator_id}: {error}"
            ) from error


_INSTANT: TypeAdapter[datetime] = TypeAdapter(datetime)


def json_instant(moment: datetime) -> str:
    """A timestamp as an event's JSON state holds it (pydantic's form, ``...Z``)."""
    return str(_INSTANT.dump_python(ensure_utc(moment), mode="json"))


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def encrypted_subjects(rows: Iterable[tuple[str, UUID | str, bytes]]) -> list[UUID]:
    """The customers whose keys decoding these rows (topic, stream, stored state) needs:
    the stream's, or the one a merge or a command record names in its state."""
    return [
        data_subject(topic, orjson.loads(state), _uuid(stream))
        if topic in SUBJECT_IN_PAYLOAD
        else _uuid(stream)
        for topic, stream, state in rows
        if _ENCRYPTED_MARK in state
    ]


def _encrypt_personal(
    topic: str, state: dict[str, Any], aggregate_id: UUID, cipher_for: CipherFor
) -> None:
    paths = [p for p in personal_paths(topic, state) if get_path(state, p) is not None]
    if not paths:
        return
    subject = data_subject(topic, state, aggregate_id)
    cipher = cipher_for(subject)
    for path in paths:
        set_path(state, path, encrypt(cipher, subject, path, canonical_json(get_path(state, path))))


def _decrypt_personal(
    topic: str,
    data: dict[str, Any],
    aggregate_id: UUID,
    keys: KeyStore | None,
    reads: frozenset[str] | None = None,
) -> None:
    """Each encrypted value in clear, or as erased when no open store holds its key (or
    the reader does not read it)."""
    subject = data_subject(topic, data, aggregate_id)
    stores: list[KeyStore] | None = None  # the ring, listed once per event
    for path, personal_value in candidate_values(topic):
        value = get_path(data, path)
        if not is_encrypted(value):
            continue
        plaintext = None
        if reads is not None and personal_value not in reads:
            set_path(data, path, erased_value(path))
            continue
        if stores is None:
            stores = open_key_stores(keys)
        for key_store in stores:
            cipher = key_store.cipher(subject)
            if cipher is not None:
                plaintext = decrypt(cipher, subject, path, value)
                if plaintext is not None:
                    break
        set_path(data, path, json.loads(plaintext) if plaintext is not None else erased_value(path))


def upcast(cls: type[DomainEvent], data: dict[str, Any]) -> None:
    """Bring a stored state written by an older class version up to the current one."""
    from_version = int(data.pop(CLASS_VERSION_KEY, 1))
    if from_version > cls.class_version:
        raise ValueError(
            f"stored {cls.__name__} has class_version {from_version}, newer than this code's "
            f"{cls.class_version}: upgrade crm-core before reading this store"
        )
    while from_version < cls.class_version:
        step = getattr(cls, f"upcast_v{from_version}_v{from_version + 1}", None)
        if step is None:
            raise TypeError(f"{cls.__name__} lacks upcast_v{from_version}_v{from_version + 1}")
        step(data)
        from_version += 1
