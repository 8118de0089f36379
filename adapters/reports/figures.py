"""Small, exact arithmetic shared by the report builders: shares as Decimal fractions of 1
rounded half-up to 4 places (as the retention library shows them), means to one place."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

SHARE_PLACES = Decimal("0.0001")
MEAN_PLACES = Decimal("0.1")


def share(part: Decimal | int, whole: Decimal | int) -> Decimal:
    """0 of nothing is 0, not an error: an empty store gives a report of zeros."""
    if not whole:
        return Decimal(0).quantize(SHARE_PLACES)
    return (Decimal(part) / Decimal(whole)).quantize(SHARE_PLACES, ROUND_HALF_UP)


def mean(values: Sequence[Decimal | int]) -> Decimal | None:
    if not values:
        return None
    total = sum((Decimal(v) for v in values), Decimal(0))
    return (total / len(values)).quantize(MEAN_PLACES, ROUND_HALF_UP)


def median(values: Sequence[int]) -> Decimal | None:
    """The middle value, or the mean of the middle two for an even count."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[middle])
    return (Decimal(ordered[middle - 1]) + Decimal(ordered[middle])) / 2
