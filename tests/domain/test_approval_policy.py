"""The approval route (审批流程) a versioned policy decides at submission, around every
threshold of DESIGN §2.3: a sales manager always; finance for any line discount above 15 %
or a total above 100,000; a director for a total above 500,000. Totals are in the policy's
currency (CNY by default) or in one it names; an order in any other goes to every node."""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal

import pytest

from domain.approval import DEFAULT_APPROVAL_POLICY, ApprovalNode, ApprovalPolicy, TotalThresholds
from domain.lines import PricedLine, document_total

SM, FIN, DIR = ApprovalNode.SALES_MANAGER, ApprovalNode.FINANCE, ApprovalNode.DIRECTOR
MANAGER_REASON = "every order is approved by a sales manager"
DISCOUNTED_SKU = "DISC-1"


def lines_totalling(total: str, discount_pct: str | None = None) -> tuple[PricedLine, ...]:
    """Lines adding up to exactly ``total``; with ``discount_pct``, one of them (list price
    100.00) carries that discount."""
    lines: list[PricedLine] = []
    rest = Decimal(total)
    if discount_pct is not None:
        discounted = PricedLine(
            sku=DISCOUNTED_SKU,
            name="Discounted part",
            quantity=Decimal(1),
            unit_price=Decimal(100),
            discount_pct=Decimal(discount_pct),
        )
        lines.append(discounted)
        rest -= discounted.total("CNY")
    lines.append(PricedLine(sku="MAIN-1", name="Main item", quantity=Decimal(1), unit_price=rest))
    assert document_total(lines, "CNY") == Decimal(total)
    return tuple(lines)


def discount_reason(pct: str) -> str:
    return f"line {DISCOUNTED_SKU} discount {pct} % is above 15 %"


def finance_total_reason(total: str) -> str:
    return f"total {total} is above 100000"


def director_reason(total: str) -> str:
    return f"total {total} is above 500000"


# (total, discount of one line or None, expected nodes, expected reasons after the manager's)
ROUTES: list[tuple[str, str | None, tuple[ApprovalNode, ...], tuple[str, ...]]] = [
    # totals alone, no discount
    ("1000.00", None, (SM,), ()),
    ("99999.99", None, (SM,), ()),
    ("100000.00", None, (SM,), ()),
    ("100000.01", None, (SM, FIN), (finance_total_reason("100000.01"),)),
    ("500000.00", None, (SM, FIN), (finance_total_reason("500000.00"),)),
    (
        "500000.01",
        None,
        (SM, FIN, DIR),
        (finance_total_reason("500000.01"), director_reason("500000.01")),
    ),
    # discounts at and just above 15 %, on small totals
    ("1000.00", "0", (SM,), ()),
    ("1000.00", "15", (SM,), ()),
    ("1000.00", "15.01", (SM, FIN), (discount_reason("15.01"),)),
    ("1000.00", "100", (SM, FIN), (discount_reason("100"),)),
    # discounts combined with totals around each threshold
    ("99999.99", "15", (SM,), ()),
    ("99999.99", "15.01", (SM, FIN), (discount_reason("15.01"),)),
    ("100000.00", "15", (SM,), ()),
    ("100000.00", "15.01", (SM, FIN), (discount_reason("15.01"),)),
    ("100000.01", "15", (SM, FIN), (finance_total_reason("100000.01"),)),
    (
        "100000.01",
        "15.01",
        (SM, FIN),
        (discount_reason("15.01"), finance_total_reason("100000.01")),
    ),
    ("500000.00", "15", (SM, FIN), (finance_total_reason("500000.00"),)),
    (
        "500000.00",
        "15.01",
        (SM, FIN),
        (discount_reason("15.01"), finance_total_reason("500000.00")),
    ),
    (
        "500000.01",
        "15",
        (SM, FIN, DIR),
        (finance_total_reason("500000.01"), director_reason("500000.01")),
    ),
    (
        "500000.01",
        "15.01",
        (SM, FIN, DIR),
        (
            discount_reason("15.01"),
            finance_total_reason("500000.01"),
            director_reason("500000.01"),
        ),
    ),
]


