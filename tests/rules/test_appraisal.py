import math
import random
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from fundpilot.rules.appraisal import Appraisal, StratumSample, appraise
from fundpilot.rules.rulebook import SampleDesign, Sided

D = Decimal
SIMPLE, STRATIFIED = SampleDesign.SIMPLE, SampleDesign.STRATIFIED


@dataclass
class Expected:
    estimate: float
    se: float
    critical: float | None
    lower: float
    upper: float | None


def reference(
    samples: list[StratumSample], stratified: bool, confidence: float, sided: Sided
) -> Expected:
    """The textbook formulas in floats, with scipy's quantiles: an independent oracle."""
    estimate, variance = 0.0, 0.0
    for s in samples:
        d = np.array([float(x) for x in s.differences])
        estimate += s.population * d.mean()
        if len(d) > 1:
            variance += s.population**2 * (1 - len(d) / s.population) * d.var(ddof=1) / len(d)
    se = math.sqrt(variance)
    level = (1 + confidence) / 2 if sided is Sided.TWO else confidence
    n = sum(len(s.differences) for s in samples)
    if stratified:
        critical: float | None = stats.norm.ppf(level)
    else:
        critical = stats.t.ppf(level, n - 1) if n > 1 else None
    half = (critical or 0.0) * se
    upper = estimate + half if sided is Sided.TWO else None
    return Expected(estimate, se, critical, estimate - half, upper)


def assert_money(got: Decimal | None, expected: float | None) -> None:
    """Right to the cent: the float oracle may land either side of a half cent."""
    assert got is not None and expected is not None
    assert got == got.quantize(D("0.01"))
    assert abs(float(got) - expected) <= 0.005 + 1e-9 * abs(expected), (got, expected)


def assert_matches(result: Appraisal, expected: Expected) -> None:
    assert_money(result.point_estimate, expected.estimate)
    assert_money(result.standard_error, expected.se)
    assert_money(result.lower, expected.lower)
    assert_money(result.precision, expected.estimate - expected.lower)
    assert_money(result.recovery, max(0.0, expected.lower))
    if expected.upper is None:
        assert result.upper is None
    else:
        assert_money(result.upper, expected.upper)
    if expected.critical is None:
        assert result.critical_value is None
    else:
        assert result.critical_value is not None
        assert float(result.critical_value) == pytest.approx(expected.critical, rel=1e-9)


def differences(seed: int, count: int, share_failed: float) -> tuple[Decimal, ...]:
    """A sample where `share_failed` of the claims were (partly) unsupported."""
    rng = random.Random(seed)
    return tuple(
        D(rng.randint(1, 150_000)).scaleb(-2) if rng.random() < share_failed else D("0.00")
        for _ in range(count)
    )


UNRESTRICTED = [StratumSample("", 1000, differences(1, 30, 0.3))]
STRATA = [
    StratumSample("M1|riverside", 500, differences(2, 20, 0.25)),
    StratumSample("M1|oak", 200, differences(3, 10, 0.5)),
    StratumSample("M2|oak", 50, differences(4, 5, 0.6)),
]


@pytest.mark.parametrize("sided", [Sided.TWO, Sided.ONE])
def test_an_unrestricted_sample_extrapolates_with_student_t(sided: Sided) -> None:
    # given 30 claims sampled from 1,000
    # when they are appraised at 90%
    result = appraise(UNRESTRICTED, design=SIMPLE, confidence=D("0.90"), sided=sided)
    # then every figure matches the textbook formulas with t on 29 degrees of freedom
    assert_matches(result, reference(UNRESTRICTED, False, 0.90, sided))
    assert (result.critical_kind, result.degrees_of_freedom) == ("t", 29)
    assert (result.population, result.sample) == (1000, 30)
    assert result.sample_overpayment == sum(UNRESTRICTED[0].differences)
    assert result.warnings == ()


