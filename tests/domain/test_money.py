"""Money is Decimal with an ISO 4217 currency: lines are rounded half-up once, to the
currency's minor unit, and a document total is the sum of its rounded lines."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.lines import PricedLine, document_total
from domain.values import CURRENCY_MINOR_UNITS, MAX_AMOUNT, Money


def line(quantity: str, unit_price: str, discount_pct: str = "0", sku: str = "SKU-1") -> PricedLine:
    return PricedLine(
        sku=sku,
        name="Cold room panel",
        quantity=Decimal(quantity),
        unit_price=Decimal(unit_price),
        discount_pct=Decimal(discount_pct),
    )


def half_up(exact: Fraction, places: int) -> Decimal:
    """An independent model of the rounding: exact rational arithmetic, half away from zero
    (all amounts here are non-negative)."""
    scale = 10**places
    units = int(exact * scale + Fraction(1, 2))  # floor, the value being >= 0
    return Decimal(units).scaleb(-places)


class TestLineTotals:
    @pytest.mark.parametrize(
        ("quantity", "unit_price", "discount_pct", "expected"),
        [
            ("3", "0.335", "0", "1.01"),  # 1.005: the half goes up
            ("1", "0.334999", "0", "0.33"),
            ("1", "2.675", "0", "2.68"),  # 2.675 as a float is 2.67499999...
            ("2", "1234.565", "10", "2222.22"),  # 2222.217
            ("7", "19.99", "12.5", "122.44"),  # 122.43875
            ("1.5", "0.01", "0", "0.02"),  # 0.015
            ("1", "100", "100", "0.00"),  # fully discounted
        ],
    )
    def test_a_cny_line_is_rounded_half_up_to_the_fen(
        self, quantity: str, unit_price: str, discount_pct: str, expected: str
    ) -> None:
        total = line(quantity, unit_price, discount_pct).total("CNY")
        assert total == Decimal(expected)
        assert total.as_tuple().exponent == -2

    @pytest.mark.parametrize(
        ("unit_price", "expected"), [("1499.5", "1500"), ("1499.49", "1499"), ("0.5", "1")]
    )
    def test_a_jpy_line_is_rounded_half_up_to_whole_yen(
        self, unit_price: str, expected: str
    ) -> None:
        total = line("1", unit_price).total("JPY")
        assert total == Decimal(expected)
        assert total.as_tuple().exponent == 0

    @pytest.mark.parametrize(
        ("unit_price", "expected"),
        [("12.3455", "12.346"), ("12.34549", "12.345"), ("0.0005", "0.001")],
    )
    def test_a_kwd_line_is_rounded_half_up_to_the_fils(
        self, unit_price: str, expected: str
    ) -> None:
        total = line("1", unit_price).total("KWD")
        assert total == Decimal(expected)
        assert total.as_tuple().exponent == -3

    def test_the_minor_units_of_the_reference_currencies(self) -> None:
        assert (CURRENCY_MINOR_UNITS["CNY"], CURRENCY_MINOR_UNITS["JPY"]) == (2, 0)
        assert CURRENCY_MINOR_UNITS["KWD"] == 3

    def test_the_same_line_rounds_differently_per_currency(self) -> None:
        priced = line("3", "0.3335")  # 1.0005
        assert priced.total("CNY") == Decimal("1.00")
        assert priced.total("JPY") == Decimal("1")
        assert priced.total("KWD") == Decimal("1.001")

    def test_a_long_product_is_rounded_once_not_twice(self) -> None:
        # Exactly 4899894995200.104999999999999_9: 29 significant digits, one more than the
        # default decimal context keeps. Rounding the product to 28 digits first would make it
        # ...200.105 and the half-up rounding would then give ...200.11.
        priced = line("99999.9999", "48998998.999999", "0.0001")
        exact = Fraction("99999.9999") * Fraction("48998998.999999") * Fraction("0.999999")
        assert half_up(exact, 2) == Decimal("4899894995200.10")
        assert priced.total("CNY") == Decimal("4899894995200.10")

    @settings(max_examples=300, deadline=None)
    @given(
        quantity=st.decimals(
            min_value=Decimal("0.0001"), max_value=Decimal("999999999.9999"), places=4
        ),
        unit_price=st.decimals(min_value=0, max_value=Decimal("99999999.999999"), places=6),
        discount_pct=st.decimals(min_value=0, max_value=100, places=4),
        currency=st.sampled_from(["CNY", "JPY", "KWD"]),
    )
    def test_a_line_total_equals_exact_arithmetic_rounded_half_up_once(
        self, quantity: Decimal, unit_price: Decimal, discount_pct: Decimal, currency: str
    ) -> None:
        priced = line(str(quantity), str(unit_price), str(discount_pct))
        exact = Fraction(quantity) * Fraction(unit_price) * (100 - Fraction(discount_pct)) / 100
        assert priced.total(currency) == half_up(exact, CURRENCY_MINOR_UNITS[currency])


class TestDocumentTotals:
    def test_the_document_total_is_the_sum_of_the_rounded_lines(self) -> None:
        lines = [
            line("1", "0.005", sku="A"),
            line("1", "0.005", sku="B"),
            line("1", "0.005", sku="C"),
        ]
        # Each line prints as 0.01; rounding the unrounded sum (0.015) would give 0.02, which
        # is not what a customer adds up from the printed lines.
        assert [item.total("CNY") for item in lines] == [Decimal("0.01")] * 3
        assert document_total(lines, "CNY") == Decimal("0.03")

    def test_three_lines_whose_float_sum_drifts_add_up_exactly_in_decimal(self) -> None:
        lines = [line("1", "0.1", sku="A"), line("1", "0.2", sku="B"), line("1", "0.3", sku="C")]
        assert 0.1 + 0.2 + 0.3 == 0.6000000000000001  # the float sum drifts
        assert 0.1 + 0.2 + 0.3 != 0.6
        assert document_total(lines, "CNY") == Decimal("0.60")

    def test_three_lines_where_float_rounding_loses_a_cent_that_decimal_keeps(self) -> None:
        prices = ("1.005", "2.675", "1.115")
        lines = [line("1", price, sku=f"L{n}") for n, price in enumerate(prices)]
        # In binary floating point 1.005, 2.675 and 1.115 are each a hair below the half, so
        # rounding the floats per line loses a cent three times.
        float_total = sum(round(float(price), 2) for price in prices)
        assert round(float_total, 2) == 4.78
        assert [item.total("CNY") for item in lines] == [
            Decimal("1.01"),
            Decimal("2.68"),
            Decimal("1.12"),
        ]
        assert document_total(lines, "CNY") == Decimal("4.81")

    def test_a_jpy_document_adds_whole_yen(self) -> None:
        lines = [
            line("1", "100.5", sku="A"),
            line("1", "100.5", sku="B"),
            line("1", "100.4", sku="C"),
        ]
        assert document_total(lines, "JPY") == Decimal("302")

    def test_a_kwd_document_adds_whole_fils(self) -> None:
        lines = [line("3", "0.0335", sku="A"), line("1", "1.0004", sku="B")]  # 0.1005 and 1.0004
        assert document_total(lines, "KWD") == Decimal("1.101")

    def test_a_document_with_no_lines_totals_zero(self) -> None:
        assert document_total([], "CNY") == Decimal(0)


class TestMoney:
    def test_money_keeps_its_decimal_amount_exactly(self) -> None:
        money = Money(amount=Decimal("1234567.891"), currency="KWD")
        assert money.amount == Decimal("1234567.891")
        assert isinstance(money.amount, Decimal)

    def test_money_rounds_half_up_to_the_currency_minor_unit(self) -> None:
        assert Money(amount=Decimal("10.005"), currency="CNY").rounded().amount == Decimal("10.01")
        assert Money(amount=Decimal("10.5"), currency="JPY").rounded().amount == Decimal("11")
        assert Money(amount=Decimal("10.0005"), currency="KWD").rounded().amount == Decimal(
            "10.001"
        )

    def test_zero_is_an_amount(self) -> None:
        assert Money(amount=Decimal(0), currency="CNY").amount == 0

    @pytest.mark.parametrize("amount", ["-0.01", "-1"])
    def test_money_rejects_a_negative_amount(self, amount: str) -> None:
        with pytest.raises(ValidationError, match="negative"):
            Money(amount=Decimal(amount), currency="CNY")

    @pytest.mark.parametrize("amount", ["NaN", "sNaN", "Infinity", "-Infinity"])
    def test_money_rejects_nan_and_infinity(self, amount: str) -> None:
        with pytest.raises(ValidationError):
            Money(amount=Decimal(amount), currency="CNY")

    def test_money_rejects_an_amount_at_the_ceiling(self) -> None:
        with pytest.raises(ValidationError):
            Money(amount=MAX_AMOUNT, currency="CNY")

    def test_money_rejects_more_than_six_decimal_places(self) -> None:
        with pytest.raises(ValidationError):
            Money(amount=Decimal("1.0000001"), currency="CNY")

    @pytest.mark.parametrize("currency", ["XXX", "usd", "US", "USDT", "", "RMB"])
    def test_money_rejects_a_code_that_is_not_an_iso_4217_currency(self, currency: str) -> None:
        with pytest.raises(ValidationError):
            Money(amount=Decimal(1), currency=currency)

    @pytest.mark.parametrize("currency", ["CNY", "JPY", "KWD", "USD", "EUR"])
    def test_money_accepts_iso_4217_codes(self, currency: str) -> None:
        assert Money(amount=Decimal(1), currency=currency).currency == currency


class TestPercentage:
    @pytest.mark.parametrize("discount", ["0", "0.0001", "15", "99.9999", "100"])
    def test_a_discount_from_0_to_100_percent_is_accepted(self, discount: str) -> None:
        assert line("1", "10", discount).discount_pct == Decimal(discount)

    @pytest.mark.parametrize("discount", ["-0.0001", "-1", "100.0001", "101", "NaN", "Infinity"])
    def test_a_discount_outside_0_to_100_percent_is_rejected(self, discount: str) -> None:
        with pytest.raises(ValidationError):
            line("1", "10", discount)

    def test_a_line_rejects_a_zero_quantity_and_a_negative_price(self) -> None:
        with pytest.raises(ValidationError):
            line("0", "10")
        with pytest.raises(ValidationError):
            line("1", "-10")