@pytest.mark.parametrize(
    ("total", "discount_pct", "nodes", "reasons"),
    ROUTES,
    ids=[f"{total}-discount-{pct}" for total, pct, _, _ in ROUTES],
)
def test_the_default_policy_routes_by_total_and_line_discount(
    total: str,
    discount_pct: str | None,
    nodes: tuple[ApprovalNode, ...],
    reasons: tuple[str, ...],
) -> None:
    route = DEFAULT_APPROVAL_POLICY.route(
        lines_totalling(total, discount_pct), Decimal(total), "CNY"
    )
    assert route.nodes == nodes
    assert route.reasons == (MANAGER_REASON, *reasons)
    assert route.policy_version == "2026.2"


def test_finance_is_on_the_route_once_however_many_reasons_send_the_order_there() -> None:
    lines = (
        PricedLine(
            sku="A",
            name="A",
            quantity=Decimal(1),
            unit_price=Decimal(90000),
            discount_pct=Decimal(20),
        ),
        PricedLine(
            sku="B",
            name="B",
            quantity=Decimal(1),
            unit_price=Decimal(90000),
            discount_pct=Decimal(30),
        ),
    )
    total = document_total(lines, "CNY")  # 72,000 + 63,000 = 135,000.00
    route = DEFAULT_APPROVAL_POLICY.route(lines, total, "CNY")
    assert route.nodes == (SM, FIN)
    assert route.reasons == (
        MANAGER_REASON,
        "line A discount 20 % is above 15 %",
        "line B discount 30 % is above 15 %",
        "total 135000.00 is above 100000",
    )


def test_the_default_thresholds_are_those_of_the_design() -> None:
    assert ApprovalPolicy() == DEFAULT_APPROVAL_POLICY
    assert (
        DEFAULT_APPROVAL_POLICY.finance_discount_above,
        DEFAULT_APPROVAL_POLICY.finance_total_above,
        DEFAULT_APPROVAL_POLICY.director_total_above,
    ) == (Decimal(15), Decimal(100_000), Decimal(500_000))


CUSTOM = ApprovalPolicy(
    version="2027.2",
    finance_discount_above=Decimal(5),
    finance_total_above=Decimal(10_000),
    director_total_above=Decimal(50_000),
)


@pytest.mark.parametrize(
    ("total", "discount_pct", "default_nodes", "custom_nodes"),
    [
        ("9999.99", None, (SM,), (SM,)),
        ("1000.00", "5", (SM,), (SM,)),
        ("1000.00", "5.01", (SM,), (SM, FIN)),
        ("10000.01", None, (SM,), (SM, FIN)),
        ("50000.01", None, (SM,), (SM, FIN, DIR)),
        ("100000.01", None, (SM, FIN), (SM, FIN, DIR)),
    ],
)
def test_a_custom_policy_routes_by_its_own_thresholds(
    total: str,
    discount_pct: str | None,
    default_nodes: tuple[ApprovalNode, ...],
    custom_nodes: tuple[ApprovalNode, ...],
) -> None:
    lines = lines_totalling(total, discount_pct)
    assert DEFAULT_APPROVAL_POLICY.route(lines, Decimal(total), "CNY").nodes == default_nodes
    assert CUSTOM.route(lines, Decimal(total), "CNY").nodes == custom_nodes


def test_a_custom_policy_records_its_version_and_names_its_thresholds_in_the_reasons() -> None:
    route = CUSTOM.route(lines_totalling("60000.00", "7.5"), Decimal("60000.00"), "CNY")
    assert route.policy_version == "2027.2"
    assert route.nodes == (SM, FIN, DIR)
    assert route.reasons == (
        MANAGER_REASON,
        f"line {DISCOUNTED_SKU} discount 7.5 % is above 5 %",
        "total 60000.00 is above 10000",
        "total 60000.00 is above 50000",
    )


def test_a_policy_whose_director_threshold_is_below_finance_is_refused() -> None:
    with pytest.raises(ValueError, match="director_total_above must not be below"):
        ApprovalPolicy(finance_total_above=Decimal(500_000), director_total_above=Decimal(100_000))


USD_TOO = ApprovalPolicy(
    version="2027.1",
    other_currencies={
        "USD": TotalThresholds(
            finance_total_above=Decimal(14_000), director_total_above=Decimal(70_000)
        )
    },
)


@pytest.mark.parametrize("currency", ["USD", "JPY", "EUR"])
@pytest.mark.parametrize("total", ["1.00", "99999.99", "600000.00"])
def test_an_order_in_a_currency_the_policy_has_no_totals_for_goes_to_every_node(
    currency: str, total: str
) -> None:
    """Its total cannot be weighed against thresholds in yuan: 99,000 USD once needed only
    a sales manager."""
    route = DEFAULT_APPROVAL_POLICY.route(lines_totalling(total), Decimal(total), currency)
    assert route.nodes == (SM, FIN, DIR)
    assert route.reasons == (
        MANAGER_REASON,
        f"policy 2026.2 sets no total thresholds in {currency}: finance approves",
        f"policy 2026.2 sets no total thresholds in {currency}: a director approves",
    )


