"""``crm demo``: a deterministic two-year sample history recorded through the real command
path, then summarised.

Every command carries an id derived from the seed, so running the demo twice on the same
store records nothing the second time: idempotency, shown rather than claimed. The history
ends on 2026-01-01 so that it is the same whatever day it is run.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from adapters.reports import render_text
from adapters.reports.catalogue import build_page
from adapters.reports.source import Source
from application import CRM, Actor, CommandResult, Role, RuleViolation
from application.commands import (
    ApproveOrderStep,
    AssessComplaint,
    AssignComplaint,
    AwardLoyaltyPoints,
    CancelOrder,
    ChangeOpportunityStage,
    ChangeOrderLines,
    ChangeRelationshipTier,
    CloseComplaint,
    Command,
    CompleteFollowUp,
    DimensionScore,
    DisqualifyCustomer,
    DraftOrder,
    EscalateComplaint,
    EvaluateOpportunity,
    FileComplaint,
    FulfillOrder,
    JoinMembership,
    LoseOpportunity,
    MarkFollowUpMissed,
    Money,
    OpenOpportunity,
    OrderLine,
    PricedLine,
    QuoteOpportunity,
    RecordComplaintFollowUp,
    RecordContact,
    RecordOrderPayment,
    RecordReferral,
    RecordSatisfactionSurvey,
    RedeemLoyaltyPoints,
    RegisterCustomer,
    RejectOrder,
    ReopenComplaint,
    ReopenOpportunity,
    ResolveComplaint,
    ReviseOrder,
    ScheduleFollowUp,
    SubmitOrderForApproval,
    WinOpportunity,
)
from domain.aggregates import Order
from domain.events import (
    CustomerRegistered,
    DomainEvent,
    OpportunityLost,
    OpportunityOpened,
    OpportunityReopened,
    OpportunityStageChanged,
    OpportunityWon,
    OrderApproved,
    OrderEvent,
    OrderRejected,
    OrderSubmittedForApproval,
    RelationshipTierChanged,
    SatisfactionSurveyed,
)

HISTORY_END = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY_DAYS = 730
DEMO_ROWS = 10  # long lists (churn risk, follow-ups) are cut to their head
IMPORTER = Actor(id="demo-importer", roles=frozenset({Role.ADMIN}))
# Approvals need distinct people holding each node's role (separation of duties); every
# demo actor is also admin because recording history with its own dates needs that role.
REP = Actor(id="demo-rep", roles=frozenset({Role.ADMIN, Role.SALES_REP}))
NODE_ACTORS = {
    "sales_manager": Actor(id="demo-manager", roles=frozenset({Role.ADMIN, Role.SALES_MANAGER})),
    "finance": Actor(id="demo-finance", roles=frozenset({Role.ADMIN, Role.FINANCE})),
    "director": Actor(id="demo-director", roles=frozenset({Role.ADMIN, Role.DIRECTOR})),
}
FINANCE = NODE_ACTORS["finance"]
SERVICE = Actor(
    id="demo-service", roles=frozenset({Role.ADMIN, Role.SERVICE_AGENT, Role.SERVICE_MANAGER})
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
]
COMPANY_STEMS = ["华信", "东方", "恒达", "新世纪", "金桥", "远航", "天合", "博源", "瑞丰", "中科"]
COMPANY_KINDS = ["贸易有限公司", "科技有限公司", "物流有限公司", "制造有限公司", "餐饮管理有限公司"]
INDUSTRIES = ["retail", "manufacturing", "logistics", "hospitality", "software", "education"]
REGIONS = ["East China", "North China", "South China", "West China"]
CHANNELS = ["web", "trade_fair", "referral", "cold_call", "partner", "advertising"]
COMPETITORS = ["Kingdee", "Yonyou", "Salesforce", "local distributor", None]
PRODUCTS = [
    ("SHF-100", "Steel shelving unit", Decimal("1280.00")),
    ("FLK-20", "Forklift rental (month)", Decimal("5400.00")),
    ("WMS-PRO", "Warehouse software licence", Decimal("36000.00")),
    ("SRV-H", "On-site service hour", Decimal("450.00")),
]


@dataclass
class Tally:
    recorded: int = 0
    replayed: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    beyond_history: int = 0
    events: Counter[str] = field(default_factory=Counter)
    results: list[CommandResult] = field(default_factory=list)


class DemoWriter:
    def __init__(self, crm: CRM, seed: int) -> None:
        self.crm = crm
        self.seed = seed
        self.tally = Tally()
        self.last_at: dict[UUID, datetime] = {}

    def run(self, key: str, command: Command, actor: Actor = IMPORTER) -> CommandResult | None:
        """Execute one command; a rule the generator did not foresee is counted, not fatal.
        A story running past the end of the history stops there: the demo's "now" is
        ``HISTORY_END``, and nothing is recorded as having happened after it."""
        if command.occurred_at is not None and command.occurred_at > HISTORY_END:
            self.tally.beyond_history += 1
            return None
        command = command.model_copy(update={"command_id": f"demo-{self.seed}:{key}"})
        try:
            result = self.crm.execute(command, actor=actor)
        except RuleViolation as violation:
            self.tally.rejected[violation.rule] += 1
            return None
        if result.replayed:
            self.tally.replayed += 1
        else:
            self.tally.recorded += len(result.events)
        self.tally.events.update(type(e).__name__ for e in result.events)
        self.tally.results.append(result)
        if result.events:
            self.last_at[result.aggregate_id] = result.events[-1].occurred_at
        return result


def _name(rng: random.Random, company: bool) -> str:
    if company:
        return rng.choice(COMPANY_STEMS) + rng.choice(COMPANY_KINDS)
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _quote_lines(rng: random.Random) -> list[PricedLine]:
    lines = []
    for sku, name, price in rng.sample(PRODUCTS, rng.randint(1, 3)):
        lines.append(
            PricedLine(
                sku=sku,
                name=name,
                quantity=Decimal(rng.randint(1, 40)),
                unit_price=price,
                discount_pct=Decimal(rng.choice((0, 0, 5, 10, 12.5, 20))),
            )
        )
    return lines


def _customer_story(w: DemoWriter, rng: random.Random, i: int) -> UUID | None:
    """One customer's history, in business-time order."""
    t = (
        HISTORY_END
        - timedelta(days=HISTORY_DAYS)
        + timedelta(minutes=rng.randint(0, HISTORY_DAYS * 24 * 60 - 60 * 24 * 90))
    )
    company = rng.random() < 0.6

    def step(days: int) -> datetime:
        return t + timedelta(days=days, minutes=rng.randint(0, 600))

    registered = w.run(
        f"c{i}:register",
        RegisterCustomer(
            kind="company" if company else "individual",
            name=_name(rng, company),
            phone=f"+86 1{rng.randint(30, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            email=f"customer{i}@example.cn",
            birthday=None
            if company
            else date(rng.randint(1960, 2002), rng.randint(1, 12), rng.randint(1, 28)),
            industry=rng.choice(INDUSTRIES) if company else None,
            region=rng.choice(REGIONS),
            source_channel=rng.choice(CHANNELS),
            owner_id=f"rep-{rng.randint(1, 8)}",
            external_ref=f"DEMO-{i:05d}",
            occurred_at=t,
        ),
    )
    if registered is None:
        return None
    cid = registered.aggregate_id
    if rng.random() < 0.15:  # never contacted: stays a suspect
        return cid
    for n in range(rng.randint(1, 4)):
        t = step(rng.randint(1, 30))
        w.run(
            f"c{i}:contact{n}",
            RecordContact(
                customer_id=cid,
                channel=rng.choice(["phone", "email", "visit", "wechat", "meeting"]),
                direction=rng.choice(["inbound", "outbound"]),
                summary="Discussed needs and next steps.",
                outcome=rng.choice(["reached", "interested", "call_back", "not_interested"]),
                occurred_at=t,
            ),
        )
    follow_up = w.run(
        f"c{i}:followup",
        ScheduleFollowUp(
            customer_id=cid, purpose="revisit", due_at=t + timedelta(days=14), occurred_at=t
        ),
    )
    if follow_up is not None:
        fid = follow_up.events[0].follow_up_id  # type: ignore[attr-defined]
        t = step(14)
        if rng.random() < 0.75:
            w.run(
                f"c{i}:followup-done",
                CompleteFollowUp(
                    customer_id=cid, follow_up_id=fid, note="Revisited.", occurred_at=t
                ),
            )
        else:
            w.run(
                f"c{i}:followup-missed",
                MarkFollowUpMissed(
                    customer_id=cid, follow_up_id=fid, reason="No answer.", occurred_at=t
                ),
            )
    if rng.random() < 0.06:
        w.run(
            f"c{i}:disqualify",
            DisqualifyCustomer(
                customer_id=cid, reason="No budget and no need.", occurred_at=step(3)
            ),
        )
        return cid
    if rng.random() < 0.65:
        t = _opportunity_story(w, rng, i, cid, t)
    if rng.random() < 0.18:
        _complaint_story(w, rng, i, cid, t)
    if rng.random() < 0.3:
        t = step(rng.randint(5, 60))
        w.run(f"c{i}:join", JoinMembership(customer_id=cid, program="VIP", occurred_at=t))
        t = step(rng.randint(1, 30))
        w.run(
            f"c{i}:points",
            AwardLoyaltyPoints(
                customer_id=cid, points=rng.randint(100, 2000), reason="purchase", occurred_at=t
            ),
        )
        if rng.random() < 0.5:
            t = step(rng.randint(10, 90))
            w.run(
                f"c{i}:redeem",
                RedeemLoyaltyPoints(
                    customer_id=cid, points=rng.randint(50, 100), reason="gift", occurred_at=t
                ),
            )
    if rng.random() < 0.08:
        t = step(rng.randint(10, 60))
        w.run(
            f"c{i}:tier",
            ChangeRelationshipTier(
                customer_id=cid,
                tier=rng.choice(["preferred_supplier", "partner", "strategic_alliance"]),
                occurred_at=t,
            ),
        )
    for n in range(rng.choice((0, 1, 1, 2))):
        t = step(rng.randint(10, 120))
        expected = rng.randint(5, 9)
        scores = [
            DimensionScore(
                dimension=d,
                expected=expected,
                perceived=max(1, min(10, expected + rng.randint(-3, 2))),
            )
            for d in rng.sample(["product", "service", "interaction", "enterprise"], 2)
        ]
        w.run(
            f"c{i}:survey{n}",
            RecordSatisfactionSurvey(
                customer_id=cid, scores=tuple(scores), nps=rng.randint(0, 10), occurred_at=t
            ),
        )
    return cid


