"""What each projection declares it reads of a customer's personal data is all it is given
decrypted (the rebuild property test checks that it needs no more); a misspelt
declaration is refused before it can withhold anything."""

from __future__ import annotations

from typing import ClassVar

import pytest

from domain.personal_data import PROFILE_PATHS
from projections import all_projections
from projections.base import Projection, personal_values_read
from projections.follow_ups import FollowUpsProjection
from projections.lifecycle import CustomerLifecycleProjection


def test_built_in_projections_read_only_the_name_and_the_birthday() -> None:
    declared = {p.name: p.personal_values for p in all_projections()}
    assert declared.pop(CustomerLifecycleProjection.name) == {"name"}
    assert declared.pop(FollowUpsProjection.name) == {"birthday"}
    assert set(declared.values()) == {frozenset()}
    assert personal_values_read(all_projections()) == {"name", "birthday"}


def test_one_projection_reading_every_value_makes_a_batch_decrypt_every_value() -> None:
    class Host(FollowUpsProjection):
        personal_values: ClassVar[frozenset[str] | None] = None

    assert personal_values_read([*all_projections(), Host()]) is None
    assert personal_values_read([]) == frozenset()


def test_a_value_that_is_no_personal_value_is_refused_by_name() -> None:
    class Misspelt(FollowUpsProjection):
        name = "misspelt"
        personal_values = frozenset({"birthday", "contact.mail"})

    with pytest.raises(ValueError, match=r"misspelt\.personal_values .*'contact\.mail'") as e:
        personal_values_read([Misspelt()])
    assert all(path in str(e.value) for path in PROFILE_PATHS)


def test_the_base_class_reads_everything_unless_told() -> None:
    assert Projection.personal_values is None