def test_a_discount_reason_comes_first_when_the_currency_has_no_totals() -> None:
    route = DEFAULT_APPROVAL_POLICY.route(lines_totalling("1000.00", "20"), Decimal(1000), "USD")
    assert route.nodes == (SM, FIN, DIR)
    assert route.reasons[1:] == (
        discount_reason("20"),
        "policy 2026.2 sets no total thresholds in USD: finance approves",
        "policy 2026.2 sets no total thresholds in USD: a director approves",
    )


@pytest.mark.parametrize(
    ("total", "usd_nodes", "cny_nodes"),
    [
        ("14000.00", (SM,), (SM,)),
        ("14000.01", (SM, FIN), (SM,)),
        ("70000.01", (SM, FIN, DIR), (SM,)),
        ("100000.01", (SM, FIN, DIR), (SM, FIN)),
    ],
)
def test_a_policy_routes_each_currency_it_names_by_that_currencys_totals(
    total: str, usd_nodes: tuple[ApprovalNode, ...], cny_nodes: tuple[ApprovalNode, ...]
) -> None:
    lines = lines_totalling(total)
    assert USD_TOO.route(lines, Decimal(total), "USD").nodes == usd_nodes
    assert USD_TOO.route(lines, Decimal(total), "CNY").nodes == cny_nodes
    if usd_nodes[1:2] == (FIN,):
        assert (
            f"total {total} is above 14000" in USD_TOO.route(lines, Decimal(total), "USD").reasons
        )


def test_a_policy_may_keep_its_totals_in_another_currency() -> None:
    in_euros = ApprovalPolicy(
        currency="EUR", finance_total_above=Decimal(12_000), director_total_above=Decimal(60_000)
    )
    lines = lines_totalling("12000.01")
    assert in_euros.route(lines, Decimal("12000.01"), "EUR").nodes == (SM, FIN)
    assert in_euros.route(lines, Decimal("12000.01"), "CNY").nodes == (SM, FIN, DIR)


def test_other_currencies_must_not_name_the_policys_own_currency_nor_invert_a_threshold() -> None:
    with pytest.raises(ValueError, match="must not name CNY, the policy's own currency"):
        ApprovalPolicy(
            other_currencies={
                "CNY": TotalThresholds(
                    finance_total_above=Decimal(1), director_total_above=Decimal(2)
                )
            }
        )
    with pytest.raises(ValueError, match="director_total_above must not be below"):
        TotalThresholds(finance_total_above=Decimal(2), director_total_above=Decimal(1))
    with pytest.raises(ValueError, match="'usd' is not an ISO 4217 currency code"):
        ApprovalPolicy(other_currencies={"usd": USD_TOO.other_currencies["USD"]})


def test_a_policy_with_other_currencies_is_a_hashable_value() -> None:
    """Settings are values: equal policies are equal and hash alike, however built."""
    from_dicts = ApprovalPolicy.model_validate(
        {
            "version": "2027.1",
            "other_currencies": {
                "USD": {"finance_total_above": "14000", "director_total_above": "70000"}
            },
        }
    )
    assert from_dicts == USD_TOO and hash(from_dicts) == hash(USD_TOO)
    assert hash(DEFAULT_APPROVAL_POLICY) == hash(ApprovalPolicy())
    assert ApprovalPolicy.model_validate_json(USD_TOO.model_dump_json()) == USD_TOO
    assert copy.deepcopy(USD_TOO) == USD_TOO == pickle.loads(pickle.dumps(USD_TOO))  # noqa: S301


def test_a_policys_other_currencies_cannot_change_in_place() -> None:
    """Frozen all through: otherwise it would route otherwise under the same version (and
    the default policy's mapping is shared by every CRM of the process)."""
    for policy in (USD_TOO, DEFAULT_APPROVAL_POLICY):
        with pytest.raises(TypeError):
            policy.other_currencies["EUR"] = USD_TOO.other_currencies["USD"]  # type: ignore[index]
    assert DEFAULT_APPROVAL_POLICY.totals_in("EUR") is None
