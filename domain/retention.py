"""Retention figures (客户保持) computed from purchases: RFM, ABC (二八原则), monthly cohorts and
the repeat-purchase rate, exactly as DESIGN.md §4 defines them.

This is the reference implementation: pure functions over ``Purchase`` values (the rows of
the ``customer_purchases`` fact table), no I/O, every figure checkable by hand. The SQL
views compute the same figures and are tested against these functions.

Conventions shared by every function here:

- **As of T.** A purchase counts as of T when it was approved at or before T and was not
  cancelled at or before T (``cancelled_at`` is None or after T). A *buyer* is a customer
  with at least one counted purchase; customers without one appear in no result.
- **UTC.** ``as_of`` must be timezone-aware and is converted to UTC; days and months are
  UTC calendar days and months.
- **One currency for money.** Revenue in two currencies cannot be added, so ``rfm``, ``abc``
  and ``pareto_check`` raise ``ValueError`` naming the currencies found when the counted
  purchases use more than one; filter first with ``in_currency``. Purchases that do not count
  as of T (later, or already cancelled) are not looked at, so the answer as of T never depends
  on what happened after T. ``cohort_matrix`` and ``repeat_purchase_rate`` count buyers and
  purchases, not money, and accept any mix of currencies.
- **Exact decisions, rounded display.** Scores and classes are decided on exact fractions;
  shares and rates are then shown as ``Decimal`` fractions of 1 (not percentages) rounded
  half-up to 4 places (``0.8000`` is 80 %), which is what PostgreSQL's ``round(x, 4)`` gives
  for these non-negative numbers. A displayed share may therefore read ``0.8000`` for a
  buyer whose exact share above is 0.79996 and who is, correctly, A.
- **Order.** ``rfm`` returns rows ordered by customer id (the order of PostgreSQL's
  ``ORDER BY customer_id`` on uuid), ``abc`` by rank, ``cohort_matrix`` by cohort month.
- Two rows with the same ``order_id`` are an error (``ValueError``): a fact table holds
  each order once, and a duplicate would count a purchase twice.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Annotated, TypeVar
from uuid import UUID

from pydantic import AfterValidator, Field

from domain.time import ensure_utc
from domain.values import Amount, CurrencyCode, ValueObject
from domain.vocabulary import Labelled

UtcDateTime = Annotated[datetime, AfterValidator(ensure_utc)]

# A share of revenue or of buyers is a fraction of 1, displayed with this many places.
RATE_PLACES = 4
# Sums of amounts (each below 1e13, six places at most) stay exact at this precision for
# any realistic number of purchases; the default context keeps only 28 digits.
EXACT_DIGITS = 50

SCORE_BUCKETS = 5
A_BELOW = Fraction(80, 100)  # a buyer is A while the share ranked above it is below 80 %
B_BELOW = Fraction(95, 100)  # ... B while below 95 %, else C
PARETO_TOP_BUYERS = Fraction(20, 100)  # the 80/20 check: the top 20 % of buyers ...
PARETO_REVENUE = Fraction(80, 100)  # ... bring at least 80 % of the revenue


class Purchase(ValueObject):
    """One row of ``customer_purchases``: an approved order, dated at its approval, with
    its total after discounts (DESIGN §2.3). ``cancelled_at`` is set once it is cancelled.

    A ``cancelled_at`` at or before ``approved_at`` is accepted (an imported history may
    hold one) and simply means the order never counts.
    """

    order_id: UUID
    customer_id: UUID
    approved_at: UtcDateTime
    total: Amount
    currency: CurrencyCode
    cancelled_at: UtcDateTime | None = None
    margin: (
        Annotated[Decimal, Field(allow_inf_nan=False, max_digits=20, decimal_places=6)] | None
    ) = None

    def counts_at(self, at: datetime) -> bool:
        """Approved at or before ``at`` and not cancelled at or before it."""
        return self.approved_at <= at and (self.cancelled_at is None or self.cancelled_at > at)


class RfmSegment(Labelled):
    CHAMPIONS = "champions"
    LOYAL = "loyal"
    POTENTIAL_LOYALIST = "potential_loyalist"
    NEW_CUSTOMER = "new_customer"
    NEEDS_ATTENTION = "needs_attention"
    AT_RISK = "at_risk"
    HIBERNATING = "hibernating"

    @property
    def zh(self) -> str:
        return RFM_SEGMENT_ZH[self.value]


RFM_SEGMENT_ZH: dict[str, str] = {
    "champions": "冠军客户",
    "loyal": "忠诚客户",
    "potential_loyalist": "潜在忠诚客户",
    "new_customer": "新客户",
    "needs_attention": "需关注客户",
    "at_risk": "流失风险客户",
    "hibernating": "沉睡客户",
}


class AbcClass(Labelled):
    A = "A"
    B = "B"
    C = "C"

    @property
    def zh(self) -> str:
        return f"{self.value}类"


class RfmRow(ValueObject):
    """One buyer's RFM as of ``as_of``: recency in whole UTC days from the last purchase's
    date to ``as_of``'s date, frequency (purchases), monetary (their total), the three 1–5
    scores and the segment read from R and F."""

    customer_id: UUID
    currency: str
    first_purchase_at: datetime
    last_purchase_at: datetime
    recency_days: int
    frequency: int
    monetary: Decimal
    r_score: int
    f_score: int
    m_score: int
    segment: RfmSegment


class AbcRow(ValueObject):
    """One buyer's place in the revenue ranking. ``share_above`` is the revenue share of
    the buyers ranked above (it decides the class), ``cumulative_share`` includes this
    buyer; both are rounded to 4 places for display."""

    rank: int
    customer_id: UUID
    currency: str
    first_purchase_at: datetime
    monetary: Decimal
    share_above: Decimal
    cumulative_share: Decimal
    abc_class: AbcClass


class ParetoCheck(ValueObject):
    """The 80/20 check (二八原则): the share of revenue from the top 20 % of buyers.

    ``top_buyers`` is ceil(20 % × buyers): the smallest whole number of buyers that is at
    least a fifth of them (1 of 3 buyers, 2 of 6). ``holds`` is decided on the exact share.
    """

    buyers: int
    top_buyers: int
    top_revenue: Decimal
    total_revenue: Decimal
    top_share: Decimal
    holds: bool


class CohortRow(ValueObject):
    """The buyers whose first purchase fell in month ``cohort`` (its first day).
    ``active[k]`` is how many of them bought at least once in the k-th month after it
    (k = 0 is the cohort month, so ``active[0] == size``), for every k up to ``as_of``'s
    month; ``rates[k]`` is ``active[k] / size`` rounded half-up to 4 places."""

    cohort: date
    size: int
    active: tuple[int, ...]
    rates: tuple[Decimal, ...]


class CohortMatrix(ValueObject):
    as_of: datetime
    rows: tuple[CohortRow, ...]

    def row(self, cohort: date) -> CohortRow:
        """The row of the cohort whose month contains ``cohort``; KeyError when none."""
        first_day = cohort.replace(day=1)
        for candidate in self.rows:
            if candidate.cohort == first_day:
                return candidate
        raise KeyError(first_day.isoformat())

    def cell(self, cohort: date, k: int) -> int:
        return self.row(cohort).active[k]

    def rate(self, cohort: date, k: int) -> Decimal:
        return self.row(cohort).rates[k]


# --- selection ---------------------------------------------------------------------------


def purchases_as_of(purchases: Iterable[Purchase], as_of: datetime) -> list[Purchase]:
    """The purchases that count as of ``as_of``; ValueError on a duplicate order id."""
    at = ensure_utc(as_of)
    seen: set[UUID] = set()
    counted: list[Purchase] = []
    for purchase in purchases:
        if purchase.order_id in seen:
            raise ValueError(f"order {purchase.order_id} appears twice among the purchases")
        seen.add(purchase.order_id)
        if purchase.counts_at(at):
            counted.append(purchase)
    return counted


def in_currency(purchases: Iterable[Purchase], currency: str) -> list[Purchase]:
    """The purchases in one currency: how to take retention figures of a mixed book."""
    return [purchase for purchase in purchases if purchase.currency == currency]


def _single_currency(counted: Sequence[Purchase]) -> str:
    currencies = sorted({purchase.currency for purchase in counted})
    if len(currencies) > 1:
        raise ValueError(
            f"revenue in several currencies cannot be added: found {', '.join(currencies)}; "
            "take the figures per currency (in_currency)"
        )
    return currencies[0] if currencies else ""


@dataclass(slots=True)
class BuyerTotals:
    """One buyer's purchases that count as of an instant, summed up: every figure below is
    decided from these alone. ``_buyers`` folds ``Purchase`` values into them; a store can
    group its rows into them far faster than Python folds 70,000 rows (the read models do).
    Instants are UTC; ``months`` holds the ``month_index`` of every month with a purchase."""

    customer_id: UUID
    first_purchase_at: datetime
    last_purchase_at: datetime
    frequency: int = 0
    monetary: Decimal = Decimal(0)
    months: AbstractSet[int] = frozenset()  # only the cohort matrix looks at them


def _buyers(counted: Iterable[Purchase]) -> dict[UUID, BuyerTotals]:
    buyers: dict[UUID, BuyerTotals] = {}
    months: dict[UUID, set[int]] = defaultdict(set)
    with localcontext(prec=EXACT_DIGITS):
        for purchase in counted:
            buyer = buyers.get(purchase.customer_id)
            if buyer is None:
                buyer = buyers[purchase.customer_id] = BuyerTotals(
                    purchase.customer_id, purchase.approved_at, purchase.approved_at
                )
                buyer.months = months[purchase.customer_id]
            buyer.first_purchase_at = min(buyer.first_purchase_at, purchase.approved_at)
            buyer.last_purchase_at = max(buyer.last_purchase_at, purchase.approved_at)
            buyer.frequency += 1
            buyer.monetary += purchase.total
            months[purchase.customer_id].add(month_index(purchase.approved_at.date()))
    return buyers


# --- arithmetic --------------------------------------------------------------------------


def display_rate(exact: Fraction) -> Decimal:
    """A non-negative fraction rounded half-up to 4 places, exactly (no double rounding)."""
    if exact < 0:
        raise ValueError("a share is never negative")
    scale = 10**RATE_PLACES
    units = int(exact * scale + Fraction(1, 2))  # floor, the value being >= 0
    return Decimal(units).scaleb(-RATE_PLACES)


def _share(part: Decimal | int, whole: Decimal | int) -> Fraction:
    """part / whole exactly; 0 when the whole is 0 (no buyers, or revenue that sums to 0)."""
    return Fraction(part) / Fraction(whole) if whole else Fraction(0)


class _SharesOf:
    """Exact shares of one whole as integer ratios: the same decisions and the same rounding
    as ``display_rate(_share(part, whole))`` and comparisons of that Fraction, without
    building Fractions (ABC needs two shares per buyer; as Fractions they were a third of
    the query's time)."""

    __slots__ = ("_denominator", "_numerator")

    def __init__(self, whole: Decimal | int) -> None:
        self._numerator, self._denominator = whole.as_integer_ratio() if whole else (0, 1)

    def of(self, part: Decimal | int) -> tuple[int, int]:
        """part / whole as n / d with d > 0; 0 / 1 when the whole is 0."""
        if not self._numerator:
            return 0, 1
        n, d = part.as_integer_ratio()
        n, d = n * self._denominator, d * self._numerator
        return (-n, -d) if d < 0 else (n, d)

    def rate(self, part: Decimal | int) -> Decimal:
        return _rate(self.of(part))


def _below(share: tuple[int, int], threshold: Fraction) -> bool:
    n, d = share
    return n * threshold.denominator < threshold.numerator * d


def _rate(share: tuple[int, int]) -> Decimal:
    """``display_rate`` of n / d (d > 0): floor(n / d × 10⁴ + ½), in integers."""
    n, d = share
    if n < 0:
        raise ValueError("a share is never negative")
    scale = 10**RATE_PLACES
    return Decimal((2 * n * scale + d) // (2 * d)).scaleb(-RATE_PLACES)


Metric = TypeVar("Metric", int, Decimal)


def ceil_scores(values: Sequence[Metric], *, higher_is_better: bool) -> list[int]:
    """The 1–5 score of each value among ``values`` (DESIGN §4): ceil(5 × p), where p is the
    share of values no better than this one, this one included. Equal values get equal
    scores; the best value gets 5; the worst gets ceil(5 × ties / n), 1 when it is alone
    among more than four.
    """
    n = len(values)
    ordered = sorted(values)
    scores: list[int] = []
    for value in values:
        if higher_is_better:
            no_better = bisect.bisect_right(ordered, value)
        else:
            no_better = n - bisect.bisect_left(ordered, value)
        scores.append(-(-SCORE_BUCKETS * no_better // n))  # ceil(5 × no_better / n)
    return scores


def segment_for(r_score: int, f_score: int) -> RfmSegment:
    """The segment of an (R, F) pair. The seven rules of DESIGN §4 cover all 25 pairs
    exactly once (R 4–5 × F 1 | 2–3 | 4–5, R 3 × F 1–3 | 4–5, R 1–2 × F 1–2 | 3–5), so
    every valid pair has a segment; a score outside 1–5 is a ValueError."""
    if not (1 <= r_score <= SCORE_BUCKETS and 1 <= f_score <= SCORE_BUCKETS):
        raise ValueError(f"scores run from 1 to 5, got R {r_score} and F {f_score}")
    if r_score >= 4:
        if f_score >= 4:
            return RfmSegment.CHAMPIONS
        if f_score >= 2:
            return RfmSegment.POTENTIAL_LOYALIST
        return RfmSegment.NEW_CUSTOMER
    if r_score == 3:
        return RfmSegment.LOYAL if f_score >= 4 else RfmSegment.NEEDS_ATTENTION
    return RfmSegment.AT_RISK if f_score >= 3 else RfmSegment.HIBERNATING


def month_index(day: date) -> int:
    """Months counted from year 0: consecutive months have consecutive indexes."""
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


# --- the figures ---------------------------------------------------------------------------


def window_start(as_of: datetime, window_days: int) -> datetime:
    """The first instant of an RFM window of N UTC calendar days ending on ``as_of``'s day:
    midnight UTC N − 1 days before it. A purchase is in the window when approved at or after
    it, which is how a store filters its rows for ``rfm_of_buyers``."""
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    first_day = ensure_utc(as_of).date() - timedelta(days=window_days - 1)
    return datetime.combine(first_day, time(), UTC)


def rfm(
    purchases: Iterable[Purchase], as_of: datetime, *, window_days: int | None = None
) -> list[RfmRow]:
    """RFM of every buyer as of ``as_of``, ordered by customer id.

    With ``window_days`` = N, only purchases in the last N UTC calendar days count: those
    whose UTC date is at most N − 1 days before ``as_of``'s (N = 1 is ``as_of``'s day only;
    N = 30 is that day and the 29 before it). Recency, frequency, monetary, the scores
    (among the buyers of the window) and the first purchase are then all of the window.
    """
    at = ensure_utc(as_of)
    if window_days is not None and window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    counted = purchases_as_of(purchases, at)
    today = at.date()
    if window_days is not None:
        counted = [p for p in counted if (today - p.approved_at.date()).days < window_days]
    currency = _single_currency(counted)
    return rfm_of_buyers(_buyers(counted).values(), at, currency)


def _by_id(buyer: BuyerTotals) -> int:
    """Sort key equal to ordering by the UUID (which compares ``.int``), without calling
    ``UUID.__lt__`` in Python for each of the ~n log n comparisons."""
    return buyer.customer_id.int


def rfm_of_buyers(buyers: Iterable[BuyerTotals], as_of: datetime, currency: str) -> list[RfmRow]:
    """``rfm`` from buyers already totalled in one currency (window already applied)."""
    today = ensure_utc(as_of).date()
    ordered = sorted(buyers, key=_by_id)
    recency = [(today - buyer.last_purchase_at.date()).days for buyer in ordered]
    r_scores = ceil_scores(recency, higher_is_better=False)
    f_scores = ceil_scores([buyer.frequency for buyer in ordered], higher_is_better=True)
    m_scores = ceil_scores([buyer.monetary for buyer in ordered], higher_is_better=True)
    return [
        RfmRow(
            customer_id=buyer.customer_id,
            currency=currency,
            first_purchase_at=buyer.first_purchase_at,
            last_purchase_at=buyer.last_purchase_at,
            recency_days=days,
            frequency=buyer.frequency,
            monetary=buyer.monetary,
            r_score=r,
            f_score=f,
            m_score=m,
            segment=segment_for(r, f),
        )
        for buyer, days, r, f, m in zip(ordered, recency, r_scores, f_scores, m_scores, strict=True)
    ]


def abc_class_for(share_above: Fraction) -> AbcClass:
    """A while the revenue share ranked above is below 80 %, B while below 95 %, else C."""
    if share_above < A_BELOW:
        return AbcClass.A
    if share_above < B_BELOW:
        return AbcClass.B
    return AbcClass.C


def _ranked(buyers: Iterable[BuyerTotals]) -> list[BuyerTotals]:
    """Buyers by monetary, highest first; ties by earlier first purchase, then customer id."""
    return sorted(
        buyers,
        key=lambda buyer: (-buyer.monetary, buyer.first_purchase_at, buyer.customer_id.int),
    )


def abc(purchases: Iterable[Purchase], as_of: datetime) -> list[AbcRow]:
    """ABC class of every buyer by cumulative revenue share (二八原则), in rank order.

    When the buyers' revenue sums to zero (every purchase fully discounted) no share is
    defined: all shares read 0 and, by the rule, every buyer is A.
    """
    counted = purchases_as_of(purchases, as_of)
    currency = _single_currency(counted)
    return abc_of_buyers(_buyers(counted).values(), currency)


def abc_of_buyers(buyers: Iterable[BuyerTotals], currency: str) -> list[AbcRow]:
    """``abc`` from buyers already totalled in one currency."""
    ranked = _ranked(buyers)
    with localcontext(prec=EXACT_DIGITS):
        total = sum((buyer.monetary for buyer in ranked), Decimal(0))
        shares = _SharesOf(total)
        rows: list[AbcRow] = []
        above = Decimal(0)
        share_above = shares.of(above)
        for rank, buyer in enumerate(ranked, start=1):
            if _below(share_above, A_BELOW):
                abc_class = AbcClass.A
            elif _below(share_above, B_BELOW):
                abc_class = AbcClass.B
            else:
                abc_class = AbcClass.C
            above += buyer.monetary
            cumulative = shares.of(above)  # the next buyer's share above
            rows.append(
                AbcRow(
                    rank=rank,
                    customer_id=buyer.customer_id,
                    currency=currency,
                    first_purchase_at=buyer.first_purchase_at,
                    monetary=buyer.monetary,
                    share_above=_rate(share_above),
                    cumulative_share=_rate(cumulative),
                    abc_class=abc_class,
                )
            )
            share_above = cumulative
    return rows


def pareto_check(purchases: Iterable[Purchase], as_of: datetime) -> ParetoCheck:
    """Share of revenue from the top 20 % of buyers (ceil), and whether it reaches 80 %.
    No buyers, or no revenue: a share of 0 that does not hold."""
    counted = purchases_as_of(purchases, as_of)
    _single_currency(counted)
    return pareto_check_of_buyers(_buyers(counted).values())


def pareto_check_of_buyers(buyers: Iterable[BuyerTotals]) -> ParetoCheck:
    """``pareto_check`` from buyers already totalled in one currency. Which of two equal
    buyers ranks first cannot change the top buyers' revenue, so only money is sorted."""
    monetary = sorted((buyer.monetary for buyer in buyers), reverse=True)
    top_buyers = -(-len(monetary) * PARETO_TOP_BUYERS.numerator // PARETO_TOP_BUYERS.denominator)
    with localcontext(prec=EXACT_DIGITS):
        total = sum(monetary, Decimal(0))
        top = sum(monetary[:top_buyers], Decimal(0))
    shares = _SharesOf(total)
    return ParetoCheck(
        buyers=len(monetary),
        top_buyers=top_buyers,
        top_revenue=top,
        total_revenue=total,
        top_share=shares.rate(top),
        holds=bool(total) and not _below(shares.of(top), PARETO_REVENUE),
    )


def cohort_matrix(purchases: Iterable[Purchase], as_of: datetime) -> CohortMatrix:
    """Monthly cohort retention as of ``as_of`` (DESIGN §4): one row per UTC month in which
    at least one buyer made a first purchase, with a cell for every month from the cohort's
    to ``as_of``'s. A buyer's first purchase is their first purchase that counts as of
    ``as_of``: a cancelled first order moves the buyer to the cohort of their next one."""
    at = ensure_utc(as_of)
    buyers = _buyers(purchases_as_of(purchases, at))
    return cohort_matrix_of_months((buyer.months for buyer in buyers.values()), at)


def cohort_matrix_of_months(
    buyer_months: Iterable[Collection[int]], as_of: datetime
) -> CohortMatrix:
    """``cohort_matrix`` from each buyer's set of ``month_index`` values with a counted
    purchase: the earliest is the cohort (the month of the first purchase)."""
    at = ensure_utc(as_of)
    last_month = month_index(at.date())
    members: dict[int, list[Collection[int]]] = defaultdict(list)
    for months in buyer_months:
        members[min(months)].append(months)
    rows: list[CohortRow] = []
    for month in sorted(members):
        cohort = members[month]
        counts = [0] * (last_month - month + 1)
        for bought in cohort:
            for bought_in in bought:
                counts[bought_in - month] += 1
        active = tuple(counts)
        shares = _SharesOf(len(cohort))
        rows.append(
            CohortRow(
                cohort=_month_start(month),
                size=len(cohort),
                active=active,
                rates=tuple(shares.rate(count) for count in active),
            )
        )
    return CohortMatrix(as_of=at, rows=tuple(rows))


def repeat_purchase_rate(purchases: Iterable[Purchase], as_of: datetime) -> Decimal:
    """Share of buyers with at least two purchases as of ``as_of``, rounded half-up to
    4 places; 0 when there are no buyers."""
    buyers = _buyers(purchases_as_of(purchases, as_of)).values()
    repeat = sum(1 for buyer in buyers if buyer.frequency >= 2)
    return repeat_purchase_rate_of(len(buyers), repeat)


def repeat_purchase_rate_of(buyers: int, repeat_buyers: int) -> Decimal:
    """``repeat_purchase_rate`` from the two counts."""
    return _SharesOf(buyers).rate(repeat_buyers)
