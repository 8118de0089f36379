"""What each projection declares it reads of a customer's personal data is all it is given
decrypted (the rebuild property test checks that it needs no more); a misspelt
declaration is refused before it can withhold anything."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import ClassVar

import pytest

from adapters.projection_runner import ProjectionRunner
from application import CRM
from domain.aggregates.customer import Customer
from domain.events.base import DomainEvent
from domain.events.customer import CustomerRegistered
from domain.personal_data import ERASED_NAME, PROFILE_PATHS
from projections import all_projections
from projections.base import Projection, RowStore, personal_values_read
from projections.follow_ups import FollowUpsProjection
from projections.lifecycle import CustomerLifecycleProjection
from tests.application.builders import register


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


# ---- what the runner gives a projection -------------------------------------------------

SEEN: dict[str, list[DomainEvent]] = {}


class SeesBirthdays(Projection):
    """Keeps the registrations it is given, and those it reads back from the log."""

    name = "sees_birthdays"
    version = 1
    tables = ()
    handles = CustomerRegistered
    personal_values: ClassVar[frozenset[str] | None] = frozenset({"birthday"})

    def apply(self, events: Sequence[DomainEvent], rows: RowStore) -> None:
        SEEN.setdefault(self.name, []).extend(events)
        SEEN.setdefault(f"{self.name} read back", []).extend(
            rows.events_at([(e.aggregate_id, e.version) for e in events])
        )


class SeesEverything(SeesBirthdays):
    name = "sees_everything"
    personal_values = None


def test_the_runner_decrypts_for_a_projection_only_what_it_reads_and_all_for_one_that_says_nothing(
    crm: CRM,
) -> None:
    SEEN.clear()
    register(crm, kind="individual", name="Chen Jie", email="chen@example.com",
             birthday=date(1988, 2, 29))  # fmt: skip
    crm.read_models.catch_up()

    ProjectionRunner(crm.store, [SeesBirthdays()]).catch_up()
    ProjectionRunner(crm.store, [SeesEverything()]).catch_up()

    for seen in ("sees_birthdays", "sees_birthdays read back"):
        (withheld,) = SEEN[seen]
        assert isinstance(withheld, CustomerRegistered)
        assert withheld.profile.birthday == date(1988, 2, 29)
        assert (withheld.profile.name, withheld.profile.contact.email) == (ERASED_NAME, None)
    for seen in ("sees_everything", "sees_everything read back"):
        (clear,) = SEEN[seen]
        assert isinstance(clear, CustomerRegistered)
        assert (clear.profile.name, clear.profile.contact.email) == ("Chen Jie", "chen@example.com")
    # Withholding is not erasing: the model built by the built-in projections has the name.
    customer = crm.load(Customer, withheld.aggregate_id)
    assert customer.profile.name == "Chen Jie"


def test_a_lifecycle_query_reads_back_events_as_the_projection_s_batches_do(crm: CRM) -> None:
    """The query shares the projection's memory of events: what it reads back there must
    not hold more (or less) than the batches would have."""
    customer_id = register(crm, kind="individual", name="Chen Jie", email="chen@example.com")
    crm.read_models.catch_up()
    projection = crm.read_models.runner.projections["customer_lifecycle"]
    assert isinstance(projection, CustomerLifecycleProjection)
    projection._forget()  # as after a restart: events are read back

    crm.read_models.lifecycle(customer_id)

    (remembered,) = projection._decoded.values()  # the shared memory itself
    assert isinstance(remembered, CustomerRegistered)
    assert remembered.profile.name == "Chen Jie"
    assert remembered.profile.contact.email is None
