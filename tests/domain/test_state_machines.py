"""Property tests: random command sequences against simple models of the rules.

(a) The opportunity stage machine: final stages are terminal except lost -> reopen, a
    refused command records nothing, and the recorded events rebuild the same state.
(b) Loyalty points: the balance follows a running sum and never goes below zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.aggregates.base import Aggregate
from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity
from domain.errors import RuleViolation
from domain.events.base import DomainEvent
from domain.events.customer import CustomerProfile, LoyaltyPointsEarned, LoyaltyPointsRedeemed
from domain.events.opportunity import (
    OpportunityEvaluated,
    OpportunityLost,
    OpportunityQuoted,
    OpportunityReopened,
    OpportunityStageChanged,
    OpportunityWon,
)
from domain.lines import PricedLine
from domain.values import CURRENCY_MINOR_UNITS, Money
from domain.vocabulary import CustomerKind, OpportunityStage, Priority
from tests.domain.scenario import NOW, context

Stage = OpportunityStage
ORDER = list(Stage)  # the development flow, in order
CURRENCY = "KWD"  # three minor digits: the least forgiving rounding
VALID_UNTIL = NOW.date() + timedelta(days=30)

MACHINE_SETTINGS = settings(max_examples=200, stateful_step_count=30, deadline=None, database=None)


def register_customer() -> Customer:
    return Customer.register(
        context(),
        customer_id=uuid4(),
        profile=CustomerProfile(kind=CustomerKind.COMPANY, name="宁波港冷库有限公司"),
    )


def exact_line_total(line: PricedLine) -> Decimal:
    """Exact rational arithmetic rounded half-up: a model independent of domain.lines."""
    exact = (
        Fraction(line.quantity)
        * Fraction(line.unit_price)
        * (100 - Fraction(line.discount_pct))
        / 100
    )
    places = CURRENCY_MINOR_UNITS[CURRENCY]
    return Decimal(int(exact * 10**places + Fraction(1, 2))).scaleb(-places)


lines_strategy = st.lists(
    st.builds(
        PricedLine,
        sku=st.sampled_from(["CR-1", "SEAL-2", "FAN-3"]),
        name=st.just("Part"),
        quantity=st.decimals(min_value=Decimal("0.0001"), max_value=1000, places=4),
        unit_price=st.decimals(min_value=0, max_value=100000, places=6),
        discount_pct=st.decimals(min_value=0, max_value=100, places=4),
    ),
    min_size=1,
    max_size=4,
).map(tuple)


@dataclass
class Recorder:
    """Runs commands on one aggregate and checks the all-or-nothing contract."""

    aggregate: Aggregate
    events: list[DomainEvent] = field(default_factory=list)

    def run(self, command: Callable[[], Any], refused_by: str | None) -> list[DomainEvent]:
        """``refused_by`` is the rule the model expects to refuse the command, or None."""
        version = self.aggregate.version
        refusal: RuleViolation | None = None
        try:
            command()
        except RuleViolation as error:
            refusal = error
        if refusal is not None:
            assert refusal.rule == refused_by, f"model expected {refused_by!r}, got {refusal}"
            assert self.aggregate.pending_events == ()
            assert self.aggregate.version == version
            return []
        assert refused_by is None, f"model expected {refused_by!r}, the command was accepted"
        produced = self.aggregate.collect_events()
        assert produced, "an accepted command records at least one event"
        assert [e.version for e in produced] == list(
            range(version + 1, version + 1 + len(produced))
        )
        assert all(e.aggregate_id == self.aggregate.id for e in produced)
        self.events.extend(produced)
        return produced


# ---- (a) the opportunity stage machine ----------------------------------------------


class OpportunityStageMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        opportunity = Opportunity.open(
            context(),
            opportunity_id=uuid4(),
            customer=register_customer(),
            title="Cold chain for the port",
            estimated_value=Money(amount=Decimal(250000), currency=CURRENCY),
        )
        self.opportunity = opportunity
        self.recorder = Recorder(opportunity, opportunity.collect_events())
        # The model.
        self.stage = Stage.IDENTIFIED
        self.lost_at: Stage | None = None
        self.quote_versions: dict[str, int] = {}
        self.latest_quote_total: Decimal | None = None

    @property
    def closed(self) -> bool:
        return self.stage in (Stage.WON, Stage.LOST)

    @rule(to_stage=st.sampled_from(ORDER), reason=st.none() | st.just("Customer call"))
    def change_stage(self, to_stage: Stage, reason: str | None) -> None:
        if self.closed:
            refused_by: str | None = "opportunity_open"
        elif to_stage in (Stage.WON, Stage.LOST):
            refused_by = "final_stage_by_win_or_lose"
        elif to_stage == self.stage:
            refused_by = "stage_changes"
        elif to_stage in (Stage.QUOTED, Stage.NEGOTIATING) and not self.quote_versions:
            refused_by = "quote_before_stage"
        else:
            refused_by = None
        produced = self.recorder.run(
            lambda: self.opportunity.change_stage(context(), to_stage=to_stage, reason=reason),
            refused_by,
        )
        if produced:
            (changed,) = produced
            assert isinstance(changed, OpportunityStageChanged)
            assert (changed.from_stage, changed.to_stage) == (self.stage, to_stage)
            assert changed.is_back_move == (ORDER.index(to_stage) < ORDER.index(self.stage))
            self.stage = to_stage

    @rule(number=st.sampled_from(["Q-1", "Q-2", "Q-3"]), lines=lines_strategy)
    def quote(self, number: str, lines: tuple[PricedLine, ...]) -> None:
        produced = self.recorder.run(
            lambda: self.opportunity.quote(
                context(), quote_number=number, lines=lines, valid_until=VALID_UNTIL
            ),
            "opportunity_open" if self.closed else None,
        )
        if not produced:
            return
        quoted, *moved = produced
        assert isinstance(quoted, OpportunityQuoted)
        self.quote_versions[number] = self.quote_versions.get(number, 0) + 1
        assert quoted.quote_version == self.quote_versions[number]
        self.latest_quote_total = sum((exact_line_total(line) for line in lines), Decimal(0))
        assert quoted.total == Money(amount=self.latest_quote_total, currency=CURRENCY)
        if ORDER.index(self.stage) < ORDER.index(Stage.QUOTED):
            (change,) = moved
            assert isinstance(change, OpportunityStageChanged)
            assert (change.from_stage, change.to_stage, change.is_back_move) == (
                self.stage,
                Stage.QUOTED,
                False,
            )
            self.stage = Stage.QUOTED
        else:
            assert moved == []

    @rule(won_in=st.sampled_from([None, CURRENCY]))
    def win(self, won_in: str | None) -> None:
        won_value = None if won_in is None else Money(amount=Decimal(1000), currency=won_in)
        if self.closed:
            refused_by: str | None = "opportunity_open"
        elif self.stage not in (Stage.QUOTED, Stage.NEGOTIATING):
            refused_by = "win_after_quote"
        else:
            refused_by = None
        produced = self.recorder.run(
            lambda: self.opportunity.win(context(), order_id=uuid4(), won_value=won_value),
            refused_by,
        )
        if produced:
            (won,) = produced
            assert isinstance(won, OpportunityWon)
            assert won.from_stage == self.stage
            if won_value is None:
                assert self.latest_quote_total is not None
                assert won.won_value == Money(amount=self.latest_quote_total, currency=CURRENCY)
            else:
                assert won.won_value == won_value
            self.stage = Stage.WON

    @rule()
    def lose(self) -> None:
        produced = self.recorder.run(
            lambda: self.opportunity.lose(context(), reason="Lost on price"),
            "opportunity_open" if self.closed else None,
        )
        if produced:
            (lost,) = produced
            assert isinstance(lost, OpportunityLost)
            assert lost.from_stage == self.stage
            self.lost_at, self.stage = self.stage, Stage.LOST

    @rule()
    def reopen(self) -> None:
        produced = self.recorder.run(
            lambda: self.opportunity.reopen(context()),
            None if self.stage is Stage.LOST else "reopen_only_lost",
        )
        if produced:
            (reopened,) = produced
            assert isinstance(reopened, OpportunityReopened)
            assert self.lost_at is not None
            assert reopened.to_stage == self.lost_at
            self.stage, self.lost_at = self.lost_at, None

    @rule(
        score=st.integers(0, 100),
        win_probability=st.decimals(min_value=0, max_value=100, places=2),
        priority=st.sampled_from(list(Priority)),
    )
    def evaluate(self, score: int, win_probability: Decimal, priority: Priority) -> None:
        produced = self.recorder.run(
            lambda: self.opportunity.evaluate(
                context(), score=score, win_probability=win_probability, priority=priority
            ),
            "opportunity_open" if self.closed else None,
        )
        if produced:
            (evaluated,) = produced
            assert isinstance(evaluated, OpportunityEvaluated)
            assert self.opportunity.win_probability == win_probability

    @precondition(lambda self: self.stage in (Stage.QUOTED, Stage.NEGOTIATING))
    @rule(currency=st.sampled_from(["USD", "JPY", "CNY"]))
    def win_in_another_currency(self, currency: str) -> None:
        won_value = Money(amount=Decimal(1000), currency=currency)
        self.recorder.run(
            lambda: self.opportunity.win(context(), won_value=won_value), "currency_matches"
        )

    @invariant()
    def the_stage_follows_the_model(self) -> None:
        assert self.opportunity.stage in ORDER
        assert self.opportunity.stage is self.stage
        assert self.opportunity.quote_versions == self.quote_versions
        assert self.opportunity.stage_before_loss == self.lost_at

    @invariant()
    def the_version_counts_the_recorded_events(self) -> None:
        assert self.opportunity.version == len(self.recorder.events)

    @invariant()
    def replaying_the_events_rebuilds_the_same_opportunity(self) -> None:
        replayed = Opportunity.replay(self.recorder.events)
        assert (replayed.stage, replayed.version) == (
            self.opportunity.stage,
            self.opportunity.version,
        )
        assert replayed.quote_versions == self.opportunity.quote_versions
        assert replayed.stage_before_loss == self.opportunity.stage_before_loss
        assert replayed.latest_quote_total == self.opportunity.latest_quote_total
        assert replayed.order_id == self.opportunity.order_id


OpportunityStageMachine.TestCase.settings = MACHINE_SETTINGS
TestOpportunityStageMachine = OpportunityStageMachine.TestCase


# ---- (b) loyalty points ---------------------------------------------------------------


class LoyaltyPointsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        customer = register_customer()
        self.customer = customer
        self.recorder = Recorder(customer, customer.collect_events())
        self.balance = 0  # the model

    @rule(points=st.integers(1, 5000))
    def award(self, points: int) -> None:
        (earned,) = self.recorder.run(
            lambda: self.customer.award_loyalty_points(context(), points=points, reason="Purchase"),
            None,
        )
        self.balance += points
        assert isinstance(earned, LoyaltyPointsEarned)
        assert (earned.points, earned.balance_after) == (points, self.balance)

    @rule(points=st.integers(1, 8000))
    def redeem(self, points: int) -> None:
        over = points > self.balance
        produced = self.recorder.run(
            lambda: self.customer.redeem_loyalty_points(context(), points=points, reason="Voucher"),
            "loyalty_points_never_negative" if over else None,
        )
        if over:
            assert produced == []
            return
        self.balance -= points
        (redeemed,) = produced
        assert isinstance(redeemed, LoyaltyPointsRedeemed)
        assert (redeemed.points, redeemed.balance_after) == (points, self.balance)

    @precondition(lambda self: self.balance > 0)
    @rule()
    def redeem_everything(self) -> None:
        self.recorder.run(
            lambda: self.customer.redeem_loyalty_points(context(), points=self.balance), None
        )
        self.balance = 0

    @rule(points=st.integers(-100, 0))
    def award_or_redeem_nothing(self, points: int) -> None:
        self.recorder.run(
            lambda: self.customer.award_loyalty_points(context(), points=points),
            "loyalty_points_positive",
        )
        self.recorder.run(
            lambda: self.customer.redeem_loyalty_points(context(), points=points),
            "loyalty_points_positive",
        )

    @invariant()
    def the_balance_is_never_negative_and_equals_the_model(self) -> None:
        assert self.customer.loyalty_points >= 0
        assert self.customer.loyalty_points == self.balance

    @invariant()
    def replaying_the_events_rebuilds_the_balance(self) -> None:
        replayed = Customer.replay(self.recorder.events)
        assert (replayed.loyalty_points, replayed.version) == (self.balance, self.customer.version)


LoyaltyPointsMachine.TestCase.settings = MACHINE_SETTINGS
TestLoyaltyPointsMachine = LoyaltyPointsMachine.TestCase
