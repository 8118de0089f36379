"""The customer lifecycle (客户发展过程, DESIGN §3) as pure rules over dated facts.

A projection gathers what is known about one customer into ``CustomerFacts`` (directly,
or with ``facts_from_events``) and asks:

- ``stage_at(facts, at)``: the stage at instant ``at``, the first rule of §3 that holds;
- ``history(facts, until)``: every stage change from the customer's start up to ``until``;
- ``seconds_in_stage(facts, until)``: the time spent in each stage up to ``until``;
- ``at_risk(facts, at)``: the reasons of the churn warning (流失预警), empty when none.

Nothing here reads a clock or does I/O: the instant is always an argument, in business
time (``occurred_at``), so any past instant can be recomputed from the log.

Definitions, where DESIGN leaves a choice:

- **Purchases as of T.** A purchase counts at T when its order was approved at or before T
  and not cancelled at or before T: a purchase later cancelled counts on
  ``[approved_at, cancelled_at)``. The stage at T is then what could be known at T, and a
  cancellation changes the stage from its own instant on (cause ``OrderCancelled``) instead
  of rewriting the history before it.
- **Churn is strict.** Churned at T when T − last purchase > ``churn_after_days``: exactly
  365 days after the last purchase the customer is not yet churned, one second later they
  are. The churn transition is dated last purchase + ``churn_after_days`` exactly (the
  bound of the open interval in which the customer is churned), with cause ``"time"``; a
  history up to ``until`` holds it only when ``until`` is after that date. So at every
  instant t, ``stage_at(facts, t)`` is the last ``to_stage`` of ``history(facts, t)``.
- **Long-term is inclusive.** ≥ 3 purchases and last − first ≥ 365 days (exactly 365 days
  is long-term). It can only become true at a purchase (or false at a cancellation), never
  by time alone.
- **Only churn happens by time alone.** Every other rule changes at an event: contacts,
  opportunities, disqualification and requalification, tier and membership changes,
  referrals, purchases and their cancellations (this customer's, and those of the
  customers they referred). Requalifying a customer whose last purchase is old makes them
  ``churned`` at once, with cause ``CustomerRequalified``; cancelling the latest purchase
  can likewise churn at once, with cause ``OrderCancelled``.
- **Simultaneous facts.** Facts at one instant are applied together, in a fixed order
  (registration, engagements, qualification, tier, membership, referrals, approvals,
  cancellations; facts of one kind in the order given); at most one transition is recorded
  for them, and its cause is the first fact after which the stage was the final one. A churn
  dated at the same instant as an event comes after it (it holds only *after* that
  instant), with 0 seconds in the stage the event made.
- **The start.** A lifecycle starts at the earlier of the registration and the customer's
  first own fact (an imported order of 1997 for a customer registered today starts it in
  1997). The first transition has no ``from_stage`` and no ``seconds_in_from_stage``.
  Asking about an instant before the start is an error.
- **Advocate.** From the moment a customer this one referred has a purchase standing (or
  from the referral, if the referred customer had bought before it); cause: that purchase's
  event type, or ``CustomerReferred``.
- **At risk.** ``no_purchase_for_{churn_warning_days}_days`` when the customer has a
  purchase standing and the last one is more than ``churn_warning_days`` old, as long as
  the customer is neither churned (the stage already says it) nor disqualified (no longer
  pursued): a warning is what comes before churn. ``latest_satisfaction_dissatisfied`` when
  the latest measure at or before T is ``dissatisfied``. ``complaint_past_sla`` when a
  complaint is open at T and has breached either SLA clock (as ``domain.sla.sla_status``
  says). The last two hold whatever the stage.
- **Seconds** are whole seconds, truncated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from itertools import groupby
from typing import Annotated, Final, Literal, Self
from uuid import UUID

from pydantic import AfterValidator, Field, model_validator

from domain.events.base import DomainEvent
from domain.events.complaint import ComplaintFiled, ComplaintFollowedUp
from domain.events.customer import (
    CustomerContacted,
    CustomerDisqualified,
    CustomerReferred,
    CustomerRegistered,
    CustomerRequalified,
    MembershipJoined,
    MembershipLeft,
    RelationshipTierChanged,
    SatisfactionSurveyed,
)
from domain.events.opportunity import OpportunityOpened
from domain.events.order import OrderApproved, OrderCancelled, OrderDrafted, OrderImported
from domain.lifecycle_vocabulary import LifecycleStage
from domain.satisfaction import follow_up_level
from domain.sla import sla_status
from domain.time import ensure_utc
from domain.values import Code, Money, ValueObject
from domain.vocabulary import RelationshipTier, SatisfactionLevel

Stage = LifecycleStage

UtcDatetime = Annotated[datetime, AfterValidator(ensure_utc)]
# More than ten years is a typing error, and the bound keeps date arithmetic safe.
PolicyDays = Annotated[int, Field(strict=True, gt=0, le=3660)]

TIME: Final = "time"
"""The cause of a transition that happened by the passage of time (churn)."""

LONG_TERM_MIN_PURCHASES: Final = 3
LONG_TERM_MIN_SPAN: Final = timedelta(days=365)
PARTNER_TIERS: Final = frozenset({RelationshipTier.PARTNER, RelationshipTier.STRATEGIC_ALLIANCE})

LATEST_SATISFACTION_DISSATISFIED: Final = "latest_satisfaction_dissatisfied"
COMPLAINT_PAST_SLA: Final = "complaint_past_sla"

ONE_SECOND = timedelta(seconds=1)


# ---- policy ---------------------------------------------------------------------------


class LifecyclePolicy(ValueObject):
    """A versioned, configurable policy; the version says which rules made a stored stage."""

    version: Code = "2026.1"
    churn_after_days: PolicyDays = 365
    churn_warning_days: PolicyDays = 180

    @model_validator(mode="after")
    def _warning_comes_before_churn(self) -> Self:
        if self.churn_warning_days >= self.churn_after_days:
            raise ValueError("churn_warning_days must be fewer than churn_after_days")
        return self

    @property
    def churn_after(self) -> timedelta:
        return timedelta(days=self.churn_after_days)

    @property
    def churn_warning(self) -> timedelta:
        return timedelta(days=self.churn_warning_days)


DEFAULT_LIFECYCLE_POLICY = LifecyclePolicy()


def no_purchase_reason(policy: LifecyclePolicy = DEFAULT_LIFECYCLE_POLICY) -> str:
    """The at-risk reason for a long silence: ``no_purchase_for_180_days`` by default."""
    return f"no_purchase_for_{policy.churn_warning_days}_days"


# ---- facts ----------------------------------------------------------------------------

EngagementEvent = Literal["CustomerContacted", "OpportunityOpened"]
PurchaseEvent = Literal["OrderApproved", "OrderImported"]
CancellationEvent = Literal["OrderCancelled", "OrderImported"]
SatisfactionSource = Literal["survey", "complaint_follow_up"]


class Engagement(ValueObject):
    """A contact with the customer, or an opportunity opened for them: either makes a
    customer without purchases a prospect."""

    at: UtcDatetime
    event_type: EngagementEvent


class QualificationChange(ValueObject):
    """``CustomerDisqualified`` (disqualified=True) or ``CustomerRequalified`` (False)."""

    at: UtcDatetime
    disqualified: bool

    @property
    def event_type(self) -> str:
        return "CustomerDisqualified" if self.disqualified else "CustomerRequalified"


class TierChange(ValueObject):
    at: UtcDatetime
    tier: RelationshipTier

    @property
    def event_type(self) -> str:
        return "RelationshipTierChanged"


class MembershipChange(ValueObject):
    """``MembershipJoined`` (member=True) or ``MembershipLeft`` (False)."""

    at: UtcDatetime
    member: bool

    @property
    def event_type(self) -> str:
        return "MembershipJoined" if self.member else "MembershipLeft"


class Referral(ValueObject):
    """This customer referred ``referred_customer_id`` (``CustomerReferred``)."""

    at: UtcDatetime
    referred_customer_id: UUID

    @property
    def event_type(self) -> str:
        return "CustomerReferred"


class Purchase(ValueObject):
    """An order that reached ``approved`` (DESIGN §2.3), dated at its approval; it stops
    counting from ``cancelled_at`` on, if it was later cancelled."""

    order_id: UUID
    customer_id: UUID
    approved_at: UtcDatetime
    total: Money
    event_type: PurchaseEvent = "OrderApproved"
    cancelled_at: UtcDatetime | None = None
    cancellation_event_type: CancellationEvent = "OrderCancelled"

    @model_validator(mode="after")
    def _cancelled_after_approval(self) -> Self:
        if self.cancelled_at is not None and self.cancelled_at < self.approved_at:
            raise ValueError("a purchase cannot be cancelled before it was approved")
        return self

    def stands_at(self, at: datetime) -> bool:
        """Approved at or before ``at`` and not cancelled at or before ``at``."""
        return self.approved_at <= at and (self.cancelled_at is None or self.cancelled_at > at)


class SatisfactionMeasure(ValueObject):
    at: UtcDatetime
    level: SatisfactionLevel
    source: SatisfactionSource = "survey"


ComplaintStream = tuple[DomainEvent, ...]


class CustomerFacts(ValueObject):
    """Everything the lifecycle of one customer depends on, as dated facts.

    Facts of one kind at one instant apply in the order given (a stream's order).
    ``referred_purchases`` are purchases of the customers this one referred (others are
    ignored); ``complaints`` are the event streams of this customer's complaints, read with
    ``domain.sla.sla_status``.
    """

    customer_id: UUID
    registered_at: UtcDatetime
    tier: RelationshipTier = RelationshipTier.TRANSACTIONAL
    engagements: tuple[Engagement, ...] = ()
    qualification: tuple[QualificationChange, ...] = ()
    tier_changes: tuple[TierChange, ...] = ()
    membership: tuple[MembershipChange, ...] = ()
    purchases: tuple[Purchase, ...] = ()
    referrals: tuple[Referral, ...] = ()
    referred_purchases: tuple[Purchase, ...] = ()
    satisfaction: tuple[SatisfactionMeasure, ...] = ()
    complaints: tuple[ComplaintStream, ...] = ()

    @model_validator(mode="after")
    def _facts_of_this_customer(self) -> Self:
        for purchase in self.purchases:
            if purchase.customer_id != self.customer_id:
                raise ValueError(f"purchase {purchase.order_id} is another customer's")
        for stream in self.complaints:
            filed = stream[0] if stream else None
            if not isinstance(filed, ComplaintFiled):
                raise ValueError("a complaint's events start with ComplaintFiled")
            if filed.customer_id != self.customer_id:
                raise ValueError(f"complaint {filed.aggregate_id} is another customer's")
        return self

    @property
    def starts_at(self) -> datetime:
        """The registration, or an earlier fact of the customer's own (imported history)."""
        own: list[datetime] = [self.registered_at]
        for facts in (
            self.engagements,
            self.qualification,
            self.tier_changes,
            self.membership,
            self.referrals,
        ):
            own.extend(fact.at for fact in facts)
        own.extend(purchase.approved_at for purchase in self.purchases)
        return min(own)


class Transition(ValueObject):
    """One row of ``lifecycle_transitions`` (without the customer id)."""

    from_stage: LifecycleStage | None
    to_stage: LifecycleStage
    transitioned_at: datetime
    seconds_in_from_stage: int | None
    cause: str


# ---- from events ----------------------------------------------------------------------


def purchase_from_order_events(events: Iterable[DomainEvent]) -> Purchase | None:
    """The purchase an order's stream makes, or None when it never reached ``approved``
    (an order cancelled before approval never was a purchase)."""
    customer_id: UUID | None = None
    purchase: Purchase | None = None
    for event in events:
        if isinstance(event, OrderDrafted):
            customer_id = event.customer_id
        elif isinstance(event, OrderImported):
            purchase = Purchase(
                order_id=event.aggregate_id,
                customer_id=event.customer_id,
                approved_at=event.approved_at,
                total=event.total,
                event_type="OrderImported",
                cancelled_at=event.cancelled_at,
                cancellation_event_type="OrderImported",
            )
        elif isinstance(event, OrderApproved):
            if customer_id is None:
                raise ValueError(f"order {event.aggregate_id} was approved before it was drafted")
            purchase = Purchase(
                order_id=event.aggregate_id,
                customer_id=customer_id,
                approved_at=event.occurred_at,
                total=event.total,
            )
        elif isinstance(event, OrderCancelled) and purchase is not None:
            purchase = Purchase.model_validate(
                {
                    **purchase.model_dump(),
                    "cancelled_at": event.occurred_at,
                    "cancellation_event_type": "OrderCancelled",
                }
            )
    return purchase


def follow_up_measures(complaints: Iterable[ComplaintStream]) -> list[SatisfactionMeasure]:
    """The satisfaction a customer gave in their complaints' follow-ups (DESIGN §2.5: they
    enter the satisfaction history as their own source), read from the complaint streams
    the facts already hold for the SLA."""
    return [
        SatisfactionMeasure(
            at=event.occurred_at,
            level=follow_up_level(event.satisfaction),
            source="complaint_follow_up",
        )
        for stream in complaints
        for event in stream
        if isinstance(event, ComplaintFollowedUp)
    ]


def facts_from_events(
    customer_events: Iterable[DomainEvent],
    purchases: Iterable[Purchase] = (),
    referred_purchases: Iterable[Purchase] = (),
    complaints: Iterable[Sequence[DomainEvent]] = (),
) -> CustomerFacts:
    """The facts of one customer from their own stream (which must hold
    ``CustomerRegistered``) and the ``OpportunityOpened`` events of opportunities opened for
    them, in any position; events the lifecycle does not depend on are skipped. The
    purchases are this customer's and those of the customers they referred (see
    ``purchase_from_order_events``); ``complaints`` are the streams of their complaints.
    """
    events = list(customer_events)
    registered = next((e for e in events if isinstance(e, CustomerRegistered)), None)
    if registered is None:
        raise ValueError("a customer's events include CustomerRegistered")
    customer_id = registered.aggregate_id
    engagements: list[Engagement] = []
    qualification: list[QualificationChange] = []
    tier_changes: list[TierChange] = []
    membership: list[MembershipChange] = []
    referrals: list[Referral] = []
    satisfaction: list[SatisfactionMeasure] = []
    for event in events:
        if isinstance(event, OpportunityOpened):
            if event.customer_id != customer_id:
                raise ValueError(f"opportunity {event.aggregate_id} is another customer's")
            engagements.append(Engagement(at=event.occurred_at, event_type="OpportunityOpened"))
            continue
        if event.aggregate_id != customer_id:
            raise ValueError(f"event of {event.aggregate_id} among customer {customer_id}'s")
        if isinstance(event, CustomerContacted):
            engagements.append(Engagement(at=event.occurred_at, event_type="CustomerContacted"))
        elif isinstance(event, CustomerDisqualified | CustomerRequalified):
            qualification.append(
                QualificationChange(
                    at=event.occurred_at, disqualified=isinstance(event, CustomerDisqualified)
                )
            )
        elif isinstance(event, RelationshipTierChanged):
            tier_changes.append(TierChange(at=event.occurred_at, tier=event.to_tier))
        elif isinstance(event, MembershipJoined | MembershipLeft):
            membership.append(
                MembershipChange(at=event.occurred_at, member=isinstance(event, MembershipJoined))
            )
        elif isinstance(event, CustomerReferred):
            referrals.append(
                Referral(at=event.occurred_at, referred_customer_id=event.referred_customer_id)
            )
        elif isinstance(event, SatisfactionSurveyed):
            satisfaction.append(SatisfactionMeasure(at=event.occurred_at, level=event.level))
    return CustomerFacts(
        customer_id=customer_id,
        registered_at=registered.occurred_at,
        tier=registered.tier,
        engagements=tuple(engagements),
        qualification=tuple(qualification),
        tier_changes=tuple(tier_changes),
        membership=tuple(membership),
        purchases=tuple(purchases),
        referrals=tuple(referrals),
        referred_purchases=tuple(referred_purchases),
        satisfaction=tuple(satisfaction),
        complaints=tuple(tuple(stream) for stream in complaints),
    )


# ---- the rules ------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    """What the rules look at, as of some instant."""

    customer_id: UUID
    tier: RelationshipTier
    engaged: bool = False
    disqualified: bool = False
    member: bool = False
    referred: set[UUID] = field(default_factory=set)
    # Standing purchases: customer (this one or one they referred) -> order -> approved at.
    standing: dict[UUID, dict[UUID, datetime]] = field(default_factory=dict)

    def register(self) -> None:
        pass

    def engage(self) -> None:
        self.engaged = True

    def qualify(self, disqualified: bool) -> None:
        self.disqualified = disqualified

    def change_tier(self, tier: RelationshipTier) -> None:
        self.tier = tier

    def change_membership(self, member: bool) -> None:
        self.member = member

    def refer(self, customer_id: UUID) -> None:
        if customer_id != self.customer_id:  # referring oneself makes no advocate
            self.referred.add(customer_id)

    def approve(self, purchase: Purchase) -> None:
        self.standing.setdefault(purchase.customer_id, {})[purchase.order_id] = purchase.approved_at

    def cancel(self, purchase: Purchase) -> None:
        self.standing.get(purchase.customer_id, {}).pop(purchase.order_id, None)

    @property
    def purchases(self) -> dict[UUID, datetime]:
        return self.standing.get(self.customer_id, {})

    @property
    def last_purchase_at(self) -> datetime | None:
        return max(self.purchases.values(), default=None)

    @property
    def is_advocate(self) -> bool:
        return any(self.standing.get(customer) for customer in self.referred)


@dataclass(frozen=True, slots=True)
class _Change:
    at: datetime
    cause: str
    effect: Callable[[_State], None]


def _timeline(facts: CustomerFacts) -> list[_Change]:
    """Every fact as a change, in time order; at one instant, in the order built here
    (approvals before cancellations, so a purchase cancelled at its approval never counts)."""
    changes = [_Change(facts.registered_at, "CustomerRegistered", _State.register)]
    changes += [_Change(e.at, e.event_type, _State.engage) for e in facts.engagements]
    changes += [
        _Change(q.at, q.event_type, partial(_State.qualify, disqualified=q.disqualified))
        for q in facts.qualification
    ]
    changes += [
        _Change(t.at, t.event_type, partial(_State.change_tier, tier=t.tier))
        for t in facts.tier_changes
    ]
    changes += [
        _Change(m.at, m.event_type, partial(_State.change_membership, member=m.member))
        for m in facts.membership
    ]
    changes += [
        _Change(r.at, r.event_type, partial(_State.refer, customer_id=r.referred_customer_id))
        for r in facts.referrals
    ]
    referred = {r.referred_customer_id for r in facts.referrals} - {facts.customer_id}
    purchases = [
        *facts.purchases,
        *(p for p in facts.referred_purchases if p.customer_id in referred),
    ]
    changes += [
        _Change(p.approved_at, p.event_type, partial(_State.approve, purchase=p)) for p in purchases
    ]
    changes += [
        _Change(p.cancelled_at, p.cancellation_event_type, partial(_State.cancel, purchase=p))
        for p in purchases
        if p.cancelled_at is not None
    ]
    return sorted(changes, key=lambda change: change.at)


def _decide(state: _State, at: datetime, policy: LifecyclePolicy) -> LifecycleStage:
    """DESIGN §3: the first rule that holds at ``at``."""
    if state.disqualified:
        return Stage.DISQUALIFIED
    last = state.last_purchase_at
    if last is None:
        return Stage.PROSPECT if state.engaged else Stage.SUSPECT
    if at - last > policy.churn_after:
        return Stage.CHURNED
    if state.tier in PARTNER_TIERS:
        return Stage.PARTNER
    if state.is_advocate:
        return Stage.ADVOCATE
    if state.member:
        return Stage.MEMBER
    count = len(state.purchases)
    span = last - min(state.purchases.values())
    if count >= LONG_TERM_MIN_PURCHASES and span >= LONG_TERM_MIN_SPAN:
        return Stage.LONG_TERM
    return Stage.REPEAT_BUYER if count >= 2 else Stage.FIRST_TIME_BUYER


def _started(facts: CustomerFacts, at: datetime) -> datetime:
    at = ensure_utc(at)
    if at < facts.starts_at:
        raise ValueError(
            f"customer {facts.customer_id}'s lifecycle starts at "
            f"{facts.starts_at.isoformat()}, after {at.isoformat()}"
        )
    return at


def _state_at(facts: CustomerFacts, at: datetime) -> _State:
    state = _State(customer_id=facts.customer_id, tier=facts.tier)
    for change in _timeline(facts):
        if change.at > at:
            break
        change.effect(state)
    return state


def _seconds(duration: timedelta) -> int:
    return duration // ONE_SECOND


def stage_at(
    facts: CustomerFacts, at: datetime, policy: LifecyclePolicy = DEFAULT_LIFECYCLE_POLICY
) -> LifecycleStage:
    """The stage at instant ``at`` (facts at or before ``at`` count).

    Raises ``ValueError`` for an instant before the lifecycle starts or a naive datetime.
    """
    at = _started(facts, at)
    return _decide(_state_at(facts, at), at, policy)


@dataclass(slots=True)
class _Recorder:
    transitions: list[Transition] = field(default_factory=list)
    stage: LifecycleStage | None = None
    since: datetime | None = None

    def enter(self, stage: LifecycleStage, at: datetime, cause: str) -> None:
        if stage == self.stage:
            return
        seconds = None if self.since is None else _seconds(at - self.since)
        self.transitions.append(
            Transition(
                from_stage=self.stage,
                to_stage=stage,
                transitioned_at=at,
                seconds_in_from_stage=seconds,
                cause=cause,
            )
        )
        self.stage, self.since = stage, at

    def churn_between(
        self, state: _State, start: datetime, end: datetime, policy: LifecyclePolicy
    ) -> None:
        """Nothing happens in ``(start, end)``; the customer churns in it if the churn date
        falls in ``[start, end)``: at ``start`` they were not yet churned (T − last is not
        more than the limit), and there are instants before ``end`` when they are."""
        last = state.last_purchase_at
        if last is None:
            return
        churns_at = last + policy.churn_after
        if start <= churns_at < end:
            self.enter(_decide(state, end, policy), churns_at, TIME)


def history(
    facts: CustomerFacts, until: datetime, policy: LifecyclePolicy = DEFAULT_LIFECYCLE_POLICY
) -> list[Transition]:
    """Every stage change from the start of the lifecycle up to ``until``, oldest first.

    Facts at or before ``until`` count; a churn dated exactly ``until`` is not there yet.
    The first transition is the entry into the initial stage (``from_stage`` None).
    """
    return _history(facts, until, policy)[0]


def history_and_risk(
    facts: CustomerFacts, until: datetime, policy: LifecyclePolicy = DEFAULT_LIFECYCLE_POLICY
) -> tuple[list[Transition], tuple[str, ...]]:
    """``history(facts, until)`` and ``at_risk(facts, until)`` in one pass over the facts:
    what a projection recomputing a customer needs, at half the cost of asking twice."""
    transitions, state, until = _history(facts, until, policy)
    return transitions, _risk(facts, state, until, policy)


def _history(
    facts: CustomerFacts, until: datetime, policy: LifecyclePolicy
) -> tuple[list[Transition], _State, datetime]:
    """The transitions up to ``until``, and the state every fact at or before it made."""
    until = _started(facts, until)
    starts_at = facts.starts_at
    state = _State(customer_id=facts.customer_id, tier=facts.tier)
    recorder = _Recorder()
    timeline = _timeline(facts)
    while timeline[0].at < starts_at:  # a referred customer's purchase before our start
        timeline.pop(0).effect(state)
    previous = starts_at  # the first group is at the start: nothing before it to churn
    for at, group in groupby((c for c in timeline if c.at <= until), key=lambda c: c.at):
        recorder.churn_between(state, previous, at, policy)
        changes = list(group)
        stages: list[LifecycleStage] = []
        for change in changes:
            change.effect(state)
            stages.append(_decide(state, at, policy))
        # The cause: the first fact after which the stage was the one it ends the instant in.
        recorder.enter(stages[-1], at, changes[stages.index(stages[-1])].cause)
        previous = at
    recorder.churn_between(state, previous, until, policy)
    return recorder.transitions, state, until


def seconds_in_stage(
    facts: CustomerFacts, until: datetime, policy: LifecyclePolicy = DEFAULT_LIFECYCLE_POLICY
) -> dict[LifecycleStage, int]:
    """Whole seconds spent in each stage from the start up to ``until`` (every stage is a
    key; a stage never entered has 0)."""
    transitions = history(facts, until, policy)
    totals = dict.fromkeys(Stage, timedelta(0))
    ends = [t.transitioned_at for t in transitions[1:]] + [ensure_utc(until)]
    for transition, end in zip(transitions, ends, strict=True):
        totals[transition.to_stage] += end - transition.transitioned_at
    return {stage: _seconds(total) for stage, total in totals.items()}


def purchases_at(facts: CustomerFacts, at: datetime) -> tuple[Purchase, ...]:
    """The customer's purchases standing at ``at``, by approval time."""
    at = ensure_utc(at)
    return tuple(
        sorted(
            (p for p in facts.purchases if p.stands_at(at)),
            key=lambda p: p.approved_at,
        )
    )


def at_risk(
    facts: CustomerFacts, at: datetime, policy: LifecyclePolicy = DEFAULT_LIFECYCLE_POLICY
) -> tuple[str, ...]:
    """The reasons of the churn warning at ``at``, in a fixed order; empty: not at risk."""
    at = _started(facts, at)
    return _risk(facts, _state_at(facts, at), at, policy)


def _risk(
    facts: CustomerFacts, state: _State, at: datetime, policy: LifecyclePolicy
) -> tuple[str, ...]:
    """``at_risk`` given the state the facts at or before ``at`` made."""
    reasons: list[str] = []
    last = state.last_purchase_at
    if (
        last is not None
        and at - last > policy.churn_warning
        and _decide(state, at, policy) not in (Stage.CHURNED, Stage.DISQUALIFIED)
    ):
        reasons.append(no_purchase_reason(policy))
    latest: SatisfactionMeasure | None = None
    for measure in (*facts.satisfaction, *follow_up_measures(facts.complaints)):
        if measure.at <= at and (latest is None or measure.at >= latest.at):
            latest = measure
    if latest is not None and latest.level is SatisfactionLevel.DISSATISFIED:
        reasons.append(LATEST_SATISFACTION_DISSATISFIED)
    for stream in facts.complaints:
        if stream[0].occurred_at <= at:
            status = sla_status(stream, at)
            if status.is_open and status.is_breached:
                reasons.append(COMPLAINT_PAST_SLA)
                break
    return tuple(reasons)
