"""Value types shared by events and commands: money, bounded text, contact points.

Limits live in the types, not in each command, so that a 1 MB "name" or a control
character is rejected the same way everywhere, by pydantic, before any rule runs.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from domain.time import plausible_date, refuse_number_as_date

# ISO 4217 active codes with their minor units (number of decimal places).
CURRENCY_MINOR_UNITS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
    "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2,
    "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2,
    "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0,
    "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2,
    "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2,
    "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0,
    "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0,
    "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3,
    "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2,
    "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2,
    "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2,
    "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2,
    "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2,
    "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2,
    "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "UZS": 2, "VES": 2, "VND": 0,
    "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2,
    "ZWG": 2,
}  # fmt: skip

# Large enough for any real deal, small enough that arithmetic never overflows a NUMERIC column.
MAX_AMOUNT = Decimal("1e13")


# Refused in text: Unicode's control characters (category Cc: U+0000-U+001F, U+007F-U+009F)
# but tab and line breaks, lone surrogates (Cs: U+D800-U+DFFF), and the bidirectional
# overrides and isolates that make text display in another order than it is stored
# ("Trojan Source"). One compiled class: every text field of every event read is checked.
_FORBIDDEN_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]"
)


def _reject_control_characters(text: str) -> str:
    """Control characters break CSV exports and terminals; tab and line breaks are ordinary."""
    found = _FORBIDDEN_CHARACTERS.search(text)
    if found is not None:
        raise ValueError(f"contains control character U+{ord(found.group()):04X}")
    return text


def _check_currency(code: str) -> str:
    if code not in CURRENCY_MINOR_UNITS:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,30}$")


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("is not an e-mail address")
    return value.lower()


def _check_phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("is not a phone number (digits, spaces, + ( ) . / - only)")
    return value


DIGIT_SEPARATOR = "a number is written plainly, without digit separators"


def refuse_digit_separators(value: object) -> object:
    """Python's ``Decimal`` reads "1_000" as 1000, and pydantic with it; nobody writes a
    number so but by mistake (a format says "no thousands separator"): refused."""
    if isinstance(value, str) and "_" in value:
        raise ValueError(DIGIT_SEPARATOR)
    return value


def _check_amount(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if value < 0:
        raise ValueError("must not be negative")
    if value >= MAX_AMOUNT:
        raise ValueError(f"must be below {MAX_AMOUNT:,.0f}")
    return abs(value) if value.is_zero() else value  # -0 is 0


def _strict(max_length: int, min_length: int = 1) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


Name = Annotated[str, _strict(200), AfterValidator(_reject_control_characters)]
ShortText = Annotated[str, _strict(100), AfterValidator(_reject_control_characters)]
LongText = Annotated[str, _strict(4000), AfterValidator(_reject_control_characters)]
Code = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(_reject_control_characters),
    AfterValidator(_check_email),
]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=32), AfterValidator(_check_phone)
]
CurrencyCode = Annotated[
    str, StringConstraints(min_length=3, max_length=3), AfterValidator(_check_currency)
]
Amount = Annotated[
    Decimal,
    Field(allow_inf_nan=False, max_digits=20, decimal_places=6),
    BeforeValidator(refuse_digit_separators),
    AfterValidator(_check_amount),
]
PlausibleDate = Annotated[
    date, BeforeValidator(refuse_number_as_date), AfterValidator(plausible_date)
]
Percentage = Annotated[
    Decimal,
    Field(ge=0, le=100, allow_inf_nan=False, max_digits=9, decimal_places=4),
    BeforeValidator(refuse_digit_separators),
]


class ValueObject(BaseModel):
    """Immutable, strict about unknown fields: typos in a payload are errors, not no-ops."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Money(ValueObject):
    """An amount in one currency. Never a float: a float sum of prices drifts."""

    amount: Amount
    currency: CurrencyCode

    def rounded(self) -> Self:
        """Round half-up once, to the currency's minor unit."""
        return type(self)(
            amount=round_to_minor_unit(self.amount, self.currency), currency=self.currency
        )


def round_to_minor_unit(amount: Decimal, currency: str) -> Decimal:
    exponent = Decimal(1).scaleb(-CURRENCY_MINOR_UNITS[currency])
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


PostalCode = Annotated[str, _strict(20), AfterValidator(_reject_control_characters)]


class Address(ValueObject):
    line1: Name
    line2: Name | None = None
    city: ShortText | None = None
    region: ShortText | None = None
    postal_code: Annotated[str, _strict(20), AfterValidator(_reject_control_characters)] | None = (
        None
    )
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


class ContactPoints(ValueObject):
    """Personal data: a later issue encrypts these per customer (crypto-shredding)."""

    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None
