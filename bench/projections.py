"""Catch-up throughput of crm-core's projection runner against two baselines, same run.

    .venv/bin/python -m bench.projections [--events N] [--runs R] [--batch-sizes 2000,default]
        [--stores postgres,sqlite] [--stock-events M] [--out PATH]

A realistic history of N domain events (default 100,000) is generated once per invocation,
through the aggregates themselves (``Customer.register``, ``Opportunity.open/quote/win``,
``Order.draft/submit_for_approval/approve_step``, ``Complaint.file`` ...), interleaved in
business-time order as a live CRM's log is, and appended with ``EventStore.append`` in large
batches. Then, per run and per store, three things are timed with ``time.perf_counter`` on
the same events:

* ``ours``: ``adapters.projection_runner.ProjectionRunner(store, all_projections(),
  batch_size=B, max_batch_size=B).catch_up()`` from position 0 into fresh read-model tables,
  for each fixed batch size B, and with the runner's defaults (``default``: batches of
  2,000 that double while they come back full, up to 50,000 on PostgreSQL);
* ``raw read``: the same notifications read in pages of B (``store.read``), their keys read
  in one go (``store.prefetch_keys``) and decoded (``store.decode``), with no projection:
  the ceiling of any runner built on that API;
* ``stock``: the library's ``eventsourcing.projection.ProjectionRunner`` (PostgreSQL only: it
  needs ``subscribe()``, which the SQLite recorder lacks), one event per transaction, with a
  simple projection in the library's own pattern (a ``PostgresTrackingRecorder`` subclass as
  the materialised view; per event, one upsert of a customer or opportunity row and the
  tracking record in the same transaction). It does far less per event than our seven read
  models; it shows the cost of one transaction per event.

Every measurement gets a fresh copy of the events (PostgreSQL: a new schema filled with
``INSERT ... SELECT`` from the source schema, then ``ANALYZE``; SQLite: a new file made with
the backup API), so each catch-up starts from position 0 on empty tables. The figure is the
median of events per second over the runs; ``ours/raw`` and ``ours/stock`` are ratios of
medians. This is a benchmark, not a test: it asserts only that what it timed was applied.
"""

from __future__ import annotations

import argparse
import collections
import gc
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Mapper, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection as StockProjectionBase
from eventsourcing.projection import ProjectionRunner as StockProjectionRunner
from psycopg import sql

from adapters.event_store import EVENTS_TABLE, EventStore
from adapters.keys import KEYS_TABLE
from adapters.mapper import PydanticEventMapper
from adapters.projection_runner import DEFAULT_BATCH_SIZE, MAX_CATCH_UP_BATCH, ProjectionRunner
from bench.common import (
    POSTGRES,
    FixedClock,
    check,
    machine_info,
    parse_stores,
    pg_connect,
    start,
    text_table,
    write_results,
)
from domain.aggregates.base import Aggregate
from domain.aggregates.complaint import Complaint
from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity
from domain.aggregates.order import Order
from domain.approval import DEFAULT_APPROVAL_POLICY, ApprovalNode
from domain.complaint_vocabulary import ComplaintCategory, ComplaintSeverity
from domain.context import CommandContext
from domain.errors import RuleViolation
from domain.events.base import DomainEvent
from domain.events.customer import CustomerEvent, CustomerProfile, CustomerRegistered
from domain.events.customer import DimensionScore as Score
from domain.events.opportunity import (
    OpportunityEvent,
    OpportunityLost,
    OpportunityOpened,
    OpportunityReopened,
    OpportunityStageChanged,
    OpportunityWon,
)
from domain.events.order import OrderLine, OrderStatus, OrderType
from domain.lines import PricedLine
from domain.sla import DEFAULT_SLA_POLICY
from domain.values import ContactPoints, Money
from domain.vocabulary import (
    ContactChannel,
    ContactDirection,
    ContactOutcome,
    CustomerKind,
    FollowUpPurpose,
    OpportunityStage,
    Priority,
    RelationshipTier,
    SatisfactionDimension,
)
from projections import all_projections

DEFAULT_OUT = Path(__file__).with_name("results-projections.json")
# The generated history ends here, and the runner's clock (its tick) stands here, so that
# every run computes the same rows whatever the day it is run.
HISTORY_END = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY_DAYS = 730
APPEND_BATCH = 5000
SEED = 20260101
DEFAULT = "default"  # --batch-sizes: the runner's own sizes


# ---- the dataset: realistic events made by the aggregates ----------------------------------


@dataclass(frozen=True)
class Who:
    id: str
    roles: frozenset[str] = frozenset()


IMPORTER = Who("bench-importer", frozenset({"admin"}))
REP = Who("bench-rep", frozenset({"sales_rep"}))
DECIDERS = {
    ApprovalNode.SALES_MANAGER: Who("bench-manager", frozenset({"sales_manager"})),
    ApprovalNode.FINANCE: Who("bench-finance", frozenset({"finance"})),
    ApprovalNode.DIRECTOR: Who("bench-director", frozenset({"director"})),
}
SERVICE = Who("bench-service", frozenset({"service_agent", "service_manager"}))

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超"
COMPANY_STEMS = ["华信", "东方", "恒达", "新世纪", "金桥", "远航", "天合", "博源", "瑞丰", "中科"]
COMPANY_KINDS = ["贸易有限公司", "科技有限公司", "物流有限公司", "制造有限公司"]
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
SEVERITIES = [ComplaintSeverity(s) for s in ("low", "low", "medium", "medium", "high", "critical")]


