"""The permission matrix, command by command and role by role, on SQLite and PostgreSQL.

For every (command, role) a valid command is prepared by an admin (a registered customer,
an open opportunity, a scheduled follow-up, an order waiting for approval, a resolved
complaint, ...) and then executed by an actor holding only that role: it is applied when the
role is in ``allowed_roles(command)`` and refused with ``PermissionDenied`` otherwise, in
which case nothing is written. Business time (``occurred_at``) is the admin's alone, and
every stored event names the actor who caused it.

Approvals have a second gate inside the domain: deciding at a node needs that node's role
(``CommandContext.actor_roles``) and not being the submitter. The matrix only says who may
*try*; for each approving role the order is prepared to wait at that role's node, so the
attempt succeeds. Admin passes the matrix but holds no node role: it gets
``RuleViolation('approver_holds_node_role')``, never ``PermissionDenied``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from application import CRM, Actor, PermissionDenied, Role, RuleViolation
from application.command_log import CommandRecorded
from application.commands import (
    ApprovalNode,
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
    DisqualifyCustomer,
    DraftOrder,
    EraseCustomerPersonalData,
    EscalateComplaint,
    EvaluateOpportunity,
    FileComplaint,
    FulfillOrder,
    ImportOrder,
    JoinMembership,
    LeaveMembership,
    LoseOpportunity,
    MarkFollowUpMissed,
    MergeCustomers,
    OpenOpportunity,
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
from application.handlers import HANDLERS
from application.permissions import PERMISSIONS, allowed_roles
from domain.aggregates.order import Order
from domain.events.base import DomainEvent
from domain.events.order import (
    OrderApprovalStepApproved,
    OrderApproved,
    OrderImported,
    OrderRejected,
    OrderStatus,
)
from domain.events.reservations import UniqueValueClaimed
from tests.application.builders import ADMIN
from tests.postgres_server import Server

FAR_FUTURE = "2099-06-01T09:00:00+00:00"
MONEY = {"amount": "25000.00", "currency": "CNY"}
LINE = {"sku": "SHELF-01", "name": "Steel shelf", "quantity": "2", "unit_price": "1250.00"}
SCORE = {"dimension": "service", "expected": 6, "perceived": 8}
SETUP_AT = datetime(2021, 3, 1, 10, 0, tzinfo=UTC)
COMMAND_AT = datetime(2021, 6, 15, 14, 30, 5, 123456, tzinfo=UTC)


# Holds every node's role and never submits, so it can take an order to any node.
SETUP_APPROVER = Actor(
    id="setup-approver-1",
    roles=frozenset({Role.ADMIN, Role.SALES_MANAGER, Role.FINANCE, Role.DIRECTOR}),
)
# The node each approving role decides at. Admin may run approvals (the matrix) but holds no
# node role, so the order's own rule refuses it (see ``domain_refusal``).
NODE_OF_ROLE = {
    Role.SALES_MANAGER: ApprovalNode.SALES_MANAGER,
    Role.FINANCE: ApprovalNode.FINANCE,
    Role.DIRECTOR: ApprovalNode.DIRECTOR,
}
# Quantities of LINE (1250.00 CNY each) whose total routes an order through the nodes up to
# and including this one: 2500 (sales manager), 125 000 (+ finance), 625 000 (+ director).
QUANTITY_ENDING_AT = {
    ApprovalNode.SALES_MANAGER: "2",
    ApprovalNode.FINANCE: "100",
    ApprovalNode.DIRECTOR: "500",
}
ROUTE_TO = {
    ApprovalNode.SALES_MANAGER: (ApprovalNode.SALES_MANAGER,),
    ApprovalNode.FINANCE: (ApprovalNode.SALES_MANAGER, ApprovalNode.FINANCE),
    ApprovalNode.DIRECTOR: tuple(ApprovalNode),
}
ORDER_TOTAL = {"amount": "2500.00", "currency": "CNY"}
NODE_RULE = ("approver_holds_node_role", "node")


class World:
    """Prepares what a command needs, as admin; with ``at``, in that business time.

    ``role`` is the role about to run the command: approvals are prepared to wait at the
    node that role decides at (at the sales manager's for any other role).
    """

    def __init__(
        self, crm: CRM | None, at: datetime | None = None, role: Role | None = None
    ) -> None:
        self.crm = crm
        self.at = at
        self.node = NODE_OF_ROLE.get(role, ApprovalNode.SALES_MANAGER)  # type: ignore[arg-type]

    def run(self, command_type: type[Command], actor: Actor = ADMIN, **fields: Any) -> UUID:
        if self.crm is None:  # dry: only the shape of the command is wanted
            return uuid4()
        if self.at is not None:
            fields["occurred_at"] = self.at
        command = command_type.model_validate(fields)
        return self.crm.execute(command, actor=actor).aggregate_id

    def customer(self) -> UUID:
        return self.run(RegisterCustomer, kind="company", name="Acme Trading Co.")

    def opportunity(self) -> UUID:
        return self.run(
            OpenOpportunity, customer_id=self.customer(), title="Shelving", estimated_value=MONEY
        )

    def scheduled_follow_up(self) -> dict[str, Any]:
        customer_id, follow_up_id = self.customer(), uuid4()
        self.run(
            ScheduleFollowUp,
            customer_id=customer_id,
            follow_up_id=follow_up_id,
            purpose="after_sale",
            due_at=FAR_FUTURE,
        )
        return {"customer_id": customer_id, "follow_up_id": follow_up_id}

    def member(self) -> UUID:
        customer_id = self.customer()
        self.run(JoinMembership, customer_id=customer_id)
        return customer_id

    def with_points(self, points: int) -> UUID:
        customer_id = self.customer()
        self.run(AwardLoyaltyPoints, customer_id=customer_id, points=points)
        return customer_id

    def disqualified(self) -> UUID:
        customer_id = self.customer()
        self.run(DisqualifyCustomer, customer_id=customer_id, reason="unpaid invoices")
        return customer_id

    def quoted(self) -> UUID:
        opportunity_id = self.opportunity()
        self.run(
            QuoteOpportunity,
            opportunity_id=opportunity_id,
            quote_number="Q-1",
            lines=[LINE],
            valid_until="2099-12-31",
        )
        return opportunity_id

    def lost(self) -> UUID:
        opportunity_id = self.opportunity()
        self.run(LoseOpportunity, opportunity_id=opportunity_id, reason="budget frozen")
        return opportunity_id

    # ---- orders ---------------------------------------------------------------------

    def draft_order(self, quantity: str = "2") -> UUID:
        return self.run(
            DraftOrder,
            customer_id=self.customer(),
            lines=[{**LINE, "quantity": quantity}],
            currency="CNY",
        )

    def pending_order(self, node: ApprovalNode = ApprovalNode.SALES_MANAGER) -> UUID:
        """Submitted by admin, its route ending at ``node``, approved up to it."""
        order_id = self.draft_order(QUANTITY_ENDING_AT[node])
        self.run(SubmitOrderForApproval, order_id=order_id)
        for earlier in ROUTE_TO[node][:-1]:
            self.run(ApproveOrderStep, SETUP_APPROVER, order_id=order_id, node=earlier)
        return order_id

    def approved_order(self) -> UUID:
        order_id = self.pending_order()
        self.run(ApproveOrderStep, SETUP_APPROVER, order_id=order_id, node="sales_manager")
        return order_id

    def rejected_order(self) -> UUID:
        order_id = self.pending_order()
        self.run(
            RejectOrder, SETUP_APPROVER, order_id=order_id, node="sales_manager", reason="price"
        )
        return order_id

    def fulfilled_order(self) -> UUID:
        order_id = self.approved_order()
        self.run(FulfillOrder, order_id=order_id)
        return order_id

    # ---- complaints (filed at medium severity) ----------------------------------------

    def complaint(self) -> UUID:
        return self.run(
            FileComplaint,
            customer_id=self.customer(),
            channel="phone",
            category="delivery",
            severity="medium",
            description="Shelves arrived bent",
        )

    def valid_complaint(self) -> UUID:
        complaint_id = self.complaint()
        self.run(AssessComplaint, complaint_id=complaint_id, valid=True)
        return complaint_id

    def assigned_complaint(self) -> UUID:
        complaint_id = self.valid_complaint()
        self.run(AssignComplaint, complaint_id=complaint_id, department="QA", handler_id="a-1")
        return complaint_id

    def resolved_complaint(self) -> UUID:
        complaint_id = self.assigned_complaint()
        self.run(ResolveComplaint, complaint_id=complaint_id, resolution="Replaced")
        return complaint_id

    def closed_complaint(self) -> UUID:
        complaint_id = self.resolved_complaint()
        self.run(CloseComplaint, complaint_id=complaint_id)
        return complaint_id


# A valid payload for each command, on state an admin has just prepared.
RECIPES: dict[type[Command], Callable[[World], dict[str, Any]]] = {
    RegisterCustomer: lambda w: {
        "kind": "individual",
        "name": "Li Wei",
        "external_ref": f"ERP-{uuid4().hex[:12]}",
    },
    UpdateCustomerProfile: lambda w: {"customer_id": w.customer(), "industry": "Logistics"},
    RecordContact: lambda w: {
        "customer_id": w.customer(),
        "channel": "visit",
        "direction": "outbound",
        "summary": "Site visit",
    },
    ScheduleFollowUp: lambda w: {
        "customer_id": w.customer(),
        "purpose": "revisit",
        "due_at": FAR_FUTURE,
    },
    CompleteFollowUp: lambda w: w.scheduled_follow_up(),
    MarkFollowUpMissed: lambda w: w.scheduled_follow_up(),
    ChangeRelationshipTier: lambda w: {"customer_id": w.customer(), "tier": "partner"},
    JoinMembership: lambda w: {"customer_id": w.customer(), "membership_number": "M-0001"},
    LeaveMembership: lambda w: {"customer_id": w.member(), "reason": "moved abroad"},
    AwardLoyaltyPoints: lambda w: {"customer_id": w.customer(), "points": 100},
    RedeemLoyaltyPoints: lambda w: {"customer_id": w.with_points(100), "points": 40},
    RecordReferral: lambda w: {
        "customer_id": w.customer(),
        "referred_customer_id": w.customer(),
    },
    DisqualifyCustomer: lambda w: {"customer_id": w.customer(), "reason": "fraud"},
    EraseCustomerPersonalData: lambda w: {"customer_id": w.customer(), "reason": "DSR-7"},
    RequalifyCustomer: lambda w: {"customer_id": w.disqualified(), "reason": "debts settled"},
    RecordSatisfactionSurvey: lambda w: {"customer_id": w.customer(), "scores": [SCORE]},
    MergeCustomers: lambda w: {
        "survivor_id": w.customer(),
        "duplicate_id": w.customer(),
        "field_choices": {"name": "duplicate"},
    },
    OpenOpportunity: lambda w: {
        "customer_id": w.customer(),
        "title": "Cold storage",
        "estimated_value": MONEY,
    },
    EvaluateOpportunity: lambda w: {
        "opportunity_id": w.opportunity(),
        "score": 80,
        "win_probability": "60",
        "priority": "B",
    },
    ChangeOpportunityStage: lambda w: {
        "opportunity_id": w.opportunity(),
        "to_stage": "intent_confirmed",
    },
    QuoteOpportunity: lambda w: {
        "opportunity_id": w.opportunity(),
        "quote_number": "Q-7",
        "lines": [LINE],
        "valid_until": "2099-12-31",
    },
    WinOpportunity: lambda w: {"opportunity_id": w.quoted()},
    LoseOpportunity: lambda w: {"opportunity_id": w.opportunity(), "reason": "competitor"},
    ReopenOpportunity: lambda w: {"opportunity_id": w.lost(), "reason": "budget back"},
    DraftOrder: lambda w: {
        "customer_id": w.customer(),
        "lines": [LINE],
        "currency": "CNY",
        "payment_terms": "30 days net",
    },
    ChangeOrderLines: lambda w: {
        "order_id": w.draft_order(),
        "lines": [{**LINE, "discount_pct": "5"}],
    },
    SubmitOrderForApproval: lambda w: {"order_id": w.draft_order()},
    ApproveOrderStep: lambda w: {
        "order_id": w.pending_order(w.node),
        "node": w.node,
        "comment": "within budget",
    },
    RejectOrder: lambda w: {
        "order_id": w.pending_order(w.node),
        "node": w.node,
        "reason": "discount too deep",
    },
    ReviseOrder: lambda w: {"order_id": w.rejected_order(), "reason": "discount lowered"},
    FulfillOrder: lambda w: {"order_id": w.approved_order(), "note": "delivered"},
    RecordOrderPayment: lambda w: {
        "order_id": w.fulfilled_order(),
        "amount": ORDER_TOTAL,
        "payment_reference": "BANK-42",
    },
    CancelOrder: lambda w: {"order_id": w.approved_order(), "reason": "customer withdrew"},
    ImportOrder: lambda w: {
        "customer_id": w.customer(),
        "lines": [LINE],
        "currency": "CNY",
        "status": "paid",
        "approved_at": "2020-03-01T09:00:00+00:00",
        "fulfilled_at": "2020-03-10T09:00:00+00:00",
        "paid_at": "2020-04-01T09:00:00+00:00",
        "import_batch_id": "legacy-2020",
        "external_ref": f"ERP-O-{uuid4().hex[:12]}",
    },
    FileComplaint: lambda w: {
        "customer_id": w.customer(),
        "channel": "wechat",
        "category": "product",
        "severity": "high",
        "description": "The shelf collapsed",
    },
    AssessComplaint: lambda w: {"complaint_id": w.complaint(), "valid": True},
    AssignComplaint: lambda w: {
        "complaint_id": w.valid_complaint(),
        "department": "Logistics",
        "handler_id": "agent-3",
    },
    ResolveComplaint: lambda w: {
        "complaint_id": w.assigned_complaint(),
        "resolution": "Replaced the shelf",
        "compensation": {"amount": "200.00", "currency": "CNY"},
    },
    RecordComplaintFollowUp: lambda w: {
        "complaint_id": w.resolved_complaint(),
        "satisfaction": 4,
    },
    CloseComplaint: lambda w: {"complaint_id": w.resolved_complaint(), "note": "settled"},
    ReopenComplaint: lambda w: {"complaint_id": w.closed_complaint(), "reason": "bent again"},
    EscalateComplaint: lambda w: {
        "complaint_id": w.complaint(),
        "reason": "customer called the CEO",
        "to_severity": "critical",
    },
}

COMMANDS = list(RECIPES)
ROLES = list(Role)


def prepare(
    crm: CRM | None,
    command_type: type[Command],
    *,
    role: Role | None = None,
    setup_at: datetime | None = None,
    **extra: Any,
) -> Command:
    """A valid command of that type for ``role``, its prerequisites recorded by an admin."""
    recipe = RECIPES[command_type](World(crm, setup_at, role))
    return command_type.model_validate({**recipe, **extra})


def domain_refusal(command_type: type[Command], role: Role) -> tuple[str, str] | None:
    """(rule, field) when ``role`` may run the command but the domain refuses it anyway:
    deciding on an approval needs the node's role, and admin holds none."""
    if command_type in (ApproveOrderStep, RejectOrder) and role not in NODE_OF_ROLE:
        return NODE_RULE
    return None


def actor_with(*roles: Role) -> Actor:
    name = ".".join(role.value for role in roles) or "nobody"
    return Actor(id=f"{name}-7", roles=frozenset(roles))


def written_since(crm: CRM, position: int) -> list[DomainEvent]:
    return [crm.store.decode(notification) for notification in crm.store.read(after=position)]


def assert_denied(crm: CRM, command: Command, actor: Actor) -> PermissionDenied:
    before, position = crm.store.count_events(), crm.store.max_position()
    with pytest.raises(PermissionDenied) as info:
        crm.execute(command, actor=actor)
    assert crm.store.count_events() == before
    assert written_since(crm, position) == []
    assert info.value.actor_id == actor.id
    return info.value


def assert_refused_by_rule(
    crm: CRM, command: Command, actor: Actor, rule: str, field: str | None
) -> RuleViolation:
    before, position = crm.store.count_events(), crm.store.max_position()
    with pytest.raises(RuleViolation) as info:
        crm.execute(command, actor=actor)
    assert crm.store.count_events() == before
    assert written_since(crm, position) == []
    assert (info.value.rule, info.value.field) == (rule, field)
    return info.value


def _label(command_type: type[Command], role: Role) -> str:
    verdict = "allowed" if role in allowed_roles(command_type) else "denied"
    refusal = domain_refusal(command_type, role) if verdict == "allowed" else None
    if refusal is not None:
        verdict = f"allowed-but-{refusal[0]}"
    return f"{command_type.__name__}-{role.value}-{verdict}"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_crm(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CRM]:
    """One store per backend for the whole matrix (hundreds of cases): a fresh PostgreSQL
    schema for each would cost most of a minute. Every case prepares aggregates of its own
    and asserts only on what was written after it started, so cases cannot see each other."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'crm.db'}"
    else:
        server: Server = request.getfixturevalue("postgres")
        schemas: list[str] = request.getfixturevalue("pg_schemas")
        schema = f"crm_test_{os.getpid()}_{uuid4().hex[:12]}"
        schemas.append(schema)
        url = server.url(schema)
    with CRM.open(url) as instance:
        yield instance


# ---- the matrix itself ------------------------------------------------------------------


def test_every_command_has_a_recipe_a_handler_and_a_matrix_row() -> None:
    """A new command must get a recipe here (and a matrix row) before it ships."""
    missing = sorted(c.__name__ for c in (set(PERMISSIONS) | set(HANDLERS)) - set(RECIPES))
    assert not missing, f"add RECIPES entries for {missing}"
    assert set(COMMANDS) == set(PERMISSIONS) == set(HANDLERS)


def test_admin_may_run_everything_and_auditor_nothing() -> None:
    for command_type in PERMISSIONS:
        assert Role.ADMIN in allowed_roles(command_type), command_type.__name__
        assert Role.AUDITOR not in allowed_roles(command_type), command_type.__name__


def test_the_readme_documents_the_matrix_the_code_enforces() -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    section = readme.read_text(encoding="utf-8").split("\n## Permission matrix", 1)[1]
    section = section.split("\n## ", 1)[0]
    header, *rows = [line for line in section.splitlines() if line.startswith("| ")]
    columns = [cell.strip() for cell in header.strip("|").split("|")][1:]
    assert columns == [role.value for role in Role]
    documented = {}
    for row in rows:
        name, *cells = [cell.strip() for cell in row.strip("|").split("|")]
        documented[name.strip("`")] = {
            role for role, cell in zip(columns, cells, strict=True) if cell == "✓"
        }
    enforced = {c.__name__: {r.value for r in allowed_roles(c)} for c in PERMISSIONS}
    assert documented == enforced


@pytest.mark.parametrize(
    ("command_type", "role"),
    [pytest.param(c, r, id=_label(c, r)) for c in COMMANDS for r in ROLES],
)
def test_each_role_runs_exactly_the_commands_the_matrix_allows(
    shared_crm: CRM, command_type: type[Command], role: Role
) -> None:
    crm = shared_crm
    command = prepare(crm, command_type, role=role)
    actor = actor_with(role)

    if role not in allowed_roles(command_type):
        error = assert_denied(crm, command, actor)
        assert error.action == command_type.__name__
        for allowed in allowed_roles(command_type):
            assert allowed.value in str(error)
        return

    refusal = domain_refusal(command_type, role)
    if refusal is not None:
        # Past the matrix, refused by the order's own rule: not PermissionDenied.
        assert_refused_by_rule(crm, command, actor, *refusal)
        return

    before, position = crm.store.count_events(), crm.store.max_position()
    result = crm.execute(command, actor=actor)
    written = written_since(crm, position)
    assert not result.replayed
    assert result.events
    assert len(written) == crm.store.count_events() - before
    assert all(event in written for event in result.events)
    # The actor is recorded on every event it caused: business, claims and bookkeeping.
    assert {event.actor_id for event in written} == {actor.id}


@pytest.mark.parametrize("role", sorted(NODE_OF_ROLE), ids=lambda r: r.value)
def test_each_approver_decides_at_its_own_node_and_the_last_node_approves(
    shared_crm: CRM, role: Role
) -> None:
    crm, node = shared_crm, NODE_OF_ROLE[role]
    command = prepare(crm, ApproveOrderStep, role=role)
    result = crm.execute(command, actor=actor_with(role))
    step, approved = result.events
    assert isinstance(step, OrderApprovalStepApproved)
    assert (step.node, step.approver_id) == (node, actor_with(role).id)
    assert isinstance(approved, OrderApproved)
    order = crm.load(Order, result.aggregate_id)
    assert (order.route, order.status) == (ROUTE_TO[node], OrderStatus.APPROVED)


@pytest.mark.parametrize("role", sorted(NODE_OF_ROLE), ids=lambda r: r.value)
def test_each_approver_rejects_at_its_own_node(shared_crm: CRM, role: Role) -> None:
    crm = shared_crm
    result = crm.execute(prepare(crm, RejectOrder, role=role), actor=actor_with(role))
    (rejected,) = result.events
    assert isinstance(rejected, OrderRejected)
    assert (rejected.node, rejected.approver_id) == (NODE_OF_ROLE[role], actor_with(role).id)
    assert crm.load(Order, result.aggregate_id).status is OrderStatus.REJECTED


@pytest.mark.parametrize("decision", [ApproveOrderStep, RejectOrder], ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    ("role", "waits_at"),
    [
        (Role.FINANCE, ApprovalNode.SALES_MANAGER),
        (Role.DIRECTOR, ApprovalNode.SALES_MANAGER),
        (Role.SALES_MANAGER, ApprovalNode.FINANCE),
        (Role.DIRECTOR, ApprovalNode.FINANCE),
        (Role.SALES_MANAGER, ApprovalNode.DIRECTOR),
        (Role.FINANCE, ApprovalNode.DIRECTOR),
    ],
    ids=lambda v: v.value,
)
def test_a_permitted_approver_without_the_node_role_is_refused_by_the_rule(
    shared_crm: CRM, decision: type[Command], role: Role, waits_at: ApprovalNode
) -> None:
    """The matrix lets every approving role run approvals; the node decides which one may."""
    crm = shared_crm
    order_id = World(crm).pending_order(waits_at)
    extra = {"reason": "no"} if decision is RejectOrder else {}
    command = decision.model_validate({"order_id": order_id, "node": waits_at, **extra})
    error = assert_refused_by_rule(crm, command, actor_with(role), *NODE_RULE)
    assert waits_at.role in str(error)


@pytest.mark.parametrize("decision", [ApproveOrderStep, RejectOrder], ids=lambda c: c.__name__)
def test_the_node_named_must_be_the_one_the_order_waits_for(
    shared_crm: CRM, decision: type[Command]
) -> None:
    """Even by an actor holding every node role: the order waits for the sales manager."""
    crm = shared_crm
    order_id = World(crm).pending_order()
    extra = {"reason": "no"} if decision is RejectOrder else {}
    command = decision.model_validate({"order_id": order_id, "node": "finance", **extra})
    every_node = actor_with(Role.SALES_MANAGER, Role.FINANCE, Role.DIRECTOR)
    assert_refused_by_rule(crm, command, every_node, "approval_in_route_order", "node")


@pytest.mark.parametrize("decision", [ApproveOrderStep, RejectOrder], ids=lambda c: c.__name__)
def test_the_submitter_may_not_decide_on_its_own_order(
    shared_crm: CRM, decision: type[Command]
) -> None:
    crm, manager = shared_crm, actor_with(Role.SALES_MANAGER)
    order_id = World(crm).draft_order()
    crm.execute(SubmitOrderForApproval(order_id=order_id), actor=manager)
    extra = {"reason": "no"} if decision is RejectOrder else {}
    command = decision.model_validate({"order_id": order_id, "node": "sales_manager", **extra})
    assert_refused_by_rule(crm, command, manager, "approver_not_submitter", None)


def test_an_actor_holding_two_node_roles_decides_at_both(shared_crm: CRM) -> None:
    crm = shared_crm
    manager_and_finance = actor_with(Role.SALES_MANAGER, Role.FINANCE)
    order_id = World(crm).draft_order(QUANTITY_ENDING_AT[ApprovalNode.FINANCE])
    crm.execute(SubmitOrderForApproval(order_id=order_id), actor=actor_with(Role.SALES_REP))
    for node in ROUTE_TO[ApprovalNode.FINANCE]:
        crm.execute(ApproveOrderStep(order_id=order_id, node=node), actor=manager_and_finance)
    assert crm.load(Order, order_id).status is OrderStatus.APPROVED


# ---- who may not act at all -------------------------------------------------------------


@pytest.mark.parametrize(
    "actor",
    [actor_with(Role.AUDITOR), actor_with()],
    ids=["auditor", "no_roles"],
)
def test_auditor_and_roleless_actor_can_run_nothing_not_even_a_lookup(
    crm: CRM, actor: Actor
) -> None:
    """Authorisation comes first: commands about ids that do not exist are refused as
    PermissionDenied, not NotFound, so a forbidden actor learns nothing about the store."""
    for command_type in COMMANDS:
        command = prepare(None, command_type)
        assert_denied(crm, command, actor)


def test_roles_add_up(crm: CRM) -> None:
    auditing_manager = actor_with(Role.AUDITOR, Role.SALES_MANAGER)
    crm.execute(prepare(crm, ChangeRelationshipTier), actor=auditing_manager)

    finance_and_service = actor_with(Role.FINANCE, Role.SERVICE_AGENT)
    crm.execute(prepare(crm, RecordContact), actor=finance_and_service)
    assert_denied(crm, prepare(crm, ChangeRelationshipTier), finance_and_service)


# ---- business time ----------------------------------------------------------------------


def _first_non_admin(command_type: type[Command]) -> Role:
    return min(allowed_roles(command_type) - {Role.ADMIN})


# Admin-only commands (ImportOrder) have no other role to try.
SHARED_COMMANDS = [c for c in COMMANDS if allowed_roles(c) - {Role.ADMIN}]
# Deciding on an approval also needs the node's role; the order waits at the sales manager.
ADMIN_APPROVER = actor_with(Role.ADMIN, Role.SALES_MANAGER)
ADMIN_EXECUTOR: dict[type[Command], Actor] = {
    ApproveOrderStep: ADMIN_APPROVER,
    RejectOrder: ADMIN_APPROVER,
}


@pytest.mark.parametrize(
    "command_type",
    SHARED_COMMANDS,
    ids=lambda c: f"{c.__name__}-{_first_non_admin(c).value}",
)
def test_occurred_at_set_by_a_non_admin_is_denied(
    shared_crm: CRM, command_type: type[Command]
) -> None:
    """Prepared so that, but for occurred_at, that role could run it."""
    crm, role = shared_crm, _first_non_admin(command_type)
    command = prepare(crm, command_type, role=role, occurred_at=datetime.now(UTC))
    error = assert_denied(crm, command, actor_with(role))
    assert error.action == f"set occurred_at on {command_type.__name__}"
    assert "admin" in str(error)


@pytest.mark.parametrize(
    "role",
    sorted(allowed_roles(RecordContact) - {Role.ADMIN}),
    ids=lambda r: r.value,
)
def test_no_role_but_admin_sets_occurred_at(crm: CRM, role: Role) -> None:
    past = prepare(crm, RecordContact, occurred_at=COMMAND_AT, setup_at=SETUP_AT)
    assert_denied(crm, past, actor_with(role))
    # The same actor with admin added may.
    crm.execute(past, actor=actor_with(role, Role.ADMIN))


@pytest.mark.parametrize(
    "command_type", [c for c in COMMANDS if c is not ImportOrder], ids=lambda c: c.__name__
)
def test_admin_sets_occurred_at_in_the_past(shared_crm: CRM, command_type: type[Command]) -> None:
    crm, executor = shared_crm, ADMIN_EXECUTOR.get(command_type, ADMIN)
    command = prepare(crm, command_type, occurred_at=COMMAND_AT, setup_at=SETUP_AT)
    position = crm.store.max_position()

    not_before = datetime.now(UTC)
    result = crm.execute(command, actor=executor)
    not_after = datetime.now(UTC)

    written = written_since(crm, position)
    facts = [e for e in written if not isinstance(e, CommandRecorded)]
    assert len(facts) >= len(result.events) >= 1
    for event in written:
        assert not_before <= event.recorded_at <= not_after, event
        assert event.actor_id == executor.id
    for event in facts:
        assert event.occurred_at == COMMAND_AT, event
    stored = crm.events(result.aggregate_id)[-1]
    assert (stored.occurred_at, stored.recorded_at) == (COMMAND_AT, result.events[-1].recorded_at)


def test_an_imported_order_takes_its_business_time_from_approved_at(shared_crm: CRM) -> None:
    """ImportOrder is admin-only business time by nature: approved_at, never occurred_at."""
    crm = shared_crm
    command = prepare(crm, ImportOrder)
    assert isinstance(command, ImportOrder)
    with pytest.raises(ValueError, match="business time is approved_at"):
        prepare(None, ImportOrder, occurred_at=COMMAND_AT)

    position = crm.store.max_position()
    not_before = datetime.now(UTC)
    result = crm.execute(command, actor=ADMIN)
    not_after = datetime.now(UTC)

    (imported,) = result.events
    assert isinstance(imported, OrderImported)
    assert imported.occurred_at == command.approved_at
    assert imported.actor_id == ADMIN.id
    assert not_before <= imported.recorded_at <= not_after
    claims = [e for e in written_since(crm, position) if isinstance(e, UniqueValueClaimed)]
    assert [(c.value, c.owner_id, c.actor_id) for c in claims] == [
        (command.external_ref, result.aggregate_id, ADMIN.id)
    ]


def test_an_imported_orders_claim_shares_its_business_time(shared_crm: CRM) -> None:
    crm = shared_crm
    command = prepare(crm, ImportOrder)
    assert isinstance(command, ImportOrder)
    position = crm.store.max_position()
    crm.execute(command, actor=ADMIN)
    facts = [e for e in written_since(crm, position) if not isinstance(e, CommandRecorded)]
    assert {type(e) for e in facts} == {OrderImported, UniqueValueClaimed}
    assert {e.occurred_at for e in facts} == {command.approved_at}


# ---- the actor on every event ---------------------------------------------------------


def test_each_event_names_the_actor_who_caused_it(crm: CRM) -> None:
    rep, agent, service_manager = (
        actor_with(Role.SALES_REP),
        actor_with(Role.SERVICE_AGENT),
        actor_with(Role.SERVICE_MANAGER),
    )
    director, manager = actor_with(Role.DIRECTOR), actor_with(Role.SALES_MANAGER)
    registered = crm.execute(
        RegisterCustomer(kind="company", name="Acme", external_ref="ERP-77"), actor=rep
    )
    customer_id = registered.aggregate_id
    steps: list[tuple[Actor, Command]] = [
        (
            agent,
            RecordContact(
                customer_id=customer_id, channel="phone", direction="inbound", summary="Hi"
            ),
        ),
        (service_manager, AwardLoyaltyPoints(customer_id=customer_id, points=10)),
        (director, ChangeRelationshipTier(customer_id=customer_id, tier="partner")),
        (manager, JoinMembership(customer_id=customer_id, command_id="join-77")),
    ]
    for actor, command in steps:
        crm.execute(command, actor=actor)
    back_dated = LeaveMembership(customer_id=customer_id, occurred_at=datetime.now(UTC))
    crm.execute(back_dated, actor=ADMIN)
    steps.append((ADMIN, back_dated))

    stream = crm.events(customer_id)
    assert [e.actor_id for e in stream] == [rep.id] + [actor.id for actor, _ in steps]

    everything = written_since(crm, 0)
    claims = [e for e in everything if isinstance(e, UniqueValueClaimed)]
    records = {e.command_id: e.actor_id for e in everything if isinstance(e, CommandRecorded)}
    assert [c.actor_id for c in claims] == [rep.id]
    assert records["join-77"] == manager.id
    assert set(records.values()) == {
        rep.id,
        agent.id,
        service_manager.id,
        director.id,
        manager.id,
        ADMIN.id,
    }