def test_the_unrestricted_figures_follow_the_rat_stats_spelling() -> None:
    # given the same sample, with SE written as N·sqrt((1 − n/N)·s²/n)
    d = [float(x) for x in UNRESTRICTED[0].differences]
    se = 1000 * math.sqrt((1 - 30 / 1000) * np.var(d, ddof=1) / 30)
    result = appraise(UNRESTRICTED, design=SIMPLE)
    # then the standard error, the stratum row and the precision percentage agree
    assert_money(result.standard_error, se)
    [row] = result.strata
    assert_money(row.mean, float(np.mean(d)))
    assert_money(row.sd, float(np.std(d, ddof=1)))
    assert row.estimate == result.point_estimate
    half = stats.t.ppf(0.95, 29) * se
    assert result.precision_percent is not None
    assert float(result.precision_percent) == pytest.approx(
        100 * half / (1000 * np.mean(d)), abs=0.005
    )


@pytest.mark.parametrize("sided", [Sided.TWO, Sided.ONE])
def test_a_stratified_sample_extrapolates_with_z(sided: Sided) -> None:
    result = appraise(STRATA, design=STRATIFIED, confidence=D("0.95"), sided=sided)
    assert_matches(result, reference(STRATA, True, 0.95, sided))
    assert (result.critical_kind, result.degrees_of_freedom) == ("z", None)
    assert [(r.stratum, r.population, r.sample) for r in result.strata] == [
        ("M1|riverside", 500, 20),
        ("M1|oak", 200, 10),
        ("M2|oak", 50, 5),
    ]
    for row, sample in zip(result.strata, STRATA, strict=True):
        assert_money(row.estimate, sample.population * float(np.mean(sample.differences)))


def test_one_sided_limits_are_tighter_and_have_no_upper_limit() -> None:
    two = appraise(UNRESTRICTED, design=SIMPLE, sided=Sided.TWO)
    one = appraise(UNRESTRICTED, design=SIMPLE, sided=Sided.ONE)
    assert one.upper is None and two.upper is not None
    # t(0.90) < t(0.95): the one-sided 90% lower limit sits above the two-sided one
    assert two.lower < one.lower < one.point_estimate == two.point_estimate


def test_a_stratum_of_one_claim_is_a_census() -> None:
    # given a stratum holding a single claim, which was audited
    samples = [*STRATA, StratumSample("M3|oak", 1, (D("812.40"),))]
    result = appraise(samples, design=STRATIFIED)
    # then it adds its difference exactly, no variance, and no warning
    assert_matches(result, reference(samples, True, 0.90, Sided.TWO))
    assert result.strata[-1].estimate == D("812.40")
    assert result.warnings == ()


def test_a_stratum_sampled_once_out_of_many_adds_no_variance_and_warns() -> None:
    # given one claim audited out of 80 in a stratum
    samples = [*STRATA, StratumSample("M3|oak", 80, (D("100.00"),))]
    result = appraise(samples, design=STRATIFIED)
    # then it adds 80 × 100.00 to the estimate and nothing to the variance
    assert_matches(result, reference(samples, True, 0.90, Sided.TWO))
    assert result.strata[-1].estimate == D("8000.00")
    assert result.standard_error == appraise(STRATA, design=STRATIFIED).standard_error
    # and the result says so
    [warning] = result.warnings
    assert warning.startswith("stratum 'M3|oak': 1 claim sampled out of 80")


def test_an_unrestricted_sample_of_one_has_no_t_and_warns() -> None:
    result = appraise([StratumSample("", 40, (D("25.00"),))], design=SIMPLE)
    assert result.point_estimate == result.lower == result.upper == D("1000.00")
    assert (result.standard_error, result.critical_value) == (D("0.00"), None)
    [warning] = result.warnings
    assert warning.startswith("1 claim sampled out of 40")


def test_a_zero_variance_stratum_adds_its_estimate_but_no_variance() -> None:
    samples = [*STRATA, StratumSample("M3|oak", 40, (D("25.00"),) * 5)]
    result = appraise(samples, design=STRATIFIED)
    assert_matches(result, reference(samples, True, 0.90, Sided.TWO))
    assert result.strata[-1].sd == D("0.00")
    assert result.standard_error == appraise(STRATA, design=STRATIFIED).standard_error


def test_a_clean_sample_extrapolates_to_nothing() -> None:
    # given 30 audited claims, all fully supported
    result = appraise([StratumSample("", 1000, (D("0.00"),) * 30)], design=SIMPLE)
    # then nothing is estimated or recovered, and there is no percentage of nothing
    assert result.point_estimate == result.lower == result.upper == result.recovery == D("0.00")
    assert str(result.recovery) == "0.00"
    assert result.precision_percent is None