def _opportunity_story(
    w: DemoWriter, rng: random.Random, i: int, cid: UUID, t: datetime
) -> datetime:
    t = t + timedelta(days=rng.randint(1, 20))
    opened = w.run(
        f"c{i}:opp:open",
        OpenOpportunity(
            customer_id=cid,
            title=rng.choice(
                ["Warehouse fit-out", "Fleet rental", "WMS roll-out", "Service contract"]
            ),
            estimated_value=Money(amount=Decimal(rng.randint(5, 400) * 1000), currency="CNY"),
            source=rng.choice(CHANNELS),
            expected_close=(t + timedelta(days=90)).date(),
            occurred_at=t,
        ),
    )
    if opened is None:
        return t
    oid = opened.aggregate_id
    t += timedelta(days=rng.randint(1, 10))
    w.run(
        f"c{i}:opp:evaluate",
        EvaluateOpportunity(
            opportunity_id=oid,
            score=rng.randint(20, 95),
            win_probability=Decimal(rng.choice((10, 25, 40, 60, 80))),
            priority=rng.choice("ABC"),
            occurred_at=t,
        ),
    )
    for n, stage in enumerate(("intent_confirmed", "needs_confirmed")):
        if rng.random() < 0.2:
            w.run(
                f"c{i}:opp:lose-early",
                LoseOpportunity(
                    opportunity_id=oid,
                    reason="No decision.",
                    competitor=rng.choice(COMPETITORS),
                    occurred_at=t,
                ),
            )
            return t
        t += timedelta(days=rng.randint(3, 25))
        w.run(
            f"c{i}:opp:stage{n}",
            ChangeOpportunityStage(opportunity_id=oid, to_stage=stage, occurred_at=t),
        )
    if rng.random() < 0.1:  # the customer's needs changed: back a step, then forward again
        t += timedelta(days=rng.randint(2, 10))
        w.run(
            f"c{i}:opp:back",
            ChangeOpportunityStage(
                opportunity_id=oid,
                to_stage="intent_confirmed",
                reason="Scope changed.",
                occurred_at=t,
            ),
        )
        t += timedelta(days=rng.randint(2, 10))
        w.run(
            f"c{i}:opp:forward",
            ChangeOpportunityStage(opportunity_id=oid, to_stage="needs_confirmed", occurred_at=t),
        )
    for version in range(rng.choice((1, 1, 2))):
        t += timedelta(days=rng.randint(3, 20))
        w.run(
            f"c{i}:opp:quote{version}",
            QuoteOpportunity(
                opportunity_id=oid,
                quote_number=f"Q-{i:05d}",
                lines=tuple(_quote_lines(rng)),
                valid_until=(t + timedelta(days=30)).date(),
                occurred_at=t,
            ),
        )
    t += timedelta(days=rng.randint(2, 15))
    w.run(
        f"c{i}:opp:negotiate",
        ChangeOpportunityStage(opportunity_id=oid, to_stage="negotiating", occurred_at=t),
    )
    t += timedelta(days=rng.randint(5, 40))
    if rng.random() < 0.55:
        order_id, t = _order_story(w, rng, i, cid, oid, t)
        w.run(f"c{i}:opp:win", WinOpportunity(opportunity_id=oid, order_id=order_id, occurred_at=t))
        if order_id is not None:
            _repeat_orders(w, rng, i, cid, _fulfil_and_pay(w, rng, i, order_id, t))
    else:
        w.run(
            f"c{i}:opp:lose",
            LoseOpportunity(
                opportunity_id=oid,
                reason="Price.",
                competitor=rng.choice(COMPETITORS),
                occurred_at=t,
            ),
        )
        if rng.random() < 0.15:
            t += timedelta(days=rng.randint(20, 60))
            w.run(
                f"c{i}:opp:reopen",
                ReopenOpportunity(
                    opportunity_id=oid, reason="Competitor failed to deliver.", occurred_at=t
                ),
            )
    return t


