"""Retention figures (DESIGN §4) from purchases: RFM, ABC (二八原则), cohorts, repeat rate.

Every expected number is written by hand, with its arithmetic in a comment, so that the
figures can be checked without running anything; the property tests at the end then hold
the functions to the definitions on random purchase books.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.retention import (
    AbcClass,
    Purchase,
    RfmSegment,
    abc,
    abc_class_for,
    ceil_scores,
    cohort_matrix,
    display_rate,
    in_currency,
    pareto_check,
    purchases_as_of,
    repeat_purchase_rate,
    rfm,
    segment_for,
)

_order_numbers = itertools.count(1)


def at(text: str) -> datetime:
    """An instant from ISO text; ``Z`` for UTC."""
    return datetime.fromisoformat(text)


def cid(n: int) -> UUID:
    """Customer ids whose order is their number: cid(1) < cid(2) < ..."""
    return UUID(int=n)


def buy(
    customer: int,
    approved: str | datetime,
    total: str = "100",
    *,
    currency: str = "CNY",
    cancelled: str | datetime | None = None,
) -> Purchase:
    return Purchase(
        order_id=UUID(int=(1 << 64) + next(_order_numbers)),
        customer_id=cid(customer),
        approved_at=at(approved) if isinstance(approved, str) else approved,
        total=Decimal(total),
        currency=currency,
        cancelled_at=at(cancelled) if isinstance(cancelled, str) else cancelled,
    )


AS_OF = at("2026-06-30T12:00:00Z")


class TestWhatCountsAsOfT:
    def test_approved_exactly_at_t_counts_and_a_second_later_does_not(self) -> None:
        on_time = buy(1, "2026-06-30T12:00:00Z")
        later = buy(1, "2026-06-30T12:00:01Z")
        assert purchases_as_of([on_time, later], AS_OF) == [on_time]

    def test_a_cancellation_at_or_before_t_removes_the_purchase(self) -> None:
        before = buy(1, "2026-06-01T00:00:00Z", cancelled="2026-06-15T00:00:00Z")
        exactly = buy(1, "2026-06-01T00:00:00Z", cancelled="2026-06-30T12:00:00Z")
        assert purchases_as_of([before, exactly], AS_OF) == []

    def test_a_cancellation_after_t_does_not_change_t(self) -> None:
        cancelled_later = buy(1, "2026-06-01T00:00:00Z", cancelled="2026-06-30T12:00:01Z")
        assert purchases_as_of([cancelled_later], AS_OF) == [cancelled_later]
        # ... but as of the cancellation it no longer counts.
        assert purchases_as_of([cancelled_later], at("2026-06-30T12:00:01Z")) == []

    def test_a_cancellation_dated_before_the_approval_means_it_never_counts(self) -> None:
        odd = buy(1, "2026-06-01T00:00:00Z", cancelled="2026-05-01T00:00:00Z")
        assert purchases_as_of([odd], AS_OF) == []

    def test_an_order_listed_twice_is_an_error_not_two_purchases(self) -> None:
        purchase = buy(1, "2026-06-01T00:00:00Z")
        with pytest.raises(ValueError, match=str(purchase.order_id)):
            purchases_as_of([purchase, purchase], AS_OF)

    def test_instants_are_kept_in_utc_and_naive_ones_are_rejected(self) -> None:
        beijing = timezone(timedelta(hours=8))
        purchase = buy(1, datetime(2026, 7, 1, 7, 0, tzinfo=beijing))
        assert purchase.approved_at == at("2026-06-30T23:00:00Z")
        assert purchase.approved_at.utcoffset() == timedelta(0)
        with pytest.raises(ValidationError, match="timezone-aware"):
            buy(1, datetime(2026, 6, 1, 0, 0))  # noqa: DTZ001 - the naive instant under test
        with pytest.raises(ValueError, match="timezone-aware"):
            rfm([purchase], datetime(2026, 7, 1))  # noqa: DTZ001

    @pytest.mark.parametrize(
        ("total", "currency"), [("-0.01", "CNY"), ("NaN", "CNY"), ("1", "RMB"), ("1", "cny")]
    )
    def test_a_purchase_needs_a_non_negative_total_in_an_iso_currency(
        self, total: str, currency: str
    ) -> None:
        with pytest.raises(ValidationError):
            buy(1, "2026-06-01T00:00:00Z", total, currency=currency)

    def test_a_purchase_is_frozen(self) -> None:
        purchase = buy(1, "2026-06-01T00:00:00Z")
        with pytest.raises(ValidationError):
            purchase.total = Decimal(1)  # type: ignore[misc]


class TestScores:
    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            # n = 5, distinct: p = 1/5 … 5/5, ceil(5p) = 1 … 5.
            ([10, 20, 30, 40, 50], [1, 2, 3, 4, 5]),
            # n = 10, distinct: ceil(5 × k/10) = ceil(k/2) for k = 1 … 10.
            ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
            # n = 7: ceil(5/7)=1, ceil(10/7)=2, ceil(15/7)=3, ceil(20/7)=3, ceil(25/7)=4,
            # ceil(30/7)=5, ceil(35/7)=5.
            ([1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 3, 4, 5, 5]),
            # n = 3: ceil(5/3)=2, ceil(10/3)=4, 5 — nobody gets 1 or 3 with three buyers.
            ([7, 8, 9], [2, 4, 5]),
            # Ties share: three 1s have 3 of 5 no better → ceil(15/5)=3; 2 → 4/5 → 4; 5 → 5.
            ([1, 1, 1, 2, 5], [3, 3, 3, 4, 5]),
            # Order of the input does not matter.
            ([5, 1, 2, 1, 1], [5, 3, 4, 3, 3]),
            ([42], [5]),  # a single buyer is the best one
            ([3, 3, 3, 3], [5, 5, 5, 5]),  # all tied: all best
        ],
    )
    def test_higher_is_better(self, values: list[int], expected: list[int]) -> None:
        assert ceil_scores(values, higher_is_better=True) == expected

    def test_recency_fewer_days_is_better(self) -> None:
        # n = 6, "no better" = at least as many days:
        #   0 → all 6 → 5;  3 → {3,3,10,40,40} 5 → ceil(25/6)=5;
        #   10 → {10,40,40} 3 → ceil(15/6)=3;  40 → {40,40} 2 → ceil(10/6)=2.
        assert ceil_scores([0, 3, 3, 10, 40, 40], higher_is_better=False) == [5, 5, 5, 3, 2, 2]

    def test_decimal_amounts_compare_by_value(self) -> None:
        # 10.0 and 10.00 are the same amount: 2 of 3 no better → ceil(10/3)=4; 99.99 → 5.
        values = [Decimal("10.0"), Decimal("99.99"), Decimal("10.00")]
        assert ceil_scores(values, higher_is_better=True) == [4, 5, 4]

    def test_no_values_no_scores(self) -> None:
        assert ceil_scores([], higher_is_better=True) == []


# The segment of every (R, F) pair, written out by hand from DESIGN §4.
CH, LO, PL, NC, NA, AR, HI = (
    RfmSegment.CHAMPIONS,
    RfmSegment.LOYAL,
    RfmSegment.POTENTIAL_LOYALIST,
    RfmSegment.NEW_CUSTOMER,
    RfmSegment.NEEDS_ATTENTION,
    RfmSegment.AT_RISK,
    RfmSegment.HIBERNATING,
)
SEGMENT_GRID = {  # R → segments for F = 1, 2, 3, 4, 5
    5: [NC, PL, PL, CH, CH],
    4: [NC, PL, PL, CH, CH],
    3: [NA, NA, NA, LO, LO],
    2: [HI, HI, AR, AR, AR],
    1: [HI, HI, AR, AR, AR],
}


class TestSegments:
    @pytest.mark.parametrize(
        ("r", "f"), [(r, f) for r in range(1, 6) for f in range(1, 6)], ids=lambda s: str(s)
    )
    def test_every_pair_of_scores_has_exactly_the_segment_of_the_design(
        self, r: int, f: int
    ) -> None:
        assert segment_for(r, f) == SEGMENT_GRID[r][f - 1]

    def test_the_seven_rules_cover_the_25_pairs(self) -> None:
        sizes = Counter(segment_for(r, f) for r in range(1, 6) for f in range(1, 6))
        # champions 2×2, loyal 1×2, potential 2×2, new 2×1, attention 1×3, at risk 2×3,
        # hibernating 2×2: 4+2+4+2+3+6+4 = 25.
        assert sizes == {CH: 4, LO: 2, PL: 4, NC: 2, NA: 3, AR: 6, HI: 4}
        assert sum(sizes.values()) == 25

    @pytest.mark.parametrize(("r", "f"), [(0, 3), (6, 3), (3, 0), (3, 6)])
    def test_a_score_outside_1_to_5_is_an_error(self, r: int, f: int) -> None:
        with pytest.raises(ValueError, match="1 to 5"):
            segment_for(r, f)

    def test_labels(self) -> None:
        assert {segment.value: segment.zh for segment in RfmSegment} == {
            "champions": "冠军客户",
            "loyal": "忠诚客户",
            "potential_loyalist": "潜在忠诚客户",
            "new_customer": "新客户",
            "needs_attention": "需关注客户",
            "at_risk": "流失风险客户",
            "hibernating": "沉睡客户",
        }
        assert [cls.zh for cls in AbcClass] == ["A类", "B类", "C类"]
        assert RfmSegment("at_risk") is RfmSegment.AT_RISK  # stored by its code


def worked_book() -> list[Purchase]:
    """Five buyers as of AS_OF = 2026-06-30T12:00Z, plus orders that must not count."""
    return [
        # c1: 4 purchases, last 06-28 → recency 2, frequency 4, monetary 1000.
        buy(1, "2026-03-01T09:00:00Z", "400"),
        buy(1, "2026-04-01T09:00:00Z", "300"),
        buy(1, "2026-05-10T09:00:00Z", "200"),
        buy(1, "2026-06-28T09:00:00Z", "100"),
        # c2: 1 purchase 06-20 → 10, 1, 50; its 06-29 order was cancelled before AS_OF.
        buy(2, "2026-06-20T09:00:00Z", "50"),
        buy(2, "2026-06-29T09:00:00Z", "900", cancelled="2026-06-30T08:00:00Z"),
        # c3: 3 purchases, last 03-15 → 16 (rest of March) + 30 + 31 + 30 = 107, 3, 1500.
        buy(3, "2026-01-15T09:00:00Z", "500"),
        buy(3, "2026-02-15T09:00:00Z", "500"),
        buy(3, "2026-03-15T09:00:00Z", "500"),
        # c4: 2 purchases, last 2025-12-20 → 11 + 31+28+31+30+31+30 = 192, 2, 100;
        # its order approved a second after AS_OF does not count yet.
        buy(4, "2025-12-01T09:00:00Z", "80"),
        buy(4, "2025-12-20T09:00:00Z", "20"),
        buy(4, "2026-06-30T12:00:01Z", "5000"),
        # c5: 2 purchases, last 06-15 → 15, 2, 500.
        buy(5, "2026-06-01T00:00:00Z", "250"),
        buy(5, "2026-06-15T09:00:00Z", "250"),
        # c6: only a cancelled order → not a buyer.
        buy(6, "2026-06-10T09:00:00Z", "10", cancelled="2026-06-11T09:00:00Z"),
    ]


class TestRfm:
    def test_the_worked_example(self) -> None:
        rows = rfm(worked_book(), AS_OF)
        # Recency (fewer days better) 2, 10, 107, 192, 15 — at least as many days:
        #   c1 5/5 → 5; c2 {10,107,192,15} 4/5 → 4; c5 {15,107,192} 3/5 → 3; c3 2/5 → 2; c4 1.
        # Frequency 4, 1, 3, 2, 2 — at most as many:
        #   c1 5/5 → 5; c2 1/5 → 1; c3 {1,2,2,3} 4/5 → 4; c4 and c5 {1,2,2} 3/5 → 3.
        # Monetary 1000, 50, 1500, 100, 500 — at most as much:
        #   c1 4/5 → 4; c2 1; c3 5; c4 2/5 → 2; c5 3/5 → 3.
        # Segments: c1 R5 F5 champions; c2 R4 F1 new; c3 R2 F4 at risk; c4 R1 F3 at risk;
        # c5 R3 F3 needs attention.
        got = [
            (
                row.customer_id,
                row.recency_days,
                row.frequency,
                row.monetary,
                row.r_score,
                row.f_score,
                row.m_score,
                row.segment,
            )
            for row in rows
        ]
        assert got == [
            (cid(1), 2, 4, Decimal(1000), 5, 5, 4, CH),
            (cid(2), 10, 1, Decimal(50), 4, 1, 1, NC),
            (cid(3), 107, 3, Decimal(1500), 2, 4, 5, AR),
            (cid(4), 192, 2, Decimal(100), 1, 3, 2, AR),
            (cid(5), 15, 2, Decimal(500), 3, 3, 3, NA),
        ]
        assert rows[0].first_purchase_at == at("2026-03-01T09:00:00Z")
        assert rows[0].last_purchase_at == at("2026-06-28T09:00:00Z")
        assert {row.currency for row in rows} == {"CNY"}

    def test_a_30_day_window_keeps_june_only(self) -> None:
        # 30 UTC days ending 06-30 are 06-01 … 06-30. In them: c1 one purchase (06-28, 100),
        # c2 one (06-20, 50), c5 two (06-01 00:00 and 06-15, 500); c3 and c4 drop out.
        # Recency 2, 10, 15 → c1 3/3 → 5; c2 2/3 → ceil(10/3)=4; c5 1/3 → ceil(5/3)=2.
        # Frequency 1, 1, 2 → c1 and c2 2/3 → 4; c5 3/3 → 5.
        # Monetary 100, 50, 500 → c1 2/3 → 4; c2 1/3 → 2; c5 5.
        rows = rfm(worked_book(), AS_OF, window_days=30)
        got = [
            (row.customer_id, row.frequency, row.monetary, row.r_score, row.f_score, row.m_score)
            for row in rows
        ]
        assert got == [
            (cid(1), 1, Decimal(100), 5, 4, 4),
            (cid(2), 1, Decimal(50), 4, 4, 2),
            (cid(5), 2, Decimal(500), 2, 5, 5),
        ]
        assert [row.segment for row in rows] == [CH, CH, AR]
        assert rows[0].first_purchase_at == at("2026-06-28T09:00:00Z")  # of the window

    def test_the_window_is_whole_utc_days(self) -> None:
        inside = buy(1, "2026-06-01T00:00:00Z")
        outside = buy(2, "2026-05-31T23:59:59Z")
        assert [row.customer_id for row in rfm([inside, outside], AS_OF, window_days=30)] == [
            cid(1)
        ]
        # window_days = 1 is as_of's own UTC day.
        today = buy(3, "2026-06-30T00:00:00Z")
        yesterday = buy(4, "2026-06-29T23:59:59Z")
        assert [row.customer_id for row in rfm([today, yesterday], AS_OF, window_days=1)] == [
            cid(3)
        ]

    @pytest.mark.parametrize("window_days", [0, -1])
    def test_a_window_shorter_than_a_day_is_an_error(self, window_days: int) -> None:
        with pytest.raises(ValueError, match="window_days"):
            rfm(worked_book(), AS_OF, window_days=window_days)

    def test_a_single_buyer_is_the_best_on_every_metric(self) -> None:
        [row] = rfm([buy(7, "2025-01-01T00:00:00Z", "1")], AS_OF)
        # 1 of 1 no better → ceil(5 × 1) = 5 on each metric, however old the purchase.
        assert (row.r_score, row.f_score, row.m_score, row.segment) == (5, 5, 5, CH)
        assert row.recency_days == 545  # 365 (2025) + 180 (Jan 1 → Jun 30, 2026)

    def test_no_buyers_no_rows(self) -> None:
        assert rfm([], AS_OF) == []
        cancelled = buy(1, "2026-06-01T00:00:00Z", cancelled="2026-06-02T00:00:00Z")
        assert rfm([cancelled], AS_OF) == []

    def test_an_order_cancelled_after_t_still_counts_as_of_t(self) -> None:
        book = [
            buy(1, "2026-06-01T00:00:00Z", "100"),
            buy(1, "2026-06-20T00:00:00Z", "300", cancelled="2026-07-05T00:00:00Z"),
        ]
        [before] = rfm(book, AS_OF)
        assert (before.recency_days, before.frequency, before.monetary) == (10, 2, Decimal(400))
        [after] = rfm(book, at("2026-07-05T00:00:00Z"))
        # 06-01 → 07-05 is 29 + 5 = 34 days; the cancelled order is gone.
        assert (after.recency_days, after.frequency, after.monetary) == (34, 1, Decimal(100))


class TestRecencyIsInUtcDays:
    @pytest.mark.parametrize(
        ("approved", "expected"),
        [
            ("2026-06-30T00:00:00Z", 0),  # same UTC day, 12 hours earlier
            ("2026-06-30T12:00:00Z", 0),  # the very instant
            ("2026-06-29T23:59:59Z", 1),  # one second before midnight: yesterday
            ("2026-06-29T00:00:00Z", 1),  # 36 hours earlier is still one day
            ("2026-06-01T18:00:00Z", 29),  # 28 days 18 hours elapsed, 29 dates apart
        ],
    )
    def test_recency_counts_dates_not_elapsed_hours(self, approved: str, expected: int) -> None:
        [row] = rfm([buy(1, approved)], AS_OF)
        assert row.recency_days == expected

    def test_a_second_across_midnight_is_a_day(self) -> None:
        [row] = rfm([buy(1, "2026-06-30T23:59:59Z")], at("2026-07-01T00:00:00Z"))
        assert row.recency_days == 1

    def test_the_dates_are_utc_dates_whatever_the_zone_of_as_of(self) -> None:
        # 07-01 07:00 in Beijing is 06-30 23:00 UTC: the purchase of 06-30 00:00 UTC is 0 days
        # old, although in Beijing it is already the next day.
        beijing = timezone(timedelta(hours=8))
        [row] = rfm([buy(1, "2026-06-30T00:00:00Z")], datetime(2026, 7, 1, 7, 0, tzinfo=beijing))
        assert row.recency_days == 0


def ranked_book() -> list[Purchase]:
    """Ten buyers whose revenue adds to 1000 CNY, with two ties."""
    return [
        buy(1, "2026-01-10T00:00:00Z", "300"),
        buy(1, "2026-02-10T00:00:00Z", "200"),  # c1: 500
        buy(2, "2026-01-11T00:00:00Z", "200"),
        buy(3, "2026-01-12T00:00:00Z", "100"),
        buy(4, "2026-01-13T00:00:00Z", "60"),
        buy(5, "2026-01-14T00:00:00Z", "40"),
        buy(6, "2026-02-01T00:00:00Z", "30"),  # c6 and c7 tie at 30; c7 bought first
        buy(7, "2026-01-01T00:00:00Z", "30"),
        buy(8, "2026-01-15T00:00:00Z", "20"),
        buy(10, "2026-03-01T00:00:00Z", "10"),  # c9 and c10 tie at 10, same first purchase:
        buy(9, "2026-03-01T00:00:00Z", "10"),  # the smaller customer id goes first
        buy(11, "2026-03-01T00:00:00Z", "5000", cancelled="2026-03-02T00:00:00Z"),
    ]


class TestAbc:
    def test_the_ranked_example(self) -> None:
        rows = abc(ranked_book(), AS_OF)
        # Revenue 500+200+100+60+40+30+30+20+10+10 = 1000. Share ranked above each buyer:
        #   0, 500, 700, 800, 860, 900, 930, 960, 980, 990 (‰)
        #   → A A A | B (80 % exactly is not below 80 %) B B B | C (96 %) C C.
        assert [(row.rank, row.customer_id) for row in rows] == [
            (1, cid(1)),
            (2, cid(2)),
            (3, cid(3)),
            (4, cid(4)),
            (5, cid(5)),
            (6, cid(7)),
            (7, cid(6)),
            (8, cid(8)),
            (9, cid(9)),
            (10, cid(10)),
        ]
        assert [row.monetary for row in rows] == [
            Decimal(n) for n in (500, 200, 100, 60, 40, 30, 30, 20, 10, 10)
        ]
        assert [row.share_above for row in rows] == [
            Decimal(s)
            for s in (
                "0.0000", "0.5000", "0.7000", "0.8000", "0.8600",
                "0.9000", "0.9300", "0.9600", "0.9800", "0.9900",
            )
        ]  # fmt: skip
        assert [row.cumulative_share for row in rows] == [
            Decimal(s)
            for s in (
                "0.5000", "0.7000", "0.8000", "0.8600", "0.9000",
                "0.9300", "0.9600", "0.9800", "0.9900", "1.0000",
            )
        ]  # fmt: skip
        assert "".join(row.abc_class for row in rows) == "AAABBBBCCC"

    def test_exactly_80_percent_above_is_b_and_exactly_95_is_c(self) -> None:
        book = [buy(1, "2026-01-01T00:00:00Z", "80"), buy(2, "2026-01-01T00:00:00Z", "15")]
        book.append(buy(3, "2026-01-01T00:00:00Z", "5"))
        # Above c2: 80/100 = 80 % → B. Above c3: 95/100 = 95 % → C.
        rows = abc(book, AS_OF)
        assert [(row.customer_id, row.abc_class) for row in rows] == [
            (cid(1), AbcClass.A),
            (cid(2), AbcClass.B),
            (cid(3), AbcClass.C),
        ]

    def test_a_cent_below_the_thresholds_stays_in_the_better_class(self) -> None:
        book = [buy(1, "2026-01-01T00:00:00Z", "79.99"), buy(2, "2026-01-01T00:00:00Z", "15")]
        book.append(buy(3, "2026-01-01T00:00:00Z", "5.01"))
        # Total 100. Above c2: 79.99 % → A. Above c3: 94.99 % → B.
        assert [row.abc_class for row in abc(book, AS_OF)] == [AbcClass.A, AbcClass.A, AbcClass.B]

    def test_the_class_is_decided_on_the_exact_share_not_the_rounded_one(self) -> None:
        # Above c2: 79999/100000 = 79.999 % → A, although it displays as 0.8000.
        book = [buy(1, "2026-01-01T00:00:00Z", "79999"), buy(2, "2026-01-01T00:00:00Z", "20001")]
        rows = abc(book, AS_OF)
        assert rows[1].share_above == Decimal("0.8000")
        assert rows[1].abc_class is AbcClass.A
        assert abc_class_for(Fraction(79999, 100000)) is AbcClass.A
        assert abc_class_for(Fraction(4, 5)) is AbcClass.B
        assert abc_class_for(Fraction(19, 20)) is AbcClass.C

    def test_the_tie_break_uses_the_first_purchase_that_counts(self) -> None:
        book = [
            # c1's earliest order was cancelled, so its first purchase is 02-01, after c2's.
            buy(1, "2025-12-01T00:00:00Z", "70", cancelled="2025-12-05T00:00:00Z"),
            buy(1, "2026-02-01T00:00:00Z", "50"),
            buy(2, "2026-01-01T00:00:00Z", "50"),
        ]
        rows = abc(book, AS_OF)
        assert [row.customer_id for row in rows] == [cid(2), cid(1)]
        assert rows[1].first_purchase_at == at("2026-02-01T00:00:00Z")

    def test_a_single_buyer_is_a(self) -> None:
        [row] = abc([buy(1, "2026-01-01T00:00:00Z", "12.34")], AS_OF)
        assert (row.rank, row.abc_class, row.share_above, row.cumulative_share) == (
            1,
            AbcClass.A,
            Decimal("0.0000"),
            Decimal("1.0000"),
        )

    def test_no_buyers_no_rows(self) -> None:
        assert abc([], AS_OF) == []

    def test_revenue_that_sums_to_zero_makes_every_share_zero(self) -> None:
        book = [buy(1, "2026-01-01T00:00:00Z", "0"), buy(2, "2026-01-02T00:00:00Z", "0.00")]
        rows = abc(book, AS_OF)
        assert [(row.customer_id, row.abc_class) for row in rows] == [
            (cid(1), AbcClass.A),
            (cid(2), AbcClass.A),
        ]
        assert {row.cumulative_share for row in rows} == {Decimal(0)}


class TestParetoCheck:
    def test_the_ranked_example_falls_short_of_80_20(self) -> None:
        # 10 buyers → top ceil(10/5) = 2: 500 + 200 = 700 of 1000 = 70 % < 80 %.
        check = pareto_check(ranked_book(), AS_OF)
        assert (check.buyers, check.top_buyers) == (10, 2)
        assert (check.top_revenue, check.total_revenue) == (Decimal(700), Decimal(1000))
        assert (check.top_share, check.holds) == (Decimal("0.7000"), False)

    def test_exactly_80_percent_from_the_top_fifth_holds(self) -> None:
        # 3 buyers → top ceil(3/5) = 1: 80 of 100 = 80 % ≥ 80 %.
        book = [buy(n, "2026-01-01T00:00:00Z", t) for n, t in ((1, "15"), (2, "80"), (3, "5"))]
        check = pareto_check(book, AS_OF)
        assert (check.top_buyers, check.top_revenue, check.top_share, check.holds) == (
            1,
            Decimal(80),
            Decimal("0.8000"),
            True,
        )

    @pytest.mark.parametrize(("buyers", "top"), [(1, 1), (5, 1), (6, 2), (11, 3)])
    def test_the_top_fifth_is_rounded_up(self, buyers: int, top: int) -> None:
        book = [buy(n, "2026-01-01T00:00:00Z", "1") for n in range(1, buyers + 1)]
        check = pareto_check(book, AS_OF)
        # Equal revenue: the top k of n bring k/n.
        assert (check.top_buyers, check.top_share) == (top, display_rate(Fraction(top, buyers)))

    def test_no_buyers(self) -> None:
        check = pareto_check([], AS_OF)
        assert (check.buyers, check.top_buyers, check.top_share, check.holds) == (
            0,
            0,
            Decimal(0),
            False,
        )


class TestCohorts:
    AS_OF = at("2026-03-15T12:00:00Z")

    def book(self) -> list[Purchase]:
        beijing = timezone(timedelta(hours=8))
        return [
            # c1: first purchase the last second of January; then Feb 1 00:00 (k=1), Mar (k=2).
            buy(1, "2026-01-31T23:59:59Z"),
            buy(1, "2026-02-01T00:00:00Z"),
            buy(1, "2026-03-10T00:00:00Z"),
            # c2: January twice (still k=0), then March (k=2).
            buy(2, "2026-01-01T00:00:00Z"),
            buy(2, "2026-01-20T00:00:00Z"),
            buy(2, "2026-03-01T00:00:00Z"),
            # c3: the last second of 2025 → December cohort; January is its k=1.
            buy(3, "2025-12-31T23:59:59Z"),
            buy(3, "2026-01-05T00:00:00Z"),
            # c4: the first instant of February, nothing after.
            buy(4, "2026-02-01T00:00:00Z"),
            # c5: its January order was cancelled → February cohort; bought again exactly at
            # as_of (counts, k=1).
            buy(5, "2026-01-10T00:00:00Z", cancelled="2026-01-12T00:00:00Z"),
            buy(5, "2026-02-14T00:00:00Z"),
            buy(5, "2026-03-15T12:00:00Z"),
            # c6: only after as_of → not a buyer.
            buy(6, "2026-03-15T12:00:01Z"),
            # c7: 03-01 07:00 in Beijing is 02-28 23:00 UTC → February cohort.
            buy(7, datetime(2026, 3, 1, 7, 0, tzinfo=beijing)),
        ]

    def test_the_worked_matrix(self) -> None:
        matrix = cohort_matrix(self.book(), self.AS_OF)
        # Dec 2025 {c3}: Dec 1, Jan 1 (c3), Feb 0, Mar 0 → 1/1, 1/1, 0/1, 0/1.
        # Jan 2026 {c1, c2}: Jan 2, Feb 1 (c1), Mar 2 (c1, c2) → 2/2, 1/2, 2/2.
        # Feb 2026 {c4, c5, c7}: Feb 3, Mar 1 (c5) → 3/3, 1/3 = 0.3333.
        assert [(row.cohort, row.size, row.active) for row in matrix.rows] == [
            (date(2025, 12, 1), 1, (1, 1, 0, 0)),
            (date(2026, 1, 1), 2, (2, 1, 2)),
            (date(2026, 2, 1), 3, (3, 1)),
        ]
        assert [row.rates for row in matrix.rows] == [
            tuple(Decimal(r) for r in ("1.0000", "1.0000", "0.0000", "0.0000")),
            tuple(Decimal(r) for r in ("1.0000", "0.5000", "1.0000")),
            tuple(Decimal(r) for r in ("1.0000", "0.3333")),
        ]
        assert matrix.cell(date(2026, 1, 1), 1) == 1
        assert matrix.cell(date(2026, 1, 17), 2) == 2  # any day names its month
        assert matrix.rate(date(2026, 2, 1), 1) == Decimal("0.3333")
        with pytest.raises(KeyError):
            matrix.row(date(2026, 3, 1))  # nobody's first purchase fell in March
        assert matrix.as_of == self.AS_OF

    def test_the_first_instant_of_a_month_adds_its_column(self) -> None:
        matrix = cohort_matrix(self.book(), at("2026-04-01T00:00:00Z"))
        # April is now k=4 / 3 / 2; c6 (03-15 12:00:01) joins as a March cohort of one.
        assert [(row.cohort, row.active) for row in matrix.rows] == [
            (date(2025, 12, 1), (1, 1, 0, 0, 0)),
            (date(2026, 1, 1), (2, 1, 2, 0)),
            (date(2026, 2, 1), (3, 1, 0)),
            (date(2026, 3, 1), (1, 0)),
        ]

    def test_a_single_buyer(self) -> None:
        matrix = cohort_matrix([buy(1, "2026-03-15T00:00:00Z")], self.AS_OF)
        assert [(row.cohort, row.size, row.active, row.rates) for row in matrix.rows] == [
            (date(2026, 3, 1), 1, (1,), (Decimal("1.0000"),))
        ]

    def test_no_buyers_no_rows(self) -> None:
        assert cohort_matrix([], self.AS_OF).rows == ()

    def test_the_month_is_the_utc_month_of_as_of(self) -> None:
        # 03-31 20:00 UTC is already April 1st in Beijing, but the matrix stops at March.
        beijing = timezone(timedelta(hours=8))
        as_of = datetime(2026, 4, 1, 4, 0, tzinfo=beijing)
        [row] = cohort_matrix([buy(1, "2026-02-10T00:00:00Z")], as_of).rows
        assert row.active == (1, 0)


class TestRepeatPurchaseRate:
    def test_one_buyer_of_three_bought_twice(self) -> None:
        book = [
            buy(1, "2026-01-01T00:00:00Z"),
            buy(1, "2026-01-01T00:00:00Z"),  # two orders at the same instant are two purchases
            buy(2, "2026-02-01T00:00:00Z"),
            buy(2, "2026-03-01T00:00:00Z", cancelled="2026-03-02T00:00:00Z"),  # cancelled
            buy(3, "2026-02-01T00:00:00Z"),
            buy(3, "2026-07-01T00:00:00Z"),  # after as_of
        ]
        # Buyers with ≥ 2 purchases: c1 only → 1/3 = 0.3333.
        assert repeat_purchase_rate(book, AS_OF) == Decimal("0.3333")
        # As of 07-01 c3 has two as well → 2/3 = 0.6667 (half-up).
        assert repeat_purchase_rate(book, at("2026-07-01T00:00:00Z")) == Decimal("0.6667")

    def test_no_buyers_is_a_rate_of_zero(self) -> None:
        assert repeat_purchase_rate([], AS_OF) == Decimal("0.0000")

    def test_a_single_buyer(self) -> None:
        assert repeat_purchase_rate([buy(1, "2026-01-01T00:00:00Z")], AS_OF) == Decimal(0)


class TestDisplayRate:
    @pytest.mark.parametrize(
        ("exact", "shown"),
        [
            (Fraction(1, 3), "0.3333"),
            (Fraction(2, 3), "0.6667"),
            (Fraction(1, 8), "0.1250"),
            (Fraction(1, 20000), "0.0001"),  # 0.00005: the half goes up
            (Fraction(99999, 2000000), "0.0500"),  # 0.0499995
            (Fraction(0), "0.0000"),
            (Fraction(1), "1.0000"),
        ],
    )
    def test_half_up_to_four_places(self, exact: Fraction, shown: str) -> None:
        rate = display_rate(exact)
        assert rate == Decimal(shown)
        assert rate.as_tuple().exponent == -4

    def test_a_negative_share_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            display_rate(Fraction(-1, 3))


class TestCurrencies:
    def test_money_figures_refuse_to_add_two_currencies(self) -> None:
        book = [
            buy(1, "2026-01-01T00:00:00Z", currency="USD"),
            buy(2, "2026-01-01T00:00:00Z", currency="CNY"),
        ]
        for figure in (rfm, abc, pareto_check):
            with pytest.raises(ValueError, match="found CNY, USD"):
                figure(book, AS_OF)

    def test_only_the_purchases_that_count_are_looked_at(self) -> None:
        book = [
            buy(1, "2026-01-01T00:00:00Z", currency="CNY"),
            buy(2, "2026-01-01T00:00:00Z", currency="USD", cancelled="2026-01-02T00:00:00Z"),
            buy(3, "2026-07-01T00:00:00Z", currency="EUR"),  # after as_of
        ]
        assert [row.currency for row in rfm(book, AS_OF)] == ["CNY"]
        assert [row.currency for row in abc(book, AS_OF)] == ["CNY"]

    def test_a_mixed_book_is_taken_per_currency(self) -> None:
        book = [
            buy(1, "2026-01-01T00:00:00Z", "10", currency="USD"),
            buy(1, "2026-02-01T00:00:00Z", "70", currency="CNY"),
            buy(2, "2026-01-01T00:00:00Z", "30", currency="CNY"),
        ]
        cny = rfm(in_currency(book, "CNY"), AS_OF)
        assert [(row.customer_id, row.monetary) for row in cny] == [
            (cid(1), Decimal(70)),
            (cid(2), Decimal(30)),
        ]
        assert [row.customer_id for row in abc(in_currency(book, "USD"), AS_OF)] == [cid(1)]

    def test_counts_of_buyers_accept_any_mix(self) -> None:
        book = [
            buy(1, "2026-01-01T00:00:00Z", currency="USD"),
            buy(1, "2026-02-01T00:00:00Z", currency="CNY"),
        ]
        assert repeat_purchase_rate(book, AS_OF) == Decimal(1)
        assert cohort_matrix(book, at("2026-02-01T00:00:00Z")).rows[0].active == (1, 1)


# --- properties --------------------------------------------------------------------------

# Instants from November 2024 to August 2026, to the second: month, year and day boundaries
# all fall inside. Integers shrink and generate faster than ``st.datetimes``.
EARLIEST = at("2024-11-01T00:00:00Z")
SPAN_SECONDS = 670 * 86400
instants = st.integers(0, SPAN_SECONDS).map(lambda s: EARLIEST + timedelta(seconds=s))


def _purchase(
    customer: int, approved_s: int, cents: int, cancelled_after_s: int | None
) -> Purchase:
    approved = EARLIEST + timedelta(seconds=approved_s)
    return Purchase(
        order_id=UUID(int=(2 << 64) + next(_order_numbers)),
        customer_id=cid(customer),
        approved_at=approved,
        total=Decimal(cents).scaleb(-2),
        currency="CNY",
        cancelled_at=(
            None if cancelled_after_s is None else approved + timedelta(seconds=cancelled_after_s)
        ),
    )


# Up to 30 purchases of up to 8 customers, totals 0.00 to 5000.00, some of them cancelled
# (possibly at their approval instant, possibly long after).
purchase_books = st.lists(
    st.builds(
        _purchase,
        st.integers(1, 8),
        st.integers(0, SPAN_SECONDS),
        st.integers(0, 500_000),
        st.none() | st.none() | st.integers(0, 400 * 86400),
    ),
    max_size=30,
)


PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


def brute_force_scores(values: list[int], *, higher_is_better: bool) -> list[int]:
    """The definition read literally: ceil(5 × share of values no better than this one)."""
    n = len(values)
    no_better = [
        sum(1 for other in values if (other <= v if higher_is_better else other >= v))
        for v in values
    ]
    return [math.ceil(5 * Fraction(count, n)) for count in no_better]


class TestProperties:
    @PROPERTY_SETTINGS
    @given(values=st.lists(st.integers(0, 20), max_size=40), higher_is_better=st.booleans())
    def test_scores_follow_the_definition(self, values: list[int], higher_is_better: bool) -> None:
        scores = ceil_scores(values, higher_is_better=higher_is_better)
        assert scores == brute_force_scores(values, higher_is_better=higher_is_better)
        assert all(1 <= score <= 5 for score in scores)
        if values:
            best = max(values) if higher_is_better else min(values)
            assert {s for v, s in zip(values, scores, strict=True) if v == best} == {5}
        for (v1, s1), (v2, s2) in itertools.combinations(zip(values, scores, strict=True), 2):
            if v1 == v2:
                assert s1 == s2
            better_1 = v1 > v2 if higher_is_better else v1 < v2
            if better_1:
                assert s1 >= s2

    @PROPERTY_SETTINGS
    @given(book=purchase_books, as_of=instants)
    def test_rfm(self, book: list[Purchase], as_of: datetime) -> None:
        rows = rfm(book, as_of)
        counted = purchases_as_of(book, as_of)
        assert [row.customer_id for row in rows] == sorted({p.customer_id for p in counted})
        assert sum(row.frequency for row in rows) == len(counted)
        assert sum(row.monetary for row in rows) == sum(p.total for p in counted)
        for row in rows:
            assert min(row.r_score, row.f_score, row.m_score) >= 1
            assert max(row.r_score, row.f_score, row.m_score) <= 5
            assert row.segment is segment_for(row.r_score, row.f_score)
            assert 0 <= row.recency_days == (as_of.date() - row.last_purchase_at.date()).days
        if rows:  # the best buyers on each metric get 5
            fewest_days = min(r.recency_days for r in rows)
            most_purchases = max(r.frequency for r in rows)
            most_money = max(r.monetary for r in rows)
            assert {r.r_score for r in rows if r.recency_days == fewest_days} == {5}
            assert {r.f_score for r in rows if r.frequency == most_purchases} == {5}
            assert {r.m_score for r in rows if r.monetary == most_money} == {5}
        for a, b in itertools.combinations(rows, 2):
            assert (a.recency_days == b.recency_days) <= (a.r_score == b.r_score)
            assert (a.frequency == b.frequency) <= (a.f_score == b.f_score)
            assert (a.monetary == b.monetary) <= (a.m_score == b.m_score)

    @PROPERTY_SETTINGS
    @given(book=purchase_books, as_of=instants)
    def test_abc(self, book: list[Purchase], as_of: datetime) -> None:
        rows = abc(book, as_of)
        assert [row.rank for row in rows] == list(range(1, len(rows) + 1))
        assert [row.monetary for row in rows] == sorted((r.monetary for r in rows), reverse=True)
        order = "ABC"
        classes = [order.index(row.abc_class) for row in rows]
        assert classes == sorted(classes)  # A before B before C along the ranking
        shares = [row.cumulative_share for row in rows]
        assert shares == sorted(shares)
        assert all(Decimal(0) <= s <= Decimal(1) for s in shares + [r.share_above for r in rows])
        if rows:
            assert rows[0].abc_class is AbcClass.A
            if sum(row.monetary for row in rows):
                assert rows[-1].cumulative_share == Decimal(1)
        check = pareto_check(book, as_of)
        assert check.buyers == len(rows)
        assert Decimal(0) <= check.top_share <= Decimal(1)

    @PROPERTY_SETTINGS
    @given(book=purchase_books, as_of=instants)
    def test_cohorts(self, book: list[Purchase], as_of: datetime) -> None:
        matrix = cohort_matrix(book, as_of)
        counted = purchases_as_of(book, as_of)
        assert sum(row.size for row in matrix.rows) == len({p.customer_id for p in counted})
        cohorts = [row.cohort for row in matrix.rows]
        assert cohorts == sorted(set(cohorts))
        last = as_of.year * 12 + as_of.month
        for row in matrix.rows:
            assert row.cohort.day == 1
            assert row.active[0] == row.size > 0
            assert (
                len(row.active)
                == len(row.rates)
                == last - (row.cohort.year * 12 + row.cohort.month) + 1
            )
            assert all(0 <= count <= row.size for count in row.active)
            assert all(Decimal(0) <= rate <= Decimal(1) for rate in row.rates)
            assert row.rates[0] == Decimal(1)

    @PROPERTY_SETTINGS
    @given(book=purchase_books, as_of=instants)
    def test_repeat_purchase_rate(self, book: list[Purchase], as_of: datetime) -> None:
        rate = repeat_purchase_rate(book, as_of)
        assert Decimal(0) <= rate <= Decimal(1)
        frequencies = Counter(p.customer_id for p in purchases_as_of(book, as_of)).values()
        repeat = sum(1 for f in frequencies if f >= 2)
        expected = display_rate(Fraction(repeat, len(frequencies))) if frequencies else Decimal(0)
        assert rate == expected