@dataclass
class HistoryWriter:
    """Drives the aggregates as the command handlers would, minus loading and storing."""

    rng: random.Random
    events: list[DomainEvent] = field(default_factory=list)
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    commands: int = 0

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def context(self, t: datetime, who: Who = IMPORTER) -> CommandContext:
        self.commands += 1
        return CommandContext(
            actor_id=who.id,
            now=t,
            occurred_at=t,
            command_id=f"bench-{self.commands}",
            actor_roles=who.roles,
        )

    def new(self, make: Callable[..., Any], t: datetime, who: Who = IMPORTER, **kw: Any) -> Any:
        """Create an aggregate with a class method (``Customer.register`` ...); None if a
        rule refused it."""
        try:
            aggregate = make(self.context(t, who), **kw)
        except RuleViolation as violation:
            self.refused[violation.rule] += 1
            return None
        self.events.extend(aggregate.collect_events())
        return aggregate

    def act(
        self, command: Callable[..., object], t: datetime, who: Who = IMPORTER, **kw: Any
    ) -> bool:
        """Call a command method of an aggregate (``order.approve_step`` ...) at time ``t``."""
        aggregate: Aggregate = command.__self__  # type: ignore[attr-defined]
        try:
            command(self.context(t, who), **kw)
        except RuleViolation as violation:
            self.refused[violation.rule] += 1
            return False
        self.events.extend(aggregate.collect_events())
        return True


def _quote_lines(rng: random.Random) -> tuple[PricedLine, ...]:
    return tuple(
        PricedLine(
            sku=sku,
            name=name,
            quantity=Decimal(rng.randint(1, 40)),
            unit_price=price,
            discount_pct=Decimal(rng.choice((0, 0, 5, 10, 12.5, 20))),
        )
        for sku, name, price in rng.sample(PRODUCTS, rng.randint(1, 3))
    )


def _order_lines(rng: random.Random, discount_cap: int = 25) -> tuple[OrderLine, ...]:
    return tuple(
        OrderLine(
            **line.model_dump(exclude={"discount_pct"}),
            discount_pct=min(line.discount_pct, Decimal(discount_cap)),
            unit_cost=(line.unit_price * Decimal("0.62")).quantize(Decimal("0.01")),
        )
        for line in _quote_lines(rng)
    )


def _customer_story(w: HistoryWriter, i: int) -> Customer | None:
    """One customer's history in business-time order (the shape of ``crm demo``'s)."""
    rng = w.rng
    t = (
        HISTORY_END
        - timedelta(days=HISTORY_DAYS)
        + timedelta(minutes=rng.randint(0, HISTORY_DAYS * 24 * 60))
    )
    company = rng.random() < 0.6
    if company:
        name = rng.choice(COMPANY_STEMS) + rng.choice(COMPANY_KINDS)
    else:
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
    profile = CustomerProfile(
        kind=CustomerKind.COMPANY if company else CustomerKind.INDIVIDUAL,
        name=name,
        contact=ContactPoints(
            phone=f"+86 1{rng.randint(30, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            email=f"customer{i}@example.cn",
        ),
        birthday=None
        if company
        else date(rng.randint(1960, 2002), rng.randint(1, 12), rng.randint(1, 28)),
        industry=rng.choice(INDUSTRIES) if company else None,
        region=rng.choice(REGIONS),
        source_channel=rng.choice(CHANNELS),
        owner_id=f"rep-{rng.randint(1, 8)}",
    )
    customer: Customer | None = w.new(
        Customer.register,
        t,
        customer_id=w.uuid(),
        profile=profile,
        external_ref=f"BENCH-{i:06d}",
    )
    if customer is None or rng.random() < 0.15:  # never contacted: stays a suspect
        return customer

    def later(days: int) -> datetime:
        return t + timedelta(days=days, minutes=rng.randint(0, 600))

    for _ in range(rng.randint(1, 4)):
        t = later(rng.randint(1, 30))
        w.act(
            customer.record_contact,
            t,
            channel=ContactChannel(rng.choice(["phone", "email", "visit", "wechat"])),
            direction=ContactDirection(rng.choice(["inbound", "outbound"])),
            summary="Discussed needs and next steps.",
            outcome=ContactOutcome(rng.choice(["reached", "interested", "call_back"])),
        )
    follow_up_id = w.uuid()
    if w.act(
        customer.schedule_follow_up,
        t,
        follow_up_id=follow_up_id,
        purpose=FollowUpPurpose.REVISIT,
        due_at=t + timedelta(days=14),
    ):
        t = later(14)
        if rng.random() < 0.75:
            w.act(customer.complete_follow_up, t, follow_up_id=follow_up_id, note="Done.")
        else:
            w.act(customer.mark_follow_up_missed, t, follow_up_id=follow_up_id, reason="No answer.")
    if rng.random() < 0.06:
        w.act(customer.disqualify, later(3), reason="No budget.")
        return customer
    if rng.random() < 0.65:
        t = _opportunity_story(w, customer, i, t)
    if rng.random() < 0.18:
        _complaint_story(w, customer, t)
    if rng.random() < 0.3:
        t = later(rng.randint(5, 60))
        w.act(customer.join_membership, t, program="VIP")
        t = later(rng.randint(1, 30))
        w.act(customer.award_loyalty_points, t, points=rng.randint(100, 2000))
        if rng.random() < 0.5:
            t = later(rng.randint(10, 90))
            w.act(customer.redeem_loyalty_points, t, points=50)
    if rng.random() < 0.08:
        t = later(rng.randint(10, 60))
        tier = RelationshipTier(rng.choice(["preferred_supplier", "partner", "strategic_alliance"]))
        w.act(customer.change_relationship_tier, t, tier=tier)
    for _ in range(rng.choice((0, 1, 1, 2))):
        t = later(rng.randint(10, 120))
        expected = rng.randint(5, 9)
        scores = tuple(
            Score(
                dimension=SatisfactionDimension(d),
                expected=expected,
                perceived=max(1, min(10, expected + rng.randint(-3, 2))),
            )
            for d in rng.sample(["product", "service", "interaction", "enterprise"], 2)
        )
        w.act(
            customer.record_satisfaction_survey,
            t,
            survey_id=w.uuid(),
            scores=scores,
            nps=rng.randint(0, 10),
        )
    return customer