def _order_lines(rng: random.Random, discount_cap: int = 25) -> tuple[OrderLine, ...]:
    return tuple(
        OrderLine(
            **line.model_dump(exclude={"discount_pct"}),
            discount_pct=min(line.discount_pct, Decimal(discount_cap)),
            unit_cost=(line.unit_price * Decimal("0.62")).quantize(Decimal("0.01")),
        )
        for line in _quote_lines(rng)
    )


def _order_story(
    w: DemoWriter,
    rng: random.Random,
    i: int,
    cid: UUID,
    oid: UUID | None,
    t: datetime,
    key: str = "order",
    *,
    decide: bool = True,
) -> tuple[UUID | None, datetime]:
    """Draft, submit and take the order through its approval route; some are rejected
    at a node, revised with smaller discounts and resubmitted."""
    t += timedelta(days=rng.randint(1, 5))
    drafted = w.run(
        f"c{i}:{key}:draft",
        DraftOrder(
            customer_id=cid,
            opportunity_id=oid,
            order_type=rng.choice(["standard", "contract"]),
            lines=_order_lines(rng),
            currency="CNY",
            payment_terms="30 days net",
            occurred_at=t,
        ),
        actor=REP,
    )
    if drafted is None:
        return None, t
    order_id = drafted.aggregate_id
    for round_ in range(2):
        t += timedelta(hours=rng.randint(1, 30))
        submitted = w.run(
            f"c{i}:{key}:submit{round_}",
            SubmitOrderForApproval(order_id=order_id, occurred_at=t),
            actor=REP,
        )
        if submitted is None:
            return order_id, t
        if not decide:  # still waiting in the approval queue when the history ends
            return order_id, t
        route = submitted.events[0].route  # type: ignore[attr-defined]
        rejected = False
        for node in route:
            t += timedelta(hours=rng.randint(2, 72))
            decider = NODE_ACTORS[node.value]
            if round_ == 0 and rng.random() < 0.12:
                w.run(
                    f"c{i}:{key}:reject",
                    RejectOrder(
                        order_id=order_id,
                        node=node,
                        reason="Discount too deep for this account.",
                        occurred_at=t,
                    ),
                    actor=decider,
                )
                t += timedelta(hours=rng.randint(2, 48))
                w.run(
                    f"c{i}:{key}:revise",
                    ReviseOrder(order_id=order_id, reason="Discount reduced.", occurred_at=t),
                    actor=REP,
                )
                w.run(
                    f"c{i}:{key}:relines",
                    ChangeOrderLines(
                        order_id=order_id, lines=_order_lines(rng, discount_cap=10), occurred_at=t
                    ),
                    actor=REP,
                )
                rejected = True
                break
            w.run(
                f"c{i}:{key}:approve{round_}:{node.value}",
                ApproveOrderStep(order_id=order_id, node=node, occurred_at=t),
                actor=decider,
            )
        if not rejected:
            break
    return order_id, t


