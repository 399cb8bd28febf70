import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from fundpilot.rules.student_t import t_quantile, z_quantile

DEGREES = [1, 2, 3, 5, 10, 29, 30, 100, 1000, 10_000]
LEVELS = [0.5, 0.8, 0.9, 0.95, 0.975, 0.995]


@pytest.mark.parametrize("df", DEGREES)
@pytest.mark.parametrize("p", LEVELS)
def test_t_quantiles_match_scipy_on_both_sides(p: float, df: int) -> None:
    # given the levels confidence limits use, and their mirror images below ½
    # when the quantile is computed without scipy
    upper, lower = t_quantile(p, df), t_quantile(1 - p, df)
    # then both agree with scipy to 1e-9 relative
    assert upper == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=0)
    assert lower == pytest.approx(stats.t.ppf(1 - p, df), rel=1e-9, abs=0)


@pytest.mark.parametrize("p", LEVELS)
def test_z_quantiles_match_scipy(p: float) -> None:
    assert z_quantile(p) == pytest.approx(stats.norm.ppf(p), rel=1e-12, abs=1e-15)
    assert z_quantile(1 - p) == pytest.approx(stats.norm.ppf(1 - p), rel=1e-12, abs=1e-15)


@given(
    p=st.floats(min_value=1e-12, max_value=1 - 1e-12).filter(lambda p: abs(p - 0.5) > 1e-6),
    df=st.integers(min_value=1, max_value=10_000),
)
def test_t_quantiles_match_scipy_anywhere_away_from_the_centre(p: float, df: int) -> None:
    # scipy itself loses digits within 1e-6 of ½; the next test covers that region
    assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9)


@pytest.mark.parametrize("df", [3, 7, 30])
@pytest.mark.parametrize("offset", [1e-15, 1e-12, 1e-7])
def test_next_to_the_median_the_quantile_is_the_offset_over_the_density(
    df: int, offset: float
) -> None:
    # given p a hair above ½, where t(p) = (p − ½)/f(0) up to a relative O(t²)
    p = 0.5 + offset
    density_at_zero = math.exp(
        math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    )
    # then the quantile keeps full relative precision
    assert t_quantile(p, df) == pytest.approx((p - 0.5) / density_at_zero, rel=1e-9)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 10, 10_000])
@pytest.mark.parametrize("p", [1e-300, 1e-100, 1e-20])
def test_far_tails_invert_the_cdf(p: float, df: int) -> None:
    # given a tail probability too small for scipy's ppf to return a finite number
    # when it is inverted
    t = t_quantile(p, df)
    # then scipy's own cdf gives the probability back
    assert stats.t.cdf(t, df) == pytest.approx(p, rel=1e-9)


def test_the_median_is_zero_and_the_distribution_is_symmetric() -> None:
    assert t_quantile(0.5, 7) == 0.0
    # 1 − 0.75 is exactly 0.25, so the two calls ask for mirror-image tails
    assert t_quantile(0.25, 7) == -t_quantile(0.75, 7)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_it_refuses_a_probability_outside_the_open_unit_interval(p: float) -> None:
    with pytest.raises(ValueError, match="probability must be strictly between 0 and 1"):
        t_quantile(p, 5)
    with pytest.raises(ValueError, match="probability must be strictly between 0 and 1"):
        z_quantile(p)


@pytest.mark.parametrize("df", [0, -3, True])
def test_it_refuses_degrees_of_freedom_below_one(df: int) -> None:
    with pytest.raises(ValueError, match="degrees of freedom must be a whole number ≥ 1"):
        t_quantile(0.9, df)
