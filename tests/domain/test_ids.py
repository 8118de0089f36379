"""``name_based_id`` is ``uuid.uuid5``, faster."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from domain.ids import name_based_id


@given(st.uuids(), st.text())
def test_name_based_id_is_uuid5(namespace: uuid.UUID, name: str) -> None:
    try:
        expected = uuid.uuid5(namespace, name)
    except UnicodeEncodeError:  # a lone surrogate: neither takes it
        return
    made = name_based_id(namespace, name)
    assert made == expected
    assert hash(made) == hash(expected)
    assert str(made) == str(expected)
    assert made.version == 5
    assert made.is_safe is expected.is_safe
    assert {made: 1}[expected] == 1


def test_a_reservation_id_is_cached_by_the_name_as_formatted() -> None:
    """A str enum equals its value but formats as its member's name: the cache must not
    hand one the other's id."""
    from enum import Enum

    from domain.events.reservations import RESERVATIONS_NAMESPACE, reservation_id

    class Ref(str, Enum):  # noqa: UP042 # a StrEnum formats as its value: not the case here
        A = "C-1"

    plain = reservation_id("external_ref", "C-1")
    member = reservation_id("external_ref", Ref.A)
    assert plain == uuid.uuid5(RESERVATIONS_NAMESPACE, "external_ref\x1fC-1")
    assert member == uuid.uuid5(RESERVATIONS_NAMESPACE, f"external_ref\x1f{Ref.A}")
