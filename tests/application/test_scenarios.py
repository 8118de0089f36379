"""Whole stories through the public surface, on SQLite and PostgreSQL, with frozen time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from freezegun import freeze_time

from application import CRM
from application.commands import (
    AwardLoyaltyPoints,
    ChangeOpportunityStage,
    ChangeRelationshipTier,
    CompleteFollowUp,
    DimensionScore,
    DisqualifyCustomer,
    EvaluateOpportunity,
    JoinMembership,
    LoseOpportunity,
    Money,
    PricedLine,
    QuoteOpportunity,
    RecordContact,
    RecordReferral,
    RecordSatisfactionSurvey,
    RedeemLoyaltyPoints,
    ReopenOpportunity,
    RequalifyCustomer,
    ScheduleFollowUp,
    UpdateCustomerProfile,
    WinOpportunity,
)
from domain.aggregates import Customer, Opportunity
from domain.events import (
    CustomerProfileUpdated,
    FollowUpScheduled,
    OpportunityQuoted,
    OpportunityStageChanged,
    SatisfactionSurveyed,
)
from domain.vocabulary import OpportunityStage, RelationshipTier, SatisfactionLevel
from tests.application.builders import MANAGER, REP, SERVICE, open_opportunity, register

START = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


def test_a_customer_relationship_from_first_contact_to_loyal_member(crm: CRM) -> None:
    with freeze_time(START) as clock:
        customer_id = register(crm, kind="individual", name="Chen Jing", email="chen@example.com")
        friend_id = register(crm, kind="individual", name="Wu Lei")
        crm.execute(
            RecordContact(
                customer_id=customer_id, channel="wechat", direction="inbound", summary="Asked"
            ),
            actor=REP,
        )
        scheduled = crm.execute(
            ScheduleFollowUp(
                customer_id=customer_id, purpose="revisit", due_at=START + timedelta(days=7)
            ),
            actor=REP,
        )
        follow_up = scheduled.events[0]
        assert isinstance(follow_up, FollowUpScheduled)
        clock.tick(timedelta(days=7))
        crm.execute(
            CompleteFollowUp(customer_id=customer_id, follow_up_id=follow_up.follow_up_id),
            actor=REP,
        )
        updated = crm.execute(
            UpdateCustomerProfile(customer_id=customer_id, phone="+86 138 0000 0000", email=None),
            actor=REP,
        )
        crm.execute(JoinMembership(customer_id=customer_id, program="VIP"), actor=REP)
        crm.execute(AwardLoyaltyPoints(customer_id=customer_id, points=500), actor=MANAGER)
        crm.execute(RedeemLoyaltyPoints(customer_id=customer_id, points=120), actor=REP)
        crm.execute(
            RecordReferral(customer_id=customer_id, referred_customer_id=friend_id), actor=REP
        )
        crm.execute(
            ChangeRelationshipTier(customer_id=customer_id, tier="preferred_supplier"),
            actor=MANAGER,
        )
        surveyed = crm.execute(
            RecordSatisfactionSurvey(
                customer_id=customer_id,
                scores=(
                    DimensionScore(dimension="product", expected=7, perceived=9),
                    DimensionScore(dimension="service", expected=8, perceived=8),
                ),
                nps=9,
            ),
            actor=SERVICE,
        )
        crm.execute(
            DisqualifyCustomer(customer_id=friend_id, reason="Duplicate lead"), actor=MANAGER
        )
        crm.execute(RequalifyCustomer(customer_id=friend_id), actor=MANAGER)

    (change,) = updated.events
    assert isinstance(change, CustomerProfileUpdated)
    assert change.changed_fields == ("contact",)
    (survey,) = surveyed.events
    assert isinstance(survey, SatisfactionSurveyed)
    assert (survey.gap, survey.level) == (Decimal("1.00"), SatisfactionLevel.DELIGHTED)

    customer = crm.load(Customer, customer_id)
    assert customer.version == 11
    assert customer.profile.contact.phone == "+86 138 0000 0000"
    assert customer.profile.contact.email is None
    assert (customer.is_member, customer.loyalty_points) == (True, 380)
    assert customer.referred_customers == {friend_id}
    assert customer.tier is RelationshipTier.PREFERRED_SUPPLIER
    assert not crm.load(Customer, friend_id).is_disqualified
    assert customer.last_occurred_at == START + timedelta(days=7)
    assert crm.load(Customer, customer_id, version=2).contacts == 1


def test_an_opportunity_moves_back_is_lost_reopened_requoted_and_won(crm: CRM) -> None:
    with freeze_time(START):
        customer_id = register(crm)
        opportunity_id = open_opportunity(crm, customer_id)
        run = lambda command: crm.execute(command, actor=REP)  # noqa: E731
        run(
            EvaluateOpportunity(
                opportunity_id=opportunity_id, score=70, win_probability=Decimal(40), priority="A"
            )
        )
        run(ChangeOpportunityStage(opportunity_id=opportunity_id, to_stage="needs_confirmed"))
        back = run(
            ChangeOpportunityStage(
                opportunity_id=opportunity_id, to_stage="intent_confirmed", reason="New buyer"
            )
        )
        line = PricedLine(sku="SHF-100", name="Shelving", quantity=3, unit_price=Decimal("19.99"))
        quote = {
            "opportunity_id": opportunity_id,
            "quote_number": "Q-7",
            "valid_until": "2026-03-01",
        }
        first_quote = run(QuoteOpportunity(**quote, lines=(line,)))
        run(LoseOpportunity(opportunity_id=opportunity_id, reason="Price", competitor="Yonyou"))
        crm.execute(
            ReopenOpportunity(opportunity_id=opportunity_id, reason="Competitor failed"),
            actor=MANAGER,
        )
        cheaper = line.model_copy(update={"discount_pct": Decimal("12.5")})
        second_quote = run(QuoteOpportunity(**quote, lines=(cheaper,)))
        run(ChangeOpportunityStage(opportunity_id=opportunity_id, to_stage="negotiating"))
        run(WinOpportunity(opportunity_id=opportunity_id))

    (moved_back,) = back.events
    assert isinstance(moved_back, OpportunityStageChanged)
    assert moved_back.is_back_move
    quoted, moved = first_quote.events
    assert isinstance(quoted, OpportunityQuoted)
    assert isinstance(moved, OpportunityStageChanged)
    assert (quoted.quote_version, quoted.total.amount) == (1, Decimal("59.97"))
    assert moved.to_stage is OpportunityStage.QUOTED
    (requoted,) = second_quote.events
    assert isinstance(requoted, OpportunityQuoted)
    assert (requoted.quote_version, requoted.total) == (
        2,
        Money(amount=Decimal("52.47"), currency="CNY"),
    )
    opportunity = crm.load(Opportunity, opportunity_id)
    assert opportunity.stage is OpportunityStage.WON
    assert opportunity.latest_quote_total == requoted.total
