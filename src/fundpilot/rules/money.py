"""Money and percentages: Decimal only, two places, one rounding rule.

THE rounding rule of fundpilot is ROUND_HALF_EVEN ("banker's rounding") to the cent,
applied by `quantize`. Half-even does not drift upward over thousands of payments the
way half-up does, so sums of rounded payments stay close to sums of exact ones.
Splitting an amount across payers never rounds each part on its own: `allocate`
hands out whole cents so the parts add up to the amount exactly.

Rulebooks are TOML, whose floats are binary; an amount may be written as a string
("1250.00"), an integer, or a float only when its shortest decimal form has at most
two places, so nothing a person wrote is silently rounded.
"""

import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from math import floor
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

CENT = Decimal("0.01")
# Far above any pilot budget, and small enough that quantizing never overflows the
# default 28-digit Decimal context.
MAX_AMOUNT = Decimal("1000000000000")

_DECIMAL_TEXT = re.compile(r"-?\d+(\.\d+)?")


def quantize(d: Decimal) -> Decimal:
    """Round to the cent with ROUND_HALF_EVEN, the one rounding rule of the system."""
    return d.quantize(CENT, rounding=ROUND_HALF_EVEN)


def to_decimal(value: object) -> Decimal:
    """Read a number from TOML/JSON input without ever passing through a binary float.

    Accepts Decimal, int, plain decimal text ("1250.00") and floats, which are read
    through their shortest repr so 0.1 means Decimal("0.1"), not 0.1000000000000000055.
    """
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value.strip()):
            raise ValueError(f'{value!r} is not a number; write digits like "1250.00"')
        result = Decimal(value.strip())
    else:
        raise ValueError(f"must be a number, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError("must be a finite number")
    return result


def _has_at_most_two_places(d: Decimal) -> bool:
    return d == d.quantize(CENT)


def _money(value: object) -> Decimal:
    d = to_decimal(value)
    if d < 0:
        raise ValueError("must not be negative")
    if d >= MAX_AMOUNT:
        raise ValueError(f"must be less than {format_usd(MAX_AMOUNT)}")
    if not _has_at_most_two_places(d):
        raise ValueError(f"{d} has more than 2 decimal places")
    return d.quantize(CENT)


def _percent(value: object) -> Decimal:
    d = to_decimal(value)
    if not 0 <= d <= 100:
        raise ValueError(f"{d} is not a percentage between 0 and 100")
    if not _has_at_most_two_places(d):
        raise ValueError(f"{d} has more than 2 decimal places")
    return canonical_percent(d)


def canonical_percent(d: Decimal) -> Decimal:
    """One spelling per value (60, not 60.0 or 6E+1) so equal rulebooks hash equal."""
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return d.normalize()


class _Marker:
    """Tags an annotated type so readers (the rulebook diff) can tell what it holds."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


MONEY_MARK = _Marker("money")
PERCENT_MARK = _Marker("percent")

# A non-negative amount in USD with exactly two places, e.g. Decimal("1250.00").
Money = Annotated[Decimal, BeforeValidator(_money), MONEY_MARK]
# A share or rate in percent, 0–100, at most two places, e.g. Decimal("33.33").
Percent = Annotated[Decimal, BeforeValidator(_percent), PERCENT_MARK]


def _two_place_fraction(d: Decimal) -> Decimal:
    if not 0 < d < 1:
        raise ValueError(f"{d} must be between 0 and 1, e.g. 0.90")
    if not _has_at_most_two_places(d):
        raise ValueError(f"{d} has more than 2 decimal places")
    return d.quantize(CENT)


# A probability such as a confidence level, written 0.90.
Probability = Annotated[Decimal, BeforeValidator(to_decimal), AfterValidator(_two_place_fraction)]


def format_usd(amount: Decimal) -> str:
    """Show an amount to people: "$1,250.00", "-$12.50"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(quantize(amount)):,.2f}"


def allocate(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split `amount` in proportion to `weights`; the parts sum to `amount` exactly.

    Largest-remainder method in whole cents: every part first gets the cents its
    exact share covers, then the cents left over go one each to the parts with the
    largest fractional remainders, the earlier part winning a tie. Each part is
    therefore less than one cent from its exact share, and the same inputs always
    give the same split. A negative amount (a recoupment) splits as the mirror image
    of the positive one.
    """
    if not _has_at_most_two_places(amount):
        raise ValueError(f"cannot allocate {amount}: more than 2 decimal places")
    if not weights:
        raise ValueError("cannot allocate across no weights")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    total_weight = sum((Fraction(w) for w in weights), Fraction(0))
    if total_weight == 0:
        raise ValueError("weights must not all be zero")

    cents = int(amount.scaleb(2))
    sign, cents = (-1, -cents) if cents < 0 else (1, cents)
    exact = [cents * Fraction(w) / total_weight for w in weights]
    parts = [floor(e) for e in exact]
    leftover = cents - sum(parts)
    by_remainder = sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[:leftover]:
        parts[i] += 1
    return [Decimal(sign * p).scaleb(-2) for p in parts]