def _opportunity_story(w: HistoryWriter, customer: Customer, i: int, t: datetime) -> datetime:
    rng = w.rng
    t += timedelta(days=rng.randint(1, 20))
    opp: Opportunity | None = w.new(
        Opportunity.open,
        t,
        opportunity_id=w.uuid(),
        customer=customer,
        title=rng.choice(["Warehouse fit-out", "Fleet rental", "WMS roll-out", "Service"]),
        estimated_value=Money(amount=Decimal(rng.randint(5, 400) * 1000), currency="CNY"),
        source=rng.choice(CHANNELS),
        expected_close=(t + timedelta(days=90)).date(),
        owner_id=customer.profile.owner_id,
    )
    if opp is None:
        return t
    t += timedelta(days=rng.randint(1, 10))
    w.act(
        opp.evaluate,
        t,
        score=rng.randint(20, 95),
        win_probability=Decimal(rng.choice((10, 25, 40, 60, 80))),
        priority=Priority(rng.choice("ABC")),
    )
    for stage in (OpportunityStage.INTENT_CONFIRMED, OpportunityStage.NEEDS_CONFIRMED):
        if rng.random() < 0.2:
            w.act(opp.lose, t, reason="No decision.", competitor=rng.choice(COMPETITORS))
            return t
        t += timedelta(days=rng.randint(3, 25))
        w.act(opp.change_stage, t, to_stage=stage)
    if rng.random() < 0.1:  # the needs changed: back a step, then forward again
        t += timedelta(days=rng.randint(2, 10))
        w.act(
            opp.change_stage, t, to_stage=OpportunityStage.INTENT_CONFIRMED, reason="Scope changed."
        )
        t += timedelta(days=rng.randint(2, 10))
        w.act(opp.change_stage, t, to_stage=OpportunityStage.NEEDS_CONFIRMED)
    for _ in range(rng.choice((1, 1, 2))):
        t += timedelta(days=rng.randint(3, 20))
        w.act(
            opp.quote,
            t,
            quote_number=f"Q-{i:06d}",
            lines=_quote_lines(rng),
            valid_until=(t + timedelta(days=30)).date(),
        )
    t += timedelta(days=rng.randint(2, 15))
    w.act(opp.change_stage, t, to_stage=OpportunityStage.NEGOTIATING)
    t += timedelta(days=rng.randint(5, 40))
    if rng.random() < 0.55:
        order, t = _order_story(w, customer, opp, t)
        if order is not None and order.status is OrderStatus.APPROVED:
            w.act(opp.win, t, order_id=order.id)
            _fulfil_and_pay(w, order, i, t)
    else:
        w.act(opp.lose, t, reason="Price.", competitor=rng.choice(COMPETITORS))
        if rng.random() < 0.15:
            t += timedelta(days=rng.randint(20, 60))
            w.act(opp.reopen, t, reason="Competitor failed to deliver.")
    return t


