"""The approval route (审批流程) of an order, decided at submission by a versioned policy.

The route and the reasons are recorded in the submission event, so that years later an
auditor sees which rule sent an order to finance, under which version of the thresholds,
even after the thresholds have changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import Field, model_validator

from domain.lines import PricedLine
from domain.values import Amount, Code, Percentage, ValueObject
from domain.vocabulary import Labelled


class ApprovalNode(Labelled):
    SALES_MANAGER = "sales_manager"
    FINANCE = "finance"
    DIRECTOR = "director"

    @property
    def zh(self) -> str:
        return {"sales_manager": "销售经理", "finance": "财务", "director": "总监"}[self.value]

    @property
    def role(self) -> str:
        """The role an approver must hold to decide at this node."""
        return self.value


class ApprovalRoute(ValueObject):
    nodes: tuple[ApprovalNode, ...] = Field(min_length=1)
    policy_version: Code
    reasons: tuple[str, ...]


class ApprovalPolicy(ValueObject):
    """Thresholds are in the order's own currency; change ``version`` whenever they change."""

    version: Code = "2026.1"
    finance_discount_above: Percentage = Decimal(15)
    finance_total_above: Amount = Decimal(100_000)
    director_total_above: Amount = Decimal(500_000)

    @model_validator(mode="after")
    def _director_above_finance(self) -> ApprovalPolicy:
        if self.director_total_above < self.finance_total_above:
            raise ValueError("director_total_above must not be below finance_total_above")
        return self

    def route(self, lines: Sequence[PricedLine], total: Decimal) -> ApprovalRoute:
        nodes = [ApprovalNode.SALES_MANAGER]
        reasons = ["every order is approved by a sales manager"]
        finance_reasons = [
            f"line {line.sku} discount {line.discount_pct} % is above "
            f"{self.finance_discount_above} %"
            for line in lines
            if line.discount_pct > self.finance_discount_above
        ]
        if total > self.finance_total_above:
            finance_reasons.append(f"total {total} is above {self.finance_total_above}")
        if finance_reasons:
            nodes.append(ApprovalNode.FINANCE)
            reasons.extend(finance_reasons)
        if total > self.director_total_above:
            nodes.append(ApprovalNode.DIRECTOR)
            reasons.append(f"total {total} is above {self.director_total_above}")
        return ApprovalRoute(
            nodes=tuple(nodes), policy_version=self.version, reasons=tuple(reasons)
        )


DEFAULT_APPROVAL_POLICY = ApprovalPolicy()
