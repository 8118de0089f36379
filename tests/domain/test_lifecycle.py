"""The customer lifecycle (DESIGN §3): every rule in its order of precedence, the
boundaries to the second, churn by the passage of time, win-back, cancelled purchases,
the at-risk flag, facts built from events, and a property test of stage_at against
history and against an independent model of the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import count, pairwise
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.complaint_vocabulary import ComplaintCategory, ComplaintSeverity
from domain.events.base import DomainEvent
from domain.events.complaint import (
    ComplaintAssessed,
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintFiled,
    ComplaintFollowedUp,
    ComplaintResolved,
)
from domain.events.customer import (
    CustomerContacted,
    CustomerDisqualified,
    CustomerProfile,
    CustomerProfileUpdated,
    CustomerReferred,
    CustomerRegistered,
    CustomerRequalified,
    DimensionScore,
    MembershipJoined,
    MembershipLeft,
    RelationshipTierChanged,
    SatisfactionSurveyed,
)
from domain.events.opportunity import OpportunityOpened
from domain.events.order import (
    OrderApproved,
    OrderCancelled,
    OrderDrafted,
    OrderImported,
    OrderLine,
    OrderStatus,
    OrderType,
)
from domain.lifecycle import (
    COMPLAINT_PAST_SLA,
    DEFAULT_LIFECYCLE_POLICY,
    LATEST_SATISFACTION_DISSATISFIED,
    TIME,
    ComplaintStream,
    CustomerFacts,
    Engagement,
    LifecyclePolicy,
    MembershipChange,
    Purchase,
    QualificationChange,
    Referral,
    SatisfactionMeasure,
    TierChange,
    Transition,
    at_risk,
    facts_from_events,
    history,
    history_and_risk,
    no_purchase_reason,
    purchase_from_order_events,
    purchases_at,
    seconds_in_stage,
    stage_at,
)
from domain.lifecycle_vocabulary import LifecycleStage
from domain.values import Money
from domain.vocabulary import (
    ContactChannel,
    ContactDirection,
    CustomerKind,
    RelationshipTier,
    SatisfactionDimension,
    SatisfactionLevel,
)
from tests.domain.scenario import event

Stage = LifecycleStage
Tier = RelationshipTier
Level = SatisfactionLevel

CID = UUID("00000000-0000-4000-8000-0000000000c1")
FRIEND = UUID("00000000-0000-4000-8000-0000000000c2")
STRANGER = UUID("00000000-0000-4000-8000-0000000000c3")
OPP_ID = UUID("00000000-0000-4000-8000-0000000000a1")
KID = UUID("00000000-0000-4000-8000-0000000000e1")

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
YEAR = 365 * DAY  # the default churn_after_days and the long-term span, written out
WARNING = 180 * DAY  # the default churn_warning_days
POLICY = DEFAULT_LIFECYCLE_POLICY
NO_PURCHASE = "no_purchase_for_180_days"

_order_numbers = count(1)


def day(n: float) -> datetime:
    return T0 + n * DAY


def cny(amount: str = "1000.00") -> Money:
    return Money(amount=Decimal(amount), currency="CNY")


def bought(
    at: datetime,
    *,
    customer: UUID = CID,
    cancelled_at: datetime | None = None,
    event_type: Any = "OrderApproved",
) -> Purchase:
    return Purchase(
        order_id=UUID(int=next(_order_numbers)),
        customer_id=customer,
        approved_at=at,
        total=cny(),
        event_type=event_type,
        cancelled_at=cancelled_at,
    )


def customer(**facts: Any) -> CustomerFacts:
    return CustomerFacts(customer_id=CID, registered_at=T0, **facts)


def contacted(at: datetime) -> Engagement:
    return Engagement(at=at, event_type="CustomerContacted")


def disqualified(at: datetime) -> QualificationChange:
    return QualificationChange(at=at, disqualified=True)


def requalified(at: datetime) -> QualificationChange:
    return QualificationChange(at=at, disqualified=False)


def joined(at: datetime) -> MembershipChange:
    return MembershipChange(at=at, member=True)


def left(at: datetime) -> MembershipChange:
    return MembershipChange(at=at, member=False)


def tier(at: datetime, to: Tier) -> TierChange:
    return TierChange(at=at, tier=to)


def referred(at: datetime, who: UUID = FRIEND) -> Referral:
    return Referral(at=at, referred_customer_id=who)


def path(
    facts: CustomerFacts, until: datetime, policy: LifecyclePolicy = POLICY
) -> list[tuple[Stage | None, Stage, datetime, int | None, str]]:
    return [
        (t.from_stage, t.to_stage, t.transitioned_at, t.seconds_in_from_stage, t.cause)
        for t in history(facts, until, policy)
    ]


def stages(facts: CustomerFacts, until: datetime) -> list[Stage]:
    return [t.to_stage for t in history(facts, until)]


# ---- vocabulary and policy --------------------------------------------------------------


def test_every_stage_has_the_label_of_the_design() -> None:
    assert {stage.value: stage.zh for stage in Stage} == {
        "suspect": "猜想客户",
        "prospect": "预期客户",
        "disqualified": "不合格者",
        "first_time_buyer": "首次购买客户",
        "repeat_buyer": "重复购买客户",
        "long_term": "长期客户",
        "member": "成员",
        "advocate": "拥护者",
        "partner": "合伙人",
        "churned": "流失客户",
    }
    assert Stage("partner") is Stage.PARTNER
    assert str(Stage.CHURNED) == "churned"


def test_the_default_policy_is_the_design_one_and_versioned() -> None:
    assert POLICY.churn_after_days == 365
    assert POLICY.churn_warning_days == 180
    assert POLICY.version == "2026.1"
    assert no_purchase_reason() == NO_PURCHASE
    assert no_purchase_reason(LifecyclePolicy(churn_warning_days=90)) == "no_purchase_for_90_days"


@pytest.mark.parametrize(
    "settings_",
    [
        {"churn_after_days": 180, "churn_warning_days": 180},
        {"churn_after_days": 100},
        {"churn_after_days": 0, "churn_warning_days": 0},
        {"churn_warning_days": -1},
        {"churn_after_days": 365.0},
        {"churn_after_days": 100_000},
    ],
)
def test_a_policy_whose_warning_does_not_come_before_churn_or_out_of_range_is_refused(
    settings_: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        LifecyclePolicy(**settings_)


def test_the_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        POLICY.churn_after_days = 30  # type: ignore[misc]


# ---- rule 2: suspect and prospect ------------------------------------------------------


def test_a_registered_customer_never_contacted_is_a_suspect() -> None:
    assert stage_at(customer(), T0) is Stage.SUSPECT
    assert stage_at(customer(), day(3000)) is Stage.SUSPECT


@pytest.mark.parametrize("event_type", ["CustomerContacted", "OpportunityOpened"])
def test_a_contact_or_an_opportunity_makes_a_prospect_from_its_instant(event_type: Any) -> None:
    facts = customer(engagements=(Engagement(at=day(5), event_type=event_type),))
    assert stage_at(facts, day(5) - SECOND) is Stage.SUSPECT
    assert stage_at(facts, day(5)) is Stage.PROSPECT
    assert path(facts, day(9)) == [
        (None, Stage.SUSPECT, T0, None, "CustomerRegistered"),
        (Stage.SUSPECT, Stage.PROSPECT, day(5), 5 * 86400, event_type),
    ]


# ---- rule 1: disqualified --------------------------------------------------------------


def test_disqualified_until_requalified() -> None:
    facts = customer(
        engagements=(contacted(day(1)),),
        qualification=(disqualified(day(2)), requalified(day(4))),
    )
    assert stage_at(facts, day(2) - SECOND) is Stage.PROSPECT
    assert stage_at(facts, day(2)) is Stage.DISQUALIFIED
    assert stage_at(facts, day(4) - SECOND) is Stage.DISQUALIFIED
    assert stage_at(facts, day(4)) is Stage.PROSPECT
    assert path(facts, day(5))[1:] == [
        (Stage.SUSPECT, Stage.PROSPECT, day(1), 86400, "CustomerContacted"),
        (Stage.PROSPECT, Stage.DISQUALIFIED, day(2), 86400, "CustomerDisqualified"),
        (Stage.DISQUALIFIED, Stage.PROSPECT, day(4), 2 * 86400, "CustomerRequalified"),
    ]


def test_disqualified_beats_purchases_and_every_later_rule() -> None:
    facts = customer(
        purchases=(bought(day(10)), bought(day(200)), bought(day(400))),
        tier_changes=(tier(day(1), Tier.STRATEGIC_ALLIANCE),),
        membership=(joined(day(1)),),
        referrals=(referred(day(1)),),
        referred_purchases=(bought(day(2), customer=FRIEND),),
        qualification=(disqualified(day(450)),),
    )
    assert stage_at(facts, day(449)) is Stage.PARTNER
    assert stage_at(facts, day(450)) is Stage.DISQUALIFIED
    assert stage_at(facts, day(2000)) is Stage.DISQUALIFIED  # not churned either


def test_a_disqualified_customer_churns_silently_and_is_churned_when_requalified() -> None:
    """While disqualified the churn date passes without a transition; the requalification
    then lands the customer straight in churned, caused by the requalification."""
    facts = customer(
        purchases=(bought(day(10)),),
        qualification=(disqualified(day(100)), requalified(day(500))),
    )
    assert path(facts, day(600)) == [
        (None, Stage.SUSPECT, T0, None, "CustomerRegistered"),
        (Stage.SUSPECT, Stage.FIRST_TIME_BUYER, day(10), 10 * 86400, "OrderApproved"),
        (Stage.FIRST_TIME_BUYER, Stage.DISQUALIFIED, day(100), 90 * 86400, "CustomerDisqualified"),
        (Stage.DISQUALIFIED, Stage.CHURNED, day(500), 400 * 86400, "CustomerRequalified"),
    ]


# ---- precedence: each rule beats every later one ------------------------------------------

# Three purchases 390 days apart end to end: long-term, last purchase at day 400.
LONG_TERM_PURCHASES = (bought(day(10)), bought(day(200)), bought(day(400)))
AT = day(450)  # 50 days after the last purchase: not churned, not at risk
CHURNED_AT = day(400) + YEAR + SECOND

LADDER: list[tuple[str, dict[str, Any], datetime, Stage]] = [
    ("first purchase", {"purchases": LONG_TERM_PURCHASES[2:]}, AT, Stage.FIRST_TIME_BUYER),
    ("second purchase", {"purchases": LONG_TERM_PURCHASES[1:]}, AT, Stage.REPEAT_BUYER),
    ("3 purchases over a year", {"purchases": LONG_TERM_PURCHASES}, AT, Stage.LONG_TERM),
    ("+ member", {"membership": (joined(day(420)),)}, AT, Stage.MEMBER),
    (
        "+ referred a buyer",
        {
            "referrals": (referred(day(5)),),
            "referred_purchases": (bought(day(300), customer=FRIEND),),
        },
        AT,
        Stage.ADVOCATE,
    ),
    ("+ partner tier", {"tier_changes": (tier(day(430), Tier.PARTNER),)}, AT, Stage.PARTNER),
    ("+ a year without purchase", {}, CHURNED_AT, Stage.CHURNED),
    (
        "+ disqualified",
        {"qualification": (disqualified(day(440)),)},
        CHURNED_AT,
        Stage.DISQUALIFIED,
    ),
]


@pytest.mark.parametrize("rung", range(len(LADDER)), ids=[name for name, *_ in LADDER])
def test_each_rule_beats_every_later_one(rung: int) -> None:
    """Each rung adds the condition of an earlier rule to all the conditions below it."""
    facts: dict[str, Any] = {}
    for _, more, _, _ in LADDER[: rung + 1]:
        facts.update(more)
    _, _, at, expected = LADDER[rung]
    assert stage_at(customer(**facts), at) is expected


def test_churned_beats_partner() -> None:
    facts = customer(purchases=(bought(day(10)),), tier=Tier.PARTNER)
    assert stage_at(facts, day(10) + YEAR) is Stage.PARTNER
    assert stage_at(facts, day(10) + YEAR + SECOND) is Stage.CHURNED


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (Tier.PARTNER, Stage.PARTNER),
        (Tier.STRATEGIC_ALLIANCE, Stage.PARTNER),
        (Tier.PREFERRED_SUPPLIER, Stage.ADVOCATE),
        (Tier.TRANSACTIONAL, Stage.ADVOCATE),
    ],
)
def test_partner_and_strategic_alliance_tiers_beat_advocate(to: Tier, expected: Stage) -> None:
    facts = customer(
        purchases=(bought(day(10)),),
        referrals=(referred(day(1)),),
        referred_purchases=(bought(day(2), customer=FRIEND),),
        tier_changes=(tier(day(20), to),),
    )
    assert stage_at(facts, day(19)) is Stage.ADVOCATE
    assert stage_at(facts, day(20)) is expected


def test_a_partner_tier_without_a_purchase_is_still_a_prospect() -> None:
    """Rule 2 comes before rule 4: the tier alone makes no buyer."""
    facts = customer(tier=Tier.STRATEGIC_ALLIANCE, engagements=(contacted(day(1)),))
    assert stage_at(facts, day(2)) is Stage.PROSPECT
    assert stage_at(facts.model_copy(update={"purchases": (bought(day(3)),)}), day(3)) is (
        Stage.PARTNER
    )


def test_advocate_beats_member() -> None:
    facts = customer(
        purchases=(bought(day(10)),),
        membership=(joined(day(11)),),
        referrals=(referred(day(12)),),
        referred_purchases=(bought(day(13), customer=FRIEND),),
    )
    assert stage_at(facts, day(12)) is Stage.MEMBER
    assert stage_at(facts, day(13)) is Stage.ADVOCATE


def test_member_beats_long_term_and_leaving_falls_back_to_it() -> None:
    facts = customer(purchases=LONG_TERM_PURCHASES, membership=(joined(day(410)), left(day(420))))
    assert stage_at(facts, day(409)) is Stage.LONG_TERM
    assert stage_at(facts, day(410)) is Stage.MEMBER
    assert stage_at(facts, day(420)) is Stage.LONG_TERM


def test_long_term_needs_three_purchases_and_a_year_between_first_and_last() -> None:
    two_over_a_year = customer(purchases=(bought(day(1)), bought(day(400))))
    assert stage_at(two_over_a_year, day(400)) is Stage.REPEAT_BUYER
    three_in_a_month = customer(purchases=(bought(day(1)), bought(day(10)), bought(day(30))))
    assert stage_at(three_in_a_month, day(30)) is Stage.REPEAT_BUYER
    assert stage_at(customer(purchases=LONG_TERM_PURCHASES), day(400)) is Stage.LONG_TERM


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (YEAR - SECOND, Stage.REPEAT_BUYER),
        (YEAR, Stage.LONG_TERM),
        (YEAR + SECOND, Stage.LONG_TERM),
    ],
)
def test_long_term_span_boundary_is_inclusive_to_the_second(
    span: timedelta, expected: Stage
) -> None:
    facts = customer(purchases=(bought(day(1)), bought(day(100)), bought(day(1) + span)))
    assert stage_at(facts, day(1) + span) is expected


def test_long_term_never_comes_by_time_alone() -> None:
    """Three purchases within a year stay repeat_buyer however long one waits (then churn)."""
    facts = customer(purchases=(bought(day(1)), bought(day(100)), bought(day(200))))
    assert stages(facts, day(200) + YEAR) == [
        Stage.SUSPECT,
        Stage.FIRST_TIME_BUYER,
        Stage.REPEAT_BUYER,
    ]
    assert stages(facts, day(200) + YEAR + SECOND)[-1] is Stage.CHURNED


# ---- churn: strict boundary, dated by time, win-back -----------------------------------------


def test_churn_at_exactly_365_days_is_not_yet_churn_one_second_later_it_is() -> None:
    facts = customer(purchases=(bought(day(10)),))
    assert stage_at(facts, day(10) + YEAR - SECOND) is Stage.FIRST_TIME_BUYER
    assert stage_at(facts, day(10) + YEAR) is Stage.FIRST_TIME_BUYER
    assert stage_at(facts, day(10) + YEAR + SECOND) is Stage.CHURNED


def test_churn_appears_in_history_dated_exactly_once_until_is_after_it() -> None:
    facts = customer(purchases=(bought(day(10)),))
    churns_at = day(10) + YEAR
    before = path(facts, churns_at)
    assert before[-1][1] is Stage.FIRST_TIME_BUYER
    after = path(facts, churns_at + SECOND)
    assert after == [
        *before,
        (Stage.FIRST_TIME_BUYER, Stage.CHURNED, churns_at, 365 * 86400, TIME),
    ]
    assert path(facts, churns_at + 1000 * DAY) == after  # dated once, never again


def test_churn_follows_the_policy() -> None:
    policy = LifecyclePolicy(version="test", churn_after_days=30, churn_warning_days=10)
    facts = customer(purchases=(bought(day(10)),))
    assert stage_at(facts, day(40), policy) is Stage.FIRST_TIME_BUYER
    assert stage_at(facts, day(40) + SECOND, policy) is Stage.CHURNED
    assert path(facts, day(41), policy)[-1] == (
        Stage.FIRST_TIME_BUYER,
        Stage.CHURNED,
        day(40),
        30 * 86400,
        TIME,
    )


def test_a_purchase_exactly_at_the_churn_date_keeps_the_customer() -> None:
    facts = customer(purchases=(bought(day(10)), bought(day(10) + YEAR)))
    assert stages(facts, day(1000)) == [
        Stage.SUSPECT,
        Stage.FIRST_TIME_BUYER,
        Stage.REPEAT_BUYER,
        Stage.CHURNED,
    ]
    assert history(facts, day(1000))[-1].transitioned_at == day(10) + 2 * YEAR


def test_win_back_is_a_transition_caused_by_the_purchase() -> None:
    facts = customer(
        purchases=(
            bought(day(0)),
            bought(day(500), event_type="OrderImported"),
            bought(day(600)),
        )
    )
    assert path(facts, day(700)) == [
        (None, Stage.FIRST_TIME_BUYER, T0, None, "OrderApproved"),
        (Stage.FIRST_TIME_BUYER, Stage.CHURNED, day(365), 365 * 86400, TIME),
        (Stage.CHURNED, Stage.REPEAT_BUYER, day(500), 135 * 86400, "OrderImported"),
        (Stage.REPEAT_BUYER, Stage.LONG_TERM, day(600), 100 * 86400, "OrderApproved"),
    ]


def test_a_churn_dated_at_an_event_comes_right_after_it() -> None:
    """Joining exactly at the churn date: a member at that instant, churned just after."""
    churns_at = day(10) + YEAR
    facts = customer(purchases=(bought(day(10)),), membership=(joined(churns_at),))
    assert stage_at(facts, churns_at) is Stage.MEMBER
    assert path(facts, churns_at)[-1] == (
        Stage.FIRST_TIME_BUYER,
        Stage.MEMBER,
        churns_at,
        365 * 86400,
        "MembershipJoined",
    )
    assert path(facts, churns_at + SECOND)[-1] == (
        Stage.MEMBER,
        Stage.CHURNED,
        churns_at,
        0,
        TIME,
    )


# ---- one customer through every stage ---------------------------------------------------


def walk() -> CustomerFacts:
    return customer(
        engagements=(contacted(day(1)),),
        qualification=(disqualified(day(2)), requalified(day(3))),
        purchases=(
            bought(day(10)),
            bought(day(100)),
            bought(day(375), event_type="OrderImported"),  # 365 days after the first
            # day(375) + 365 days = day(740): churned by time; this purchase wins back.
            bought(day(800)),
        ),
        membership=(joined(day(380)),),
        referrals=(referred(day(390)),),
        referred_purchases=(bought(day(400), customer=FRIEND),),
        tier_changes=(tier(day(410), Tier.PARTNER),),
    )


WALK: list[tuple[Stage | None, Stage, datetime, int | None, str]] = [
    (None, Stage.SUSPECT, T0, None, "CustomerRegistered"),
    (Stage.SUSPECT, Stage.PROSPECT, day(1), 1 * 86400, "CustomerContacted"),
    (Stage.PROSPECT, Stage.DISQUALIFIED, day(2), 1 * 86400, "CustomerDisqualified"),
    (Stage.DISQUALIFIED, Stage.PROSPECT, day(3), 1 * 86400, "CustomerRequalified"),
    (Stage.PROSPECT, Stage.FIRST_TIME_BUYER, day(10), 7 * 86400, "OrderApproved"),
    (Stage.FIRST_TIME_BUYER, Stage.REPEAT_BUYER, day(100), 90 * 86400, "OrderApproved"),
    (Stage.REPEAT_BUYER, Stage.LONG_TERM, day(375), 275 * 86400, "OrderImported"),
    (Stage.LONG_TERM, Stage.MEMBER, day(380), 5 * 86400, "MembershipJoined"),
    (Stage.MEMBER, Stage.ADVOCATE, day(400), 20 * 86400, "OrderApproved"),
    (Stage.ADVOCATE, Stage.PARTNER, day(410), 10 * 86400, "RelationshipTierChanged"),
    (Stage.PARTNER, Stage.CHURNED, day(740), 330 * 86400, TIME),
    (Stage.CHURNED, Stage.PARTNER, day(800), 60 * 86400, "OrderApproved"),
]


def test_a_walk_through_every_stage_with_exact_dates_and_durations() -> None:
    facts = walk()
    assert path(facts, day(900)) == WALK
    assert {to for _, to, *_ in WALK} == set(Stage)
    assert all(isinstance(t, Transition) for t in history(facts, day(900)))


def test_the_walk_up_to_any_instant_is_a_prefix_of_the_walk() -> None:
    facts = walk()
    assert path(facts, day(740)) == WALK[:10]
    assert path(facts, day(740) + SECOND) == WALK[:11]
    assert path(facts, day(800) - SECOND) == WALK[:11]
    assert path(facts, day(800)) == WALK
    for _, to, at, _, cause in WALK:
        probe = at + SECOND if cause == TIME else at
        assert stage_at(facts, probe) is to


def test_seconds_in_each_stage_of_the_walk() -> None:
    totals = seconds_in_stage(walk(), day(900))
    assert totals == {
        Stage.SUSPECT: 1 * 86400,
        Stage.PROSPECT: (1 + 7) * 86400,
        Stage.DISQUALIFIED: 1 * 86400,
        Stage.FIRST_TIME_BUYER: 90 * 86400,
        Stage.REPEAT_BUYER: 275 * 86400,
        Stage.LONG_TERM: 5 * 86400,
        Stage.MEMBER: 20 * 86400,
        Stage.ADVOCATE: 10 * 86400,
        Stage.PARTNER: (330 + 100) * 86400,
        Stage.CHURNED: 60 * 86400,
    }
    assert sum(totals.values()) == 900 * 86400


def test_seconds_in_stage_counts_the_current_stage_up_to_until_and_truncates() -> None:
    totals = seconds_in_stage(customer(), T0 + timedelta(seconds=90, microseconds=999_999))
    assert totals[Stage.SUSPECT] == 90
    assert set(totals) == set(Stage)
    assert sum(totals.values()) == 90


# ---- cancelled purchases -----------------------------------------------------------------


def test_a_cancelled_purchase_counts_from_approval_until_its_cancellation() -> None:
    facts = customer(
        engagements=(contacted(day(1)),),
        purchases=(bought(day(10), cancelled_at=day(12)),),
    )
    assert stage_at(facts, day(10) - SECOND) is Stage.PROSPECT
    assert stage_at(facts, day(10)) is Stage.FIRST_TIME_BUYER
    assert stage_at(facts, day(12) - SECOND) is Stage.FIRST_TIME_BUYER
    assert stage_at(facts, day(12)) is Stage.PROSPECT
    assert path(facts, day(20))[2:] == [
        (Stage.PROSPECT, Stage.FIRST_TIME_BUYER, day(10), 9 * 86400, "OrderApproved"),
        (Stage.FIRST_TIME_BUYER, Stage.PROSPECT, day(12), 2 * 86400, "OrderCancelled"),
    ]
    assert purchases_at(facts, day(11)) == facts.purchases
    assert purchases_at(facts, day(12)) == ()


def test_a_purchase_cancelled_at_its_approval_never_counts() -> None:
    facts = customer(purchases=(bought(day(10), cancelled_at=day(10)),))
    assert stage_at(facts, day(10)) is Stage.SUSPECT
    assert stages(facts, day(20)) == [Stage.SUSPECT]


def test_cancelling_the_latest_purchase_can_churn_at_once() -> None:
    first, second = bought(day(10)), bought(day(400), cancelled_at=day(500))
    facts = customer(purchases=(second, first))
    assert path(facts, day(600))[1:] == [
        (Stage.SUSPECT, Stage.FIRST_TIME_BUYER, day(10), 10 * 86400, "OrderApproved"),
        (Stage.FIRST_TIME_BUYER, Stage.CHURNED, day(375), 365 * 86400, TIME),
        (Stage.CHURNED, Stage.REPEAT_BUYER, day(400), 25 * 86400, "OrderApproved"),
        (Stage.REPEAT_BUYER, Stage.CHURNED, day(500), 100 * 86400, "OrderCancelled"),
    ]
    assert purchases_at(facts, day(450)) == (first, second)


def test_a_cancellation_cannot_precede_the_approval() -> None:
    with pytest.raises(ValidationError, match="cancelled before it was approved"):
        bought(day(10), cancelled_at=day(9))


# ---- advocate ----------------------------------------------------------------------------


def test_advocate_from_the_referred_customers_first_purchase_caused_by_it() -> None:
    facts = customer(
        purchases=(bought(day(10)),),
        referrals=(referred(day(20)),),
        referred_purchases=(bought(day(30), customer=FRIEND, event_type="OrderImported"),),
    )
    assert stage_at(facts, day(30) - SECOND) is Stage.FIRST_TIME_BUYER
    assert path(facts, day(40))[-1] == (
        Stage.FIRST_TIME_BUYER,
        Stage.ADVOCATE,
        day(30),
        20 * 86400,
        "OrderImported",
    )


def test_advocate_from_the_referral_when_the_referred_customer_had_already_bought() -> None:
    facts = customer(
        purchases=(bought(day(10)),),
        referrals=(referred(day(20)),),
        referred_purchases=(bought(day(15), customer=FRIEND),),
    )
    assert path(facts, day(40))[-1] == (
        Stage.FIRST_TIME_BUYER,
        Stage.ADVOCATE,
        day(20),
        10 * 86400,
        "CustomerReferred",
    )


def test_advocate_ends_when_the_referred_customers_purchase_is_cancelled() -> None:
    facts = customer(
        purchases=(bought(day(10)),),
        referrals=(referred(day(20)),),
        referred_purchases=(bought(day(30), customer=FRIEND, cancelled_at=day(35)),),
    )
    assert stage_at(facts, day(34)) is Stage.ADVOCATE
    assert path(facts, day(40))[-1][1:] == (
        Stage.FIRST_TIME_BUYER,
        day(35),
        5 * 86400,
        "OrderCancelled",
    )


def test_purchases_of_customers_not_referred_make_no_advocate() -> None:
    facts = customer(
        purchases=(bought(day(10)),),
        referrals=(referred(day(20)),),
        referred_purchases=(bought(day(30), customer=STRANGER),),
    )
    assert stages(facts, day(40)) == [Stage.SUSPECT, Stage.FIRST_TIME_BUYER]


def test_referring_a_buyer_without_buying_oneself_makes_no_advocate() -> None:
    facts = customer(
        referrals=(referred(day(1)),), referred_purchases=(bought(day(2), customer=FRIEND),)
    )
    assert stage_at(facts, day(3)) is Stage.SUSPECT


# ---- instants, simultaneity, the start --------------------------------------------------


def test_facts_at_one_instant_make_one_transition_caused_by_the_decisive_fact() -> None:
    facts = customer(
        engagements=(contacted(T0),),
        qualification=(disqualified(day(2)), requalified(day(2))),
        purchases=(bought(day(5)),),
        membership=(joined(day(5)),),
    )
    assert path(facts, day(10)) == [
        (None, Stage.PROSPECT, T0, None, "CustomerContacted"),
        # Membership applies before purchases: the purchase is what made the member.
        (Stage.PROSPECT, Stage.MEMBER, day(5), 5 * 86400, "OrderApproved"),
    ]


def test_the_cause_is_the_first_fact_after_which_the_stage_was_the_final_one() -> None:
    """Two orders approved at one instant, one cancelled at it: stages first_time_buyer,
    repeat_buyer, first_time_buyer; the first approval made the first-time buyer."""
    facts = customer(purchases=(bought(day(8)), bought(day(8), cancelled_at=day(8))))
    assert path(facts, day(9))[-1] == (
        Stage.SUSPECT,
        Stage.FIRST_TIME_BUYER,
        day(8),
        8 * 86400,
        "OrderApproved",
    )


def test_imported_history_before_the_registration_starts_the_lifecycle() -> None:
    registered = datetime(2026, 3, 1, tzinfo=UTC)
    in_1997 = datetime(1997, 6, 1, tzinfo=UTC)
    facts = CustomerFacts(
        customer_id=CID,
        registered_at=registered,
        purchases=(bought(in_1997, event_type="OrderImported"),),
    )
    assert facts.starts_at == in_1997
    assert path(facts, registered) == [
        (None, Stage.FIRST_TIME_BUYER, in_1997, None, "OrderImported"),
        (Stage.FIRST_TIME_BUYER, Stage.CHURNED, in_1997 + YEAR, 365 * 86400, TIME),
    ]
    with pytest.raises(ValueError, match="starts at"):
        stage_at(facts, in_1997 - SECOND)


@pytest.mark.parametrize("call", [stage_at, history, at_risk, seconds_in_stage])
def test_an_instant_before_the_start_or_naive_is_refused(call: Any) -> None:
    with pytest.raises(ValueError, match="starts at"):
        call(customer(), T0 - SECOND)
    with pytest.raises(ValueError, match="timezone-aware"):
        call(customer(), datetime(2024, 6, 1))  # noqa: DTZ001 - the point of the test


def test_instants_in_other_zones_are_the_same_instants() -> None:
    facts = customer(engagements=(contacted(day(1)),))
    plus_eight = day(1).astimezone(timezone(timedelta(hours=8)))
    assert stage_at(facts, plus_eight) is Stage.PROSPECT


# ---- at risk -----------------------------------------------------------------------------


def test_no_purchase_reason_between_the_warning_and_the_churn() -> None:
    facts = customer(purchases=(bought(day(10)),))
    assert at_risk(facts, day(10) + WARNING) == ()
    assert at_risk(facts, day(10) + WARNING + SECOND) == (NO_PURCHASE,)
    assert at_risk(facts, day(10) + YEAR) == (NO_PURCHASE,)
    assert at_risk(facts, day(10) + YEAR + SECOND) == ()  # churned: the stage says it


def test_no_purchase_reason_never_for_customers_without_purchases_or_disqualified() -> None:
    assert at_risk(customer(engagements=(contacted(day(1)),)), day(1000)) == ()
    facts = customer(purchases=(bought(day(10)),), qualification=(disqualified(day(11)),))
    assert at_risk(facts, day(300)) == ()


def test_no_purchase_reason_follows_the_policy() -> None:
    policy = LifecyclePolicy(churn_after_days=60, churn_warning_days=30)
    facts = customer(purchases=(bought(day(10)),))
    assert at_risk(facts, day(40) + SECOND, policy) == ("no_purchase_for_30_days",)


def surveyed(at: datetime, level: Level) -> SatisfactionMeasure:
    return SatisfactionMeasure(at=at, level=level)


def test_latest_satisfaction_dissatisfied_is_a_reason_until_a_better_measure() -> None:
    facts = customer(
        satisfaction=(
            surveyed(day(5), Level.DISSATISFIED),
            surveyed(day(9), Level.SATISFIED),
            surveyed(day(2), Level.DELIGHTED),
        )
    )
    assert at_risk(facts, day(4)) == ()
    assert at_risk(facts, day(5)) == (LATEST_SATISFACTION_DISSATISFIED,)
    assert at_risk(facts, day(9) - SECOND) == (LATEST_SATISFACTION_DISSATISFIED,)
    assert at_risk(facts, day(9)) == ()


def test_a_dissatisfied_measure_counts_whatever_the_stage() -> None:
    facts = customer(
        purchases=(bought(day(10)),), satisfaction=(surveyed(day(20), Level.DISSATISFIED),)
    )
    assert stage_at(facts, day(800)) is Stage.CHURNED
    assert at_risk(facts, day(800)) == (LATEST_SATISFACTION_DISSATISFIED,)


def complaint(
    filed_at: datetime, *more: tuple[type[DomainEvent], datetime, dict[str, Any]]
) -> tuple[DomainEvent, ...]:
    """A high-severity complaint: response due in 8 hours, resolution in 2 days."""
    filed = event(
        ComplaintFiled,
        KID,
        1,
        at=filed_at,
        customer_id=CID,
        channel=ContactChannel.PHONE,
        category=ComplaintCategory.PRODUCT,
        severity=ComplaintSeverity.HIGH,
        description="冷库门封条漏气",
        sla_policy_version="2026.1",
        response_due_at=filed_at + timedelta(hours=8),
        resolution_due_at=filed_at + 2 * DAY,
    )
    rest = [
        event(kind, KID, version, at=at, **payload)
        for version, (kind, at, payload) in enumerate(more, start=2)
    ]
    return (filed, *rest)


def test_an_open_complaint_past_its_sla_is_a_reason_until_closed() -> None:
    stream = complaint(
        day(10),
        (ComplaintAssessed, day(10) + timedelta(hours=9), {"valid": True}),
        (ComplaintClosed, day(15), {}),
    )
    facts = customer(complaints=(stream,))
    assert at_risk(facts, day(10) - SECOND) == ()
    assert at_risk(facts, day(10) + timedelta(hours=8)) == ()
    assert at_risk(facts, day(10) + timedelta(hours=8) + SECOND) == (COMPLAINT_PAST_SLA,)
    assert at_risk(facts, day(14)) == (COMPLAINT_PAST_SLA,)
    assert at_risk(facts, day(15)) == ()


def test_a_complaint_within_its_sla_is_no_reason() -> None:
    stream = complaint(day(10), (ComplaintAssessed, day(10) + timedelta(hours=1), {"valid": True}))
    facts = customer(complaints=(stream,))
    assert at_risk(facts, day(12)) == ()
    assert at_risk(facts, day(12) + SECOND) == (COMPLAINT_PAST_SLA,)  # resolution now late


def test_every_reason_at_once_in_a_fixed_order() -> None:
    facts = customer(
        purchases=(bought(day(10)),),
        satisfaction=(surveyed(day(100), Level.DISSATISFIED),),
        complaints=(complaint(day(150)), complaint(day(160))),
    )
    assert at_risk(facts, day(300)) == (
        NO_PURCHASE,
        LATEST_SATISFACTION_DISSATISFIED,
        COMPLAINT_PAST_SLA,
    )


def test_a_complaint_of_another_customer_is_refused() -> None:
    stream = complaint(day(1))
    other = (stream[0].model_copy(update={"customer_id": FRIEND}),)
    with pytest.raises(ValidationError, match="another customer"):
        customer(complaints=(other,))
    with pytest.raises(ValidationError, match="start with ComplaintFiled"):
        customer(complaints=(stream[1:],))


# ---- facts from events -------------------------------------------------------------------

LINES = (OrderLine(sku="CR-1", name="Cold room", quantity=Decimal(1), unit_price=Decimal(1000)),)


def drafted(order_id: UUID, at: datetime, customer_id: UUID = CID) -> DomainEvent:
    return event(
        OrderDrafted,
        order_id,
        1,
        at=at,
        customer_id=customer_id,
        order_type=OrderType.STANDARD,
        lines=LINES,
        currency="CNY",
        total=cny(),
    )


def imported(order_id: UUID, approved_at: datetime, **dates: Any) -> DomainEvent:
    return event(
        OrderImported,
        order_id,
        1,
        at=approved_at,
        customer_id=CID,
        order_type=OrderType.STANDARD,
        lines=LINES,
        currency="CNY",
        total=cny(),
        approved_at=approved_at,
        import_batch_id="batch-1",
        **dates,
    )


def test_a_purchase_from_an_approved_order_dated_at_its_approval() -> None:
    order = UUID(int=501)
    events = [
        drafted(order, day(1)),
        event(OrderApproved, order, 4, at=day(3), total=cny("990.00")),
    ]
    assert purchase_from_order_events(events) == Purchase(
        order_id=order, customer_id=CID, approved_at=day(3), total=cny("990.00")
    )
    cancelled = purchase_from_order_events(
        [
            *events,
            event(
                OrderCancelled, order, 5, at=day(4), from_status=OrderStatus.APPROVED, reason="x"
            ),
        ]
    )
    assert cancelled is not None
    assert (cancelled.cancelled_at, cancelled.cancellation_event_type) == (day(4), "OrderCancelled")


def test_an_order_never_approved_is_no_purchase() -> None:
    order = UUID(int=502)
    cancelled_draft = [
        drafted(order, day(1)),
        event(OrderCancelled, order, 2, at=day(2), from_status=OrderStatus.DRAFT, reason="x"),
    ]
    assert purchase_from_order_events(cancelled_draft) is None
    assert purchase_from_order_events(cancelled_draft[:1]) is None


def test_purchases_from_imported_orders() -> None:
    kept = purchase_from_order_events(
        [
            imported(
                UUID(int=503), day(1), status=OrderStatus.PAID, fulfilled_at=day(2), paid_at=day(3)
            )
        ]
    )
    assert kept is not None
    assert (kept.approved_at, kept.event_type, kept.cancelled_at) == (day(1), "OrderImported", None)
    gone = purchase_from_order_events(
        [imported(UUID(int=504), day(1), status=OrderStatus.CANCELLED, cancelled_at=day(2))]
    )
    assert gone is not None
    assert (gone.cancelled_at, gone.cancellation_event_type) == (day(2), "OrderImported")
    later = purchase_from_order_events(
        [
            imported(UUID(int=505), day(1), status=OrderStatus.APPROVED),
            event(
                OrderCancelled,
                UUID(int=505),
                2,
                at=day(5),
                from_status=OrderStatus.APPROVED,
                reason="x",
            ),
        ]
    )
    assert later is not None
    assert (later.cancelled_at, later.cancellation_event_type) == (day(5), "OrderCancelled")


def customer_stream() -> list[DomainEvent]:
    steps: list[tuple[type[DomainEvent], datetime, dict[str, Any]]] = [
        (
            CustomerRegistered,
            T0,
            {
                "profile": CustomerProfile(kind=CustomerKind.COMPANY, name="杭州冷链物流有限公司"),
                "tier": Tier.PREFERRED_SUPPLIER,
            },
        ),
        (CustomerProfileUpdated, day(1), {"changed_fields": ("industry",), "industry": "冷链"}),
        (
            CustomerContacted,
            day(2),
            {
                "channel": ContactChannel.PHONE,
                "direction": ContactDirection.OUTBOUND,
                "summary": "首次电话",
            },
        ),
        (CustomerDisqualified, day(3), {"reason": "预算不足"}),
        (CustomerRequalified, day(4), {}),
        (MembershipJoined, day(20), {}),
        (MembershipLeft, day(30), {}),
        (CustomerReferred, day(40), {"referred_customer_id": FRIEND}),
        (
            SatisfactionSurveyed,
            day(45),
            {
                "survey_id": UUID(int=900),
                "scores": (
                    DimensionScore(
                        dimension=SatisfactionDimension.OVERALL, expected=9, perceived=6
                    ),
                ),
                "gap": Decimal("-3.00"),
                "level": Level.DISSATISFIED,
            },
        ),
        (
            RelationshipTierChanged,
            day(50),
            {"from_tier": Tier.PREFERRED_SUPPLIER, "to_tier": Tier.PARTNER},
        ),
    ]
    return [
        event(kind, CID, version, at=at, **payload)
        for version, (kind, at, payload) in enumerate(steps, start=1)
    ]


def opened(at: datetime, customer_id: UUID = CID) -> DomainEvent:
    return event(
        OpportunityOpened,
        OPP_ID,
        1,
        at=at,
        customer_id=customer_id,
        title="冷库扩建",
        estimated_value=cny("50000.00"),
    )


def test_facts_from_events() -> None:
    mine = bought(day(10))
    friends = bought(day(60), customer=FRIEND)
    stream = complaint(day(70))
    facts = facts_from_events(
        [opened(day(1) + SECOND), *customer_stream()],
        purchases=[mine],
        referred_purchases=[friends],
        complaints=[stream],
    )
    assert facts == CustomerFacts(
        customer_id=CID,
        registered_at=T0,
        tier=Tier.PREFERRED_SUPPLIER,
        engagements=(
            Engagement(at=day(1) + SECOND, event_type="OpportunityOpened"),
            Engagement(at=day(2), event_type="CustomerContacted"),
        ),
        qualification=(disqualified(day(3)), requalified(day(4))),
        tier_changes=(tier(day(50), Tier.PARTNER),),
        membership=(joined(day(20)), left(day(30))),
        purchases=(mine,),
        referrals=(referred(day(40)),),
        referred_purchases=(friends,),
        satisfaction=(surveyed(day(45), Level.DISSATISFIED),),
        complaints=(stream,),
    )
    assert stages(facts, day(100)) == [
        Stage.SUSPECT,
        Stage.PROSPECT,
        Stage.DISQUALIFIED,
        Stage.PROSPECT,
        Stage.FIRST_TIME_BUYER,
        Stage.MEMBER,
        Stage.FIRST_TIME_BUYER,
        Stage.PARTNER,
    ]
    assert at_risk(facts, day(100)) == (LATEST_SATISFACTION_DISSATISFIED, COMPLAINT_PAST_SLA)


def test_facts_from_events_refuse_what_is_not_this_customers() -> None:
    with pytest.raises(ValueError, match="CustomerRegistered"):
        facts_from_events(customer_stream()[1:])
    with pytest.raises(ValueError, match="another customer"):
        facts_from_events([*customer_stream(), opened(day(1), FRIEND)])
    stray = event(MembershipJoined, FRIEND, 1, at=day(1))
    with pytest.raises(ValueError, match="among customer"):
        facts_from_events([*customer_stream(), stray])
    with pytest.raises(ValidationError, match="another customer"):
        facts_from_events(customer_stream(), purchases=[bought(day(1), customer=FRIEND)])


# ---- property: stage_at agrees with history and with a model of the rules -----------------


def _latest(changes: Any, at: datetime) -> Any:
    """The last change at or before ``at``; at one instant the last given wins."""
    known = [(change.at, index, change) for index, change in enumerate(changes) if change.at <= at]
    return max(known, key=lambda item: item[:2])[2] if known else None


def stands(p: Purchase, at: datetime) -> bool:
    return p.approved_at <= at and (p.cancelled_at is None or at < p.cancelled_at)


def model_stage(facts: CustomerFacts, at: datetime, policy: LifecyclePolicy) -> Stage:
    """DESIGN §3 read literally from the facts, independently of domain.lifecycle."""
    qualification = _latest(facts.qualification, at)
    if qualification is not None and qualification.disqualified:
        return Stage.DISQUALIFIED
    own = [p for p in facts.purchases if stands(p, at)]
    if not own:
        engaged = any(e.at <= at for e in facts.engagements)
        return Stage.PROSPECT if engaged else Stage.SUSPECT
    first = min(p.approved_at for p in own)
    last = max(p.approved_at for p in own)
    if (at - last).total_seconds() > policy.churn_after_days * 86400:
        return Stage.CHURNED
    change = _latest(facts.tier_changes, at)
    if (change.tier if change else facts.tier) in (Tier.PARTNER, Tier.STRATEGIC_ALLIANCE):
        return Stage.PARTNER
    friends = {r.referred_customer_id for r in facts.referrals if r.at <= at} - {CID}
    if any(p.customer_id in friends and stands(p, at) for p in facts.referred_purchases):
        return Stage.ADVOCATE
    membership = _latest(facts.membership, at)
    if membership is not None and membership.member:
        return Stage.MEMBER
    if len(own) >= 3 and (last - first).total_seconds() >= 365 * 86400:
        return Stage.LONG_TERM
    return Stage.REPEAT_BUYER if len(own) >= 2 else Stage.FIRST_TIME_BUYER


# Instants on a day grid (so churn dates and events often coincide) or to the second.
instants = st.one_of(
    st.integers(0, 1000).map(lambda n: day(n)),
    st.integers(0, 1000 * 86400).map(lambda n: T0 + n * SECOND),
)
cancellations = st.one_of(st.none(), st.integers(0, 400).map(lambda n: n * DAY))


@st.composite
def purchases(draw: st.DrawFn, who: st.SearchStrategy[UUID], most: int) -> tuple[Purchase, ...]:
    made = []
    for number in range(draw(st.integers(0, most))):
        approved_at = draw(instants)
        delay = draw(cancellations)
        made.append(
            Purchase(
                order_id=UUID(int=10_000 + number),
                customer_id=draw(who),
                approved_at=approved_at,
                total=cny(),
                event_type=draw(st.sampled_from(["OrderApproved", "OrderImported"])),
                cancelled_at=None if delay is None else approved_at + delay,
            )
        )
    return tuple(made)


@st.composite
def random_facts(draw: st.DrawFn) -> CustomerFacts:
    few = {"max_size": 3}
    return CustomerFacts(
        customer_id=CID,
        registered_at=draw(instants),
        tier=draw(st.sampled_from(Tier)),
        engagements=tuple(
            Engagement(at=at, event_type=kind)
            for at, kind in draw(
                st.lists(
                    st.tuples(
                        instants, st.sampled_from(["CustomerContacted", "OpportunityOpened"])
                    ),
                    **few,
                )
            )
        ),
        qualification=tuple(
            QualificationChange(at=at, disqualified=flag)
            for at, flag in draw(st.lists(st.tuples(instants, st.booleans()), **few))
        ),
        tier_changes=tuple(
            TierChange(at=at, tier=to)
            for at, to in draw(st.lists(st.tuples(instants, st.sampled_from(Tier)), **few))
        ),
        membership=tuple(
            MembershipChange(at=at, member=flag)
            for at, flag in draw(st.lists(st.tuples(instants, st.booleans()), **few))
        ),
        purchases=draw(purchases(st.just(CID), 6)),
        referrals=tuple(
            Referral(at=at, referred_customer_id=who)
            for at, who in draw(
                st.lists(st.tuples(instants, st.sampled_from([FRIEND, CID])), max_size=2)
            )
        ),
        referred_purchases=tuple(
            p.model_copy(update={"order_id": UUID(int=20_000 + n)})
            for n, p in enumerate(draw(purchases(st.sampled_from([FRIEND, STRANGER]), 3)))
        ),
    )


@settings(max_examples=150, deadline=None, database=None)
@given(facts=random_facts(), probes=st.lists(instants, min_size=1, max_size=8))
def test_stage_at_is_the_last_stage_of_the_history_up_to_that_instant(
    facts: CustomerFacts, probes: list[datetime]
) -> None:
    start = facts.starts_at
    # The instants where something may happen, each with its neighbours to the second.
    marks = [start, *probes]
    for p in facts.purchases:
        marks += [p.approved_at, p.approved_at + YEAR]
        if p.cancelled_at is not None:
            marks.append(p.cancelled_at)
    marks += [p.approved_at for p in facts.referred_purchases]
    instants_ = sorted(
        {m + d for m in marks for d in (-SECOND, timedelta(0), SECOND) if m + d >= start}
    )
    end = instants_[-1] + YEAR + DAY
    full = history(facts, end)
    for t in instants_:
        expected = model_stage(facts, t, POLICY)
        assert stage_at(facts, t) is expected
        up_to_t = history(facts, t)
        assert up_to_t[-1].to_stage is expected
        # The projection's one pass answers what the two questions do.
        assert history_and_risk(facts, t) == (up_to_t, at_risk(facts, t))
        # A later look never rewrites the past: history up to t is what had happened by t.
        assert up_to_t == [
            tr
            for tr in full
            if tr.transitioned_at < t or (tr.transitioned_at == t and tr.cause != TIME)
        ]
    # The transitions chain, change the stage, and account for every second.
    assert full[0].from_stage is None and full[0].transitioned_at == start
    for before, after in pairwise(full):
        assert after.from_stage is before.to_stage is not after.to_stage
        assert (
            after.seconds_in_from_stage
            == (after.transitioned_at - before.transitioned_at) // SECOND
        )
    assert sum(seconds_in_stage(facts, end).values()) == (end - start) // SECOND


def followed_up(filed_at: datetime, answered_at: datetime, satisfaction: int) -> ComplaintStream:
    """A complaint handled within its SLA, then the customer's 1–5 answer at its follow-up."""
    return complaint(
        filed_at,
        (ComplaintAssessed, filed_at + timedelta(hours=1), {"valid": True}),
        (ComplaintAssigned, filed_at + timedelta(hours=2), {"department": "QA", "handler_id": "h"}),
        (ComplaintResolved, filed_at + DAY, {"resolution": "replaced the door seal"}),
        (ComplaintFollowedUp, answered_at, {"satisfaction": satisfaction}),
    )


def test_a_complaint_follow_up_counts_as_the_latest_satisfaction() -> None:
    """DESIGN §2.5: follow-ups enter the satisfaction history, so the warning reads them."""
    unhappy = customer(complaints=(followed_up(day(10), day(12), 2),))
    recovered = customer(
        satisfaction=(surveyed(day(5), Level.DISSATISFIED),),
        complaints=(followed_up(day(10), day(12), 4),),
    )
    assert at_risk(unhappy, day(12) - SECOND) == ()
    assert at_risk(unhappy, day(12)) == (LATEST_SATISFACTION_DISSATISFIED,)
    assert at_risk(recovered, day(12) - SECOND) == (LATEST_SATISFACTION_DISSATISFIED,)
    assert at_risk(recovered, day(12)) == ()
    assert at_risk(customer(complaints=(followed_up(day(10), day(12), 3),)), day(20)) == ()