def _order_story(
    w: HistoryWriter, customer: Customer, opp: Opportunity, t: datetime
) -> tuple[Order | None, datetime]:
    """Draft, submit, approve node by node; some are rejected once, revised, resubmitted."""
    rng = w.rng
    t += timedelta(days=rng.randint(1, 5))
    order: Order | None = w.new(
        Order.draft,
        t,
        REP,
        order_id=w.uuid(),
        customer=customer,
        order_type=OrderType(rng.choice(["standard", "contract"])),
        lines=_order_lines(rng),
        currency="CNY",
        payment_terms="30 days net",
        opportunity=opp,
    )
    if order is None:
        return None, t
    for round_ in range(2):
        t += timedelta(hours=rng.randint(1, 30))
        if not w.act(order.submit_for_approval, t, REP, policy=DEFAULT_APPROVAL_POLICY):
            return order, t
        rejected = False
        for node in order.route:
            t += timedelta(hours=rng.randint(2, 72))
            decider = DECIDERS[node]
            if round_ == 0 and rng.random() < 0.12:
                w.act(order.reject, t, decider, node=node, reason="Discount too deep.")
                t += timedelta(hours=rng.randint(2, 48))
                w.act(order.revise, t, REP, reason="Discount reduced.")
                w.act(order.change_lines, t, REP, lines=_order_lines(rng, discount_cap=10))
                rejected = True
                break
            w.act(order.approve_step, t, decider, node=node)
        if not rejected:
            break
    return order, t


def _fulfil_and_pay(w: HistoryWriter, order: Order, i: int, t: datetime) -> None:
    rng = w.rng
    if rng.random() < 0.04:
        manager = DECIDERS[ApprovalNode.SALES_MANAGER]
        w.act(order.cancel, t + timedelta(days=1), manager, reason="Customer withdrew.")
        return
    t += timedelta(days=rng.randint(3, 30))
    if not w.act(order.fulfill, t, REP) or rng.random() >= 0.9:
        return
    t += timedelta(days=rng.randint(5, 45))
    finance = DECIDERS[ApprovalNode.FINANCE]
    w.act(order.record_payment, t, finance, amount=order.total, payment_reference=f"PAY-{i:06d}")


def _complaint_story(w: HistoryWriter, customer: Customer, t: datetime) -> None:
    """File, assess, (escalate,) assign, resolve, follow up, close; some invalid, some late,
    some reopened because the customer is still unhappy."""
    rng = w.rng
    policy = DEFAULT_SLA_POLICY
    t += timedelta(days=rng.randint(5, 120))
    complaint: Complaint | None = w.new(
        Complaint.file,
        t,
        SERVICE,
        complaint_id=w.uuid(),
        customer=customer,
        channel=ContactChannel(rng.choice(["phone", "email", "wechat"])),
        category=ComplaintCategory(rng.choice(["product", "service", "delivery", "billing"])),
        severity=rng.choice(SEVERITIES),
        description="Customer reports a problem with the last delivery.",
        policy=policy,
    )
    if complaint is None:
        return
    late = rng.random() < 0.15
    t += timedelta(hours=rng.randint(1, 60 if late else 6))
    if rng.random() < 0.12:
        w.act(complaint.assess, t, SERVICE, valid=False, reason="Damage after delivery.")
        return
    w.act(complaint.assess, t, SERVICE, valid=True)
    if rng.random() < 0.1:
        w.act(complaint.escalate, t, SERVICE, reason="Key account.", policy=policy)
    w.act(
        complaint.assign,
        t,
        SERVICE,
        department=rng.choice(["logistics", "quality", "billing", "service"]),
        handler_id=f"handler-{rng.randint(1, 6)}",
    )
    t += timedelta(hours=rng.randint(4, 300 if late else 40))
    w.act(complaint.resolve, t, SERVICE, resolution="Replaced the goods.")
    t += timedelta(days=rng.randint(1, 7))
    satisfaction = rng.choice([1, 2, 3, 4, 4, 5, 5])
    w.act(complaint.record_follow_up, t, SERVICE, satisfaction=satisfaction)
    w.act(complaint.close, t, SERVICE)
    if satisfaction <= 2 and rng.random() < 0.5:
        t += timedelta(days=rng.randint(1, 10))
        w.act(complaint.reopen, t, SERVICE, reason="Still unhappy.", policy=policy)
        w.act(complaint.assign, t, SERVICE, department="quality", handler_id="handler-9")
        t += timedelta(hours=rng.randint(4, 30))
        w.act(
            complaint.resolve,
            t,
            SERVICE,
            resolution="Refunded in full.",
            compensation=Money(amount=Decimal(rng.randint(1, 20) * 100), currency="CNY"),
        )


@dataclass(frozen=True)
class Dataset:
    events: list[DomainEvent]
    customers: int
    refused: dict[str, int]
    generate_s: float

    def count(self, kind: type[DomainEvent] | tuple[type[DomainEvent], ...], n: int) -> int:
        """How many of the first ``n`` events are of ``kind``."""
        return sum(isinstance(e, kind) for e in self.events[:n])

    def topics(self) -> dict[str, int]:
        counts = collections.Counter(type(e).__name__ for e in self.events)
        return dict(counts.most_common())