def test_a_census_has_no_sampling_error() -> None:
    # given every one of 12 claims audited
    sample = [StratumSample("", 12, differences(5, 12, 0.5))]
    result = appraise(sample, design=SIMPLE)
    # then the estimate is the total found, exactly, and both limits equal it
    total = sum(sample[0].differences)
    assert result.point_estimate == result.lower == result.upper == result.recovery == total
    assert (result.standard_error, result.degrees_of_freedom) == (D("0.00"), 11)


def test_a_lower_limit_below_zero_recovers_nothing() -> None:
    # given one large failure among 30 clean claims: the interval straddles zero
    sample = [StratumSample("", 5000, (D("900.00"),) + (D("0.00"),) * 29)]
    result = appraise(sample, design=SIMPLE)
    assert_matches(result, reference(sample, False, 0.90, Sided.TWO))
    assert result.lower < 0
    assert result.recovery == D("0.00")


def test_an_empty_stratum_is_allowed_and_adds_nothing() -> None:
    samples = [*STRATA, StratumSample("M4|oak", 0, ())]
    result = appraise(samples, design=STRATIFIED)
    assert result.point_estimate == appraise(STRATA, design=STRATIFIED).point_estimate
    assert result.strata[-1].estimate == D("0.00")


@pytest.mark.parametrize(
    ("samples", "design", "confidence", "message"),
    [
        ([], SIMPLE, D("0.9"), "nothing to appraise: no strata given"),
        ([StratumSample("", 0, ())], SIMPLE, D("0.9"), "no claims were sampled"),
        ([StratumSample("", 2, (D(1),) * 3)], SIMPLE, D("0.9"), "3 claims sampled from a popul"),
        ([StratumSample("a", 9, ())], STRATIFIED, D("0.9"), "'a': no claims sampled from a"),
        ([StratumSample("", 9, (D(-1),))], SIMPLE, D("0.9"), "must be a finite amount ≥ 0"),
        ([StratumSample("", 9, (D("NaN"),))], SIMPLE, D("0.9"), "must be a finite amount ≥ 0"),
        ([StratumSample("", -1, ())], SIMPLE, D("0.9"), "population -1 is negative"),
        (STRATA, SIMPLE, D("0.9"), "a simple design has exactly one stratum, got 3"),
        ([STRATA[0], STRATA[0]], STRATIFIED, D("0.9"), "each stratum may appear only once"),
        (UNRESTRICTED, SIMPLE, D("0"), "confidence must be strictly between 0 and 1"),
        (UNRESTRICTED, SIMPLE, D("1"), "confidence must be strictly between 0 and 1"),
        (UNRESTRICTED, SIMPLE, D("90"), "confidence must be strictly between 0 and 1"),
    ],
)
def test_it_refuses_what_cannot_be_appraised(
    samples: list[StratumSample], design: SampleDesign, confidence: Decimal, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        appraise(samples, design=design, confidence=confidence)


amounts = st.decimals(min_value=0, max_value=100_000, places=2)


@st.composite
def stratum_samples(draw: st.DrawFn) -> list[StratumSample]:
    count = draw(st.integers(min_value=1, max_value=4))
    result = []
    for h in range(count):
        d = tuple(draw(st.lists(amounts, min_size=1, max_size=12)))
        population = len(d) + draw(st.integers(min_value=0, max_value=5000))
        result.append(StratumSample(f"s{h}", population, d))
    return result


@given(
    samples=stratum_samples(),
    confidence=st.sampled_from([D("0.80"), D("0.90"), D("0.95"), D("0.99")]),
    sided=st.sampled_from(Sided),
)
def test_the_limits_bracket_the_estimate_and_recovery_never_exceeds_it(
    samples: list[StratumSample], confidence: Decimal, sided: Sided
) -> None:
    design = SIMPLE if len(samples) == 1 else STRATIFIED
    result = appraise(samples, design=design, confidence=confidence, sided=sided)
    assert D(0) <= result.recovery <= result.point_estimate
    assert result.lower <= result.point_estimate
    assert result.upper is None or result.point_estimate <= result.upper
    assert result.point_estimate <= result.population * max(max(s.differences) for s in samples)