def _fulfil_and_pay(
    w: DemoWriter, rng: random.Random, i: int, order_id: UUID, t: datetime, key: str = "order"
) -> datetime:
    if rng.random() < 0.04:
        w.run(
            f"c{i}:{key}:cancel",
            CancelOrder(
                order_id=order_id, reason="Customer withdrew.", occurred_at=t + timedelta(days=1)
            ),
            actor=NODE_ACTORS["sales_manager"],
        )
        return t
    t += timedelta(days=rng.randint(3, 30))
    if t >= HISTORY_END:
        return t
    fulfilled = w.run(
        f"c{i}:{key}:fulfil", FulfillOrder(order_id=order_id, occurred_at=t), actor=REP
    )
    t += timedelta(days=rng.randint(5, 45))
    if fulfilled is not None and t < HISTORY_END and rng.random() < 0.9:
        total = w.crm.load(Order, order_id).total
        w.run(
            f"c{i}:{key}:pay",
            RecordOrderPayment(
                order_id=order_id, amount=total, payment_reference=f"PAY-{i:05d}", occurred_at=t
            ),
            actor=FINANCE,
        )
    return t


def _repeat_orders(w: DemoWriter, rng: random.Random, i: int, cid: UUID, t: datetime) -> None:
    """Buyers who come back: each reorder goes through the same approval flow. Some stop
    after a while (and churn when a year passes with no purchase), a few keep buying."""
    if rng.random() < 0.45:
        return
    for n in range(rng.randint(1, 6)):
        t += timedelta(days=rng.randint(20, 160))
        if t >= HISTORY_END:
            return
        pending = HISTORY_END - t < timedelta(days=30) and rng.random() < 0.5
        order_id, t = _order_story(w, rng, i, cid, None, t, key=f"reorder{n}", decide=not pending)
        if order_id is None or pending:
            return
        t = _fulfil_and_pay(w, rng, i, order_id, t, key=f"reorder{n}")


