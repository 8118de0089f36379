"""One customer through every lifecycle stage (DESIGN §3), with frozen time, on both
stores: each transition's date, duration to the second and cause, from the query and from
the lifecycle_transitions table alike — churn included, which no event causes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from freezegun import freeze_time

from application import CRM
from application.commands import (
    ChangeRelationshipTier,
    DisqualifyCustomer,
    ImportOrder,
    JoinMembership,
    OrderLine,
    RecordContact,
    RecordReferral,
    RegisterCustomer,
    RequalifyCustomer,
)
from domain.lifecycle_vocabulary import LifecycleStage as S
from tests.application.builders import ADMIN
from tests.projections.tables import dump

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=900)
DAY = 86400


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def _buy(crm: CRM, customer_id: UUID, days: int, ref: str) -> None:
    crm.execute(
        ImportOrder(
            customer_id=customer_id,
            lines=[OrderLine(sku="SKU-1", name="Shelving", quantity=1, unit_price=Decimal("1000"))],
            currency="CNY",
            status="approved",
            approved_at=at(days),
            import_batch_id="walk",
            external_ref=ref,
        ),
        actor=ADMIN,
    )


def _walk(crm: CRM) -> UUID:
    run = lambda command: crm.execute(command, actor=ADMIN)  # noqa: E731
    me = run(RegisterCustomer(kind="individual", name="Lin Fang", occurred_at=at(0))).aggregate_id
    friend = run(RegisterCustomer(kind="individual", name="Zhou Min", occurred_at=at(5)))
    run(DisqualifyCustomer(customer_id=me, reason="No budget", occurred_at=at(1)))
    run(RequalifyCustomer(customer_id=me, occurred_at=at(2)))
    run(
        RecordContact(
            customer_id=me, channel="phone", direction="inbound", summary="Asked", occurred_at=at(3)
        )
    )
    _buy(crm, me, 10, "O-1")
    _buy(crm, me, 40, "O-2")
    _buy(crm, me, 380, "O-3")
    run(JoinMembership(customer_id=me, occurred_at=at(390)))
    run(
        RecordReferral(
            customer_id=me, referred_customer_id=friend.aggregate_id, occurred_at=at(400)
        )
    )
    _buy(crm, friend.aggregate_id, 410, "F-1")
    run(ChangeRelationshipTier(customer_id=me, tier="partner", occurred_at=at(420)))
    _buy(crm, me, 800, "O-4")  # after the churn date (380 + 365 = 745): win-back
    return me


EXPECTED = [
    (None, S.SUSPECT, at(0), None, "CustomerRegistered"),
    (S.SUSPECT, S.DISQUALIFIED, at(1), DAY, "CustomerDisqualified"),
    (S.DISQUALIFIED, S.SUSPECT, at(2), DAY, "CustomerRequalified"),
    (S.SUSPECT, S.PROSPECT, at(3), DAY, "CustomerContacted"),
    (S.PROSPECT, S.FIRST_TIME_BUYER, at(10), 7 * DAY, "OrderImported"),
    (S.FIRST_TIME_BUYER, S.REPEAT_BUYER, at(40), 30 * DAY, "OrderImported"),
    (S.REPEAT_BUYER, S.LONG_TERM, at(380), 340 * DAY, "OrderImported"),
    (S.LONG_TERM, S.MEMBER, at(390), 10 * DAY, "MembershipJoined"),
    (S.MEMBER, S.ADVOCATE, at(410), 20 * DAY, "OrderImported"),
    (S.ADVOCATE, S.PARTNER, at(420), 10 * DAY, "RelationshipTierChanged"),
    (S.PARTNER, S.CHURNED, at(745), 325 * DAY, "time"),
    (S.CHURNED, S.PARTNER, at(800), 55 * DAY, "OrderImported"),
]


def test_a_customer_walks_through_every_stage_churns_with_time_and_is_won_back(
    crm: CRM,
) -> None:
    with freeze_time(NOW):
        me = _walk(crm)
        crm.read_models.catch_up()
        now = crm.lifecycle(me)
        table = dump(crm.store, crm.read_models.runner.projections["customer_lifecycle"])

    got = [
        (t.from_stage, t.to_stage, t.transitioned_at, t.seconds_in_from_stage, t.cause)
        for t in now.history
    ]
    assert got == EXPECTED
    assert {s for _, s, *_ in EXPECTED} == set(S)  # every one of the ten stages
    rows = [r for r in table["lifecycle_transitions"] if r["customer_id"] == me]
    assert [
        (
            S(r["from_stage"]) if r["from_stage"] else None,
            S(r["to_stage"]),
            r["transitioned_at"],
            r["seconds_in_from_stage"],
            r["cause"],
        )
        for r in rows
    ] == EXPECTED
    (row,) = [r for r in table["customer_lifecycle"] if r["customer_id"] == me]
    assert (row["stage"], row["stage_since"], row["purchases"]) == ("partner", at(800), 4)
    assert (row["lifetime_value"], row["is_member"], row["tier"]) == (
        Decimal("4000.00"),
        True,
        "partner",
    )
    assert now.seconds_in_stage[S.CHURNED] == 55 * DAY


def test_churn_appears_as_soon_as_one_looks_after_its_date(crm: CRM) -> None:
    with freeze_time(NOW):
        me = _walk(crm)
        crm.read_models.catch_up()

        just_before = crm.lifecycle(me, as_of=at(745))
        just_after = crm.lifecycle(me, as_of=at(745) + timedelta(seconds=1))
        mid_way = crm.lifecycle(me, as_of=at(600))

    assert just_before.stage is S.PARTNER
    assert just_after.stage is S.CHURNED
    assert just_after.history[-1].transitioned_at == at(745)
    assert mid_way.stage is S.PARTNER
    assert "no_purchase_for_180_days" in mid_way.at_risk_reasons


def test_the_table_shows_churn_once_the_runner_clock_passes_it_with_no_new_event(
    crm: CRM,
) -> None:
    with freeze_time(at(700)):
        me = _walk_until_partner(crm)
        crm.read_models.catch_up()
        before = _stage(crm, me)
    with freeze_time(at(746)):
        crm.read_models.catch_up()  # no new event: only the clock moved
        after = _stage(crm, me)

    assert before == "partner"
    assert after == "churned"


def _walk_until_partner(crm: CRM) -> UUID:
    run = lambda command: crm.execute(command, actor=ADMIN)  # noqa: E731
    me = run(RegisterCustomer(kind="company", name="Acme", occurred_at=at(0))).aggregate_id
    _buy(crm, me, 380, "P-1")
    run(ChangeRelationshipTier(customer_id=me, tier="partner", occurred_at=at(420)))
    return me


def _stage(crm: CRM, customer_id: UUID) -> str:
    table = dump(crm.store, crm.read_models.runner.projections["customer_lifecycle"])
    (row,) = [r for r in table["customer_lifecycle"] if r["customer_id"] == customer_id]
    return str(row["stage"])
