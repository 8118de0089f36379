"""Commands on opportunities (销售机会)."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from application.commands.base import Command
from domain.lines import PricedLine
from domain.values import Code, LongText, Money, Name, Percentage, PlausibleDate, ShortText
from domain.vocabulary import OpportunityStage, Priority


class OpportunityCommand(Command):
    opportunity_id: UUID


class OpenOpportunity(Command):
    creates: ClassVar[str | None] = "opportunity"

    customer_id: UUID
    title: Name
    estimated_value: Money
    source: ShortText | None = None
    expected_close: PlausibleDate | None = None
    owner_id: ShortText | None = None


class EvaluateOpportunity(OpportunityCommand):
    score: int = Field(strict=True, ge=0, le=100)
    win_probability: Percentage
    priority: Priority


class ChangeOpportunityStage(OpportunityCommand):
    to_stage: OpportunityStage
    reason: LongText | None = None


class QuoteOpportunity(OpportunityCommand):
    quote_number: Code
    lines: tuple[PricedLine, ...] = Field(min_length=1, max_length=500)
    valid_until: PlausibleDate


class WinOpportunity(OpportunityCommand):
    order_id: UUID | None = None
    won_value: Money | None = None


class LoseOpportunity(OpportunityCommand):
    reason: LongText
    competitor: ShortText | None = None


class ReopenOpportunity(OpportunityCommand):
    reason: LongText | None = None