SEVERITIES = ["low", "low", "medium", "medium", "medium", "high", "critical"]


def _complaint_story(w: DemoWriter, rng: random.Random, i: int, cid: UUID, t: datetime) -> None:
    """Record, judge, assign, resolve, follow up, close; some are invalid, some late,
    some reopened because the customer is still unhappy."""
    t += timedelta(days=rng.randint(5, 120))
    if t >= HISTORY_END:
        return
    severity = rng.choice(SEVERITIES)
    filed = w.run(
        f"c{i}:complaint:file",
        FileComplaint(
            customer_id=cid,
            channel=rng.choice(["phone", "email", "wechat"]),
            category=rng.choice(["product", "service", "delivery", "billing", "staff"]),
            severity=severity,
            description="Customer reports a problem with the last delivery.",
            occurred_at=t,
        ),
        actor=SERVICE,
    )
    if filed is None:
        return
    kid = filed.aggregate_id
    late = rng.random() < 0.15
    t += timedelta(hours=rng.randint(1, 60 if late else 6))
    if rng.random() < 0.12:
        w.run(
            f"c{i}:complaint:assess",
            AssessComplaint(
                complaint_id=kid,
                valid=False,
                reason="Damage after delivery by the buyer.",
                occurred_at=t,
            ),
            actor=SERVICE,
        )
        return
    w.run(
        f"c{i}:complaint:assess",
        AssessComplaint(complaint_id=kid, valid=True, occurred_at=t),
        actor=SERVICE,
    )
    if rng.random() < 0.1:
        w.run(
            f"c{i}:complaint:escalate",
            EscalateComplaint(complaint_id=kid, reason="Key account.", occurred_at=t),
            actor=SERVICE,
        )
    w.run(
        f"c{i}:complaint:assign",
        AssignComplaint(
            complaint_id=kid,
            department=rng.choice(["logistics", "quality", "billing", "service"]),
            handler_id=f"handler-{rng.randint(1, 6)}",
            occurred_at=t,
        ),
        actor=SERVICE,
    )
    t += timedelta(hours=rng.randint(4, 300 if late else 40))
    w.run(
        f"c{i}:complaint:resolve",
        ResolveComplaint(complaint_id=kid, resolution="Replaced the goods.", occurred_at=t),
        actor=SERVICE,
    )
    t += timedelta(days=rng.randint(1, 7))
    satisfaction = rng.choice([1, 2, 3, 4, 4, 5, 5])
    w.run(
        f"c{i}:complaint:followup",
        RecordComplaintFollowUp(complaint_id=kid, satisfaction=satisfaction, occurred_at=t),
        actor=SERVICE,
    )
    w.run(f"c{i}:complaint:close", CloseComplaint(complaint_id=kid, occurred_at=t), actor=SERVICE)
    if satisfaction <= 2 and rng.random() < 0.5:
        t += timedelta(days=rng.randint(1, 10))
        w.run(
            f"c{i}:complaint:reopen",
            ReopenComplaint(
                complaint_id=kid, reason="Still unhappy with the replacement.", occurred_at=t
            ),
            actor=SERVICE,
        )
        w.run(
            f"c{i}:complaint:reassign",
            AssignComplaint(
                complaint_id=kid, department="quality", handler_id="handler-9", occurred_at=t
            ),
            actor=SERVICE,
        )
        t += timedelta(hours=rng.randint(4, 30))
        w.run(
            f"c{i}:complaint:reresolve",
            ResolveComplaint(
                complaint_id=kid,
                resolution="Refunded in full.",
                compensation=Money(amount=Decimal(rng.randint(1, 20) * 100), currency="CNY"),
                occurred_at=t,
            ),
            actor=SERVICE,
        )


