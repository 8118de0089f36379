"""Ready-made actors and valid commands, so each test states only what it is about."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from application import CRM, Actor, Role
from application.commands import Money, OpenOpportunity, RegisterCustomer

ADMIN = Actor(id="admin-1", roles=frozenset({Role.ADMIN}))
REP = Actor(id="rep-1", roles=frozenset({Role.SALES_REP}))
MANAGER = Actor(id="mgr-1", roles=frozenset({Role.SALES_MANAGER}))
SERVICE = Actor(id="svc-1", roles=frozenset({Role.SERVICE_AGENT}))
AUDITOR = Actor(id="aud-1", roles=frozenset({Role.AUDITOR}))


def register(crm: CRM, **overrides: Any) -> UUID:
    fields: dict[str, Any] = {"kind": "company", "name": "Acme Trading Co."}
    fields.update(overrides)
    return crm.execute(RegisterCustomer(**fields), actor=REP).aggregate_id


def open_opportunity(crm: CRM, customer_id: UUID, **overrides: Any) -> UUID:
    fields: dict[str, Any] = {
        "customer_id": customer_id,
        "title": "Warehouse shelving",
        "estimated_value": Money(amount=Decimal("25000.00"), currency="CNY"),
    }
    fields.update(overrides)
    return crm.execute(OpenOpportunity(**fields), actor=REP).aggregate_id
