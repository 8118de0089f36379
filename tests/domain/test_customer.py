"""Given/when/then tests over events for the Customer aggregate (客户档案).

Every command method of ``Customer`` and every ``RuleViolation`` it can raise, checked on
the events it records (types *and* payload fields), never on private state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from domain.aggregates.customer import Customer
from domain.events.base import DomainEvent
from domain.events.customer import (
    CustomerContacted,
    CustomerDisqualified,
    CustomerProfile,
    CustomerProfileUpdated,
    CustomerReferred,
    CustomerRegistered,
    CustomerRequalified,
    DimensionScore,
    FollowUpCompleted,
    FollowUpMissed,
    FollowUpScheduled,
    LoyaltyPointsEarned,
    LoyaltyPointsRedeemed,
    MembershipJoined,
    MembershipLeft,
    RelationshipTierChanged,
    SatisfactionSurveyed,
)
from domain.satisfaction import displayed_gap, satisfaction_level
from domain.values import Address, ContactPoints
from domain.vocabulary import (
    ContactChannel,
    ContactDirection,
    ContactOutcome,
    CustomerKind,
    FollowUpPurpose,
    ManagementClass,
    MarketingType,
    RelationshipTier,
    SatisfactionDimension,
    SatisfactionLevel,
)
from tests.domain.scenario import ACTOR, NOW, Scenario, context, event, given, new_id

# Past events happen before NOW, so that "set back" business times can be tested against them.
REGISTERED_AT = NOW - timedelta(days=30)
LATER = NOW - timedelta(days=10)

CONTACT = ContactPoints(phone="+86 10 1234 5678", email="wang.fang@example.com")
PROFILE = CustomerProfile(
    kind=CustomerKind.INDIVIDUAL,
    name="Wang Fang",
    contact=CONTACT,
    birthday=date(1985, 6, 15),
    industry="retail",
    region="north",
    attributes={"vip": "yes"},
    management_class=ManagementClass.POTENTIAL,
    marketing_type=MarketingType.ECONOMIC,
)


def registered(
    customer_id: UUID,
    *,
    profile: CustomerProfile = PROFILE,
    tier: RelationshipTier = RelationshipTier.TRANSACTIONAL,
    at: datetime = REGISTERED_AT,
) -> DomainEvent:
    return event(CustomerRegistered, customer_id, 1, at=at, profile=profile, tier=tier)


def disqualified(customer_id: UUID, version: int = 2) -> DomainEvent:
    return event(CustomerDisqualified, customer_id, version, at=LATER, reason="fraudulent orders")


def score(dimension: SatisfactionDimension, expected: int, perceived: int) -> DimensionScore:
    return DimensionScore(dimension=dimension, expected=expected, perceived=perceived)


D = SatisfactionDimension
# The seeds' six factors, without the overall score.
SIX_DIMENSIONS = tuple(d for d in SatisfactionDimension if d is not D.OVERALL)


# ---- replay ---------------------------------------------------------------------------


class TestReplay:
    def test_a_stream_that_does_not_start_with_customer_registered_is_rejected(self) -> None:
        cid = new_id()
        with pytest.raises(ValueError, match="it is not a customer"):
            Customer.replay([event(MembershipJoined, cid, 1)])

    def test_an_empty_stream_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="no events"):
            Customer.replay([])

    def test_a_stream_with_a_version_gap_is_rejected(self) -> None:
        cid = new_id()
        with pytest.raises(ValueError, match="does not follow"):
            Customer.replay([registered(cid), event(MembershipJoined, cid, 3)])

    def test_an_event_of_another_aggregate_is_rejected(self) -> None:
        cid = new_id()
        with pytest.raises(ValueError, match="does not follow"):
            Customer.replay([registered(cid), event(MembershipJoined, new_id(), 2)])


# ---- register -------------------------------------------------------------------------


class TestRegister:
    def test_registering_records_the_profile_tier_and_external_ref(self) -> None:
        cid = new_id()
        (registered_event,) = (
            Scenario(Customer)
            .when_created(
                lambda: Customer.register(
                    context(command_id="cmd-1"),
                    customer_id=cid,
                    profile=PROFILE,
                    tier=RelationshipTier.PARTNER,
                    external_ref="legacy:42",
                )
            )
            .then(
                (
                    CustomerRegistered,
                    {
                        "profile": PROFILE,
                        "tier": RelationshipTier.PARTNER,
                        "external_ref": "legacy:42",
                    },
                )
            )
        )
        assert registered_event.aggregate_id == cid
        assert registered_event.version == 1
        assert registered_event.recorded_at == NOW
        assert registered_event.occurred_at == NOW
        assert registered_event.actor_id == ACTOR
        assert registered_event.command_id == "cmd-1"

    def test_registering_defaults_to_a_transactional_tier_and_no_external_ref(self) -> None:
        profile = CustomerProfile(kind=CustomerKind.COMPANY, name="Huaxin Trading Co.")
        Scenario(Customer).when_created(
            lambda: Customer.register(context(), customer_id=new_id(), profile=profile)
        ).then(
            (
                CustomerRegistered,
                {
                    "profile": profile,
                    "tier": RelationshipTier.TRANSACTIONAL,
                    "external_ref": None,
                },
            )
        )

    def test_an_imported_registration_keeps_its_business_time(self) -> None:
        in_1997 = datetime(1997, 5, 4, 8, 0, tzinfo=UTC)
        (registered_event,) = (
            Scenario(Customer)
            .when_created(
                lambda: Customer.register(
                    context(occurred_at=in_1997), customer_id=new_id(), profile=PROFILE
                )
            )
            .then((CustomerRegistered, {"profile": PROFILE}))
        )
        assert registered_event.occurred_at == in_1997
        assert registered_event.recorded_at == NOW

    def test_a_birthday_today_is_accepted(self) -> None:
        profile = PROFILE.model_copy(update={"birthday": NOW.date()})
        Scenario(Customer).when_created(
            lambda: Customer.register(context(), customer_id=new_id(), profile=profile)
        ).then((CustomerRegistered, {"profile": profile}))

    def test_a_birthday_in_the_future_is_rejected(self) -> None:
        profile = PROFILE.model_copy(update={"birthday": NOW.date() + timedelta(days=1)})
        Scenario(Customer).when_created(
            lambda: Customer.register(context(), customer_id=new_id(), profile=profile)
        ).then_rejected("birthday_not_in_future", field="birthday")

    def test_a_birthday_after_the_business_time_of_an_import_is_rejected(self) -> None:
        profile = PROFILE.model_copy(update={"birthday": date(2000, 1, 1)})
        in_1997 = datetime(1997, 5, 4, tzinfo=UTC)
        Scenario(Customer).when_created(
            lambda: Customer.register(
                context(occurred_at=in_1997), customer_id=new_id(), profile=profile
            )
        ).then_rejected("birthday_not_in_future", field="birthday")

    def test_a_birthday_in_1800_is_rejected_as_out_of_range(self) -> None:
        profile = PROFILE.model_copy(update={"birthday": date(1800, 1, 1)})
        Scenario(Customer).when_created(
            lambda: Customer.register(context(), customer_id=new_id(), profile=profile)
        ).then_rejected("date_out_of_range", field="birthday")

    def test_a_birthday_on_the_first_plausible_day_is_accepted(self) -> None:
        profile = PROFILE.model_copy(update={"birthday": date(1900, 1, 1)})
        Scenario(Customer).when_created(
            lambda: Customer.register(context(), customer_id=new_id(), profile=profile)
        ).then((CustomerRegistered, {"profile": profile}))

    def test_a_registration_with_business_time_in_the_future_is_rejected(self) -> None:
        Scenario(Customer).when_created(
            lambda: Customer.register(
                context(occurred_at=NOW + timedelta(seconds=1)),
                customer_id=new_id(),
                profile=PROFILE,
            )
        ).then_rejected("occurred_at_not_in_future", field="occurred_at")


# ---- update_profile -------------------------------------------------------------------


class TestUpdateProfile:
    def test_only_the_fields_that_really_change_are_recorded(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(
                context(), {"industry": "retail", "region": "south", "name": "Wang Fang"}
            )
        ).then(
            (
                CustomerProfileUpdated,
                {
                    "changed_fields": ("region",),
                    "region": "south",
                    "industry": None,
                    "name": None,
                },
            )
        )

    def test_changed_fields_are_listed_in_profile_order(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(
                context(),
                {
                    "marketing_type": MarketingType.CONVENIENCE,
                    "kind": CustomerKind.COMPANY,
                    "owner_id": "rep-7",
                },
            )
        ).then(
            (
                CustomerProfileUpdated,
                {
                    "changed_fields": ("kind", "owner_id", "marketing_type"),
                    "kind": CustomerKind.COMPANY,
                    "owner_id": "rep-7",
                    "marketing_type": MarketingType.CONVENIENCE,
                },
            )
        )

    def test_clearing_an_optional_field_lists_it_without_a_value(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"region": None})
        ).then((CustomerProfileUpdated, {"changed_fields": ("region",), "region": None}))

    def test_clearing_the_birthday_is_recorded(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"birthday": None})
        ).then((CustomerProfileUpdated, {"changed_fields": ("birthday",), "birthday": None}))

    def test_clearing_the_contact_points_empties_them(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"contact": None})
        ).then((CustomerProfileUpdated, {"changed_fields": ("contact",), "contact": None}))

    def test_clearing_the_attributes_empties_them(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"attributes": None})
        ).then((CustomerProfileUpdated, {"changed_fields": ("attributes",), "attributes": None}))

    def test_setting_the_attributes_to_empty_counts_as_clearing_them(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"attributes": {}})
        ).then((CustomerProfileUpdated, {"changed_fields": ("attributes",), "attributes": None}))

    def test_a_contact_change_records_the_new_contact_points(self) -> None:
        cid = new_id()
        new_contact = CONTACT.model_copy(
            update={"address": Address(line1="1 Chang'an Ave", city="Beijing", country="CN")}
        )
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"contact": new_contact})
        ).then(
            (
                CustomerProfileUpdated,
                {"changed_fields": ("contact",), "contact": new_contact, "name": None},
            )
        )

    def test_a_contact_given_as_a_mapping_is_validated_and_recorded(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"contact": {"email": "WANG@Example.com"}})
        ).then(
            (
                CustomerProfileUpdated,
                {
                    "changed_fields": ("contact",),
                    "contact": ContactPoints(email="wang@example.com"),
                },
            )
        )

    def test_a_new_birthday_is_recorded(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"birthday": date(1986, 7, 1)})
        ).then(
            (
                CustomerProfileUpdated,
                {"changed_fields": ("birthday",), "birthday": date(1986, 7, 1)},
            )
        )

    def test_an_update_that_changes_nothing_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"industry": "retail", "region": "north"})
        ).then_rejected("profile_update_changes_something")

    def test_an_empty_update_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {})
        ).then_rejected("profile_update_changes_something")

    def test_a_value_that_normalises_to_the_current_one_changes_nothing(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(
                context(),
                {
                    "name": "  Wang Fang ",
                    "contact": {**CONTACT.model_dump(), "email": "WANG.FANG@example.com"},
                },
            )
        ).then_rejected("profile_update_changes_something")

    def test_clearing_an_already_empty_field_changes_nothing(self) -> None:
        cid = new_id()
        profile = CustomerProfile(kind=CustomerKind.COMPANY, name="Huaxin Trading Co.")
        given(Customer, registered(cid, profile=profile)).when(
            lambda c: c.update_profile(
                context(), {"contact": None, "attributes": None, "size": None}
            )
        ).then_rejected("profile_update_changes_something")

    def test_an_earlier_update_is_part_of_the_current_profile(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            event(
                CustomerProfileUpdated, cid, 2, at=LATER, changed_fields=("region",), region="south"
            ),
        ).when(lambda c: c.update_profile(context(), {"region": "south"})).then_rejected(
            "profile_update_changes_something"
        )

    def test_earlier_cleared_contact_and_attributes_read_back_as_empty(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            event(
                CustomerProfileUpdated,
                cid,
                2,
                at=LATER,
                changed_fields=("contact", "attributes"),
            ),
        ).when(
            lambda c: c.update_profile(context(), {"contact": ContactPoints(), "attributes": {}})
        ).then_rejected("profile_update_changes_something")

    def test_clearing_the_name_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"name": None})
        ).then_rejected("profile_field_required", field="name")

    def test_clearing_the_kind_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"kind": None, "region": "south"})
        ).then_rejected("profile_field_required", field="kind")

    def test_an_unknown_field_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"nickname": "Fangfang", "region": "south"})
        ).then_rejected("profile_field_known", field="nickname")

    def test_an_envelope_field_is_not_a_profile_field(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"tier": RelationshipTier.PARTNER})
        ).then_rejected("profile_field_known", field="tier")

    def test_a_birthday_in_the_future_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"birthday": date(2026, 3, 2)})
        ).then_rejected("birthday_not_in_future", field="birthday")

    def test_a_birthday_in_1800_is_rejected_as_out_of_range(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.update_profile(context(), {"birthday": date(1800, 6, 15)})
        ).then_rejected("date_out_of_range", field="birthday")


# ---- record_contact -------------------------------------------------------------------


class TestRecordContact:
    def test_a_contact_is_recorded_with_channel_direction_summary_and_outcome(self) -> None:
        cid = new_id()
        opportunity_id = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.record_contact(
                context(),
                channel=ContactChannel.WECHAT,
                direction=ContactDirection.OUTBOUND,
                summary="Asked about the spring catalogue",
                outcome=ContactOutcome.INTERESTED,
                opportunity_id=opportunity_id,
            )
        ).then(
            (
                CustomerContacted,
                {
                    "channel": ContactChannel.WECHAT,
                    "direction": ContactDirection.OUTBOUND,
                    "summary": "Asked about the spring catalogue",
                    "outcome": ContactOutcome.INTERESTED,
                    "opportunity_id": opportunity_id,
                },
            )
        )

    def test_outcome_and_opportunity_are_optional(self) -> None:
        cid = new_id()
        (contacted,) = (
            given(Customer, registered(cid))
            .when(
                lambda c: c.record_contact(
                    context(),
                    channel=ContactChannel.PHONE,
                    direction=ContactDirection.INBOUND,
                    summary="Called about a late delivery",
                )
            )
            .then(
                (
                    CustomerContacted,
                    {"channel": ContactChannel.PHONE, "outcome": None, "opportunity_id": None},
                )
            )
        )
        assert contacted.version == 2

    def test_a_disqualified_customer_can_still_be_contacted(self) -> None:
        cid = new_id()
        given(Customer, registered(cid), disqualified(cid)).when(
            lambda c: c.record_contact(
                context(),
                channel=ContactChannel.EMAIL,
                direction=ContactDirection.INBOUND,
                summary="Asked why the account was closed",
            )
        ).then((CustomerContacted, {"channel": ContactChannel.EMAIL}))


# ---- follow-ups -----------------------------------------------------------------------


class TestScheduleFollowUp:
    def test_a_follow_up_is_scheduled_with_its_purpose_due_time_and_assignee(self) -> None:
        cid, fid = new_id(), new_id()
        due = NOW + timedelta(days=7)
        given(Customer, registered(cid)).when(
            lambda c: c.schedule_follow_up(
                context(),
                follow_up_id=fid,
                purpose=FollowUpPurpose.AFTER_SALE,
                due_at=due,
                assignee_id="rep-2",
                note="check the installation",
            )
        ).then(
            (
                FollowUpScheduled,
                {
                    "follow_up_id": fid,
                    "purpose": FollowUpPurpose.AFTER_SALE,
                    "due_at": due,
                    "assignee_id": "rep-2",
                    "note": "check the installation",
                },
            )
        )

    def test_the_due_time_is_stored_in_utc(self) -> None:
        cid, fid = new_id(), new_id()
        beijing = timezone(timedelta(hours=8))
        (scheduled,) = (
            given(Customer, registered(cid))
            .when(
                lambda c: c.schedule_follow_up(
                    context(),
                    follow_up_id=fid,
                    purpose=FollowUpPurpose.BIRTHDAY,
                    due_at=datetime(2026, 6, 15, 17, 0, tzinfo=beijing),
                )
            )
            .then(
                (
                    FollowUpScheduled,
                    {"due_at": datetime(2026, 6, 15, 9, 0, tzinfo=UTC), "assignee_id": None},
                )
            )
        )
        assert isinstance(scheduled, FollowUpScheduled)
        assert scheduled.due_at.utcoffset() == timedelta(0)

    def test_a_naive_due_time_is_refused(self) -> None:
        cid = new_id()
        scenario = given(Customer, registered(cid))
        with pytest.raises(ValueError, match="timezone-aware"):
            scenario.when(
                lambda c: c.schedule_follow_up(
                    context(),
                    follow_up_id=new_id(),
                    purpose=FollowUpPurpose.REVISIT,
                    due_at=datetime(2026, 4, 1, 9, 0),  # noqa: DTZ001 - naive on purpose
                )
            )

    def test_a_follow_up_due_right_now_is_accepted(self) -> None:
        cid, fid = new_id(), new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.schedule_follow_up(
                context(), follow_up_id=fid, purpose=FollowUpPurpose.REVISIT, due_at=NOW
            )
        ).then((FollowUpScheduled, {"due_at": NOW}))

    def test_a_follow_up_due_in_the_past_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.schedule_follow_up(
                context(),
                follow_up_id=new_id(),
                purpose=FollowUpPurpose.REVISIT,
                due_at=NOW - timedelta(minutes=1),
            )
        ).then_rejected("follow_up_due_not_in_past", field="due_at")

    def test_an_imported_follow_up_may_be_due_before_now_but_not_before_its_business_time(
        self,
    ) -> None:
        cid, fid = new_id(), new_id()
        imported_at = LATER + timedelta(days=1)
        due = imported_at + timedelta(days=2)
        (scheduled,) = (
            given(Customer, registered(cid))
            .when(
                lambda c: c.schedule_follow_up(
                    context(occurred_at=imported_at),
                    follow_up_id=fid,
                    purpose=FollowUpPurpose.HOLIDAY,
                    due_at=due,
                )
            )
            .then((FollowUpScheduled, {"follow_up_id": fid, "due_at": due}))
        )
        assert scheduled.occurred_at == imported_at
        given(Customer, registered(cid)).when(
            lambda c: c.schedule_follow_up(
                context(occurred_at=imported_at),
                follow_up_id=fid,
                purpose=FollowUpPurpose.HOLIDAY,
                due_at=imported_at - timedelta(seconds=1),
            )
        ).then_rejected("follow_up_due_not_in_past", field="due_at")

    def test_a_follow_up_due_after_2200_is_rejected_as_out_of_range(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.schedule_follow_up(
                context(),
                follow_up_id=new_id(),
                purpose=FollowUpPurpose.REVISIT,
                due_at=datetime(2201, 1, 1, tzinfo=UTC),
            )
        ).then_rejected("date_out_of_range", field="due_at")

    def test_a_duplicate_follow_up_id_is_rejected(self) -> None:
        cid, fid = new_id(), new_id()
        given(
            Customer,
            registered(cid),
            event(
                FollowUpScheduled,
                cid,
                2,
                at=LATER,
                follow_up_id=fid,
                purpose=FollowUpPurpose.REVISIT,
                due_at=NOW,
            ),
        ).when(
            lambda c: c.schedule_follow_up(
                context(),
                follow_up_id=fid,
                purpose=FollowUpPurpose.BIRTHDAY,
                due_at=NOW + timedelta(days=1),
            )
        ).then_rejected("follow_up_id_unique", field="follow_up_id")

    def test_the_id_of_a_completed_follow_up_cannot_be_reused(self) -> None:
        cid, fid = new_id(), new_id()
        given(
            Customer,
            registered(cid),
            event(
                FollowUpScheduled,
                cid,
                2,
                at=LATER,
                follow_up_id=fid,
                purpose=FollowUpPurpose.REVISIT,
                due_at=NOW,
            ),
            event(FollowUpCompleted, cid, 3, at=LATER, follow_up_id=fid),
        ).when(
            lambda c: c.schedule_follow_up(
                context(),
                follow_up_id=fid,
                purpose=FollowUpPurpose.REVISIT,
                due_at=NOW + timedelta(days=1),
            )
        ).then_rejected("follow_up_id_unique", field="follow_up_id")


def with_follow_up(cid: UUID, fid: UUID, *more: DomainEvent) -> Scenario[Customer]:
    return given(
        Customer,
        registered(cid),
        event(
            FollowUpScheduled,
            cid,
            2,
            at=LATER,
            follow_up_id=fid,
            purpose=FollowUpPurpose.REVISIT,
            due_at=NOW,
        ),
        *more,
    )


class TestCompleteFollowUp:
    def test_a_scheduled_follow_up_is_completed_with_a_note(self) -> None:
        cid, fid = new_id(), new_id()
        with_follow_up(cid, fid).when(
            lambda c: c.complete_follow_up(context(), follow_up_id=fid, note="all fine")
        ).then((FollowUpCompleted, {"follow_up_id": fid, "note": "all fine"}))

    def test_the_note_is_optional(self) -> None:
        cid, fid = new_id(), new_id()
        with_follow_up(cid, fid).when(
            lambda c: c.complete_follow_up(context(), follow_up_id=fid)
        ).then((FollowUpCompleted, {"follow_up_id": fid, "note": None}))

    def test_completing_an_unknown_follow_up_is_rejected(self) -> None:
        cid, fid = new_id(), new_id()
        with_follow_up(cid, fid).when(
            lambda c: c.complete_follow_up(context(), follow_up_id=new_id())
        ).then_rejected("follow_up_exists", field="follow_up_id")

    def test_completing_a_follow_up_twice_is_rejected(self) -> None:
        cid, fid = new_id(), new_id()
        with_follow_up(cid, fid, event(FollowUpCompleted, cid, 3, at=LATER, follow_up_id=fid)).when(
            lambda c: c.complete_follow_up(context(), follow_up_id=fid)
        ).then_rejected("follow_up_open", field="follow_up_id")

    def test_completing_a_missed_follow_up_is_rejected(self) -> None:
        cid, fid = new_id(), new_id()
        with_follow_up(cid, fid, event(FollowUpMissed, cid, 3, at=LATER, follow_up_id=fid)).when(
            lambda c: c.complete_follow_up(context(), follow_up_id=fid)
        ).then_rejected("follow_up_open", field="follow_up_id")

    def test_closing_one_follow_up_leaves_another_open(self) -> None:
        cid, fid, other = new_id(), new_id(), new_id()
        with_follow_up(
            cid,
            fid,
            event(
                FollowUpScheduled,
                cid,
                3,
                at=LATER,
                follow_up_id=other,
                purpose=FollowUpPurpose.HOLIDAY,
                due_at=NOW,
            ),
            event(FollowUpCompleted, cid, 4, at=LATER, follow_up_id=fid),
        ).when(lambda c: c.complete_follow_up(context(), follow_up_id=other)).then(
            (FollowUpCompleted, {"follow_up_id": other})
        )


class TestMarkFollowUpMissed:
    def test_a_scheduled_follow_up_is_marked_missed_with_a_reason(self) -> None:
        cid, fid = new_id(), new_id()
        with_follow_up(cid, fid).when(
            lambda c: c.mark_follow_up_missed(context(), follow_up_id=fid, reason="no answer")
        ).then((FollowUpMissed, {"follow_up_id": fid, "reason": "no answer"}))

    def test_marking_an_unknown_follow_up_missed_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.mark_follow_up_missed(context(), follow_up_id=new_id())
        ).then_rejected("follow_up_exists", field="follow_up_id")

    def test_marking_a_completed_follow_up_missed_is_rejected(self) -> None:
        cid, fid = new_id(), new_id()
        with_follow_up(cid, fid, event(FollowUpCompleted, cid, 3, at=LATER, follow_up_id=fid)).when(
            lambda c: c.mark_follow_up_missed(context(), follow_up_id=fid)
        ).then_rejected("follow_up_open", field="follow_up_id")

    def test_marking_a_follow_up_missed_twice_is_rejected(self) -> None:
        cid, fid = new_id(), new_id()
        with_follow_up(cid, fid, event(FollowUpMissed, cid, 3, at=LATER, follow_up_id=fid)).when(
            lambda c: c.mark_follow_up_missed(context(), follow_up_id=fid)
        ).then_rejected("follow_up_open", field="follow_up_id")


# ---- relationship tier ----------------------------------------------------------------


class TestChangeRelationshipTier:
    def test_a_tier_change_records_where_it_came_from_and_went_to(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.change_relationship_tier(
                context(), tier=RelationshipTier.PREFERRED_SUPPLIER, reason="third big order"
            )
        ).then(
            (
                RelationshipTierChanged,
                {
                    "from_tier": RelationshipTier.TRANSACTIONAL,
                    "to_tier": RelationshipTier.PREFERRED_SUPPLIER,
                    "reason": "third big order",
                },
            )
        )

    def test_the_previous_change_is_the_starting_tier(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            event(
                RelationshipTierChanged,
                cid,
                2,
                at=LATER,
                from_tier=RelationshipTier.TRANSACTIONAL,
                to_tier=RelationshipTier.PARTNER,
            ),
        ).when(
            lambda c: c.change_relationship_tier(context(), tier=RelationshipTier.TRANSACTIONAL)
        ).then(
            (
                RelationshipTierChanged,
                {
                    "from_tier": RelationshipTier.PARTNER,
                    "to_tier": RelationshipTier.TRANSACTIONAL,
                    "reason": None,
                },
            )
        )

    def test_changing_to_the_same_tier_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid, tier=RelationshipTier.STRATEGIC_ALLIANCE)).when(
            lambda c: c.change_relationship_tier(
                context(), tier=RelationshipTier.STRATEGIC_ALLIANCE
            )
        ).then_rejected("tier_changes", field="tier")

    def test_changing_to_the_tier_of_the_last_change_is_rejected(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            event(
                RelationshipTierChanged,
                cid,
                2,
                at=LATER,
                from_tier=RelationshipTier.TRANSACTIONAL,
                to_tier=RelationshipTier.PARTNER,
            ),
        ).when(
            lambda c: c.change_relationship_tier(context(), tier=RelationshipTier.PARTNER)
        ).then_rejected("tier_changes", field="tier")

    def test_a_disqualified_customer_cannot_change_tier(self) -> None:
        cid = new_id()
        given(Customer, registered(cid), disqualified(cid)).when(
            lambda c: c.change_relationship_tier(context(), tier=RelationshipTier.PARTNER)
        ).then_rejected("customer_qualified")


# ---- membership -----------------------------------------------------------------------


class TestJoinMembership:
    def test_joining_records_the_membership_number_and_program(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.join_membership(context(), membership_number="M-0001", program="gold")
        ).then((MembershipJoined, {"membership_number": "M-0001", "program": "gold"}))

    def test_membership_number_and_program_are_optional(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(lambda c: c.join_membership(context())).then(
            (MembershipJoined, {"membership_number": None, "program": None})
        )

    def test_joining_twice_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid), event(MembershipJoined, cid, 2, at=LATER)).when(
            lambda c: c.join_membership(context())
        ).then_rejected("membership_not_joined_twice")

    def test_a_former_member_may_join_again(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            event(MembershipJoined, cid, 2, at=LATER),
            event(MembershipLeft, cid, 3, at=LATER),
        ).when(lambda c: c.join_membership(context(), membership_number="M-0002")).then(
            (MembershipJoined, {"membership_number": "M-0002"})
        )

    def test_a_disqualified_customer_cannot_join(self) -> None:
        cid = new_id()
        given(Customer, registered(cid), disqualified(cid)).when(
            lambda c: c.join_membership(context())
        ).then_rejected("customer_qualified")


class TestLeaveMembership:
    def test_a_member_leaves_with_a_reason(self) -> None:
        cid = new_id()
        given(Customer, registered(cid), event(MembershipJoined, cid, 2, at=LATER)).when(
            lambda c: c.leave_membership(context(), reason="moved abroad")
        ).then((MembershipLeft, {"reason": "moved abroad"}))

    def test_a_non_member_cannot_leave(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.leave_membership(context())
        ).then_rejected("membership_left_only_by_members")

    def test_a_former_member_cannot_leave_again(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            event(MembershipJoined, cid, 2, at=LATER),
            event(MembershipLeft, cid, 3, at=LATER),
        ).when(lambda c: c.leave_membership(context())).then_rejected(
            "membership_left_only_by_members"
        )

    def test_a_disqualified_member_may_still_leave(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            event(MembershipJoined, cid, 2, at=LATER),
            disqualified(cid, 3),
        ).when(lambda c: c.leave_membership(context())).then((MembershipLeft, {"reason": None}))


# ---- loyalty points -------------------------------------------------------------------


def with_points(cid: UUID, earned: int, redeemed: int = 0) -> Scenario[Customer]:
    history = [
        registered(cid),
        event(LoyaltyPointsEarned, cid, 2, at=LATER, points=earned, balance_after=earned),
    ]
    if redeemed:
        history.append(
            event(
                LoyaltyPointsRedeemed,
                cid,
                3,
                at=LATER,
                points=redeemed,
                balance_after=earned - redeemed,
            )
        )
    return given(Customer, *history)


class TestAwardLoyaltyPoints:
    def test_the_first_award_starts_the_balance(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.award_loyalty_points(context(), points=120, reason="order SO-1")
        ).then((LoyaltyPointsEarned, {"points": 120, "reason": "order SO-1", "balance_after": 120}))

    def test_an_award_adds_to_the_balance_after_earlier_redemptions(self) -> None:
        cid = new_id()
        with_points(cid, earned=100, redeemed=30).when(
            lambda c: c.award_loyalty_points(context(), points=5)
        ).then((LoyaltyPointsEarned, {"points": 5, "reason": None, "balance_after": 75}))

    @pytest.mark.parametrize("points", [0, -5])
    def test_awarding_zero_or_negative_points_is_rejected(self, points: int) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.award_loyalty_points(context(), points=points)
        ).then_rejected("loyalty_points_positive", field="points")

    def test_a_disqualified_customer_earns_no_points(self) -> None:
        cid = new_id()
        given(Customer, registered(cid), disqualified(cid)).when(
            lambda c: c.award_loyalty_points(context(), points=10)
        ).then_rejected("customer_qualified")


class TestRedeemLoyaltyPoints:
    def test_redeeming_records_the_balance_after(self) -> None:
        cid = new_id()
        with_points(cid, earned=100).when(
            lambda c: c.redeem_loyalty_points(context(), points=40, reason="gift voucher")
        ).then(
            (LoyaltyPointsRedeemed, {"points": 40, "reason": "gift voucher", "balance_after": 60})
        )

    def test_redeeming_the_whole_balance_leaves_zero(self) -> None:
        cid = new_id()
        with_points(cid, earned=100, redeemed=30).when(
            lambda c: c.redeem_loyalty_points(context(), points=70)
        ).then((LoyaltyPointsRedeemed, {"points": 70, "balance_after": 0}))

    def test_redeeming_more_points_than_the_balance_is_rejected(self) -> None:
        cid = new_id()
        with_points(cid, earned=100, redeemed=30).when(
            lambda c: c.redeem_loyalty_points(context(), points=71)
        ).then_rejected("loyalty_points_never_negative", field="points")

    def test_redeeming_without_any_points_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.redeem_loyalty_points(context(), points=1)
        ).then_rejected("loyalty_points_never_negative", field="points")

    @pytest.mark.parametrize("points", [0, -1])
    def test_redeeming_zero_or_negative_points_is_rejected(self, points: int) -> None:
        cid = new_id()
        with_points(cid, earned=100).when(
            lambda c: c.redeem_loyalty_points(context(), points=points)
        ).then_rejected("loyalty_points_positive", field="points")


# ---- referral -------------------------------------------------------------------------


class TestRecordReferral:
    def test_a_referral_is_recorded_on_the_referrers_stream(self) -> None:
        cid, newcomer = new_id(), new_id()
        (referred,) = (
            given(Customer, registered(cid))
            .when(lambda c: c.record_referral(context(), referred_customer_id=newcomer))
            .then((CustomerReferred, {"referred_customer_id": newcomer}))
        )
        assert referred.aggregate_id == cid

    def test_a_second_different_referral_is_recorded(self) -> None:
        cid, first, second = new_id(), new_id(), new_id()
        given(
            Customer,
            registered(cid),
            event(CustomerReferred, cid, 2, at=LATER, referred_customer_id=first),
        ).when(lambda c: c.record_referral(context(), referred_customer_id=second)).then(
            (CustomerReferred, {"referred_customer_id": second})
        )

    def test_a_customer_referring_itself_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.record_referral(context(), referred_customer_id=cid)
        ).then_rejected("referral_not_self", field="referred_customer_id")

    def test_recording_the_same_referral_twice_is_rejected(self) -> None:
        cid, newcomer = new_id(), new_id()
        given(
            Customer,
            registered(cid),
            event(CustomerReferred, cid, 2, at=LATER, referred_customer_id=newcomer),
        ).when(lambda c: c.record_referral(context(), referred_customer_id=newcomer)).then_rejected(
            "referral_recorded_once", field="referred_customer_id"
        )

    def test_a_disqualified_referrer_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid), disqualified(cid)).when(
            lambda c: c.record_referral(context(), referred_customer_id=new_id())
        ).then_rejected("customer_qualified")


# ---- disqualify / requalify -----------------------------------------------------------


class TestDisqualify:
    def test_disqualifying_records_the_reason(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.disqualify(context(), reason="duplicate of another record")
        ).then((CustomerDisqualified, {"reason": "duplicate of another record"}))

    def test_disqualifying_twice_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid), disqualified(cid)).when(
            lambda c: c.disqualify(context(), reason="again")
        ).then_rejected("disqualify_once")

    def test_a_requalified_customer_may_be_disqualified_again(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            disqualified(cid),
            event(CustomerRequalified, cid, 3, at=LATER),
        ).when(lambda c: c.disqualify(context(), reason="unpaid invoices")).then(
            (CustomerDisqualified, {"reason": "unpaid invoices"})
        )


class TestRequalify:
    def test_requalifying_records_the_reason(self) -> None:
        cid = new_id()
        given(Customer, registered(cid), disqualified(cid)).when(
            lambda c: c.requalify(context(), reason="fraud claim withdrawn")
        ).then((CustomerRequalified, {"reason": "fraud claim withdrawn"}))

    def test_requalifying_a_qualified_customer_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(lambda c: c.requalify(context())).then_rejected(
            "requalify_only_disqualified"
        )

    def test_requalifying_twice_is_rejected(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            disqualified(cid),
            event(CustomerRequalified, cid, 3, at=LATER),
        ).when(lambda c: c.requalify(context())).then_rejected("requalify_only_disqualified")

    def test_a_requalified_customer_earns_points_again(self) -> None:
        cid = new_id()
        given(
            Customer,
            registered(cid),
            disqualified(cid),
            event(CustomerRequalified, cid, 3, at=LATER),
        ).when(lambda c: c.award_loyalty_points(context(), points=10)).then(
            (LoyaltyPointsEarned, {"points": 10, "balance_after": 10})
        )


# ---- satisfaction (DESIGN 2.5) --------------------------------------------------------


def surveyed(*scores: DimensionScore) -> Scenario[Customer]:
    cid = new_id()
    return given(Customer, registered(cid)).when(
        lambda c: c.record_satisfaction_survey(context(), survey_id=new_id(), scores=scores)
    )


class TestRecordSatisfactionSurvey:
    def test_a_survey_records_scores_nps_comment_gap_and_level(self) -> None:
        cid, survey_id = new_id(), new_id()
        scores = (score(D.PRODUCT, 7, 9), score(D.SERVICE, 8, 8))
        given(Customer, registered(cid)).when(
            lambda c: c.record_satisfaction_survey(
                context(), survey_id=survey_id, scores=scores, nps=9, comment="great support"
            )
        ).then(
            (
                SatisfactionSurveyed,
                {
                    "survey_id": survey_id,
                    "scores": scores,
                    "nps": 9,
                    "comment": "great support",
                    "gap": Decimal("1.00"),
                    "level": SatisfactionLevel.DELIGHTED,
                },
            )
        )

    def test_a_lower_score_than_expected_is_what_counts_not_the_score_itself(self) -> None:
        # Expected 9, got 8 is less satisfied than expected 5, got 7 (期望值与感受效果的差距).
        surveyed(score(D.OVERALL, 9, 8)).then(
            (
                SatisfactionSurveyed,
                {"gap": Decimal("-1.00"), "level": SatisfactionLevel.DISSATISFIED},
            )
        )
        surveyed(score(D.OVERALL, 5, 7)).then(
            (SatisfactionSurveyed, {"gap": Decimal("2.00"), "level": SatisfactionLevel.DELIGHTED})
        )

    def test_a_mean_gap_of_exactly_minus_one_is_dissatisfied(self) -> None:
        surveyed(score(D.PRODUCT, 8, 6), score(D.SERVICE, 7, 7)).then(
            (
                SatisfactionSurveyed,
                {"gap": Decimal("-1.00"), "level": SatisfactionLevel.DISSATISFIED, "nps": None},
            )
        )

    def test_a_mean_gap_of_exactly_plus_one_is_delighted(self) -> None:
        surveyed(score(D.INTERACTION, 5, 7), score(D.EMOTIONAL, 6, 6)).then(
            (SatisfactionSurveyed, {"gap": Decimal("1.00"), "level": SatisfactionLevel.DELIGHTED})
        )

    def test_no_gap_is_satisfied(self) -> None:
        surveyed(score(D.ENVIRONMENT, 6, 6)).then(
            (SatisfactionSurveyed, {"gap": Decimal("0.00"), "level": SatisfactionLevel.SATISFIED})
        )

    def test_a_mean_gap_of_minus_two_thirds_is_satisfied_and_shown_rounded(self) -> None:
        surveyed(score(D.PRODUCT, 7, 6), score(D.SERVICE, 7, 6), score(D.ENTERPRISE, 7, 7)).then(
            (SatisfactionSurveyed, {"gap": Decimal("-0.67"), "level": SatisfactionLevel.SATISFIED})
        )

    def test_a_mean_gap_of_plus_two_thirds_is_satisfied_and_shown_rounded(self) -> None:
        surveyed(score(D.PRODUCT, 6, 7), score(D.SERVICE, 6, 7), score(D.ENTERPRISE, 7, 7)).then(
            (SatisfactionSurveyed, {"gap": Decimal("0.67"), "level": SatisfactionLevel.SATISFIED})
        )

    def test_the_mean_gap_closest_to_minus_one_is_still_satisfied(self) -> None:
        # Seven dimensions, one at 0 and six at -1: the mean is -6/7 (about -0.857).
        scores = (score(D.OVERALL, 5, 5), *(score(d, 5, 4) for d in SIX_DIMENSIONS))
        surveyed(*scores).then(
            (SatisfactionSurveyed, {"gap": Decimal("-0.86"), "level": SatisfactionLevel.SATISFIED})
        )

    def test_a_mean_gap_just_past_minus_one_is_dissatisfied(self) -> None:
        # -8/7: one dimension at -2, six at -1.
        scores = (score(D.OVERALL, 7, 5), *(score(d, 5, 4) for d in SIX_DIMENSIONS))
        surveyed(*scores).then(
            (
                SatisfactionSurveyed,
                {"gap": Decimal("-1.14"), "level": SatisfactionLevel.DISSATISFIED},
            )
        )

    def test_a_survey_without_scores_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.record_satisfaction_survey(context(), survey_id=new_id(), scores=())
        ).then_rejected("survey_scored", field="scores")

    def test_recording_the_same_survey_twice_is_rejected(self) -> None:
        cid, survey_id = new_id(), new_id()
        scores = (score(D.OVERALL, 6, 7),)
        given(
            Customer,
            registered(cid),
            event(
                SatisfactionSurveyed,
                cid,
                2,
                survey_id=survey_id,
                scores=scores,
                gap=Decimal("1.00"),
                level=SatisfactionLevel.DELIGHTED,
            ),
        ).when(
            lambda c: c.record_satisfaction_survey(context(), survey_id=survey_id, scores=scores)
        ).then_rejected("survey_id_unique", field="survey_id")

    def test_a_dimension_scored_twice_is_refused_and_nothing_is_recorded(self) -> None:
        cid = new_id()
        customer = Customer.replay([registered(cid)])
        with pytest.raises(ValidationError, match="each dimension may be scored once"):
            customer.record_satisfaction_survey(
                context(),
                survey_id=new_id(),
                scores=(score(D.PRODUCT, 5, 6), score(D.PRODUCT, 5, 4)),
            )
        assert customer.collect_events() == []
        assert customer.version == 1

    def test_scores_outside_one_to_ten_are_refused(self) -> None:
        with pytest.raises(ValidationError):
            score(D.PRODUCT, 0, 5)
        with pytest.raises(ValidationError):
            score(D.PRODUCT, 5, 11)


class TestSatisfactionLevelRounding:
    """The level is decided on the exact gap; the stored gap is only for display."""

    def test_a_mean_of_minus_0_995_displays_as_minus_one_but_is_satisfied(self) -> None:
        gap = Fraction(-199, 200)
        assert displayed_gap(gap) == Decimal("-1.00")
        assert satisfaction_level(gap) is SatisfactionLevel.SATISFIED

    def test_a_mean_of_0_995_displays_as_one_but_is_satisfied(self) -> None:
        gap = Fraction(199, 200)
        assert displayed_gap(gap) == Decimal("1.00")
        assert satisfaction_level(gap) is SatisfactionLevel.SATISFIED

    @pytest.mark.parametrize(
        ("gap", "level"),
        [
            (Fraction(-1), SatisfactionLevel.DISSATISFIED),
            (Fraction(-1001, 1000), SatisfactionLevel.DISSATISFIED),
            (Fraction(-999, 1000), SatisfactionLevel.SATISFIED),
            (Fraction(0), SatisfactionLevel.SATISFIED),
            (Fraction(999, 1000), SatisfactionLevel.SATISFIED),
            (Fraction(1), SatisfactionLevel.DELIGHTED),
            (Fraction(9), SatisfactionLevel.DELIGHTED),
        ],
    )
    def test_the_thresholds_are_inclusive_at_minus_one_and_plus_one(
        self, gap: Fraction, level: SatisfactionLevel
    ) -> None:
        assert satisfaction_level(gap) is level

    def test_minus_two_thirds_rounds_half_up_for_display_only(self) -> None:
        assert displayed_gap(Fraction(-2, 3)) == Decimal("-0.67")
        assert satisfaction_level(Fraction(-2, 3)) is SatisfactionLevel.SATISFIED


# ---- business time (base class rules, for every command) ------------------------------

FID = UUID("00000000-0000-4000-8000-000000000001")
LAST_EVENT_AT = NOW - timedelta(days=1)


def rich_history(cid: UUID) -> list[DomainEvent]:
    """A member with points and an open follow-up, so that every command below is valid."""
    return [
        registered(cid),
        event(
            FollowUpScheduled,
            cid,
            2,
            at=LATER,
            follow_up_id=FID,
            purpose=FollowUpPurpose.REVISIT,
            due_at=NOW + timedelta(days=3),
        ),
        event(MembershipJoined, cid, 3, at=LATER),
        event(LoyaltyPointsEarned, cid, 4, at=LAST_EVENT_AT, points=50, balance_after=50),
    ]


def _schedule(c: Customer, ctx: Any) -> None:
    c.schedule_follow_up(
        ctx, follow_up_id=new_id(), purpose=FollowUpPurpose.HOLIDAY, due_at=NOW + timedelta(days=5)
    )


COMMANDS: dict[str, tuple[Callable[[Customer, Any], None], type[DomainEvent]]] = {
    "update_profile": (
        lambda c, ctx: c.update_profile(ctx, {"region": "east"}),
        CustomerProfileUpdated,
    ),
    "record_contact": (
        lambda c, ctx: c.record_contact(
            ctx, channel=ContactChannel.SMS, direction=ContactDirection.OUTBOUND, summary="hi"
        ),
        CustomerContacted,
    ),
    "schedule_follow_up": (_schedule, FollowUpScheduled),
    "complete_follow_up": (
        lambda c, ctx: c.complete_follow_up(ctx, follow_up_id=FID),
        FollowUpCompleted,
    ),
    "mark_follow_up_missed": (
        lambda c, ctx: c.mark_follow_up_missed(ctx, follow_up_id=FID),
        FollowUpMissed,
    ),
    "change_relationship_tier": (
        lambda c, ctx: c.change_relationship_tier(ctx, tier=RelationshipTier.PARTNER),
        RelationshipTierChanged,
    ),
    "leave_membership": (lambda c, ctx: c.leave_membership(ctx), MembershipLeft),
    "award_loyalty_points": (
        lambda c, ctx: c.award_loyalty_points(ctx, points=1),
        LoyaltyPointsEarned,
    ),
    "redeem_loyalty_points": (
        lambda c, ctx: c.redeem_loyalty_points(ctx, points=1),
        LoyaltyPointsRedeemed,
    ),
    "record_referral": (
        lambda c, ctx: c.record_referral(ctx, referred_customer_id=new_id()),
        CustomerReferred,
    ),
    "disqualify": (lambda c, ctx: c.disqualify(ctx, reason="test"), CustomerDisqualified),
    "record_satisfaction_survey": (
        lambda c, ctx: c.record_satisfaction_survey(
            ctx, survey_id=new_id(), scores=(score(D.OVERALL, 5, 5),)
        ),
        SatisfactionSurveyed,
    ),
}


class TestBusinessTime:
    @pytest.mark.parametrize("name", COMMANDS)
    def test_business_time_in_the_future_is_rejected(self, name: str) -> None:
        command, _ = COMMANDS[name]
        cid = new_id()
        ctx = context(occurred_at=NOW + timedelta(seconds=1))
        given(Customer, *rich_history(cid)).when(lambda c: command(c, ctx)).then_rejected(
            "occurred_at_not_in_future", field="occurred_at"
        )

    @pytest.mark.parametrize("name", COMMANDS)
    def test_business_time_before_the_previous_event_is_rejected(self, name: str) -> None:
        command, _ = COMMANDS[name]
        cid = new_id()
        ctx = context(occurred_at=LAST_EVENT_AT - timedelta(seconds=1))
        given(Customer, *rich_history(cid)).when(lambda c: command(c, ctx)).then_rejected(
            "occurred_at_in_order", field="occurred_at"
        )

    @pytest.mark.parametrize("name", COMMANDS)
    def test_business_time_equal_to_the_previous_event_is_accepted(self, name: str) -> None:
        command, event_type = COMMANDS[name]
        cid = new_id()
        ctx = context(occurred_at=LAST_EVENT_AT, command_id=f"import-{name}")
        (produced,) = (
            given(Customer, *rich_history(cid))
            .when(lambda c: command(c, ctx))
            .then((event_type, {}))
        )
        assert produced.occurred_at == LAST_EVENT_AT
        assert produced.recorded_at == NOW
        assert produced.version == 5
        assert produced.actor_id == ACTOR
        assert produced.command_id == f"import-{name}"

    def test_without_a_business_time_the_event_occurs_now(self) -> None:
        cid = new_id()
        (produced,) = (
            given(Customer, *rich_history(cid))
            .when(lambda c: c.leave_membership(context()))
            .then((MembershipLeft, {}))
        )
        assert produced.occurred_at == NOW == produced.recorded_at

    def test_requalifying_with_business_time_before_the_disqualification_is_rejected(
        self,
    ) -> None:
        cid = new_id()
        given(Customer, registered(cid), disqualified(cid)).when(
            lambda c: c.requalify(context(occurred_at=LATER - timedelta(hours=1)))
        ).then_rejected("occurred_at_in_order", field="occurred_at")

    def test_joining_with_business_time_in_the_future_is_rejected(self) -> None:
        cid = new_id()
        given(Customer, registered(cid)).when(
            lambda c: c.join_membership(context(occurred_at=NOW + timedelta(days=1)))
        ).then_rejected("occurred_at_not_in_future", field="occurred_at")

    def test_an_import_between_the_last_event_and_now_is_accepted(self) -> None:
        cid = new_id()
        imported_at = LAST_EVENT_AT + timedelta(hours=2)
        (produced,) = (
            given(Customer, *rich_history(cid))
            .when(lambda c: c.redeem_loyalty_points(context(occurred_at=imported_at), points=50))
            .then((LoyaltyPointsRedeemed, {"points": 50, "balance_after": 0}))
        )
        assert produced.occurred_at == imported_at
        assert produced.recorded_at == NOW
