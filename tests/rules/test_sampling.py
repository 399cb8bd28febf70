import hashlib
import json
import random
from collections import Counter
from decimal import Decimal

import pytest

from fundpilot.rules.rulebook import SampleDesign
from fundpilot.rules.sampling import Draw, StratumCount, Unit, draw, sample_size, universe_digest

D = Decimal
SIMPLE, STRATIFIED = SampleDesign.SIMPLE, SampleDesign.STRATIFIED


def universe(count: int, stratum: str = "", prefix: str = "claim") -> list[Unit]:
    return [Unit(f"{prefix}-{i:03}", stratum, D(f"{100 + i}.50")) for i in range(count)]


def strata(*sizes: int) -> list[Unit]:
    """Strata labelled a, b, c, … holding `sizes` units each."""
    return [
        unit
        for label, size in zip("abcdefgh", sizes, strict=False)
        for unit in universe(size, label, prefix=label)
    ]


def allocation(result: Draw) -> dict[str, int]:
    return {s.stratum: s.sample for s in result.strata}


def sha256_rank(seed: int, unit: Unit) -> int:
    text = f"{seed}:{unit.stratum}:{unit.key}".encode()
    return int.from_bytes(hashlib.sha256(text).digest(), "big")


@pytest.mark.parametrize(
    ("population", "size", "rate", "expected"),
    [
        (100, 10, None, 10),
        (5, 8, None, 5),  # capped at the population
        (30, None, D("10"), 3),  # exactly 3, not rounded up to 4
        (31, None, D("10"), 4),  # 3.1 rounds up
        (7, None, D("10"), 1),  # 0.7 rounds up to the minimum of one
        (1000, None, D("2.5"), 25),
        (3, None, D("0.01"), 1),
        (0, None, D("10"), 0),
        (0, 5, None, 0),
    ],
)
def test_sample_size_caps_a_size_and_rounds_a_rate_up(
    population: int, size: int | None, rate: Decimal | None, expected: int
) -> None:
    assert sample_size(population, size=size, rate=rate) == expected


def test_a_simple_draw_takes_the_units_with_the_smallest_sha256_ranks() -> None:
    # given 40 claims in one stratum
    units = universe(40)
    # when 6 are drawn with seed 2026
    result = draw(units, design=SIMPLE, size=6, rate=None, seed=2026)
    # then they are the 6 smallest ranks, recomputed here from the documented rule
    expected = sorted(units, key=lambda u: sha256_rank(2026, u))[:6]
    assert result.chosen == tuple(expected)
    assert result.strata == (StratumCount("", 40, 6),)
    assert (result.population, result.size, result.seed, result.design) == (40, 6, 2026, SIMPLE)


def test_the_order_the_units_come_in_does_not_change_the_draw() -> None:
    # given the same stratified universe listed in two different orders
    units = strata(30, 12, 5)
    shuffled = units.copy()
    random.Random(1).shuffle(shuffled)
    # when both are drawn with the same seed
    first = draw(units, design=STRATIFIED, size=None, rate=D("20"), seed=99)
    second = draw(shuffled, design=STRATIFIED, size=None, rate=D("20"), seed=99)
    # then the draws are identical, digest included
    assert first == second


def test_a_different_seed_draws_a_different_sample() -> None:
    # given 100 claims and 20 seeds
    units = universe(100)
    samples = {
        frozenset(u.key for u in draw(units, design=SIMPLE, size=10, rate=None, seed=s).chosen)
        for s in range(20)
    }
    # then no two seeds drew the same 10 (a clash has odds of about 1 in 10^11)
    assert len(samples) == 20


def test_the_chosen_units_come_stratum_by_stratum_in_rank_order() -> None:
    units = strata(10, 10)
    result = draw(units, design=STRATIFIED, size=6, rate=None, seed=5)
    labels = [u.stratum for u in result.chosen]
    assert labels == sorted(labels)
    for label in "ab":
        ranks = [sha256_rank(5, u) for u in result.chosen if u.stratum == label]
        assert ranks == sorted(ranks)


@pytest.mark.parametrize(
    ("sizes", "size", "expected"),
    [
        # n·N_h/N = 5, 3, 2 exactly: nothing left over
        ((50, 30, 20), 10, {"a": 5, "b": 3, "c": 2}),
        # quotas 2.1, 0.6, 0.3 → whole parts 2, 0, 0; the one unit left goes to the
        # largest remainder (b, 0.6) → 2, 1, 0; c is raised to its minimum of 1: total 4
        ((7, 2, 1), 3, {"a": 2, "b": 1, "c": 1}),
        # quotas 1.5, 1.5 → 1, 1; the leftover unit breaks the tie by label: a
        ((5, 5), 3, {"a": 2, "b": 1}),
        # quotas 0.6, 0.6, 0.6, 0.2 → 0 each; the 2 left go to a and b (tie by label);
        # c and d are raised to 1: the total grows from 2 to 4
        ((3, 3, 3, 1), 2, {"a": 1, "b": 1, "c": 1, "d": 1}),
        # a census: every stratum whole
        ((4, 2), 6, {"a": 4, "b": 2}),
        # quotas 4.9, 0.1 → 4, 0; the leftover to a (0.9) → 5, 0; b raised to 1, a stays ≤ N_a
        ((49, 1), 5, {"a": 5, "b": 1}),
    ],
)
def test_stratified_allocation_is_proportional_by_largest_remainder_with_one_each(
    sizes: tuple[int, ...], size: int, expected: dict[str, int]
) -> None:
    result = draw(strata(*sizes), design=STRATIFIED, size=size, rate=None, seed=1)
    assert allocation(result) == expected
    assert result.size == sum(expected.values())
    assert Counter(u.stratum for u in result.chosen) == Counter(expected)