def generate(size: int, seed: int = SEED) -> Dataset:
    """``size`` events of many customers' stories, in business-time order (stable: each
    stream keeps its version order), up to ``HISTORY_END``; referrals are added between
    customers after their stories."""
    started = time.perf_counter()
    w = HistoryWriter(random.Random(seed))
    customers: list[Customer] = []
    # Keep adding customers (and a referral for about one in twelve) until the history up
    # to HISTORY_END holds enough events.
    while sum(e.occurred_at <= HISTORY_END for e in w.events) < size:
        for _ in range(200):
            customer = _customer_story(w, len(customers))
            if customer is not None:
                customers.append(customer)
        for _ in range(200 // 12):
            referrer, referred = w.rng.sample(customers, 2)
            newest = [x.last_occurred_at for x in (referrer, referred) if x.last_occurred_at]
            at = max(newest) + timedelta(days=1)
            w.act(referrer.record_referral, at, referred_customer_id=referred.id)
    timeline = sorted(
        (e for e in w.events if e.occurred_at <= HISTORY_END), key=lambda e: e.occurred_at
    )
    return Dataset(
        events=timeline[:size],
        customers=len(customers),
        refused=dict(w.refused),
        generate_s=time.perf_counter() - started,
    )


# ---- stores: a source holding the events, and a fresh copy per measurement ---------------------


def _pg_url(schema: str) -> str:
    p = POSTGRES
    return f"postgresql://{p['user']}@{p['host']}:{p['port']}/{p['dbname']}?schema={schema}"


def _drop_schema(schema: str) -> None:
    with pg_connect() as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass(frozen=True)
class Source:
    """Where the generated events are stored once: a PostgreSQL schema or a SQLite file."""

    kind: str
    schema: str = ""
    path: Path | None = None


@contextmanager
def source_store(kind: str, dataset: Dataset, workdir: Path) -> Iterator[Source]:
    if kind == "postgres":
        source = Source(kind, schema=f"bench_src_{uuid.uuid4().hex[:12]}")
        url = _pg_url(source.schema)
    else:
        source = Source(kind, path=workdir / "source.db")
        url = f"sqlite:///{source.path}"
    try:
        with EventStore(url) as store:
            for start in range(0, len(dataset.events), APPEND_BATCH):
                store.append(dataset.events[start : start + APPEND_BATCH])
            stored = store.count_events()
        check(stored == len(dataset.events), f"{kind} source holds every event")
        yield source
    finally:
        if kind == "postgres":
            _drop_schema(source.schema)


@contextmanager
def fresh_copy(source: Source, workdir: Path, limit: int | None = None) -> Iterator[EventStore]:
    """A new store holding the source's events (the first ``limit`` of them if given) and
    nothing else: no read-model table, no tracking row."""
    if source.kind == "sqlite":
        assert source.path is not None  # noqa: S101 - a SQLite source has a path
        path = workdir / f"copy-{uuid.uuid4().hex[:12]}.db"
        with sqlite3.connect(source.path) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
        if limit is not None:
            with sqlite3.connect(path) as db:
                db.execute(
                    f"DELETE FROM {EVENTS_TABLE} WHERE rowid > (SELECT rowid FROM "
                    f"{EVENTS_TABLE} ORDER BY rowid LIMIT 1 OFFSET ?)",
                    (limit - 1,),
                )
        try:
            with EventStore(f"sqlite:///{path}") as store:
                yield store
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        with EventStore(_pg_url(schema)) as store:  # creates the schema and the events table
            src = sql.Identifier(source.schema, EVENTS_TABLE)
            dst = sql.Identifier(schema, EVENTS_TABLE)
            columns = sql.SQL("originator_id, originator_version, topic, state, notification_id")
            where = sql.SQL("")
            if limit is not None:
                where = sql.SQL(
                    " WHERE notification_id <= (SELECT notification_id FROM {} "
                    "ORDER BY notification_id OFFSET {} LIMIT 1)"
                ).format(src, sql.Literal(limit - 1))
            with pg_connect() as conn:
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} ({}) SELECT {} FROM {}{} ORDER BY notification_id"
                    ).format(dst, columns, columns, src, where)
                )
                conn.execute(sql.SQL("ANALYZE {}").format(dst))
                # The customers' keys too, or every personal value would read as erased
                # (and each customer cost a failed key lookup).
                conn.execute(
                    sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                        sql.Identifier(schema, KEYS_TABLE),
                        sql.Identifier(source.schema, KEYS_TABLE),
                    )
                )
            yield store
    finally:
        _drop_schema(schema)


# ---- what is timed ---------------------------------------------------------------------------


_clock = FixedClock(HISTORY_END)


def time_raw_read(store: EventStore, page: int, expected: int) -> float:
    """Events/s of reading the log in pages and decoding every notification."""
    gc.collect()
    started = time.perf_counter()
    after, decoded = 0, 0
    while notifications := store.read(after=after, limit=page):
        store.prefetch_keys((n.topic, n.originator_id, n.state) for n in notifications)
        for notification in notifications:
            store.decode(notification)
        decoded += len(notifications)
        after = notifications[-1].id
    elapsed = time.perf_counter() - started
    check(decoded == expected, "the raw read decoded every event")
    return expected / elapsed


