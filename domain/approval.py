"""The approval route (审批流程) of an order, decided at submission by a versioned policy.

The route and the reasons are recorded in the submission event, so that years later an
auditor sees which rule sent an order to finance, under which version of the thresholds,
even after the thresholds have changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer, model_validator

from domain.lines import PricedLine
from domain.values import Amount, Code, CurrencyCode, Percentage, ValueObject
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


class ReadOnlyMapping(Mapping[str, Any]):
    """A mapping that cannot change once made, and hashes, pickles and copies as a value:
    a frozen policy whose thresholds could change in place would route otherwise under the
    same version (``types.MappingProxyType`` neither hashes nor pickles)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __reduce__(self) -> tuple[type[ReadOnlyMapping], tuple[dict[str, Any]]]:
        return (ReadOnlyMapping, (self._items,))

    def __repr__(self) -> str:
        return f"ReadOnlyMapping({self._items!r})"


class TotalThresholds(ValueObject):
    """The order totals above which finance, and then a director, approve: in one currency."""

    finance_total_above: Amount
    director_total_above: Amount

    @model_validator(mode="after")
    def _director_above_finance(self) -> TotalThresholds:
        if self.director_total_above < self.finance_total_above:
            raise ValueError("director_total_above must not be below finance_total_above")
        return self


class ApprovalPolicy(ValueObject):
    """``finance_total_above`` and ``director_total_above`` are amounts in ``currency``;
    ``other_currencies`` gives the totals for orders in other currencies. An order in a
    currency the policy names no totals for goes to every node: 100,000 yuan says nothing
    about dollars, and a guessed exchange rate would let a large order past finance (up to
    2026.1 the same numbers applied in every currency, so 99,000 USD needed only a sales
    manager). Change ``version`` whenever anything here changes."""

    version: Code = "2026.2"
    currency: CurrencyCode = "CNY"
    finance_discount_above: Percentage = Decimal(15)
    finance_total_above: Amount = Decimal(100_000)
    director_total_above: Amount = Decimal(500_000)
    other_currencies: Annotated[
        Mapping[CurrencyCode, TotalThresholds],
        AfterValidator(ReadOnlyMapping),
        PlainSerializer(dict, return_type=dict[CurrencyCode, TotalThresholds]),
    ] = Field(default_factory=lambda: ReadOnlyMapping({}))

    @model_validator(mode="after")
    def _consistent(self) -> ApprovalPolicy:
        if self.director_total_above < self.finance_total_above:
            raise ValueError("director_total_above must not be below finance_total_above")
        if self.currency in self.other_currencies:
            raise ValueError(
                f"other_currencies must not name {self.currency}, the policy's own currency"
            )
        return self

    def totals_in(self, currency: str) -> TotalThresholds | None:
        """The total thresholds for orders in ``currency``; None when the policy has none."""
        if currency == self.currency:
            return TotalThresholds(
                finance_total_above=self.finance_total_above,
                director_total_above=self.director_total_above,
            )
        return self.other_currencies.get(currency)

    def route(self, lines: Sequence[PricedLine], total: Decimal, currency: str) -> ApprovalRoute:
        """``total`` is in ``currency``, the order's."""
        nodes = [ApprovalNode.SALES_MANAGER]
        reasons = ["every order is approved by a sales manager"]
        finance_reasons = [
            f"line {line.sku} discount {line.discount_pct} % is above "
            f"{self.finance_discount_above} %"
            for line in lines
            if line.discount_pct > self.finance_discount_above
        ]
        totals = self.totals_in(currency)
        unknown = f"policy {self.version} sets no total thresholds in {currency}"
        if totals is None:
            finance_reasons.append(f"{unknown}: finance approves")
        elif total > totals.finance_total_above:
            finance_reasons.append(f"total {total} is above {totals.finance_total_above}")
        if finance_reasons:
            nodes.append(ApprovalNode.FINANCE)
            reasons.extend(finance_reasons)
        if totals is None:
            nodes.append(ApprovalNode.DIRECTOR)
            reasons.append(f"{unknown}: a director approves")
        elif total > totals.director_total_above:
            nodes.append(ApprovalNode.DIRECTOR)
            reasons.append(f"total {total} is above {totals.director_total_above}")
        return ApprovalRoute(
            nodes=tuple(nodes), policy_version=self.version, reasons=tuple(reasons)
        )


DEFAULT_APPROVAL_POLICY = ApprovalPolicy()
