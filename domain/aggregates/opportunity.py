"""The Opportunity aggregate (销售机会): a possible sale moving through the development flow."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Self
from uuid import UUID

from domain.aggregates.base import Aggregate, applies
from domain.aggregates.customer import Customer
from domain.context import CommandContext
from domain.errors import RuleViolation
from domain.events.opportunity import (
    OpportunityEvaluated,
    OpportunityLost,
    OpportunityOpened,
    OpportunityQuoted,
    OpportunityReopened,
    OpportunityStageChanged,
    OpportunityWon,
)
from domain.lines import PricedLine, document_total
from domain.time import check_plausible
from domain.values import Money
from domain.vocabulary import OpportunityStage, Priority

Stage = OpportunityStage
# Stages that only make sense once something has been quoted.
NEEDS_A_QUOTE = frozenset({Stage.QUOTED, Stage.NEGOTIATING})


class Opportunity(Aggregate):
    starts_with = OpportunityOpened
    kind = "opportunity"

    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.customer_id: UUID
        self.estimated_value: Money
        self.stage = Stage.IDENTIFIED
        self.stage_before_loss: Stage | None = None
        self.quote_versions: dict[str, int] = {}
        self.latest_quote_total: Money | None = None
        self.win_probability: Decimal | None = None
        self.order_id: UUID | None = None

    @property
    def currency(self) -> str:
        return self.estimated_value.currency

    # ---- commands -----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        context: CommandContext,
        *,
        opportunity_id: UUID,
        customer: Customer,
        title: str,
        estimated_value: Money,
        source: str | None = None,
        expected_close: date | None = None,
        owner_id: str | None = None,
    ) -> Self:
        customer.ensure_not_merged()
        if customer.is_disqualified:
            raise RuleViolation(
                "customer_qualified",
                "cannot open an opportunity for a disqualified customer",
                field="customer_id",
            )
        if expected_close is not None:
            check_plausible(expected_close, field="expected_close")
        opportunity = cls(opportunity_id)
        if (
            expected_close is not None
            and expected_close < opportunity._business_time(context).date()
        ):
            raise RuleViolation(
                "expected_close_not_in_past",
                f"expected_close {expected_close.isoformat()} is in the past",
                field="expected_close",
            )
        opportunity._record(
            OpportunityOpened,
            context,
            customer_id=customer.id,
            title=title,
            source=source,
            estimated_value=estimated_value,
            expected_close=expected_close,
            owner_id=owner_id,
        )
        return opportunity

    def evaluate(
        self, context: CommandContext, *, score: int, win_probability: Decimal, priority: Priority
    ) -> None:
        self._ensure_open("evaluate")
        self._record(
            OpportunityEvaluated,
            context,
            score=score,
            win_probability=win_probability,
            priority=priority,
        )

    def change_stage(
        self, context: CommandContext, *, to_stage: Stage, reason: str | None = None
    ) -> None:
        self._ensure_open("change the stage of")
        if to_stage.is_final:
            raise RuleViolation(
                "final_stage_by_win_or_lose",
                f"{to_stage.value} is reached with WinOpportunity or LoseOpportunity",
                field="to_stage",
            )
        if to_stage == self.stage:
            raise RuleViolation(
                "stage_changes", f"the opportunity is already {to_stage.value}", field="to_stage"
            )
        if to_stage in NEEDS_A_QUOTE and not self.quote_versions:
            raise RuleViolation(
                "quote_before_stage",
                f"{to_stage.value} needs a quote first (QuoteOpportunity)",
                field="to_stage",
            )
        self._move_to(context, to_stage, reason)

    def quote(
        self,
        context: CommandContext,
        *,
        quote_number: str,
        lines: tuple[PricedLine, ...],
        valid_until: date,
    ) -> None:
        """Quoting an earlier-stage opportunity also moves it to ``quoted``; re-using a quote
        number makes a new version of that quote."""
        self._ensure_open("quote")
        check_plausible(valid_until, field="valid_until")
        if valid_until < self._business_time(context).date():
            raise RuleViolation(
                "quote_valid_until_not_in_past",
                f"valid_until {valid_until.isoformat()} is in the past",
                field="valid_until",
            )
        if not lines:
            raise RuleViolation("quote_has_lines", "a quote needs at least one line", field="lines")
        total = Money(amount=document_total(lines, self.currency), currency=self.currency)
        self._record(
            OpportunityQuoted,
            context,
            quote_number=quote_number,
            quote_version=self.quote_versions.get(quote_number, 0) + 1,
            lines=lines,
            total=total,
            valid_until=valid_until,
        )
        if self.stage.rank < Stage.QUOTED.rank:
            self._move_to(context, Stage.QUOTED, f"quote {quote_number}")

    def win(
        self,
        context: CommandContext,
        *,
        order_id: UUID | None = None,
        won_value: Money | None = None,
    ) -> None:
        self._ensure_open("win")
        if self.stage not in NEEDS_A_QUOTE:
            raise RuleViolation(
                "win_after_quote",
                f"an opportunity is won from quoted or negotiating, not {self.stage.value}",
            )
        if won_value is not None and won_value.currency != self.currency:
            raise RuleViolation(
                "currency_matches",
                f"won_value is in {won_value.currency}, the opportunity in {self.currency}",
                field="won_value",
            )
        self._record(
            OpportunityWon,
            context,
            from_stage=self.stage,
            order_id=order_id,
            won_value=won_value if won_value is not None else self.latest_quote_total,
        )

    def lose(self, context: CommandContext, *, reason: str, competitor: str | None = None) -> None:
        self._ensure_open("lose")
        self._record(
            OpportunityLost, context, from_stage=self.stage, reason=reason, competitor=competitor
        )

    def reopen(self, context: CommandContext, *, reason: str | None = None) -> None:
        if self.stage is not Stage.LOST or self.stage_before_loss is None:
            raise RuleViolation(
                "reopen_only_lost",
                f"only a lost opportunity can be reopened, this one is {self.stage.value}",
            )
        self._record(OpportunityReopened, context, to_stage=self.stage_before_loss, reason=reason)

    # ---- rules shared by commands -------------------------------------------------

    def _ensure_open(self, action: str) -> None:
        if self.stage.is_final:
            raise RuleViolation(
                "opportunity_open", f"cannot {action} an opportunity that is {self.stage.value}"
            )

    def _move_to(self, context: CommandContext, to_stage: Stage, reason: str | None) -> None:
        self._record(
            OpportunityStageChanged,
            context,
            from_stage=self.stage,
            to_stage=to_stage,
            is_back_move=to_stage.rank < self.stage.rank,
            reason=reason,
        )

    # ---- state --------------------------------------------------------------------

    @applies(OpportunityOpened)
    def _opened(self, event: OpportunityOpened) -> None:
        self.customer_id = event.customer_id
        self.estimated_value = event.estimated_value

    @applies(OpportunityEvaluated)
    def _evaluated(self, event: OpportunityEvaluated) -> None:
        self.win_probability = event.win_probability

    @applies(OpportunityStageChanged)
    def _stage_changed(self, event: OpportunityStageChanged) -> None:
        self.stage = event.to_stage

    @applies(OpportunityQuoted)
    def _quoted(self, event: OpportunityQuoted) -> None:
        self.quote_versions[event.quote_number] = event.quote_version
        self.latest_quote_total = event.total

    @applies(OpportunityWon)
    def _won(self, event: OpportunityWon) -> None:
        self.stage = Stage.WON
        self.order_id = event.order_id

    @applies(OpportunityLost)
    def _lost(self, event: OpportunityLost) -> None:
        self.stage_before_loss = event.from_stage
        self.stage = Stage.LOST

    @applies(OpportunityReopened)
    def _reopened(self, event: OpportunityReopened) -> None:
        self.stage = event.to_stage
        self.stage_before_loss = None


def check_opportunity_of_customer(
    opportunity: Opportunity, customer: Customer, *, merged_ids: frozenset[UUID] = frozenset()
) -> None:
    """Facts about an opportunity belong in its own customer's history, nobody else's.
    ``merged_ids``: the ids that are this customer once merges are followed (an
    opportunity of a duplicate merged into it is its own now)."""
    if opportunity.customer_id != customer.id and opportunity.customer_id not in merged_ids:
        raise RuleViolation(
            "opportunity_of_same_customer",
            f"opportunity {opportunity.id} belongs to another customer",
            field="opportunity_id",
        )
