from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from fundpilot.rules.money import (
    Money,
    Percent,
    Probability,
    allocate,
    canonical_percent,
    format_usd,
    quantize,
)

D = Decimal
money = TypeAdapter(Money)
percent = TypeAdapter(Percent)
probability = TypeAdapter(Probability)


def refusal(adapter: TypeAdapter[Decimal], value: object) -> str:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    [error] = caught.value.errors()
    return str(error["msg"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("0.125"), D("0.12")),
        (D("0.135"), D("0.14")),
        (D("2.675"), D("2.68")),
        (D("-0.125"), D("-0.12")),
        (D("1.005"), D("1.00")),
        (D("7"), D("7.00")),
    ],
)
def test_quantize_rounds_half_to_even(value: Decimal, expected: Decimal) -> None:
    assert str(quantize(value)) == str(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1250.00", "1250.00"),
        ("1250.5", "1250.50"),
        ("1250", "1250.00"),
        (" 99.99 ", "99.99"),
        (1250, "1250.00"),
        (1250.5, "1250.50"),
        (0.1, "0.10"),
        (D("3.100"), "3.10"),
        (0, "0.00"),
    ],
)
def test_money_reads_exact_amounts_as_two_place_decimals(value: object, expected: str) -> None:
    assert str(money.validate_python(value)) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.005", "Value error, 1.005 has more than 2 decimal places"),
        (1.005, "Value error, 1.005 has more than 2 decimal places"),
        ("-1.00", "Value error, must not be negative"),
        ("1,250.00", "Value error, '1,250.00' is not a number; write digits like \"1250.00\""),
        ("$900", "Value error, '$900' is not a number; write digits like \"1250.00\""),
        ("NaN", "Value error, 'NaN' is not a number; write digits like \"1250.00\""),
        (float("inf"), "Value error, must be a finite number"),
        (True, "Value error, must be a number, not true/false"),
        (None, "Value error, must be a number, not NoneType"),
        ("1000000000000", "Value error, must be less than $1,000,000,000,000.00"),
    ],
)
def test_money_refuses_anything_not_an_exact_amount(value: object, message: str) -> None:
    assert refusal(money, value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [(60, "60"), ("60.0", "60"), ("60.00", "60"), (33.33, "33.33"), ("12.50", "12.5"), (0, "0")],
)
def test_percent_has_one_spelling_per_value(value: object, expected: str) -> None:
    assert str(percent.validate_python(value)) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (101, "Value error, 101 is not a percentage between 0 and 100"),
        (-1, "Value error, -1 is not a percentage between 0 and 100"),
        ("12.345", "Value error, 12.345 has more than 2 decimal places"),
    ],
)
def test_percent_refuses_values_outside_0_to_100(value: object, message: str) -> None:
    assert refusal(percent, value) == message


def test_canonical_percent_keeps_decimals_without_trailing_zeros() -> None:
    assert str(canonical_percent(D("33.30"))) == "33.3"
    assert str(canonical_percent(D("1E+2"))) == "100"


def test_probability_is_stored_with_two_places() -> None:
    assert str(probability.validate_python(0.9)) == "0.90"
    assert str(probability.validate_python("0.95")) == "0.95"
    assert refusal(probability, 1) == "Value error, 1 must be between 0 and 1, e.g. 0.90"
    assert refusal(probability, 0.955) == "Value error, 0.955 has more than 2 decimal places"


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (D("1234.5"), "$1,234.50"),
        (D("0"), "$0.00"),
        (D("-12.5"), "-$12.50"),
        (D("2500000"), "$2,500,000.00"),
    ],
)
def test_format_usd(amount: Decimal, expected: str) -> None:
    assert format_usd(amount) == expected


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        ("100.00", ["1", "1", "1"], ["33.34", "33.33", "33.33"]),
        ("0.05", ["1", "1"], ["0.03", "0.02"]),
        ("0.02", ["1", "1", "1"], ["0.01", "0.01", "0.00"]),
        ("1.00", ["1", "2"], ["0.33", "0.67"]),
        ("1.00", ["0", "1", "1"], ["0.00", "0.50", "0.50"]),
        ("250000.00", ["60", "40"], ["150000.00", "100000.00"]),
        ("1000.00", ["50", "30", "20"], ["500.00", "300.00", "200.00"]),
        ("-100.00", ["1", "1", "1"], ["-33.34", "-33.33", "-33.33"]),
        ("0.00", ["1", "1"], ["0.00", "0.00"]),
    ],
)
def test_allocate_splits_cents_by_largest_remainder(
    amount: str, weights: list[str], expected: list[str]
) -> None:
    parts = allocate(D(amount), [D(w) for w in weights])
    assert [str(p) for p in parts] == expected


@pytest.mark.parametrize(
    ("amount", "weights", "message"),
    [
        (D("1.005"), [D(1)], "cannot allocate 1.005: more than 2 decimal places"),
        (D("1.00"), [], "cannot allocate across no weights"),
        (D("1.00"), [D(1), D(-1)], "weights must not be negative"),
        (D("1.00"), [D(0), D(0)], "weights must not all be zero"),
    ],
)
def test_allocate_refuses_impossible_splits(
    amount: Decimal, weights: list[Decimal], message: str
) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(") + "$"):
        allocate(amount, weights)


amounts = st.decimals(min_value=-(10**9), max_value=10**9, places=2)
weight_lists = st.lists(
    st.decimals(min_value=0, max_value=1000, places=2), min_size=1, max_size=12
).filter(lambda ws: any(w > 0 for w in ws))


@given(amount=amounts, weights=weight_lists)
def test_allocate_always_sums_exactly_and_stays_within_a_cent(
    amount: Decimal, weights: list[Decimal]
) -> None:
    parts = allocate(amount, weights)

    assert sum(parts, D(0)) == amount
    assert len(parts) == len(weights)
    total = sum(weights, D(0))
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(amount) * Fraction(weight) / Fraction(total)
        assert abs(Fraction(part) - exact) < Fraction(1, 100)
        assert part == part.quantize(D("0.01"))
    assert allocate(amount, weights) == parts


@given(amount=amounts, weights=weight_lists)
def test_allocate_of_a_recoupment_mirrors_the_payment(
    amount: Decimal, weights: list[Decimal]
) -> None:
    assert allocate(-amount, weights) == [-p for p in allocate(amount, weights)]
