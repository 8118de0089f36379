"""Satisfaction as the gap between what a customer perceived and what they expected.

期望值与感受效果的差距: a customer who expected 9 and got 8 is less satisfied than one who
expected 5 and got 7, although the first scored higher. Hence the gap, not the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from domain.vocabulary import SatisfactionLevel

DISSATISFIED_AT_OR_BELOW = Fraction(-1)
DELIGHTED_AT_OR_ABOVE = Fraction(1)


def exact_gap(pairs: Sequence[tuple[int, int]]) -> Fraction:
    """Mean of perceived − expected over (expected, perceived) pairs, exactly."""
    if not pairs:
        raise ValueError("a survey needs at least one scored dimension")
    return Fraction(sum(perceived - expected for expected, perceived in pairs), len(pairs))


def displayed_gap(gap: Fraction) -> Decimal:
    """The gap rounded half-up to two decimals, as stored and shown."""
    return (Decimal(gap.numerator) / Decimal(gap.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def follow_up_level(satisfaction: int) -> SatisfactionLevel:
    """A complaint follow-up's 1–5 answer as a level: 1–2 dissatisfied, 3 satisfied, 4–5
    delighted. The history shows it, and the churn warning reads it, as this level."""
    if satisfaction <= 2:
        return SatisfactionLevel.DISSATISFIED
    if satisfaction == 3:
        return SatisfactionLevel.SATISFIED
    return SatisfactionLevel.DELIGHTED


def satisfaction_level(gap: Fraction | Decimal) -> SatisfactionLevel:
    """The level is decided on the exact gap, so rounding can never move a survey across a
    threshold (a mean of −0.995 is 'satisfied', although it displays as −1.00)."""
    value = Fraction(gap)
    if value <= DISSATISFIED_AT_OR_BELOW:
        return SatisfactionLevel.DISSATISFIED
    if value >= DELIGHTED_AT_OR_ABOVE:
        return SatisfactionLevel.DELIGHTED
    return SatisfactionLevel.SATISFIED
