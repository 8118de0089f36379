"""A small recorded history with one aggregate of each kind, and raw SQL on its rows."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from freezegun import freeze_time

from adapters.store_url import parse_store_url
from application import CRM
from application.commands import (
    AwardLoyaltyPoints,
    ChangeRelationshipTier,
    DraftOrder,
    FileComplaint,
    JoinMembership,
    OrderLine,
    RecordContact,
)
from tests.application.builders import MANAGER, REP, SERVICE, open_opportunity, register

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEP = timedelta(days=1)


@dataclass(frozen=True)
class History:
    customer_id: UUID
    opportunity_id: UUID
    order_id: UUID
    complaint_id: UUID

    def at(self, step: int) -> datetime:
        """Business time of the customer's version ``step + 1``."""
        return START + step * STEP


def record_history(crm: CRM) -> History:
    """Customer v1..v5 one day apart (registered, contacted, tier, points, membership),
    then an opportunity, an order and a complaint for it."""
    with freeze_time(START) as clock:
        customer = register(crm, name="华信贸易有限公司")
        clock.tick(STEP)
        crm.execute(
            RecordContact(
                customer_id=customer, channel="phone", direction="outbound", summary="Intro call"
            ),
            actor=REP,
        )
        clock.tick(STEP)
        crm.execute(ChangeRelationshipTier(customer_id=customer, tier="partner"), actor=MANAGER)
        clock.tick(STEP)
        crm.execute(AwardLoyaltyPoints(customer_id=customer, points=120), actor=MANAGER)
        clock.tick(STEP)
        crm.execute(JoinMembership(customer_id=customer), actor=REP)
        clock.tick(STEP)
        opportunity = open_opportunity(crm, customer)
        order = crm.execute(
            DraftOrder(
                customer_id=customer,
                currency="CNY",
                lines=(
                    OrderLine(
                        sku="SHF-1", name="Shelf", quantity=Decimal(2), unit_price=Decimal(10)
                    ),
                ),
            ),
            actor=REP,
        ).aggregate_id
        complaint = crm.execute(
            FileComplaint(
                customer_id=customer,
                channel="phone",
                category="delivery",
                severity="high",
                description="Two uprights arrived broken.",
            ),
            actor=SERVICE,
        ).aggregate_id
    return History(customer, opportunity, order, complaint)


def run_sql(store_url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the store's ``stored_events`` table, behind the library's back.

    Write it for SQLite (``?`` placeholders, ``stored_events``); on PostgreSQL the
    placeholders become ``%s`` and the table is qualified with the store's schema."""
    location = parse_store_url(store_url)
    if location.kind == "sqlite":
        with sqlite3.connect(location.sqlite_name) as connection:
            return connection.execute(statement, params).fetchall()
    # The schema name matched the store URL's pattern (letters, digits, underscores).
    qualified = f'"{location.schema}".stored_events'
    query = statement.replace("?", "%s").replace("stored_events", qualified)
    with psycopg.connect(
        host=location.host, port=location.port, user=location.user, dbname=location.dbname
    ) as connection:
        cursor = connection.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def stream_key(store_url: str, aggregate_id: UUID) -> Any:
    """How the library stores an id: 32 hex digits on SQLite, a uuid on PostgreSQL."""
    return aggregate_id.hex if parse_store_url(store_url).kind == "sqlite" else aggregate_id
