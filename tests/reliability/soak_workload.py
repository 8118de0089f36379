"""The soak test's writers: a realistic, partly hostile mix of commands on a shared book.

Most commands act on customers, opportunities, orders and complaints that every writer
thread shares, so the threads race for the same streams and the rules refuse whatever an
interleaving made invalid (an approval of a node already approved, a redemption the
balance no longer covers, a second registration of an external reference). Whether such a
command is accepted cannot be known in advance, only that a refusal must be one of the
typed errors. Other commands are invalid whatever the interleaving (an unknown id, an
auditor, malformed input, an impossible redemption, a command id reused for a different
payload): their one typed error is known in advance. A client also resends commands it
already had acknowledged, as after a lost reply: the first result must come back,
replayed. Every attempt lands in a ledger with its outcome, for the checks against the log.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from pydantic import ValidationError

from adapters.event_store import AppendConflict, EventStore
from application import (
    CRM,
    Actor,
    CommandResult,
    ConcurrencyConflict,
    NotFound,
    PermissionDenied,
    Role,
    RuleViolation,
)
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
    LeaveMembership,
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
    RequalifyCustomer,
    ResolveComplaint,
    ReviseOrder,
    ScheduleFollowUp,
    SubmitOrderForApproval,
    UpdateCustomerProfile,
    WinOpportunity,
)
from domain.aggregates import Order
from domain.approval import ApprovalNode

REP = Actor(id="soak-rep", roles=frozenset({Role.SALES_REP}))
MANAGER = Actor(id="soak-manager", roles=frozenset({Role.SALES_MANAGER}))
FINANCE = Actor(id="soak-finance", roles=frozenset({Role.FINANCE}))
DIRECTOR = Actor(id="soak-director", roles=frozenset({Role.DIRECTOR}))
AGENT = Actor(id="soak-agent", roles=frozenset({Role.SERVICE_AGENT}))
SERVICE_MANAGER = Actor(id="soak-service-manager", roles=frozenset({Role.SERVICE_MANAGER}))
AUDITOR = Actor(id="soak-auditor", roles=frozenset({Role.AUDITOR}))
APPROVER = {
    ApprovalNode.SALES_MANAGER: MANAGER,
    ApprovalNode.FINANCE: FINANCE,
    ApprovalNode.DIRECTOR: DIRECTOR,
}

EXTERNAL_REFS = 40  # registrations draw from this many references, so they collide
MAX_AWARD = 500  # points per award: far below the impossible redemption
IMPOSSIBLE_REDEMPTION = 999_999_999
# A refusal the interleaving may cause: a rule, or losing every bounded retry of a race.
RACE_REFUSALS: tuple[type[BaseException], ...] = (RuleViolation, ConcurrencyConflict)


@dataclass
class Attempt:
    """One call of ``crm.execute`` and what came of it.

    ``must_fail`` names the one error a deliberately invalid command must give (and
    ``rule`` the rule, for a ``RuleViolation``); otherwise a refusal must be one of
    ``RACE_REFUSALS``. ``resend_of`` is the acknowledged attempt a resend repeats;
    ``reuses`` the acknowledged one whose command id a different payload reuses.
    """

    command: Command
    actor: Actor
    writer: str
    must_fail: type[BaseException] | None = None
    rule: str | None = None
    resend_of: Attempt | None = None
    reuses: Attempt | None = None
    result: CommandResult | None = None
    error: BaseException | None = None

    @property
    def command_id(self) -> str:
        assert self.command.command_id is not None
        return self.command.command_id

    @property
    def acknowledged(self) -> bool:
        return self.result is not None

    @property
    def expected(self) -> bool:
        """Did the outcome keep to what the attempt allows?"""
        if self.must_fail is not None:
            return type(self.error) is self.must_fail and (
                self.rule is None or getattr(self.error, "rule", None) == self.rule
            )
        if self.resend_of is not None:
            first = self.resend_of.result
            return (
                self.result is not None
                and first is not None
                and self.result.replayed
                and (self.result.aggregate_id, self.result.version, self.result.events)
                == (first.aggregate_id, first.version, first.events)
            )
        return self.result is not None or isinstance(self.error, RACE_REFUSALS)


class AppendCounter:
    """Counts the store's appends (with group commit, one may hold many commands) and those
    that lost a race for a stream (each is retried)."""

    def __init__(self) -> None:
        self.appends = 0
        self.conflicts = 0
        self._lock = threading.Lock()

    def watch(self, store: EventStore) -> None:
        append = store.append

        def counting(events: Any, **kwargs: Any) -> list[int]:
            try:
                positions = append(events, **kwargs)
            except AppendConflict:
                with self._lock:
                    self.conflicts += 1
                raise
            with self._lock:
                self.appends += 1
            return positions

        store.append = counting  # type: ignore[method-assign]


@dataclass
class Book:
    """The ids every writer shares; new aggregates join it once acknowledged."""

    customers: list[UUID] = field(default_factory=list)
    opportunities: list[UUID] = field(default_factory=list)
    orders: list[UUID] = field(default_factory=list)
    complaints: list[UUID] = field(default_factory=list)
    follow_ups: list[tuple[UUID, UUID]] = field(default_factory=list)  # customer, follow-up
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self, rng: random.Random, kind: str) -> Any:
        with self.lock:
            ids: list[Any] = getattr(self, kind)
            # Recent ones more often: they still have their flow ahead of them.
            return ids[min(len(ids) - 1, int(len(ids) * rng.random() ** 0.5))]

    def add(self, kind: str, value: Any) -> None:
        with self.lock:
            getattr(self, kind).append(value)


def _line(rng: random.Random, sku: str) -> OrderLine:
    # From a few hundred (sales manager only) to over 500,000 (finance and director).
    unit_price = rng.choice(["180", "2400", "26000", "64000", "310000"])
    return OrderLine(
        sku=sku,
        name=f"Item {sku}",
        quantity=Decimal(rng.randint(1, 3)),
        unit_price=Decimal(unit_price),
        discount_pct=Decimal(rng.choice(["0", "5", "20"])),
    )


def _text(rng: random.Random, what: str) -> str:
    # Quotes and SQL-looking text travel through the events and read models unchanged.
    return rng.choice([what, f"{what}: customer said 'no'", f'{what} "; DROP TABLE x; --'])


class Writer:
    """One writer thread's command stream. ``next_attempt`` draws the next command."""

    def __init__(self, name: str, crm: CRM, book: Book, seed: int) -> None:
        self.name = name
        self.crm = crm
        self.book = book
        self.rng = random.Random(seed)
        self.attempts: list[Attempt] = []
        self._acknowledged: list[Attempt] = []
        self._serial = 0
        moves: list[tuple[int, Callable[[], Attempt]]] = [
            (3, self._register),
            (2, self._update_profile),
            (6, self._record_contact),
            (3, self._schedule_follow_up),
            (2, self._close_follow_up),
            (1, self._change_tier),
            (2, self._membership),
            (4, self._award_points),
            (4, self._redeem_points),
            (1, self._disqualification),
            (1, self._referral),
            (2, self._survey),
            (3, self._open_opportunity),
            (5, self._move_opportunity),
            (4, self._draft_order),
            (10, self._move_order),
            (3, self._file_complaint),
            (8, self._move_complaint),
            (2, self._unknown_id),
            (2, self._auditor),
            (2, self._malformed),
            (1, self._impossible_redemption),
            (1, self._reused_command_id),
            (3, self._resend),
        ]
        self._moves = [move for weight, move in moves for _ in range(weight)]

    # ---- running ------------------------------------------------------------------

    def run_until(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.execute(self.rng.choice(self._moves)())

    def execute(self, attempt: Attempt) -> Attempt:
        try:
            attempt.result = self.crm.execute(attempt.command, actor=attempt.actor)
        except (ValidationError, Exception) as error:  # every error is judged by the checks
            attempt.error = error
        self.attempts.append(attempt)
        if attempt.result is not None and attempt.resend_of is None:
            self._acknowledged.append(attempt)
            self._remember(attempt)
        return attempt

    def _remember(self, attempt: Attempt) -> None:
        """New aggregates and follow-ups join the shared book."""
        assert attempt.result is not None
        command, created = attempt.command, attempt.result.aggregate_id
        if isinstance(command, RegisterCustomer):
            self.book.add("customers", created)
        elif isinstance(command, OpenOpportunity):
            self.book.add("opportunities", created)
        elif isinstance(command, DraftOrder):
            self.book.add("orders", created)
        elif isinstance(command, FileComplaint):
            self.book.add("complaints", created)
        elif isinstance(command, ScheduleFollowUp) and command.follow_up_id is not None:
            self.book.add("follow_ups", (command.customer_id, command.follow_up_id))

    def _attempt(self, build: Callable[..., Command], actor: Actor, **fields: Any) -> Attempt:
        self._serial += 1
        command = build(command_id=f"soak:{self.name}:{self._serial}", **fields)
        return Attempt(command=command, actor=actor, writer=self.name)

    def _customer(self) -> UUID:
        return self.book.pick(self.rng, "customers")  # type: ignore[no-any-return]

    # ---- customers ----------------------------------------------------------------

    def _register(self) -> Attempt:
        ref = self.rng.random() < 0.5
        return self._attempt(
            RegisterCustomer,
            self.rng.choice([REP, AGENT]),
            kind=self.rng.choice(["company", "individual"]),
            name=_text(self.rng, f"Soak customer {self._serial}"),
            external_ref=f"SOAK-{self.rng.randrange(EXTERNAL_REFS)}" if ref else None,
            region=self.rng.choice(["华东", "华南", "North"]),
        )

    def _update_profile(self) -> Attempt:
        return self._attempt(
            UpdateCustomerProfile,
            REP,
            customer_id=self._customer(),
            region=self.rng.choice(["华东", "华南", "华北", "West"]),
            industry=self.rng.choice(["retail", "logistics", "food"]),
        )

    def _record_contact(self) -> Attempt:
        return self._attempt(
            RecordContact,
            self.rng.choice([REP, AGENT]),
            customer_id=self._customer(),
            channel=self.rng.choice(["phone", "email", "visit", "wechat"]),
            direction=self.rng.choice(["inbound", "outbound"]),
            summary=_text(self.rng, "Talked about the next delivery"),
        )

    def _schedule_follow_up(self) -> Attempt:
        due = datetime.now(UTC) + timedelta(days=self.rng.randint(1, 60))
        return self._attempt(
            ScheduleFollowUp,
            REP,
            customer_id=self._customer(),
            purpose=self.rng.choice(["revisit", "after_sale", "holiday"]),
            due_at=due,
            follow_up_id=uuid4(),
        )

    def _close_follow_up(self) -> Attempt:
        if not self.book.follow_ups:
            return self._record_contact()
        customer_id, follow_up_id = self.book.pick(self.rng, "follow_ups")
        if self.rng.random() < 0.7:
            return self._attempt(
                CompleteFollowUp, REP, customer_id=customer_id, follow_up_id=follow_up_id
            )
        return self._attempt(
            MarkFollowUpMissed, REP, customer_id=customer_id, follow_up_id=follow_up_id
        )

    def _change_tier(self) -> Attempt:
        return self._attempt(
            ChangeRelationshipTier,
            MANAGER,
            customer_id=self._customer(),
            tier=self.rng.choice(["transactional", "preferred_supplier", "partner"]),
        )

    def _membership(self) -> Attempt:
        if self.rng.random() < 0.6:
            return self._attempt(JoinMembership, REP, customer_id=self._customer())
        return self._attempt(LeaveMembership, REP, customer_id=self._customer())

    def _award_points(self) -> Attempt:
        return self._attempt(
            AwardLoyaltyPoints,
            MANAGER,
            customer_id=self._customer(),
            points=self.rng.randint(1, MAX_AWARD),
        )

    def _redeem_points(self) -> Attempt:
        return self._attempt(
            RedeemLoyaltyPoints,
            REP,
            customer_id=self._customer(),
            points=self.rng.randint(1, MAX_AWARD // 2),
        )

    def _disqualification(self) -> Attempt:
        if self.rng.random() < 0.4:
            return self._attempt(
                DisqualifyCustomer, MANAGER, customer_id=self._customer(), reason="No budget"
            )
        return self._attempt(RequalifyCustomer, MANAGER, customer_id=self._customer())

    def _referral(self) -> Attempt:
        return self._attempt(
            RecordReferral,
            REP,
            customer_id=self._customer(),
            referred_customer_id=self._customer(),
        )

    def _survey(self) -> Attempt:
        return self._attempt(
            RecordSatisfactionSurvey,
            AGENT,
            customer_id=self._customer(),
            scores=(
                DimensionScore(
                    dimension="overall",
                    expected=self.rng.randint(5, 9),
                    perceived=self.rng.randint(3, 10),
                ),
            ),
            nps=self.rng.randint(0, 10),
            survey_id=uuid4(),
        )

    # ---- opportunities --------------------------------------------------------------

    def _open_opportunity(self) -> Attempt:
        return self._attempt(
            OpenOpportunity,
            REP,
            customer_id=self._customer(),
            title=_text(self.rng, "Warehouse fit-out"),
            estimated_value=Money(amount=Decimal(self.rng.randint(1, 900) * 1000), currency="CNY"),
        )

    def _move_opportunity(self) -> Attempt:
        opportunity_id = self.book.pick(self.rng, "opportunities")
        roll = self.rng.random()
        if roll < 0.2:
            return self._attempt(
                EvaluateOpportunity,
                REP,
                opportunity_id=opportunity_id,
                score=self.rng.randint(0, 100),
                win_probability=Decimal(self.rng.randint(0, 100)),
                priority=self.rng.choice(["A", "B", "C"]),
            )
        if roll < 0.45:
            stage = self.rng.choice(["intent_confirmed", "needs_confirmed", "negotiating"])
            return self._attempt(
                ChangeOpportunityStage, REP, opportunity_id=opportunity_id, to_stage=stage
            )
        if roll < 0.65:
            line = PricedLine(
                sku="SHF-100",
                name="Shelving",
                quantity=self.rng.randint(1, 50),
                unit_price=Decimal("1280"),
                discount_pct=Decimal(self.rng.choice([0, 10])),
            )
            return self._attempt(
                QuoteOpportunity,
                REP,
                opportunity_id=opportunity_id,
                quote_number=f"Q-{self.name}-{self._serial}",
                lines=(line,),
                valid_until=(datetime.now(UTC) + timedelta(days=30)).date(),
            )
        if roll < 0.8:
            return self._attempt(WinOpportunity, REP, opportunity_id=opportunity_id)
        if roll < 0.9:
            return self._attempt(
                LoseOpportunity, REP, opportunity_id=opportunity_id, reason="Price too high"
            )
        return self._attempt(ReopenOpportunity, MANAGER, opportunity_id=opportunity_id)

    # ---- orders -------------------------------------------------------------------

    def _draft_order(self) -> Attempt:
        lines = tuple(_line(self.rng, f"SKU-{n}") for n in range(self.rng.randint(1, 2)))
        return self._attempt(
            DraftOrder, REP, customer_id=self._customer(), lines=lines, currency="CNY"
        )

    def _move_order(self) -> Attempt:
        order_id = self.book.pick(self.rng, "orders")
        roll = self.rng.random()
        if roll < 0.15:
            return self._attempt(SubmitOrderForApproval, REP, order_id=order_id)
        if roll < 0.5:
            # As a client would: read the order, approve the node it seems to wait for
            # (another thread may have approved it meanwhile), now and then a wrong node.
            node = self._waiting_node(order_id) or self.rng.choice(list(ApprovalNode))
            return self._attempt(ApproveOrderStep, APPROVER[node], order_id=order_id, node=node)
        if roll < 0.56:
            node = self.rng.choice(list(ApprovalNode))
            return self._attempt(
                RejectOrder, APPROVER[node], order_id=order_id, node=node, reason="Discount"
            )
        if roll < 0.62:
            return self._attempt(ReviseOrder, REP, order_id=order_id)
        if roll < 0.68:
            return self._attempt(
                ChangeOrderLines, REP, order_id=order_id, lines=(_line(self.rng, "SKU-9"),)
            )
        if roll < 0.82:
            return self._attempt(FulfillOrder, REP, order_id=order_id)
        if roll < 0.95:
            amount = self._total(order_id) or Money(amount=Decimal("1"), currency="CNY")
            return self._attempt(RecordOrderPayment, FINANCE, order_id=order_id, amount=amount)
        return self._attempt(CancelOrder, MANAGER, order_id=order_id, reason="Customer withdrew")

    def _waiting_node(self, order_id: UUID) -> ApprovalNode | None:
        if self.rng.random() < 0.1:
            return None
        return self.crm.load(Order, order_id).next_node

    def _total(self, order_id: UUID) -> Money | None:
        order = self.crm.load(Order, order_id)
        return order.total if self.rng.random() < 0.9 else None

    # ---- complaints -----------------------------------------------------------------

    def _file_complaint(self) -> Attempt:
        return self._attempt(
            FileComplaint,
            self.rng.choice([AGENT, REP]),
            customer_id=self._customer(),
            channel=self.rng.choice(["phone", "email", "wechat"]),
            category=self.rng.choice(["product", "delivery", "billing", "service"]),
            severity=self.rng.choice(["low", "medium", "high", "critical"]),
            description=_text(self.rng, "The delivery was late"),
        )

    def _move_complaint(self) -> Attempt:
        complaint_id = self.book.pick(self.rng, "complaints")
        roll = self.rng.random()
        if roll < 0.2:
            valid = self.rng.random() < 0.9
            reason = None if valid else "Not our product"
            return self._attempt(
                AssessComplaint, AGENT, complaint_id=complaint_id, valid=valid, reason=reason
            )
        if roll < 0.35:
            return self._attempt(
                AssignComplaint,
                SERVICE_MANAGER,
                complaint_id=complaint_id,
                department=self.rng.choice(["logistics", "quality"]),
                handler_id=self.rng.choice(["h-1", "h-2", "h-3"]),
            )
        if roll < 0.55:
            return self._attempt(
                ResolveComplaint,
                AGENT,
                complaint_id=complaint_id,
                resolution=_text(self.rng, "Replaced the goods"),
            )
        if roll < 0.68:
            return self._attempt(
                RecordComplaintFollowUp,
                AGENT,
                complaint_id=complaint_id,
                satisfaction=self.rng.randint(1, 5),
            )
        if roll < 0.8:
            return self._attempt(CloseComplaint, AGENT, complaint_id=complaint_id)
        if roll < 0.9:
            return self._attempt(
                ReopenComplaint, AGENT, complaint_id=complaint_id, reason="Happened again"
            )
        return self._attempt(
            EscalateComplaint,
            AGENT,
            complaint_id=complaint_id,
            reason="Customer called twice",
            to_severity=self.rng.choice(["high", "critical"]),
        )

    # ---- invalid whatever the interleaving ------------------------------------------

    def _unknown_id(self) -> Attempt:
        attempt = self._attempt(
            self.rng.choice([AwardLoyaltyPoints, RedeemLoyaltyPoints]),
            MANAGER,
            customer_id=uuid4(),
            points=10,
        )
        attempt.must_fail = NotFound
        return attempt

    def _auditor(self) -> Attempt:
        attempt = self._record_contact()
        attempt.actor = AUDITOR
        attempt.must_fail = PermissionDenied
        return attempt

    def _malformed(self) -> Attempt:
        """Built without validation, as a careless host might; ``execute`` validates again."""
        self._serial += 1
        command_id = f"soak:{self.name}:{self._serial}"
        customer_id = self._customer()
        command = self.rng.choice(
            [
                AwardLoyaltyPoints.model_construct(
                    customer_id=customer_id, points=-5, command_id=command_id
                ),
                RecordContact.model_construct(
                    customer_id=customer_id,
                    channel="pigeon",
                    direction="inbound",
                    summary="x",
                    command_id=command_id,
                ),
                RedeemLoyaltyPoints.model_construct(
                    customer_id=customer_id, points=float("nan"), command_id=command_id
                ),
            ]
        )
        return Attempt(command=command, actor=MANAGER, writer=self.name, must_fail=ValidationError)

    def _impossible_redemption(self) -> Attempt:
        attempt = self._attempt(
            RedeemLoyaltyPoints,
            REP,
            customer_id=self._customer(),
            points=IMPOSSIBLE_REDEMPTION,
        )
        attempt.must_fail, attempt.rule = RuleViolation, "loyalty_points_never_negative"
        return attempt

    def _reused_command_id(self) -> Attempt:
        if not self._acknowledged:
            return self._record_contact()
        earlier = self.rng.choice(self._acknowledged)
        command = RecordContact(
            command_id=earlier.command_id,
            customer_id=self._customer(),
            channel="sms",
            direction="outbound",
            summary="A different command under an id already used",
        )
        return Attempt(
            command=command,
            actor=REP,
            writer=self.name,
            must_fail=RuleViolation,
            rule="command_id_unique",
            reuses=earlier,
        )

    def _resend(self) -> Attempt:
        """The same command again, as after a reply lost on the way back."""
        if not self._acknowledged:
            return self._record_contact()
        earlier = self.rng.choice(self._acknowledged)
        return Attempt(
            command=earlier.command,
            actor=earlier.actor,
            writer=self.name,
            resend_of=earlier,
        )