def time_ours(store: EventStore, batch_size: int | str, dataset: Dataset) -> float:
    """Events/s of one catch-up of every read model from position 0 (tables made before).
    ``batch_size``: a fixed size, or ``"default"``: the runner's own sizes (batches that
    grow while they come back full)."""
    projections = all_projections()
    workers = _workers(batch_size)
    if str(batch_size).startswith(DEFAULT):
        runner = ProjectionRunner(store, projections, clock=_clock)
    else:
        size = int(batch_size)
        runner = ProjectionRunner(
            store, projections, batch_size=size, max_batch_size=size, clock=_clock
        )
    head = store.max_position()
    expected = len(dataset.events)
    gc.collect()
    started = time.perf_counter()
    positions = runner.catch_up(workers=workers)
    elapsed = time.perf_counter() - started
    check(
        all(p == head for p in positions.values()) and len(positions) == len(projections),
        "every projection reached the head of the log",
    )
    check(
        _count(store, "opportunity_pipeline") == dataset.count(OpportunityOpened, expected),
        "one pipeline row per opportunity",
    )
    check(
        _count(store, "customer_lifecycle") == dataset.count(CustomerRegistered, expected),
        "one lifecycle row per customer",
    )
    return expected / elapsed


def _count(store: EventStore, table: str) -> int:
    if store.location.kind == "sqlite":
        with store.datastore.transaction(commit=False) as cursor:
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            return int(cursor.fetchone()[0])
    with store.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            sql.SQL("SELECT COUNT(*) AS n FROM {}").format(
                sql.Identifier(store.location.schema, table)
            )
        )
        return int(cursor.fetchone()["n"])


# ---- the stock runner: the library's ProjectionRunner and Projection, as documented -------------


class CrmLog(Application[UUID]):
    """Reads crm-core's log: the library names the events table after the application
    (``stored`` -> ``stored_events``, the table ``EventStore`` writes) and decodes with our
    mapper."""

    name = "stored"

    def construct_mapper(self) -> Mapper[UUID]:
        return PydanticEventMapper()


