"""Given/when/then for merging duplicate customers (``CustomersMerged``, DESIGN §2.1).

A merge touches two streams: each test replays both customers from their past events,
asks the survivor to absorb the duplicate, and checks the events recorded on each stream,
or the rule that refused it (with nothing recorded on either).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from domain.aggregates.complaint import Complaint
from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity
from domain.aggregates.order import Order
from domain.complaint_vocabulary import ComplaintCategory, ComplaintSeverity
from domain.errors import RuleViolation
from domain.events.base import DomainEvent
from domain.events.customer import (
    CustomerProfile,
    CustomerRegistered,
    CustomersMerged,
    DimensionScore,
    FollowUpCompleted,
    FollowUpScheduled,
    LoyaltyPointsEarned,
    MovedFollowUp,
    ProfileValues,
    SatisfactionSurveyed,
)
from domain.events.order import OrderLine, OrderStatus, OrderType
from domain.sla import DEFAULT_SLA_POLICY
from domain.values import ContactPoints, Money
from domain.vocabulary import (
    ContactChannel,
    ContactDirection,
    CustomerKind,
    FollowUpPurpose,
    SatisfactionDimension,
    SatisfactionLevel,
)
from tests.domain.scenario import NOW, context, event, new_id

REGISTERED_AT = NOW - timedelta(days=60)
EARLIER = NOW - timedelta(days=20)
DUE = NOW + timedelta(days=7)

SURVIVOR_PROFILE = CustomerProfile(
    kind=CustomerKind.INDIVIDUAL,
    name="Wang Fang",
    contact=ContactPoints(phone="+86 10 1234 5678"),
    region="north",
    industry="retail",
)
DUPLICATE_PROFILE = CustomerProfile(
    kind=CustomerKind.INDIVIDUAL,
    name="Wang Fang (web shop)",
    contact=ContactPoints(email="wang.fang@example.com"),
    birthday=date(1985, 6, 15),
    region="north",
)


def registered(customer_id: UUID, profile: CustomerProfile) -> DomainEvent:
    return event(CustomerRegistered, customer_id, 1, at=REGISTERED_AT, profile=profile)


def customer(
    customer_id: UUID, profile: CustomerProfile, *later: Callable[[UUID, int], DomainEvent]
) -> Customer:
    history = [registered(customer_id, profile)]
    history += [make(customer_id, version) for version, make in enumerate(later, start=2)]
    return Customer.replay(history)


def points(amount: int, balance: int) -> Callable[[UUID, int], DomainEvent]:
    return lambda cid, v: event(
        LoyaltyPointsEarned, cid, v, at=EARLIER, points=amount, balance_after=balance
    )


def follow_up(follow_up_id: UUID) -> Callable[[UUID, int], DomainEvent]:
    return lambda cid, v: event(
        FollowUpScheduled,
        cid,
        v,
        at=EARLIER,
        follow_up_id=follow_up_id,
        purpose=FollowUpPurpose.REVISIT,
        due_at=DUE,
    )


def completed(follow_up_id: UUID) -> Callable[[UUID, int], DomainEvent]:
    return lambda cid, v: event(FollowUpCompleted, cid, v, at=EARLIER, follow_up_id=follow_up_id)


def surveyed(survey_id: UUID) -> Callable[[UUID, int], DomainEvent]:
    return lambda cid, v: event(
        SatisfactionSurveyed,
        cid,
        v,
        at=EARLIER,
        survey_id=survey_id,
        scores=(DimensionScore(dimension=SatisfactionDimension.SERVICE, expected=5, perceived=7),),
        gap=Decimal("2.00"),
        level=SatisfactionLevel.DELIGHTED,
    )


def merged_pair() -> tuple[Customer, Customer]:
    """X has absorbed Y; both replayed from the events the merge recorded."""
    survivor, duplicate = two_customers()
    survivor.absorb(context(), duplicate, {})
    return (
        Customer.replay([registered(survivor.id, SURVIVOR_PROFILE), *survivor.collect_events()]),
        Customer.replay([registered(duplicate.id, DUPLICATE_PROFILE), *duplicate.collect_events()]),
    )


def two_customers() -> tuple[Customer, Customer]:
    return customer(new_id(), SURVIVOR_PROFILE), customer(new_id(), DUPLICATE_PROFILE)


def refused(run: Callable[[], Any], *aggregates: Customer) -> RuleViolation:
    with pytest.raises(RuleViolation) as info:
        run()
    for aggregate in aggregates:
        assert not aggregate.pending_events
    return info.value


# ---- the merge ------------------------------------------------------------------------


class TestMerge:
    def test_one_event_with_one_payload_on_each_stream(self) -> None:
        survivor, duplicate = two_customers()
        survivor.absorb(context(command_id="merge-1"), duplicate, {"name": "survivor"})
        (on_survivor,) = survivor.collect_events()
        (on_duplicate,) = duplicate.collect_events()
        assert isinstance(on_survivor, CustomersMerged)
        assert isinstance(on_duplicate, CustomersMerged)
        assert (on_survivor.aggregate_id, on_survivor.version) == (survivor.id, 2)
        assert (on_duplicate.aggregate_id, on_duplicate.version) == (duplicate.id, 2)
        assert on_survivor.payload() == on_duplicate.payload()
        assert (on_survivor.survivor_id, on_survivor.duplicate_id) == (survivor.id, duplicate.id)
        assert on_survivor.on_survivor and not on_duplicate.on_survivor
        assert {e.command_id for e in (on_survivor, on_duplicate)} == {"merge-1"}
        assert {e.occurred_at for e in (on_survivor, on_duplicate)} == {NOW}

    def test_the_chosen_values_are_recorded_and_the_survivor_applies_them(self) -> None:
        survivor, duplicate = two_customers()
        choices: dict[Any, Any] = {
            "contact": "duplicate",
            "birthday": "duplicate",
            "industry": "duplicate",  # the duplicate has none: the survivor's is cleared
            "region": "duplicate",  # the same value on both: nothing taken
            "name": "survivor",
        }
        survivor.absorb(context(), duplicate, choices)
        (merged,) = survivor.collect_events()
        assert isinstance(merged, CustomersMerged)
        assert merged.field_choices == choices
        assert merged.taken == ProfileValues(
            fields=("contact", "birthday", "industry"),
            contact=ContactPoints(email="wang.fang@example.com"),
            birthday=date(1985, 6, 15),
        )
        assert survivor.profile == SURVIVOR_PROFILE.model_copy(
            update={
                "contact": ContactPoints(email="wang.fang@example.com"),
                "birthday": date(1985, 6, 15),
                "industry": None,
            }
        )
        # Replaying the survivor's stream alone gives the same profile.
        replayed = Customer.replay([registered(survivor.id, SURVIVOR_PROFILE), merged])
        assert replayed.profile == survivor.profile

    def test_with_no_choices_the_survivor_keeps_its_whole_profile(self) -> None:
        survivor, duplicate = merged_pair()
        assert survivor.profile == SURVIVOR_PROFILE
        assert duplicate.profile == DUPLICATE_PROFILE  # its history stays readable

    def test_points_open_follow_ups_surveys_and_referrals_move_to_the_survivor(self) -> None:
        open_one, done_one, survey, referred = new_id(), new_id(), new_id(), new_id()
        survivor = customer(new_id(), SURVIVOR_PROFILE, points(30, 30))
        duplicate = customer(
            new_id(),
            DUPLICATE_PROFILE,
            points(120, 120),
            follow_up(open_one),
            follow_up(done_one),
            completed(done_one),
            surveyed(survey),
        )
        duplicate.referred_customers.add(referred)
        survivor.absorb(context(), duplicate, {})
        (merged,) = survivor.collect_events()
        assert isinstance(merged, CustomersMerged)
        assert merged.loyalty_points == 120
        assert merged.follow_ups == (
            MovedFollowUp(follow_up_id=open_one, purpose=FollowUpPurpose.REVISIT, due_at=DUE),
        )
        assert merged.survey_ids == (survey,)
        assert merged.referred_customer_ids == (referred,)
        assert survivor.loyalty_points == 150
        assert duplicate.loyalty_points == 0
        assert survivor.survey_ids == {survey}
        assert survivor.referred_customers == {referred}
        # The moved follow-up is the survivor's to complete now.
        survivor.complete_follow_up(context(), follow_up_id=open_one)
        assert isinstance(survivor.collect_events()[0], FollowUpCompleted)
        # A moved survey id stays unique on the survivor.
        error = refused(
            lambda: survivor.record_satisfaction_survey(
                context(),
                survey_id=survey,
                scores=(
                    DimensionScore(
                        dimension=SatisfactionDimension.SERVICE, expected=5, perceived=5
                    ),
                ),
            ),
            survivor,
        )
        assert (error.rule, error.field) == ("survey_id_unique", "survey_id")

    def test_replay_marks_the_duplicate_merged_and_the_survivor_absorbing(self) -> None:
        survivor, duplicate = merged_pair()
        assert duplicate.is_merged and duplicate.merged_into == survivor.id
        assert not survivor.is_merged and survivor.absorbed == [duplicate.id]


# ---- refusals -------------------------------------------------------------------------


class TestMergeRefused:
    def test_not_into_itself(self) -> None:
        survivor, _ = two_customers()
        error = refused(lambda: survivor.absorb(context(), survivor, {}), survivor)
        assert (error.rule, error.field) == ("merge_not_into_itself", "duplicate_id")

    def test_a_merged_duplicate_cannot_be_merged_again(self) -> None:
        _, duplicate = merged_pair()
        other = customer(new_id(), SURVIVOR_PROFILE)
        error = refused(lambda: other.absorb(context(), duplicate, {}), other, duplicate)
        assert (error.rule, error.field) == ("customer_merged", "duplicate_id")

    def test_nothing_merges_into_a_merged_customer(self) -> None:
        _, duplicate = merged_pair()
        other = customer(new_id(), SURVIVOR_PROFILE)
        error = refused(lambda: duplicate.absorb(context(), other, {}), other, duplicate)
        assert (error.rule, error.field) == ("customer_merged", "survivor_id")

    def test_an_unknown_profile_field_is_refused(self) -> None:
        survivor, duplicate = two_customers()
        error = refused(
            lambda: survivor.absorb(context(), duplicate, {"shoe_size": "duplicate"}),  # type: ignore[dict-item]
            survivor,
            duplicate,
        )
        assert (error.rule, error.field) == ("profile_field_known", "shoe_size")

    def test_a_side_other_than_survivor_or_duplicate_is_refused(self) -> None:
        survivor, duplicate = two_customers()
        error = refused(
            lambda: survivor.absorb(context(), duplicate, {"name": "both"}),  # type: ignore[dict-item]
            survivor,
            duplicate,
        )
        assert (error.rule, error.field) == ("merge_side_known", "name")

    def test_the_merge_cannot_be_dated_before_either_streams_last_event(self) -> None:
        survivor, _ = two_customers()
        late = customer(new_id(), DUPLICATE_PROFILE, points(5, 5))  # last event at EARLIER
        before = context(occurred_at=EARLIER - timedelta(days=1))
        error = refused(lambda: survivor.absorb(before, late, {}), survivor, late)
        assert (error.rule, error.field) == ("occurred_at_in_order", "occurred_at")

    def test_the_event_itself_refuses_a_merge_into_itself_or_on_a_third_stream(self) -> None:
        a, b = new_id(), new_id()
        with pytest.raises(ValidationError, match="into itself"):
            event(CustomersMerged, a, 2, survivor_id=a, duplicate_id=a)
        with pytest.raises(ValidationError, match="survivor's or the duplicate's stream"):
            event(CustomersMerged, new_id(), 2, survivor_id=a, duplicate_id=b)


# ---- a merged customer's stream is closed ---------------------------------------------

LINE = OrderLine(sku="S-1", name="Shelf", quantity=Decimal(1), unit_price=Decimal("10.00"))

CLOSED_COMMANDS: dict[str, Callable[[Customer], object]] = {
    "update_profile": lambda c: c.update_profile(context(), {"region": "south"}),
    "record_contact": lambda c: c.record_contact(
        context(), channel=ContactChannel.PHONE, direction=ContactDirection.INBOUND, summary="hi"
    ),
    "schedule_follow_up": lambda c: c.schedule_follow_up(
        context(), follow_up_id=new_id(), purpose=FollowUpPurpose.REVISIT, due_at=DUE
    ),
    "award_loyalty_points": lambda c: c.award_loyalty_points(context(), points=10),
    "redeem_loyalty_points": lambda c: c.redeem_loyalty_points(context(), points=10),
    "join_membership": lambda c: c.join_membership(context()),
    "record_referral": lambda c: c.record_referral(context(), referred_customer_id=new_id()),
    "disqualify": lambda c: c.disqualify(context(), reason="duplicate"),
    # Would be refused by requalify_only_disqualified otherwise: the closed stream comes first.
    "requalify": lambda c: c.requalify(context()),
    "record_satisfaction_survey": lambda c: c.record_satisfaction_survey(
        context(),
        survey_id=new_id(),
        scores=(DimensionScore(dimension=SatisfactionDimension.SERVICE, expected=5, perceived=5),),
    ),
}


@pytest.mark.parametrize("command", list(CLOSED_COMMANDS), ids=str)
def test_every_command_on_a_merged_customer_is_refused(command: str) -> None:
    _, duplicate = merged_pair()
    error = refused(lambda: CLOSED_COMMANDS[command](duplicate), duplicate)
    assert (error.rule, error.field) == ("customer_merged", "customer_id")
    assert str(duplicate.merged_into) in error.message


def test_the_survivor_stays_open() -> None:
    survivor, _ = merged_pair()
    survivor.record_contact(
        context(), channel=ContactChannel.PHONE, direction=ContactDirection.INBOUND, summary="hi"
    )
    assert len(survivor.collect_events()) == 1


OTHER_AGGREGATES: dict[str, Callable[[Customer], object]] = {
    "draft_order": lambda c: Order.draft(
        context(),
        order_id=new_id(),
        customer=c,
        order_type=OrderType.STANDARD,
        lines=(LINE,),
        currency="CNY",
    ),
    "import_order": lambda c: Order.import_history(
        context(),
        order_id=new_id(),
        customer=c,
        order_type=OrderType.STANDARD,
        lines=(LINE,),
        currency="CNY",
        status=OrderStatus.APPROVED,
        approved_at=EARLIER,
        import_batch_id="b-1",
    ),
    "open_opportunity": lambda c: Opportunity.open(
        context(),
        opportunity_id=new_id(),
        customer=c,
        title="Shelving",
        estimated_value=Money(amount=Decimal(100), currency="CNY"),
    ),
    "file_complaint": lambda c: Complaint.file(
        context(),
        complaint_id=new_id(),
        customer=c,
        channel=ContactChannel.PHONE,
        category=ComplaintCategory.PRODUCT,
        severity=ComplaintSeverity.LOW,
        description="bent",
        policy=DEFAULT_SLA_POLICY,
    ),
}


@pytest.mark.parametrize("command", list(OTHER_AGGREGATES), ids=str)
def test_orders_opportunities_and_complaints_naming_a_merged_customer_are_refused(
    command: str,
) -> None:
    _, duplicate = merged_pair()
    error = refused(lambda: OTHER_AGGREGATES[command](duplicate))
    assert (error.rule, error.field) == ("customer_merged", "customer_id")


@pytest.mark.parametrize("command", list(OTHER_AGGREGATES), ids=str)
def test_they_are_accepted_for_the_survivor(command: str) -> None:
    survivor, _ = merged_pair()
    recorded = OTHER_AGGREGATES[command](survivor)
    assert recorded is not None
