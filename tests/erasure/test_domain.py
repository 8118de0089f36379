"""Given/when/then for erasure on the Customer aggregate: what it records, what it refuses
afterwards, and how it reaches the duplicates merged into a survivor."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest

from domain.aggregates.customer import Customer
from domain.errors import RuleViolation
from domain.events.customer import (
    CustomerPersonalDataErased,
    CustomerProfile,
    CustomerProfileUpdated,
    CustomerRegistered,
    CustomersMerged,
    LoyaltyPointsEarned,
)
from domain.personal_data import ERASED_NAME
from domain.values import Address, ContactPoints
from domain.vocabulary import CustomerKind
from tests.domain.scenario import context, event, given

PROFILE = CustomerProfile(
    kind=CustomerKind.INDIVIDUAL,
    name="Li Na",
    contact=ContactPoints(
        phone="+86 138 0013 8000", email="li.na@example.com", address=Address(line1="1 Road")
    ),
    birthday=date(1990, 4, 1),
    industry="retail",
)


def registered(customer_id: UUID, profile: CustomerProfile = PROFILE) -> CustomerRegistered:
    return event(CustomerRegistered, customer_id, 1, profile=profile)  # type: ignore[return-value]


def erased(customer_id: UUID, version: int) -> CustomerPersonalDataErased:
    return event(CustomerPersonalDataErased, customer_id, version, reason="DSR-1")  # type: ignore[return-value]


def test_erasure_records_the_event_and_blanks_the_personal_fields_only() -> None:
    cid = uuid4()
    scenario = given(Customer, registered(cid)).when(
        lambda c: c.erase_personal_data(context(), reason="DSR-1")
    )
    scenario.then((CustomerPersonalDataErased, {"reason": "DSR-1", "survivor_id": None}))
    customer = scenario.aggregate
    assert customer is not None
    assert customer.personal_data_erased
    assert customer.profile.name == ERASED_NAME
    assert customer.profile.contact == ContactPoints()
    assert customer.profile.birthday is None
    assert customer.profile.industry == "retail"  # not personal: kept
    assert customer.profile.kind is CustomerKind.INDIVIDUAL


def test_a_second_erasure_is_refused() -> None:
    cid = uuid4()
    given(Customer, registered(cid), erased(cid, 2)).when(
        lambda c: c.erase_personal_data(context(), reason="again")
    ).then_rejected("personal_data_erased", field="customer_id")


def test_after_erasure_no_personal_field_is_recorded_again() -> None:
    cid = uuid4()
    for field, value in (
        ("email", None),
        ("contact", ContactPoints(email="new@example.com")),
        ("name", "Li Na"),
        ("birthday", date(1991, 1, 1)),
    ):
        changes = {field: value} if field != "email" else {"contact": ContactPoints()}
        expected_field = "contact" if field == "email" else field
        given(Customer, registered(cid), erased(cid, 2)).when(
            lambda c, changes=changes: c.update_profile(context(), changes)
        ).then_rejected("personal_data_erased", field=expected_field)


def test_after_erasure_what_is_not_personal_still_changes() -> None:
    cid = uuid4()
    given(Customer, registered(cid), erased(cid, 2)).when(
        lambda c: c.update_profile(context(), {"industry": "logistics"})
    ).then((CustomerProfileUpdated, {"changed_fields": ("industry",), "industry": "logistics"}))
    given(Customer, registered(cid), erased(cid, 2)).when(
        lambda c: c.award_loyalty_points(context(), points=10)
    ).then((LoyaltyPointsEarned, {"points": 10, "balance_after": 10}))


def test_a_merged_duplicate_is_erased_through_its_survivor() -> None:
    survivor_id, duplicate_id = uuid4(), uuid4()
    merge = {"survivor_id": survivor_id, "duplicate_id": duplicate_id}
    duplicate_history = [
        registered(duplicate_id),
        event(CustomersMerged, duplicate_id, 2, **merge),
    ]
    given(Customer, *duplicate_history).when(
        lambda c: c.erase_personal_data(context(), reason="DSR-2")
    ).then_rejected("customer_merged", field="customer_id")

    survivor = Customer.replay(
        [registered(survivor_id), event(CustomersMerged, survivor_id, 2, **merge)]
    )
    assert survivor.erase_personal_data(context(), reason="DSR-2") == [duplicate_id]
    duplicate = Customer.replay(duplicate_history)
    assert duplicate.erase_as_duplicate(context(), survivor_id=survivor_id, reason="DSR-2") == []
    (recorded,) = duplicate.collect_events()
    assert isinstance(recorded, CustomerPersonalDataErased)
    assert recorded.survivor_id == survivor_id
    assert duplicate.personal_data_erased and duplicate.profile.name == ERASED_NAME
    # reached a second time, it records nothing more
    assert duplicate.erase_as_duplicate(context(), survivor_id=survivor_id, reason="x") == []
    assert duplicate.collect_events() == []


def test_no_personal_value_is_merged_into_or_out_of_an_erased_record() -> None:
    survivor_id, duplicate_id = uuid4(), uuid4()
    other = CustomerProfile(kind=CustomerKind.INDIVIDUAL, name="Li Na (shop)")
    for erased_side, field in (("survivor", "survivor_id"), ("duplicate", "field_choices")):
        survivor = Customer.replay(
            [
                registered(survivor_id),
                *([erased(survivor_id, 2)] if erased_side == "survivor" else []),
            ]
        )
        duplicate = Customer.replay(
            [
                registered(duplicate_id, other),
                *([erased(duplicate_id, 2)] if erased_side == "duplicate" else []),
            ]
        )
        with pytest.raises(RuleViolation) as refused:
            survivor.absorb(context(), duplicate, {"name": "duplicate"})
        assert (refused.value.rule, refused.value.field) == ("personal_data_erased", field)
        assert survivor.pending_events == () and duplicate.pending_events == ()
    # An erased survivor takes no duplicate that still has personal data, whatever it
    # takes: that data could never be erased after (the survivor refuses a second erasure).
    survivor = Customer.replay([registered(survivor_id), erased(survivor_id, 2)])
    live = Customer.replay([registered(duplicate_id, other)])
    with pytest.raises(RuleViolation) as refused:
        survivor.absorb(context(), live, {"industry": "duplicate"})
    assert (refused.value.rule, refused.value.field) == ("personal_data_erased", "survivor_id")
    # what is not personal still merges from an erased duplicate
    survivor = Customer.replay([registered(survivor_id)])
    duplicate = Customer.replay([registered(duplicate_id, other), erased(duplicate_id, 2)])
    survivor.absorb(context(), duplicate, {"industry": "duplicate"})
    assert [type(e) for e in survivor.collect_events()] == [CustomersMerged]