class StockView(PostgresTrackingRecorder):
    """The materialised view, in the library's pattern: a tracking recorder that also owns
    the view's tables and writes a row and its tracking record in one transaction."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        customers = sql.Identifier(self.datastore.schema, "stock_customers")
        opportunities = sql.Identifier(self.datastore.schema, "stock_opportunities")
        self.sql_create_statements += [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (customer_id uuid PRIMARY KEY, name text, "
                "events bigint NOT NULL, last_event text NOT NULL, "
                "updated_at timestamptz NOT NULL)"
            ).format(customers),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (opportunity_id uuid PRIMARY KEY, "
                "customer_id uuid, stage text NOT NULL, updated_at timestamptz NOT NULL)"
            ).format(opportunities),
        ]
        self.upsert_customer = sql.SQL(
            "INSERT INTO {0} AS t VALUES (%s, %s, 1, %s, %s) ON CONFLICT (customer_id) DO UPDATE "
            "SET name = COALESCE(excluded.name, t.name), events = t.events + 1, "
            "last_event = excluded.last_event, updated_at = excluded.updated_at"
        ).format(customers)
        self.upsert_opportunity = sql.SQL(
            "INSERT INTO {0} AS t VALUES (%s, %s, COALESCE(%s, 'identified'), %s) "
            "ON CONFLICT (opportunity_id) DO UPDATE SET "
            "stage = COALESCE(%s, t.stage), updated_at = excluded.updated_at"
        ).format(opportunities)

    def customer_event(self, event: CustomerEvent, tracking: Tracking) -> None:
        name = event.profile.name if isinstance(event, CustomerRegistered) else None
        with self.datastore.transaction(commit=True) as cursor:
            self._insert_tracking(cursor, tracking)
            cursor.execute(
                self.upsert_customer,
                (event.aggregate_id, name, type(event).__name__, event.occurred_at),
                prepare=True,
            )

    def opportunity_event(self, event: OpportunityEvent, tracking: Tracking) -> None:
        stage: str | None = None
        if isinstance(event, OpportunityStageChanged | OpportunityReopened):
            stage = event.to_stage.value
        elif isinstance(event, OpportunityWon):
            stage = "won"
        elif isinstance(event, OpportunityLost):
            stage = "lost"
        customer_id = event.customer_id if isinstance(event, OpportunityOpened) else None
        with self.datastore.transaction(commit=True) as cursor:
            self._insert_tracking(cursor, tracking)
            cursor.execute(
                self.upsert_opportunity,
                (event.aggregate_id, customer_id, stage, event.occurred_at, stage),
                prepare=True,
            )

    def count(self, table: str) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                sql.SQL("SELECT COUNT(*) AS n FROM {}").format(
                    sql.Identifier(self.datastore.schema, table)
                )
            )
            row = cursor.fetchone()
            assert row is not None  # noqa: S101 - COUNT always returns a row
            return int(row["n"])


class StockProjection(StockProjectionBase[StockView]):
    name = "stock_projection"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)  # not for this view: track it all the same

    @process_event.register(CustomerEvent)
    def _customer(self, domain_event: CustomerEvent, tracking: Tracking) -> None:
        self.view.customer_event(domain_event, tracking)

    @process_event.register(OpportunityEvent)
    def _opportunity(self, domain_event: OpportunityEvent, tracking: Tracking) -> None:
        self.view.opportunity_event(domain_event, tracking)


def _stock_env(schema: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(POSTGRES["dbname"]),
        "POSTGRES_HOST": str(POSTGRES["host"]),
        "POSTGRES_PORT": str(POSTGRES["port"]),
        "POSTGRES_USER": str(POSTGRES["user"]),
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }


def time_stock(store: EventStore, dataset: Dataset, count: int) -> float:
    """Events/s of the stock runner from starting it until it has tracked the head."""
    head = store.max_position()
    gc.collect()
    started = time.perf_counter()
    with StockProjectionRunner(
        application_class=CrmLog,
        projection_class=StockProjection,
        view_class=StockView,
        env=_stock_env(store.location.schema),
    ) as runner:
        view = runner.projection.view
        while (view.max_tracking_id(runner.app_name) or 0) < head:
            runner.run_forever(timeout=0.02)  # raises the projection's error, if any
            check(not runner.is_interrupted.is_set(), "the stock runner is still running")
        elapsed = time.perf_counter() - started
        check(
            view.count("stock_opportunities") == dataset.count(OpportunityOpened, count),
            "one stock row per opportunity",
        )
        check(
            view.count("stock_customers") == dataset.count(CustomerRegistered, count),
            "one stock row per customer",
        )
    return count / elapsed


# ---- the whole benchmark -------------------------------------------------------------------


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "median_per_s": round(statistics.median(values), 1),
        "min_per_s": round(min(values), 1),
        "max_per_s": round(max(values), 1),
    }


def measure(
    kind: str,
    source: Source,
    dataset: Dataset,
    args: argparse.Namespace,
    workdir: Path,
) -> list[dict[str, Any]]:
    events = len(dataset.events)
    stock_events = min(args.stock_events or events, events)
    ours: dict[int | str, list[float]] = {b: [] for b in args.batch_sizes}
    raw: dict[int | str, list[float]] = {b: [] for b in args.batch_sizes}
    stock: list[float] = []
    for run in range(1, args.runs + 1):
        for batch in args.batch_sizes:
            with fresh_copy(source, workdir) as store:
                raw[batch].append(time_raw_read(store, _page(batch, kind), events))
                # A new store object, so the raw read leaves no warm pool or cache behind.
            with fresh_copy(source, workdir) as store:
                ours[batch].append(time_ours(store, batch, dataset))
            _progress(
                f"  {kind} run {run}/{args.runs} batch {batch}: ours {ours[batch][-1]:,.0f}/s, "
                f"raw read {raw[batch][-1]:,.0f}/s"
            )
        if kind == "postgres" and not args.no_stock:
            with fresh_copy(source, workdir, limit=stock_events) as store:
                stock.append(time_stock(store, dataset, stock_events))
            _progress(f"  {kind} run {run}/{args.runs}: stock {stock[-1]:,.0f}/s")
    figures = []
    for batch in args.batch_sizes:
        ours_s, raw_s = _summary(ours[batch]), _summary(raw[batch])
        stock_s = _summary(stock) if stock else None
        figures.append(
            {
                "store": kind,
                "batch_size": batch,
                "events": events,
                "ours": ours_s,
                "raw_read": raw_s,
                "stock": stock_s,
                "stock_events": stock_events if stock else None,
                "ours_over_raw": round(ours_s["median_per_s"] / raw_s["median_per_s"], 3),
                "ours_over_stock": round(ours_s["median_per_s"] / stock_s["median_per_s"], 3)
                if stock_s
                else None,
                "runs": [
                    {
                        "ours_per_s": round(ours[batch][i], 1),
                        "raw_read_per_s": round(raw[batch][i], 1),
                        "stock_per_s": round(stock[i], 1) if stock else None,
                    }
                    for i in range(args.runs)
                ],
            }
        )
    return figures


def _workers(batch: int | str) -> int:
    """``"default, 2 processes"`` -> 2: the runner's defaults and ``catch_up(workers=2)``."""
    label = str(batch)
    return int(label.split(", ")[1].split()[0]) if label.startswith(f"{DEFAULT}, ") else 1