def run_demo(
    url: str, *, customers: int, seed: int, out: object = None, reports: bool = True
) -> int:
    started = time.perf_counter()
    rng = random.Random(seed)  # nosec B311 # reproducible sample data, not a secret
    # The demo's clock stands at the end of its history, so that what it records and the
    # read models it prints are the same whatever day it runs.
    with CRM.open(url, clock=lambda: HISTORY_END) as crm:
        writer = DemoWriter(crm, seed)
        ids: list[UUID] = []
        for i in range(customers):
            cid = _customer_story(writer, rng, i)
            if cid is not None:
                ids.append(cid)
            if (i + 1) % 50 == 0 or i + 1 == customers:
                print(
                    f"\rrecording history: {i + 1}/{customers} customers",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
        print(file=sys.stderr)
        for n in range(len(ids) // 12):  # a few customers bring in others
            referrer, referred = rng.sample(ids, 2)
            at = max(writer.last_at[referrer], writer.last_at[referred]) + timedelta(days=1)
            if at < HISTORY_END:
                writer.run(
                    f"referral{n}",
                    RecordReferral(
                        customer_id=referrer, referred_customer_id=referred, occurred_at=at
                    ),
                )
        total_events = crm.store.count_events()
        display = crm.store.location.display
        page = []
        if reports:
            print("catching the read models up ...", file=sys.stderr, flush=True)
            crm.read_models.catch_up()
            page = [report.head(DEMO_ROWS) for report in build_page(Source(crm, HISTORY_END))]
    _print_summary(writer.tally, display, total_events, time.perf_counter() - started)
    if not page:
        print("\nread models left as they were (run: crm projections run --once)")
        return 0
    print()
    print(render_text.render(page, "en"))
    print(
        "\nMore: crm report NAME [--format table|csv|json|html] [--lang zh] "
        f"--db {url}   (crm report --help lists the names)"
    )
    return 0


def _table(title: str, header: tuple[str, ...], rows: Sequence[Sequence[object]]) -> None:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(_width(row[k]) for row in cells) for k in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  " + "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _print_summary(tally: Tally, display: str, total_events: int, seconds: float) -> None:
    stage: dict[UUID, str] = {}
    value: dict[UUID, Decimal] = {}
    tiers: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    lost_to: Counter[str] = Counter()
    back_moves = 0
    names: list[tuple[str, str, str]] = []
    for result in tally.results:
        for e in result.events:
            if isinstance(e, CustomerRegistered):
                tiers[e.tier.value] += 1
                if len(names) < 6:
                    names.append((e.profile.name, e.profile.kind.zh, e.profile.region or ""))
            elif isinstance(e, RelationshipTierChanged):
                tiers[e.from_tier.value] -= 1
                tiers[e.to_tier.value] += 1
            elif isinstance(e, OpportunityOpened):
                stage[e.aggregate_id] = "identified"
                value[e.aggregate_id] = e.estimated_value.amount
            elif isinstance(e, OpportunityStageChanged):
                stage[e.aggregate_id] = e.to_stage.value
                back_moves += e.is_back_move
            elif isinstance(e, OpportunityWon):
                stage[e.aggregate_id] = "won"
            elif isinstance(e, OpportunityLost):
                stage[e.aggregate_id] = "lost"
                lost_to[e.competitor or "(none named)"] += 1
            elif isinstance(e, OpportunityReopened):
                stage[e.aggregate_id] = e.to_stage.value
            elif isinstance(e, SatisfactionSurveyed):
                levels[e.level.zh + " " + e.level.value] += 1
    print(f"store: {display}")
    print(
        f"business events recorded now: {tally.recorded:,}   commands replayed "
        f"(already recorded, idempotent): {tally.replayed:,}   time: {seconds:.1f} s"
    )
    print(
        f"rows in the event log: {total_events:,} (business events plus command-id and "
        "unique-value records)"
    )
    if tally.beyond_history:
        print(
            f"story steps left out because they fall after {HISTORY_END.date()}: "
            f"{tally.beyond_history:,}"
        )
    if tally.rejected:
        print(
            "commands refused by a rule: "
            + ", ".join(f"{k} x{v}" for k, v in tally.rejected.most_common())
        )
    print(f"  back-moves recorded: {back_moves}")
    _table("Lost to", ("competitor", "count"), lost_to.most_common())
    from domain.vocabulary import RelationshipTier

    _table(
        "Relationship tier (客户关系类型)",
        ("tier", "类型", "customers"),
        [(t.value, t.zh, tiers[t.value]) for t in RelationshipTier],
    )
    _table("Satisfaction surveys by level (满意度)", ("level", "surveys"), sorted(levels.items()))
    _print_orders(tally)
    # Complaint SLA compliance, the pipeline and the rest follow from the read models.
    _table("A few customers", ("name", "kind", "region"), names)


def _streams(tally: Tally) -> dict[UUID, list[DomainEvent]]:
    streams: dict[UUID, list[DomainEvent]] = defaultdict(list)
    for result in tally.results:
        for event in result.events:
            streams[event.aggregate_id].append(event)
    return streams


def _print_orders(tally: Tally) -> None:
    status: dict[UUID, str] = {}
    routes: Counter[str] = Counter()
    rejected_at: Counter[str] = Counter()
    approved_value = Decimal(0)
    for stream in _streams(tally).values():
        if not isinstance(stream[0], OrderEvent):
            continue
        order = Order.replay(stream)
        status[order.id] = order.status.value
        for e in stream:
            if isinstance(e, OrderSubmittedForApproval):
                routes[" → ".join(n.value for n in e.route)] += 1
            elif isinstance(e, OrderRejected):
                rejected_at[e.node.value] += 1
            elif isinstance(e, OrderApproved):
                approved_value += e.total.amount
    from domain.events.order import OrderStatus

    counts = Counter(status.values())
    _table(
        "Orders by status (销售订单)",
        ("status", "状态", "orders"),
        [(st.value, st.zh, counts[st.value]) for st in OrderStatus],
    )
    print(f"  approved order value: {approved_value:,.2f} CNY")
    _table(
        "Approval routes decided at submission (审批流程)",
        ("route", "submissions"),
        routes.most_common(),
    )
    _table("Rejections by node", ("node", "rejections"), rejected_at.most_common())
