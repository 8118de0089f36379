"""``MergeCustomers`` through ``crm.execute`` on SQLite and PostgreSQL: both streams in one
transaction, idempotent by command id, permitted to sales managers and directors, and a
closed duplicate stream that refuses every command naming it while staying readable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from application import CRM, Actor, PermissionDenied, Role, RuleViolation
from application.commands import (
    ApproveOrderStep,
    AwardLoyaltyPoints,
    Command,
    CompleteFollowUp,
    DraftOrder,
    FileComplaint,
    ImportOrder,
    MergeCustomers,
    Money,
    OpenOpportunity,
    OrderLine,
    PricedLine,
    QuoteOpportunity,
    RecordContact,
    RecordReferral,
    ScheduleFollowUp,
    SubmitOrderForApproval,
    UpdateCustomerProfile,
    WinOpportunity,
)
from domain.aggregates.customer import Customer
from domain.events.customer import CustomersMerged
from projections.follow_ups import birthday_row_id
from tests.application.builders import ADMIN, MANAGER, REP, open_opportunity, register

DIRECTOR = Actor(id="dir-1", roles=frozenset({Role.DIRECTOR}))
LINE = OrderLine(sku="S-1", name="Shelf", quantity=Decimal(2), unit_price=Decimal("150.00"))
FAR = datetime(2099, 6, 1, 9, 0, tzinfo=UTC)


def pair(crm: CRM) -> tuple[UUID, UUID]:
    survivor = register(crm, kind="individual", name="Wang Fang", phone="+86 10 1234 5678")
    duplicate = register(
        crm,
        kind="individual",
        name="Wang Fang",
        email="wang.fang@example.com",
        birthday=date(1985, 6, 15),
    )
    return survivor, duplicate


def merge(crm: CRM, survivor: UUID, duplicate: UUID, actor: Actor = MANAGER, **extra: Any) -> Any:
    command = MergeCustomers(survivor_id=survivor, duplicate_id=duplicate, **extra)
    return crm.execute(command, actor=actor)


def assert_refused(crm: CRM, command: Command, rule: str, field: str | None) -> None:
    before = crm.store.count_events()
    with pytest.raises(RuleViolation) as info:
        crm.execute(command, actor=ADMIN)
    assert (info.value.rule, info.value.field) == (rule, field)
    assert crm.store.count_events() == before


def test_the_merge_is_recorded_on_both_streams_and_the_survivor_takes_the_choices(
    crm: CRM,
) -> None:
    survivor, duplicate = pair(crm)
    crm.execute(AwardLoyaltyPoints(customer_id=duplicate, points=70), actor=MANAGER)
    result = merge(crm, survivor, duplicate, field_choices={"contact": "duplicate"})

    assert (result.aggregate_id, result.version) == (survivor, 2)
    assert [(type(e), e.aggregate_id) for e in result.events] == [
        (CustomersMerged, survivor),
        (CustomersMerged, duplicate),
    ]
    assert crm.events(survivor)[-1] == result.events[0]
    assert crm.events(duplicate)[-1] == result.events[1]
    kept, folded = crm.load(Customer, survivor), crm.load(Customer, duplicate)
    assert kept.profile.contact.email == "wang.fang@example.com"
    assert kept.profile.contact.phone is None  # the contact points came from the duplicate
    assert kept.profile.birthday is None  # not chosen: the survivor's own (none)
    assert (kept.loyalty_points, folded.loyalty_points) == (70, 0)
    assert folded.merged_into == survivor
    assert folded.profile.name == "Wang Fang"  # the duplicate's history stays readable


def test_the_same_command_id_merges_once(crm: CRM) -> None:
    survivor, duplicate = pair(crm)
    first = merge(crm, survivor, duplicate, command_id="merge-42")
    count = crm.store.count_events()
    again = merge(crm, survivor, duplicate, command_id="merge-42")
    assert again.replayed and not first.replayed
    assert again.events == first.events
    assert crm.store.count_events() == count
    with pytest.raises(RuleViolation) as info:
        merge(crm, survivor, duplicate, command_id="merge-42", field_choices={"name": "duplicate"})
    assert info.value.rule == "command_id_unique"


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [(MANAGER, True), (DIRECTOR, True), (ADMIN, True), (REP, False)],
    ids=["sales_manager", "director", "admin", "sales_rep"],
)
def test_sales_managers_directors_and_admin_may_merge(
    crm: CRM, actor: Actor, allowed: bool
) -> None:
    survivor, duplicate = pair(crm)
    if allowed:
        assert merge(crm, survivor, duplicate, actor=actor).aggregate_id == survivor
        return
    before = crm.store.count_events()
    with pytest.raises(PermissionDenied):
        merge(crm, survivor, duplicate, actor=actor)
    assert crm.store.count_events() == before


def test_a_customer_cannot_be_merged_into_itself() -> None:
    same = uuid4()
    with pytest.raises(ValidationError) as info:
        MergeCustomers(survivor_id=same, duplicate_id=same)
    assert [e["loc"] for e in info.value.errors()] == [("duplicate_id",)]


def closing_commands(survivor: UUID, duplicate: UUID) -> list[tuple[Command, str]]:
    """Commands naming the merged duplicate, and the field the refusal names."""
    return [
        (
            RecordContact(
                customer_id=duplicate, channel="phone", direction="inbound", summary="hi"
            ),
            "customer_id",
        ),
        (UpdateCustomerProfile(customer_id=duplicate, region="south"), "customer_id"),
        (DraftOrder(customer_id=duplicate, lines=[LINE], currency="CNY"), "customer_id"),
        (
            ImportOrder(
                customer_id=duplicate,
                lines=[LINE],
                currency="CNY",
                status="approved",
                approved_at=datetime(2020, 1, 1, tzinfo=UTC),
                import_batch_id="b-1",
            ),
            "customer_id",
        ),
        (
            OpenOpportunity(
                customer_id=duplicate,
                title="Shelving",
                estimated_value=Money(amount=Decimal(100), currency="CNY"),
            ),
            "customer_id",
        ),
        (
            FileComplaint(
                customer_id=duplicate,
                channel="phone",
                category="product",
                severity="low",
                description="bent",
            ),
            "customer_id",
        ),
        (RecordReferral(customer_id=duplicate, referred_customer_id=survivor), "customer_id"),
        (
            RecordReferral(customer_id=survivor, referred_customer_id=duplicate),
            "referred_customer_id",
        ),
        (MergeCustomers(survivor_id=duplicate, duplicate_id=survivor), "survivor_id"),
        (MergeCustomers(survivor_id=survivor, duplicate_id=duplicate), "duplicate_id"),
    ]


def test_every_command_naming_the_merged_duplicate_is_refused(crm: CRM) -> None:
    survivor, duplicate = pair(crm)
    merge(crm, survivor, duplicate)
    for command, field in closing_commands(survivor, duplicate):
        assert_refused(crm, command, "customer_merged", field)
    # The survivor goes on as before.
    crm.execute(
        RecordContact(customer_id=survivor, channel="phone", direction="inbound", summary="hi"),
        actor=REP,
    )


def test_the_duplicates_order_goes_on_after_the_merge_and_counts_for_the_survivor(
    crm: CRM,
) -> None:
    survivor, duplicate = pair(crm)
    order = crm.execute(DraftOrder(customer_id=duplicate, lines=[LINE], currency="CNY"), actor=REP)
    merge(crm, survivor, duplicate)
    crm.execute(SubmitOrderForApproval(order_id=order.aggregate_id), actor=REP)
    crm.read_models.catch_up()
    (waiting,) = crm.read_models.operations.approval_queue()
    assert (waiting.order_id, waiting.customer_id) == (order.aggregate_id, survivor)
    crm.execute(ApproveOrderStep(order_id=order.aggregate_id, node="sales_manager"), actor=MANAGER)
    crm.read_models.catch_up()
    (purchase,) = crm.read_models.purchases()
    assert (purchase.order_id, purchase.customer_id) == (order.aggregate_id, survivor)
    assert crm.lifecycle(survivor).stage.value == "first_time_buyer"


def test_a_moved_follow_up_is_completed_on_the_survivor_and_the_birthday_moves(
    crm: CRM,
) -> None:
    survivor, duplicate = pair(crm)
    follow_up_id = uuid4()
    crm.execute(
        ScheduleFollowUp(
            customer_id=duplicate, follow_up_id=follow_up_id, purpose="revisit", due_at=FAR
        ),
        actor=REP,
    )
    merge(crm, survivor, duplicate, field_choices={"birthday": "duplicate"})
    crm.execute(CompleteFollowUp(customer_id=survivor, follow_up_id=follow_up_id), actor=REP)
    crm.read_models.catch_up()
    due = crm.read_models.operations.follow_ups_due(FAR + timedelta(days=400))
    rows = {row.follow_up_id: row for row in due}
    assert follow_up_id not in rows  # completed
    assert birthday_row_id(duplicate) not in rows  # the duplicate greets no more
    birthday = rows[birthday_row_id(survivor)]
    assert (birthday.customer_id, birthday.purpose) == (survivor, "birthday")


def late_delivery(customer_id: UUID, order_id: UUID) -> FileComplaint:
    return FileComplaint(
        customer_id=customer_id,
        channel="phone",
        category="delivery",
        severity="low",
        description="late",
        related_order_id=order_id,
    )


def test_a_duplicates_opportunity_and_order_are_the_survivors_in_every_rule(crm: CRM) -> None:
    """Merges chain (a folded into b, b into the survivor): the deal opened for ``a``
    gets its order, is won with it, and a complaint names an order of ``a``."""
    survivor, b = pair(crm)
    a = register(crm, kind="individual", name="Wang Fang")
    deal = open_opportunity(crm, a)
    crm.execute(
        QuoteOpportunity(
            opportunity_id=deal,
            quote_number="Q-1",
            lines=(PricedLine(sku="S-1", name="Shelf", quantity=2, unit_price=Decimal(150)),),
            valid_until=datetime.now(UTC).date() + timedelta(days=30),
        ),
        actor=REP,
    )
    old_order = crm.execute(DraftOrder(customer_id=a, lines=[LINE], currency="CNY"), actor=REP)
    merge(crm, b, a)
    merge(crm, survivor, b)

    crm.execute(
        RecordContact(
            customer_id=survivor,
            channel="phone",
            direction="outbound",
            summary="quote follow-up",
            opportunity_id=deal,
        ),
        actor=REP,
    )
    order = crm.execute(
        DraftOrder(customer_id=survivor, lines=[LINE], currency="CNY", opportunity_id=deal),
        actor=REP,
    )
    crm.execute(WinOpportunity(opportunity_id=deal, order_id=order.aggregate_id), actor=REP)
    crm.execute(late_delivery(survivor, old_order.aggregate_id), actor=REP)


def test_an_unrelated_customers_opportunity_and_order_stay_refused(crm: CRM) -> None:
    survivor, duplicate = pair(crm)
    stranger = register(crm, kind="company", name="Other Co")
    deal = open_opportunity(crm, stranger)
    theirs = crm.execute(DraftOrder(customer_id=stranger, lines=[LINE], currency="CNY"), actor=REP)
    ours = crm.execute(DraftOrder(customer_id=survivor, lines=[LINE], currency="CNY"), actor=REP)
    merge(crm, survivor, duplicate)

    assert_refused(
        crm,
        DraftOrder(customer_id=survivor, lines=[LINE], currency="CNY", opportunity_id=deal),
        "opportunity_of_same_customer",
        "opportunity_id",
    )
    assert_refused(
        crm,
        WinOpportunity(opportunity_id=deal, order_id=ours.aggregate_id),
        "order_of_same_customer",
        "order_id",
    )
    assert_refused(
        crm,
        late_delivery(survivor, theirs.aggregate_id),
        "order_of_same_customer",
        "related_order_id",
    )