def test_a_rate_applies_to_the_whole_universe_before_allocation() -> None:
    # given 7 + 2 + 1 claims and a 30% rate: n = ceil(3.0) = 3, as in the worked example
    result = draw(strata(7, 2, 1), design=STRATIFIED, size=None, rate=D("30"), seed=1)
    assert allocation(result) == {"a": 2, "b": 1, "c": 1}


def test_every_unit_is_equally_likely_to_be_drawn() -> None:
    # given 20 claims of which 5 are drawn, under 2,000 different seeds
    units = universe(20)
    seeds = 2000
    hits = Counter(
        u.key
        for seed in range(seeds)
        for u in draw(units, design=SIMPLE, size=5, rate=None, seed=seed).chosen
    )
    # then each claim is drawn about n/N = 1/4 of the time: 500 ± 100 is over 5 standard
    # deviations of Binomial(2000, 1/4) either way
    assert set(hits) == {u.key for u in units}
    assert all(400 <= count <= 600 for count in hits.values()), hits


def test_within_a_stratum_every_unit_is_equally_likely_to_be_drawn() -> None:
    # given strata of 12 and 4 claims with 4 drawn (3 + 1), under 2,000 seeds
    units = strata(12, 4)
    hits = Counter(
        u.key
        for seed in range(2000)
        for u in draw(units, design=STRATIFIED, size=4, rate=None, seed=seed).chosen
    )
    # then a's claims come up about 1/4 of the time (500) and b's also 1/4 (500)
    assert all(400 <= hits[u.key] <= 600 for u in units), hits


def test_the_universe_digest_is_sha256_of_the_canonical_sorted_universe() -> None:
    # given a universe in any order
    units = [Unit("b-2", "M1|riverside", D("12.5")), Unit("a-1", "M2|oak", D("300.00"))]
    # when its digest is recomputed from the documented encoding
    rows = [["a-1", "M2|oak", "300.00"], ["b-2", "M1|riverside", "12.50"]]
    encoded = json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()
    # then it matches, whatever the order and the amounts' spelling
    assert universe_digest(units) == hashlib.sha256(encoded).hexdigest()
    assert universe_digest(units[::-1]) == universe_digest(units)
    result = draw(units, design=STRATIFIED, size=1, rate=None, seed=0)
    assert result.universe_digest == universe_digest(units)
    # and any change to an amount changes it
    changed = [units[0], Unit("a-1", "M2|oak", D("300.01"))]
    assert universe_digest(changed) != universe_digest(units)


def test_an_empty_universe_draws_nothing() -> None:
    result = draw([], design=SIMPLE, size=5, rate=None, seed=3)
    assert (result.chosen, result.strata, result.population) == ((), (), 0)


@pytest.mark.parametrize(
    ("units", "design", "size", "rate", "seed", "message"),
    [
        (
            [Unit("c1", "", D("1.00")), Unit("c1", "", D("2.00"))],
            SIMPLE,
            1,
            None,
            0,
            "each unit needs its own key; repeated: c1",
        ),
        ([Unit("c1", "", D("-1.00"))], SIMPLE, 1, None, 0, "unit c1: amount -1.00 is negative"),
        ([Unit("c1", "", D("1.005"))], SIMPLE, 1, None, 0, "more than 2 decimal places"),
        (universe(3), SIMPLE, 1, None, -1, "seed must not be negative"),
        (universe(3), SIMPLE, None, None, 0, "give exactly one of a sample size or a"),
        (universe(3), SIMPLE, 1, D("5"), 0, "give exactly one of a sample size or a"),
        (universe(3), SIMPLE, 0, None, 0, "sample size must be at least 1"),
        (universe(3), SIMPLE, None, D("0"), 0, "sampling rate must be a percentage above 0"),
        (universe(3), SIMPLE, None, D("100.5"), 0, "sampling rate must be a percentage above 0"),
        (strata(2, 2), SIMPLE, 1, None, 0, "a simple design has one stratum"),
    ],
)
def test_it_refuses_a_bad_universe_or_design(
    units: list[Unit],
    design: SampleDesign,
    size: int | None,
    rate: Decimal | None,
    seed: int,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        draw(units, design=design, size=size, rate=rate, seed=seed)
