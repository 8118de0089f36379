"""Priced lines, shared by quotes now and orders later.

Totals are exact Decimal arithmetic, rounded half-up to the currency's minor unit once per
line; the document total is the sum of rounded lines, so it always equals what a customer
adds up from the printed lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, localcontext
from typing import Annotated

from pydantic import BeforeValidator, Field

from domain.errors import RuleViolation
from domain.values import (
    MAX_AMOUNT,
    Amount,
    Code,
    Name,
    Percentage,
    ShortText,
    ValueObject,
    refuse_digit_separators,
    round_to_minor_unit,
)

Quantity = Annotated[
    Decimal,
    Field(gt=0, lt=Decimal("1e9"), allow_inf_nan=False, max_digits=15, decimal_places=4),
    BeforeValidator(refuse_digit_separators),
]

HUNDRED = Decimal(100)
# The types bound every factor (quantity 15 digits, unit price 20, 100 − discount 7), so a
# line's product has at most 42 digits and is exact at this precision: the half-up rounding
# to the minor unit is then the only rounding. The default context keeps 28 digits and would
# round the product first, which can move a total by one minor unit (a double rounding).
EXACT_DIGITS = 50


class PricedLine(ValueObject):
    sku: Code
    name: Name
    spec: ShortText | None = None
    quantity: Quantity
    unit_price: Amount
    discount_pct: Percentage = Decimal(0)

    def total(self, currency: str) -> Decimal:
        with localcontext(prec=EXACT_DIGITS):
            gross = self.quantity * self.unit_price
            net = gross * (HUNDRED - self.discount_pct) / HUNDRED
            return round_to_minor_unit(net, currency)


def document_total(lines: Iterable[PricedLine], currency: str) -> Decimal:
    """Refused (rule ``total_within_limit``, on ``lines``) above the largest amount an
    event can hold: each line may be valid and their total still too large."""
    with localcontext(prec=EXACT_DIGITS):
        total = sum((line.total(currency) for line in lines), Decimal(0))
    if total >= MAX_AMOUNT:
        raise RuleViolation(
            "total_within_limit",
            f"the lines total {total:,}: an amount must be below {MAX_AMOUNT:,.0f}",
            field="lines",
        )
    return total