def _page(batch: int | str, kind: str) -> int:
    """The raw read's page: the fixed batch size, or the largest the default runner reads."""
    if not str(batch).startswith(DEFAULT):
        return int(batch)
    return MAX_CATCH_UP_BATCH if kind == "postgres" else DEFAULT_BATCH_SIZE


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the work tree (outside bench/) differed from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def render_table(figures: list[dict[str, Any]]) -> str:
    header = (
        "store",
        "batch",
        "events",
        "ours median/s",
        "ours min/s",
        "ours max/s",
        "raw read/s",
        "ours/raw",
        "stock/s",
        "ours/stock",
    )
    rows = []
    for f in figures:
        stock = f["stock"]
        stock_cell = "n/a"
        if stock is not None:
            stock_cell = f"{stock['median_per_s']:,.0f}"
            if f["stock_events"] != f["events"]:
                stock_cell += f" ({f['stock_events']:,} ev)"
        rows.append(
            (
                f["store"],
                str(f["batch_size"]),
                f"{f['events']:,}",
                f"{f['ours']['median_per_s']:,.0f}",
                f"{f['ours']['min_per_s']:,.0f}",
                f"{f['ours']['max_per_s']:,.0f}",
                f"{f['raw_read']['median_per_s']:,.0f}",
                f"{f['ours_over_raw']:.3f}",
                stock_cell,
                "n/a" if f["ours_over_stock"] is None else f"{f['ours_over_stock']:.2f}",
            )
        )
    return text_table(header, rows, left=1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.projections",
        description="Catch-up throughput of crm-core's read models against two baselines.",
    )
    parser.add_argument(
        "--events", type=int, default=100_000, help="events in the log (default 100000)"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure (default 3)")
    parser.add_argument(
        "--batch-sizes",
        default="2000,default",
        help="comma-separated fixed runner batch sizes, also the raw read's page, and/or "
        "'default': the runner's own (2,000 growing to 50,000 on PostgreSQL while batches "
        "come back full; raw read pages of the largest) (default 2000,default)",
    )
    parser.add_argument(
        "--workers",
        default="2",
        help="comma-separated process counts (2 or more) to measure the runner's defaults "
        "with, as `catch_up(workers=N)`: processes start only at 50,000 events behind, so "
        "a smaller log is caught up in one (default 2; '' for none)",
    )
    parser.add_argument(
        "--stores",
        default="postgres",
        help="comma-separated: postgres, sqlite (default postgres; the stock runner is "
        "PostgreSQL only)",
    )
    parser.add_argument(
        "--stock-events",
        type=int,
        default=None,
        help="run the stock runner on the first M events only (default: all of them)",
    )
    parser.add_argument("--no-stock", action="store_true", help="skip the stock runner baseline")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON results (default bench/results-projections.json)",
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.runs < 1:
        parser.error("--events and --runs must be at least 1")
    if args.stock_events is not None and args.stock_events < 1:
        parser.error("--stock-events must be at least 1")
    items = {b.strip() for b in args.batch_sizes.split(",") if b.strip()}
    try:
        fixed = sorted({int(b) for b in items - {DEFAULT}})
    except ValueError:
        parser.error("--batch-sizes takes comma-separated integers and/or 'default'")
    if (not fixed and DEFAULT not in items) or (fixed and min(fixed) < 1):
        parser.error("--batch-sizes needs at least one size of 1 or more, or 'default'")
    try:
        workers = sorted({int(w) for w in args.workers.split(",") if w.strip()} - {1})
    except ValueError:
        parser.error("--workers takes comma-separated integers")
    if workers and min(workers) < 1:
        parser.error("--workers counts must be 1 or more")
    args.batch_sizes = [
        *fixed,
        *([DEFAULT] if DEFAULT in items else []),
        *(f"{DEFAULT}, {w} processes" for w in workers),
    ]
    args.kinds = parse_stores(parser, args.stores)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (refused := start(args.kinds)) is not None:
        return refused
    code = code_version()  # before the long run: the tree may change while it runs
    started = time.perf_counter()
    _progress(f"generating {args.events:,} events through the aggregates ...")
    dataset = generate(args.events)
    check(len(dataset.events) == args.events, "the dataset has the events asked for")
    _progress(
        f"  {len(dataset.events):,} events of {dataset.customers:,} customers "
        f"in {dataset.generate_s:.1f}s"
    )
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="crm-bench-proj-") as tmp:
        workdir = Path(tmp)
        for kind in args.kinds:
            _progress(f"storing the events in a {kind} source ...")
            with source_store(kind, dataset, workdir) as source:
                _progress(f"measuring catch-up on {kind} ...")
                figures.extend(measure(kind, source, dataset, args, workdir))
    elapsed = time.perf_counter() - started

    print(
        f"crm-core projection catch-up, events/s, median of {args.runs} run(s) of "
        f"{args.events:,} events into all {len(all_projections())} read models"
    )
    print(render_table(figures))
    print(
        "raw read = store.read pages + store.prefetch_keys + store.decode, no projection; "
        "stock = eventsourcing's ProjectionRunner, one event per transaction, "
        "a one-table-per-kind upsert projection (PostgreSQL only)"
    )
    print(f"ratios are of medians; took {elapsed:.1f}s")

    result = {
        "benchmark": "projections",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code,
        "machine": machine_info(args.kinds),
        "parameters": {
            "events": args.events,
            "runs": args.runs,
            "batch_sizes": args.batch_sizes,
            "stores": args.kinds,
            "stock_events": None
            if args.no_stock
            else min(args.stock_events or args.events, args.events),
            "seed": SEED,
            "runner_clock": HISTORY_END.isoformat(),
        },
        "dataset": {
            "events": len(dataset.events),
            "customers": dataset.customers,
            "generate_s": round(dataset.generate_s, 1),
            "first_occurred_at": dataset.events[0].occurred_at.isoformat(),
            "last_occurred_at": dataset.events[-1].occurred_at.isoformat(),
            "by_type": dataset.topics(),
            "refused_by_rules": dataset.refused,
        },
        "figures": figures,
        "elapsed_s": round(elapsed, 1),
    }
    write_results(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
