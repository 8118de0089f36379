"""Events of the Opportunity aggregate (销售机会)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from domain.events.base import DomainEvent
from domain.lines import PricedLine
from domain.values import Code, LongText, Money, Name, Percentage, ShortText
from domain.vocabulary import OpportunityStage, Priority


class OpportunityEvent(DomainEvent):
    abstract: ClassVar[bool] = True


class OpportunityOpened(OpportunityEvent):
    customer_id: UUID
    title: Name
    source: ShortText | None = None
    estimated_value: Money
    expected_close: date | None = None
    owner_id: ShortText | None = None


class OpportunityEvaluated(OpportunityEvent):
    score: int = Field(ge=0, le=100)
    win_probability: Percentage
    priority: Priority


class OpportunityStageChanged(OpportunityEvent):
    from_stage: OpportunityStage
    to_stage: OpportunityStage
    is_back_move: bool
    reason: LongText | None = None


class OpportunityQuoted(OpportunityEvent):
    quote_number: Code
    quote_version: int = Field(ge=1)
    lines: tuple[PricedLine, ...] = Field(min_length=1, max_length=500)
    total: Money
    valid_until: date


class OpportunityWon(OpportunityEvent):
    from_stage: OpportunityStage
    order_id: UUID | None = None
    won_value: Money | None = None


class OpportunityLost(OpportunityEvent):
    from_stage: OpportunityStage
    reason: LongText
    competitor: ShortText | None = None


class OpportunityReopened(OpportunityEvent):
    to_stage: OpportunityStage
    reason: LongText | None = None
