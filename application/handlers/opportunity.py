"""Carrying out opportunity commands."""

from __future__ import annotations

from uuid import uuid4

from application.command_log import derived_id
from application.commands.opportunity import (
    ChangeOpportunityStage,
    EvaluateOpportunity,
    LoseOpportunity,
    OpenOpportunity,
    QuoteOpportunity,
    ReopenOpportunity,
    WinOpportunity,
)
from application.handlers.merged import merged_ids
from application.handlers.registry import handles
from application.unit_of_work import UnitOfWork
from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity
from domain.aggregates.order import Order, check_order_for_win
from domain.context import CommandContext


@handles(OpenOpportunity)
def open_opportunity(
    uow: UnitOfWork, command: OpenOpportunity, context: CommandContext
) -> Opportunity:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    opportunity = Opportunity.open(
        context,
        opportunity_id=derived_id(command, "opportunity") or uuid4(),
        customer=customer,
        title=command.title,
        estimated_value=command.estimated_value,
        source=command.source,
        expected_close=command.expected_close,
        owner_id=command.owner_id,
    )
    uow.add(opportunity)
    return opportunity


@handles(EvaluateOpportunity)
def evaluate_opportunity(
    uow: UnitOfWork, command: EvaluateOpportunity, context: CommandContext
) -> Opportunity:
    opportunity = uow.get(Opportunity, command.opportunity_id, field="opportunity_id")
    opportunity.evaluate(
        context,
        score=command.score,
        win_probability=command.win_probability,
        priority=command.priority,
    )
    return opportunity


@handles(ChangeOpportunityStage)
def change_opportunity_stage(
    uow: UnitOfWork, command: ChangeOpportunityStage, context: CommandContext
) -> Opportunity:
    opportunity = uow.get(Opportunity, command.opportunity_id, field="opportunity_id")
    opportunity.change_stage(context, to_stage=command.to_stage, reason=command.reason)
    return opportunity


@handles(QuoteOpportunity)
def quote_opportunity(
    uow: UnitOfWork, command: QuoteOpportunity, context: CommandContext
) -> Opportunity:
    opportunity = uow.get(Opportunity, command.opportunity_id, field="opportunity_id")
    opportunity.quote(
        context,
        quote_number=command.quote_number,
        lines=command.lines,
        valid_until=command.valid_until,
    )
    return opportunity


WINNING_ORDER_SCOPE = "winning_order"


@handles(WinOpportunity)
def win_opportunity(
    uow: UnitOfWork, command: WinOpportunity, context: CommandContext
) -> Opportunity:
    opportunity = uow.get(Opportunity, command.opportunity_id, field="opportunity_id")
    won_value = command.won_value
    if command.order_id is not None:
        order = uow.get(Order, command.order_id, field="order_id")
        merged = merged_ids(uow, order.customer_id, opportunity.customer_id, field="order_id")
        check_order_for_win(order, opportunity, merged_ids=merged)
        won_value = won_value or order.total
    opportunity.win(context, order_id=command.order_id, won_value=won_value)
    if command.order_id is not None:
        # A won deal is final, and its order is its revenue: one order wins one deal, or
        # the pipeline would count it twice.
        uow.claim_unique(
            WINNING_ORDER_SCOPE, str(command.order_id), opportunity.id, field="order_id"
        )
    return opportunity


@handles(LoseOpportunity)
def lose_opportunity(
    uow: UnitOfWork, command: LoseOpportunity, context: CommandContext
) -> Opportunity:
    opportunity = uow.get(Opportunity, command.opportunity_id, field="opportunity_id")
    opportunity.lose(context, reason=command.reason, competitor=command.competitor)
    return opportunity


@handles(ReopenOpportunity)
def reopen_opportunity(
    uow: UnitOfWork, command: ReopenOpportunity, context: CommandContext
) -> Opportunity:
    opportunity = uow.get(Opportunity, command.opportunity_id, field="opportunity_id")
    opportunity.reopen(context, reason=command.reason)
    return opportunity
