"""Which stored values are personal data, whose they are, and how they read once erased.

DESIGN §2.1 names the personal data of a customer: the name of an individual, phone,
e-mail, address and birthday. The store encrypts exactly the values listed here with the
key of the customer they belong to, and erasure destroys that key; read models blank the
same values when they see the erasure. Keeping the list in one place, in the domain, is
what makes a rebuilt read model (which decodes erased values) equal the one that blanked
them as it went.

A name is personal when it is an individual's. A registration says which (the profile's
``kind``), and so does a profile update or a merge that sets ``kind`` itself; one that
does not cannot tell, so its name counts as personal: an individual's name must never be
stored in clear text, and renaming a company is rare. Erasing a company customer therefore
erases its contact points, its birthday and the names it was given after registering, and
keeps the name it registered with. The decision is a function of the event's own payload,
so the store (which encrypts) and the read models (which blank) always agree.

Values are addressed by dotted paths into an event's JSON payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from domain.events.base import DomainEvent

# What an erased name reads as: a name is required, so it cannot read as nothing, and this
# passes the name's validation. Every other erased value reads as nothing (``None``).
ERASED_NAME = "[erased]"

# The personal values of a profile, relative to where the profile sits in an event.
PROFILE_PATHS: tuple[str, ...] = (
    "name",
    "contact.phone",
    "contact.email",
    "contact.address",
    "birthday",
)
# Profile fields that hold personal values: changing one records personal data.
PERSONAL_PROFILE_FIELDS: frozenset[str] = frozenset(path.split(".")[0] for path in PROFILE_PATHS)

# Event type -> where its profile values sit ("" = at the top of the payload).
_PROFILE_AT: dict[str, str] = {
    "CustomerRegistered": "profile",
    "CustomerProfileUpdated": "",
    "CustomersMerged": "taken",
}

E = TypeVar("E", bound=DomainEvent)


# A command's record keeps the fingerprint of a command that carried personal values
# (``CommandRecorded.subject_id`` names whose): it is one of them.
COMMAND_RECORD = "CommandRecorded"
FINGERPRINT_PATH = "fingerprint"
FINGERPRINT_VALUE = "command_fingerprint"
# Event type -> the field naming the customer whose personal values it carries, where that
# is not the stream's own: a merge, recorded on both streams, carries the survivor's; a
# command record, its subject's.
SUBJECT_IN_PAYLOAD: dict[str, str] = {
    "CustomersMerged": "survivor_id",
    COMMAND_RECORD: "subject_id",
}


def candidate_paths(event_type: str) -> tuple[str, ...]:
    """Every path at which an event type can carry a personal value (none for most)."""
    if event_type == COMMAND_RECORD:
        return (FINGERPRINT_PATH,)
    base = _PROFILE_AT.get(event_type)
    if base is None:
        return ()
    return tuple(f"{base}.{path}" if base else path for path in PROFILE_PATHS)


def candidate_values(event_type: str) -> tuple[tuple[str, str], ...]:
    """``candidate_paths`` each with the personal value it holds (its ``PROFILE_PATHS``
    entry): what a reader that needs only some values looks at."""
    return _CANDIDATE_VALUES.get(event_type, ())


_CANDIDATE_VALUES: dict[str, tuple[tuple[str, str], ...]] = {
    event_type: tuple(zip(candidate_paths(event_type), PROFILE_PATHS, strict=True))
    for event_type in _PROFILE_AT
} | {COMMAND_RECORD: ((FINGERPRINT_PATH, FINGERPRINT_VALUE),)}


def personal_paths(event_type: str, payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The paths whose values are personal in this payload: the candidates, less the name
    when the payload says it is a company's."""
    if event_type == COMMAND_RECORD:
        return (FINGERPRINT_PATH,) if payload.get("subject_id") is not None else ()
    paths = candidate_paths(event_type)
    if not paths:
        return ()
    base = _PROFILE_AT[event_type]
    kind = get_path(payload, f"{base}.kind" if base else "kind")
    if _kind_value(kind) == "company":
        name = f"{base}.name" if base else "name"
        return tuple(p for p in paths if p != name)
    return paths


def _kind_value(kind: Any) -> Any:
    return getattr(kind, "value", kind)


def data_subject(event_type: str, payload: Mapping[str, Any], aggregate_id: UUID) -> UUID:
    """The customer whose personal values an event carries: for a merge, recorded on both
    streams, the survivor's, since the values it took are the survivor's from then on."""
    field = SUBJECT_IN_PAYLOAD.get(event_type)
    subject = payload.get(field) if field is not None else None
    if subject is None:
        return aggregate_id
    return subject if isinstance(subject, UUID) else UUID(str(subject))


def erased_value(path: str) -> Any:
    return ERASED_NAME if path.rsplit(".", 1)[-1] == "name" else None


def get_path(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, ``None`` where any step is missing."""
    value: Any = data
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Replace the value at a dotted path whose parent exists (else nothing to replace)."""
    *parents, last = path.split(".")
    target: Any = data
    for step in parents:
        target = target.get(step) if isinstance(target, dict) else None
    if isinstance(target, dict) and last in target:
        target[last] = value


def erase_payload(event_type: str, payload: dict[str, Any]) -> None:
    """Blank, in place, every personal value a JSON payload of this type holds."""
    for path in personal_paths(event_type, payload):
        if get_path(payload, path) is not None:
            set_path(payload, path, erased_value(path))


def erase_personal_data(event: E, customer_id: UUID) -> E:
    """The event as it reads once ``customer_id``'s key is gone: the same event if it
    carries no personal value of that customer."""
    event_type = event.event_type()
    if not candidate_paths(event_type):
        return event
    payload = event.model_dump(mode="json")
    if data_subject(event_type, payload, event.aggregate_id) != customer_id:
        return event
    erase_payload(event_type, payload)
    return type(event).model_validate(payload)
