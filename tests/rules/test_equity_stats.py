import math
import random
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from fundpilot.rules.equity_stats import (
    ALL_ACCEPTED,
    NO_REFERRALS,
    NO_UNITS,
    NO_UPLOADS,
    NONE_ACCEPTED,
    ONE_RANK,
    ZERO_EXPECTED,
    AcuityRow,
    Interval,
    RankRate,
    StratumRate,
    Unit,
    Upload,
    acceptance_trend,
    byar_limits,
    deadline_bursts,
    identical_evidence,
    implausibly_fast,
    observed_vs_expected,
    wilson_interval,
)

Z90 = 1.6448536269514722
Z95 = 1.959963984540054

# -- Wilson ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Newcombe, Statistics in Medicine 17 (1998) 857–872, Table II, method 3
        # (score interval without continuity correction), 95 %.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_reproduces_newcombes_table(
    successes: int, trials: int, low: float, high: float
) -> None:
    interval = wilson_interval(successes, trials, confidence=0.95)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


def test_wilson_by_hand_at_90_percent() -> None:
    # given 5 of 10 at 90 %: z² = 2.705543, so 1 + z²/n = 1.2705543, the centre
    # is exactly ½ and the half-width is z/1.2705543 · sqrt(0.025 + z²/400)
    # = 1.294595 · 0.178224 = 0.230728
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.269272, abs=1e-6)
    assert high == pytest.approx(0.730728, abs=1e-6)


def test_wilson_is_exactly_zero_or_one_at_the_ends() -> None:
    assert wilson_interval(0, 7).low == 0.0
    assert wilson_interval(7, 7).high == 1.0
    # 29/29 mirrors 0/29
    assert wilson_interval(29, 29).low == pytest.approx(1 - wilson_interval(0, 29).high)


@pytest.mark.parametrize(
    ("successes", "trials", "message"),
    [
        (0, 0, "zero trials"),
        (3, 2, "3 successes out of 2 trials"),
        (-1, 4, "must not be negative"),
        (1, -4, "must not be negative"),
    ],
)
def test_wilson_refuses_impossible_counts(successes: int, trials: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wilson_interval(successes, trials)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_wilson_refuses_a_confidence_outside_0_1(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence must be strictly between 0 and 1"):
        wilson_interval(1, 2, confidence=confidence)


@given(
    data=st.integers(min_value=1, max_value=1_000_000).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    ),
    confidence=st.floats(min_value=0.5, max_value=0.999),
)
def test_wilson_contains_the_estimate_and_stays_in_0_1(
    data: tuple[int, int], confidence: float
) -> None:
    successes, trials = data
    low, high = wilson_interval(successes, trials, confidence=confidence)
    assert 0.0 <= low <= successes / trials <= high <= 1.0
    reference = stats.binomtest(successes, trials).proportion_ci(confidence, method="wilson")
    assert low == pytest.approx(reference.low, abs=1e-9)
    assert high == pytest.approx(reference.high, abs=1e-9)


# -- observed vs expected ----------------------------------------------------------


def units(group: str, stratum: str, attained: int, not_attained: int) -> list[Unit]:
    return [Unit(group, stratum, True)] * attained + [Unit(group, stratum, False)] * not_attained


def test_byar_by_hand() -> None:
    # O = 10 at 95 %: 10·(1 − 1/90 − 1.959964/(3·√10))³ = 10 · 0.782291³ = 4.7874
    #                 11·(1 − 1/99 + 1.959964/(3·√11))³ = 11 · 1.186883³ = 18.3915
    # (the exact Poisson limits are 4.7954 and 18.3904)
    low, high = byar_limits(10, Z95)
    assert low == pytest.approx(4.7874, abs=1e-4)
    assert high == pytest.approx(18.3915, abs=1e-4)
    # O = 0: no lower limit; the upper is 1·(1 − 1/9 + z/3)³
    assert byar_limits(0, Z95) == (0.0, pytest.approx((8 / 9 + Z95 / 3) ** 3))
    # O = 1 at 99.9 %: the cube's base is negative, taken as 0
    assert byar_limits(1, 3.2905)[0] == 0.0


@pytest.mark.parametrize("observed", [5, 10, 20, 50, 100, 500])
@pytest.mark.parametrize("confidence", [0.90, 0.95])
def test_byar_is_within_one_percent_of_the_exact_poisson_limits(
    observed: int, confidence: float
) -> None:
    z = stats.norm.ppf((1 + confidence) / 2)
    low, high = byar_limits(observed, z)
    exact_low = stats.chi2.ppf((1 - confidence) / 2, 2 * observed) / 2
    exact_high = stats.chi2.ppf((1 + confidence) / 2, 2 * observed + 2) / 2
    assert low == pytest.approx(exact_low, rel=0.01)
    assert high == pytest.approx(exact_high, rel=0.01)


def test_observed_vs_expected_by_hand() -> None:
    # given two strata: low acuity 3 of 4 attained (r = ¾), high acuity 1 of 4 (r = ¼)
    # provider A: 3 low (all attained), 1 high (not)  -> O = 3, E = 3·¾ + ¼ = 2.5
    # provider B: 1 low (not), 3 high (1 attained)    -> O = 1, E = ¾ + 3·¼ = 1.5
    pilot = (
        units("A", "low", 3, 0)
        + units("A", "high", 0, 1)
        + units("B", "low", 0, 1)
        + units("B", "high", 1, 2)
    )
    # when
    result = observed_vs_expected(pilot)
    # then the strata carry the pilot-wide rates
    assert [(s.stratum, s.units, s.attained, s.rate) for s in result.strata] == [
        ("high", 4, 1, 0.25),
        ("low", 4, 3, 0.75),
    ]
    a, b = result.groups
    assert (a.group, a.units, a.observed, a.expected, a.ratio) == ("A", 4, 3, 2.5, 1.2)
    assert (b.group, b.units, b.observed, b.expected) == ("B", 4, 1, 1.5)
    assert b.ratio == pytest.approx(2 / 3, rel=1e-15)
    # Byar at 90 % for O = 3: 3·(1 − 1/27 − z/(3√3))³ = 3 · 0.646411³ = 0.810302
    #                    and 4·(1 − 1/36 + z/6)³     = 4 · 1.246364³ = 7.744532
    # divided by E = 2.5
    assert a.interval is not None
    assert a.interval.low == pytest.approx(0.324121, abs=1e-6)
    assert a.interval.high == pytest.approx(3.097813, abs=1e-6)
    assert (a.excludes_one, b.excludes_one, a.reason, b.reason) == (False, False, None, None)


def test_a_group_far_from_expected_has_an_interval_excluding_one() -> None:
    # given one stratum where A attains 90 of 100 and B 10 of 100 (r = ½)
    result = observed_vs_expected(units("A", "s", 90, 10) + units("B", "s", 10, 90))
    a, b = result.groups
    # then O/E is 1.8 and 0.2, both clearly away from 1
    assert (a.observed, a.expected, a.ratio, a.excludes_one) == (90, 50.0, 1.8, True)
    assert (b.observed, b.expected, b.ratio, b.excludes_one) == (10, 50.0, 0.2, True)
    assert a.interval is not None and a.interval.low > 1
    assert b.interval is not None and b.interval.high < 1


def test_with_one_stratum_the_ratio_is_the_group_rate_over_the_pilot_rate() -> None:
    result = observed_vs_expected(units("A", "only", 6, 4) + units("B", "only", 2, 8))
    a, b = result.groups
    # pilot rate 8/20 = 0.4: A 0.6/0.4, B 0.2/0.4
    assert (a.expected, a.ratio, b.expected, b.ratio) == (4.0, 1.5, 4.0, 0.5)


def test_when_everyone_attained_every_ratio_is_one() -> None:
    result = observed_vs_expected(units("A", "x", 5, 0) + units("B", "y", 3, 0))
    assert [(g.observed, g.expected, g.ratio, g.excludes_one) for g in result.groups] == [
        (5, 5.0, 1.0, False),
        (3, 3.0, 1.0, False),
    ]


def test_a_single_unit_stratum_adds_the_same_to_observed_and_expected() -> None:
    # given A's one participant in a stratum nobody else shares, who attained
    base = units("A", "s", 2, 2) + units("B", "s", 2, 2)
    result = observed_vs_expected([*base, Unit("A", "rare", True)])
    a = result.groups[0]
    # then it counts 1 observed and 1 expected: (2 + 1)/(2 + 1)
    assert (a.units, a.observed, a.expected, a.ratio) == (5, 3, 3.0, 1.0)
    assert result.strata[0] == StratumRate("rare", 1, 1, 1.0)


def test_empty_and_zero_expected_groups_have_no_ratio_and_say_why() -> None:
    # given C whose only stratum never attains anywhere, and D named but with nobody
    pilot = units("A", "s", 1, 1) + units("C", "never", 0, 3) + units("A", "never", 0, 2)
    result = observed_vs_expected(pilot, groups=["D", "A"])
    by_group = {g.group: g for g in result.groups}
    assert [g.group for g in result.groups] == ["A", "C", "D"]
    c, d = by_group["C"], by_group["D"]
    assert (c.units, c.observed, c.expected, c.ratio, c.interval) == (3, 0, 0.0, None, None)
    assert (c.excludes_one, c.reason) == (False, ZERO_EXPECTED)
    assert (d.units, d.observed, d.expected, d.ratio, d.interval) == (0, 0, 0.0, None, None)
    assert d.reason == NO_UNITS


def test_no_units_gives_an_empty_result() -> None:
    result = observed_vs_expected([])
    assert (result.strata, result.groups) == ((), ())


unit_lists = st.lists(
    st.builds(
        Unit,
        group=st.sampled_from(["p1", "p2", "p3"]),
        stratum=st.sampled_from(["a1", "a2|flag", "a3", "a3|flag"]),
        attained=st.booleans(),
    ),
    min_size=1,
    max_size=60,
)


@given(pilot=unit_lists)
def test_the_whole_pilot_has_an_o_over_e_of_exactly_one(pilot: list[Unit]) -> None:
    as_one = [Unit("pilot", u.stratum, u.attained) for u in pilot]
    (whole,) = observed_vs_expected(as_one).groups
    if whole.observed:
        assert whole.ratio == 1.0
        assert whole.expected == whole.observed
    else:
        assert whole.reason == ZERO_EXPECTED
    # and the groups' expected counts add up to the observed total
    groups = observed_vs_expected(pilot).groups
    assert sum(g.expected for g in groups) == pytest.approx(whole.observed, abs=1e-9)


@given(pilot=unit_lists, seed=st.integers())
def test_observed_vs_expected_ignores_input_order(pilot: list[Unit], seed: int) -> None:
    shuffled = pilot[:]
    random.Random(seed).shuffle(shuffled)
    assert observed_vs_expected(shuffled) == observed_vs_expected(pilot)


# -- acceptance trend --------------------------------------------------------------

# Maternal alcohol consumption (drinks/day: 0, <1, 1–2, 3–5, ≥6) and congenital sex
# organ malformation, 32,574 births: Graubard & Korn, Biometrics 43 (1987) 471–476.
# Read "referred" as births and "accepted" as malformations.
MALFORMED = [48, 38, 5, 1, 1]
BIRTHS = [17066 + 48, 14464 + 38, 788 + 5, 126 + 1, 37 + 1]


def alcohol(scores: list[int]) -> list[tuple[int, int, int]]:
    return list(zip(scores, BIRTHS, MALFORMED, strict=True))


def test_trend_reproduces_agrestis_alcohol_example() -> None:
    # Agresti, Categorical Data Analysis (2nd ed.), scores 0, 0.5, 1.5, 4, 7:
    # M² = 6.57, two-sided P = 0.01 (0.0104). The test is unchanged by a linear
    # change of scores, so the ranks are the scores doubled.
    trend = acceptance_trend(alcohol([0, 1, 3, 8, 14]))
    assert trend.statistic is not None and trend.p_value is not None
    assert round(trend.statistic**2, 2) == 6.57
    assert round(trend.statistic, 2) == 2.56
    assert round(trend.p_value, 4) == 0.0104
    assert (trend.referred, trend.accepted, trend.falling_with_acuity) == (32574, 93, False)


@pytest.mark.parametrize(
    ("scores", "two_sided", "one_sided"),
    [
        # StatXact example 6 (Cytel), asymptotic Cochran–Armitage p-values for the
        # same table: "average drinks" scores 0, 0.5, 1.5, 4, 8 (doubled here) give
        # .0078 (.0039 one-sided); equally spaced scores give .0882 one-sided.
        ([0, 1, 3, 8, 16], 0.0078, 0.0039),
        ([1, 2, 3, 4, 5], None, 0.0882),
    ],
)
def test_trend_reproduces_statxacts_asymptotic_p_values(
    scores: list[int], two_sided: float | None, one_sided: float
) -> None:
    trend = acceptance_trend(alcohol(scores))
    assert trend.p_value is not None
    if two_sided is not None:
        assert round(trend.p_value, 4) == two_sided
    assert round(trend.p_value / 2, 4) == one_sided


def test_acceptance_falling_with_acuity_by_hand() -> None:
    # given 10 referrals at each of ranks 1, 2, 3 with 8, 5, 2 accepted:
    # p̄ = ½, x̄ = 2, S_xx = 10·(1 + 0 + 1) = 20, T = 1·3 + 2·0 + 3·(−3) = −6,
    # z = −6/sqrt(¼ · 20) = −6/√5 = −2.683282, p = 2Φ(−2.683282) = 0.007290
    trend = acceptance_trend([(1, 10, 8), (2, 10, 5), (3, 10, 2)])
    assert trend.ranks == (
        RankRate(1, 10, 8, 0.8),
        RankRate(2, 10, 5, 0.5),
        RankRate(3, 10, 2, 0.2),
    )
    assert trend.slope == -0.3
    assert trend.statistic == pytest.approx(-6 / math.sqrt(5), rel=1e-15)
    assert trend.p_value == pytest.approx(0.0072903, abs=1e-7)
    assert (trend.falling_with_acuity, trend.reason) == (True, None)


def test_a_falling_trend_above_alpha_is_not_flagged() -> None:
    # given a gentle fall, 6, 5, 4 of 10: T = 1·1 + 3·(−1) = −2, z = −2/√5 = −0.894, p = 0.371
    trend = acceptance_trend([(1, 10, 6), (2, 10, 5), (3, 10, 4)])
    assert trend.slope is not None and trend.slope < 0
    assert trend.p_value == pytest.approx(2 * stats.norm.cdf(-2 / math.sqrt(5)), rel=1e-12)
    assert trend.falling_with_acuity is False
    # unless alpha is raised above p
    assert acceptance_trend([(1, 10, 6), (2, 10, 5), (3, 10, 4)], alpha=0.5).falling_with_acuity


def test_mirroring_the_ranks_mirrors_the_statistic() -> None:
    rising = acceptance_trend(alcohol([0, 1, 3, 8, 16]))
    falling = acceptance_trend(alcohol([-0, -1, -3, -8, -16]))
    assert rising.statistic is not None and falling.statistic is not None
    assert falling.statistic == pytest.approx(-rising.statistic, rel=1e-12)
    assert (rising.falling_with_acuity, falling.falling_with_acuity) == (False, True)


@pytest.mark.parametrize(
    ("rows", "reason", "slope"),
    [
        ([(1, 5, 5), (2, 7, 7), (3, 2, 2)], ALL_ACCEPTED, 0.0),
        ([(1, 5, 0), (2, 7, 0)], NONE_ACCEPTED, 0.0),
        ([(2, 5, 3)], ONE_RANK, None),
        ([(2, 5, 3), (3, 0, 0)], ONE_RANK, None),
        ([], NO_REFERRALS, None),
        ([(1, 0, 0), (2, 0, 0)], NO_REFERRALS, None),
    ],
)
def test_without_variance_there_is_no_test_and_a_reason(
    rows: list[tuple[int, int, int]], reason: str, slope: float | None
) -> None:
    trend = acceptance_trend(rows)
    assert (trend.statistic, trend.p_value, trend.slope) == (None, None, slope)
    assert (trend.falling_with_acuity, trend.reason) == (False, reason)


def test_rows_for_one_rank_are_added_up_and_empty_ranks_have_no_rate() -> None:
    trend = acceptance_trend([AcuityRow(2, 4, 1), (1, 3, 3), (2, 6, 4), (3, 0, 0)])
    assert trend.ranks == (
        RankRate(1, 3, 3, 1.0),
        RankRate(2, 10, 5, 0.5),
        RankRate(3, 0, 0, None),
    )


@pytest.mark.parametrize("row", [(1, 3, 4), (1, -1, 0), (1, 3, -1)])
def test_trend_refuses_impossible_rows(row: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="accepted out of"):
        acceptance_trend([row])


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_trend_refuses_an_alpha_outside_0_1(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        acceptance_trend([(1, 2, 1)], alpha=alpha)


acuity_rows = st.lists(
    st.integers(min_value=0, max_value=40).flatmap(
        lambda n: st.tuples(st.integers(min_value=1, max_value=5), st.just(n), st.integers(0, n))
    ),
    max_size=12,
)


@given(rows=acuity_rows, seed=st.integers())
def test_trend_ignores_row_order(rows: list[tuple[int, int, int]], seed: int) -> None:
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    assert acceptance_trend(shuffled) == acceptance_trend(rows)


@given(rows=acuity_rows)
def test_the_statistic_has_the_slopes_sign_and_p_is_a_probability(
    rows: list[tuple[int, int, int]],
) -> None:
    trend = acceptance_trend(rows)
    if trend.statistic is None:
        assert trend.reason is not None
        return
    assert trend.slope is not None and trend.p_value is not None
    assert (trend.statistic > 0) == (trend.slope > 0)
    assert (trend.statistic < 0) == (trend.slope < 0)
    assert 0.0 <= trend.p_value <= 1.0
    assert trend.falling_with_acuity == (trend.slope < 0 and trend.p_value < 0.10)


# -- deadline bursts ---------------------------------------------------------------

DEADLINE = date(2025, 3, 31)


def before(days: int) -> date:
    return DEADLINE - timedelta(days=days)


def test_bursts_by_hand_with_available_dates() -> None:
    # given four items each open for 10 days (Mar 22–31): the window of 2 days is
    # 2/10 of the time; three uploads came on the deadline day or the day before
    opened = before(9)
    uploads = [Upload(before(d), DEADLINE, opened) for d in (0, 1, 1, 5)]
    # when
    result = deadline_bursts(uploads)
    # then 3/4 = 0.75 > 0.5 and 0.75 − 0.2 = 0.55 ≥ 0.2
    assert (result.uploads, result.in_window, result.late) == (4, 3, 0)
    assert (result.observed_share, result.expected_share) == (0.75, 0.2)
    assert (result.flagged, result.reason) == (True, None)


def test_without_an_available_date_the_item_is_open_for_available_days() -> None:
    result = deadline_bursts([(before(0), DEADLINE), (before(20), DEADLINE)])
    assert (result.observed_share, result.expected_share) == (0.5, 2 / 30)
    # 0.5 is not above the 0.5 threshold
    assert result.flagged is False
    assert deadline_bursts([(before(0), DEADLINE)], available_days=4).expected_share == 0.5


def test_the_window_is_the_deadline_day_and_the_days_before_it() -> None:
    # window_days = 2: the deadline day and the day before; two days before is out,
    # and so is the day after (late)
    result = deadline_bursts([(before(d), DEADLINE) for d in (0, 1, 2, -1)])
    assert (result.in_window, result.late, result.observed_share) == (2, 1, 0.5)
    assert deadline_bursts([(before(2), DEADLINE)], window_days=3).in_window == 1


def test_items_open_only_in_the_window_are_not_a_burst() -> None:
    # given items that could only be uploaded on the deadline day
    uploads = [Upload(DEADLINE, DEADLINE, DEADLINE)] * 5
    result = deadline_bursts(uploads)
    # then all five in the window is exactly what was expected
    assert (result.observed_share, result.expected_share, result.flagged) == (1.0, 1.0, False)


def test_the_margin_is_compared_exactly() -> None:
    # given items open 5 days (expected ⅖ = 0.4) and 3 of 5 uploads in the window:
    # 0.6 − 0.4 is 0.2 exactly, which meets the margin (in floats it is 0.19999…)
    opened = before(4)
    uploads = [Upload(before(d), DEADLINE, opened) for d in (0, 0, 1, 3, 4)]
    result = deadline_bursts(uploads)
    assert (result.observed_share, result.expected_share, result.flagged) == (0.6, 0.4, True)
    assert deadline_bursts(uploads, margin=0.21).flagged is False


def test_no_uploads_is_no_burst() -> None:
    result = deadline_bursts([])
    assert (result.uploads, result.observed_share, result.expected_share) == (0, None, None)
    assert (result.flagged, result.reason) == (False, NO_UPLOADS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_days": 0}, "at least a day"),
        ({"available_days": 0}, "at least a day"),
        ({"threshold": 1.5}, "threshold"),
        ({"margin": -0.1}, "margin"),
    ],
)
def test_bursts_refuse_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        deadline_bursts([(DEADLINE, DEADLINE)], **kwargs)


def test_bursts_refuse_an_item_available_after_its_deadline() -> None:
    with pytest.raises(ValueError, match="after the deadline"):
        deadline_bursts([Upload(DEADLINE, DEADLINE, DEADLINE + timedelta(days=1))])


# -- implausibly fast --------------------------------------------------------------


@pytest.mark.parametrize(
    ("percentile", "rank", "cutoff", "flagged"),
    [
        # Nearest-rank worked example (Wikipedia, "Percentile", the nearest-rank
        # method): for 15, 20, 35, 40, 50 the 30th and 40th percentiles are 20,
        # the 50th is 35 and the 100th is 50; the 5th is the first value.
        (5, 1, 15.0, ()),
        (30, 2, 20.0, ("a",)),
        (40, 2, 20.0, ("a",)),
        (50, 3, 35.0, ("a", "b")),
        (100, 5, 50.0, ("a", "b", "c", "d")),
    ],
)
def test_nearest_rank_percentile(
    percentile: float, rank: int, cutoff: float, flagged: tuple[str, ...]
) -> None:
    durations = {"e": 50.0, "c": 35.0, "a": 15.0, "d": 40.0, "b": 20.0}
    result = implausibly_fast(durations, percentile=percentile, minimum=1)
    assert (result.observations, result.rank, result.cutoff) == (5, rank, cutoff)
    assert (result.flagged, result.reason) == (flagged, None)


def test_the_fastest_of_forty_is_flagged_at_the_5th_percentile() -> None:
    # 5 % of 40 is rank 2 exactly
    durations = {f"claim-{i:02}": float(i) for i in range(1, 41)}
    result = implausibly_fast(durations)
    assert (result.rank, result.cutoff, result.flagged) == (2, 2.0, ("claim-01",))


def test_with_twenty_observations_the_cutoff_is_the_minimum_and_nothing_is_flagged() -> None:
    durations = {f"claim-{i:02}": float(i) for i in range(1, 21)}
    result = implausibly_fast(durations)
    assert (result.rank, result.cutoff, result.flagged, result.reason) == (1, 1.0, (), None)


def test_ties_at_the_cutoff_are_not_flagged() -> None:
    # given two claims tied as the fastest of 40: the 2nd value is also 1 day
    durations = {f"claim-{i:02}": float(max(i, 2) - 1) for i in range(1, 41)}
    result = implausibly_fast(durations)
    assert (result.cutoff, result.flagged) == (1.0, ())
    # but a tie below the cut-off is flagged in full, ordered by duration then key
    durations |= {"x": 0.5, "w": 0.5, "v": 0.25}
    result = implausibly_fast(durations, percentile=10)  # rank ⌈4.3⌉ = 5 of 43
    assert (result.rank, result.cutoff, result.flagged) == (5, 1.0, ("v", "w", "x"))


def test_too_few_observations_flag_nothing_and_say_why() -> None:
    result = implausibly_fast({"a": 0.0, "b": 30.0}, minimum=3)
    assert (result.rank, result.cutoff, result.flagged) == (None, None, ())
    assert result.reason == "2 observations, fewer than the 3 needed for a percentile"
    assert implausibly_fast({}).reason == (
        "0 observations, fewer than the 20 needed for a percentile"
    )


@pytest.mark.parametrize(
    ("durations", "kwargs", "message"),
    [
        ({"a": -1.0}, {}, "duration -1.0"),
        ({"a": math.nan}, {}, "duration nan"),
        ({"a": math.inf}, {}, "duration inf"),
        ({"a": 1.0}, {"percentile": 0}, "percentile"),
        ({"a": 1.0}, {"percentile": 101}, "percentile"),
        ({"a": 1.0}, {"minimum": 0}, "minimum"),
    ],
)
def test_implausibly_fast_refuses_bad_input(
    durations: dict[str, float], kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        implausibly_fast(durations, **kwargs)


@given(
    durations=st.dictionaries(
        st.text(min_size=1, max_size=4), st.integers(0, 30).map(float), max_size=60
    ),
    percentile=st.integers(1, 100),
)
def test_at_most_rank_minus_one_are_flagged_all_below_the_cutoff(
    durations: dict[str, float], percentile: int
) -> None:
    result = implausibly_fast(durations, percentile=percentile, minimum=1)
    if not durations:
        assert result.flagged == ()
        return
    assert result.rank is not None and result.cutoff is not None
    assert len(result.flagged) <= result.rank - 1
    assert all(durations[k] < result.cutoff for k in result.flagged)
    assert {k for k, d in durations.items() if d < result.cutoff} == set(result.flagged)
    reordered = dict(reversed(list(durations.items())))
    assert implausibly_fast(reordered, percentile=percentile, minimum=1) == result


# -- identical evidence ------------------------------------------------------------


def test_hashes_shared_by_more_than_one_participant() -> None:
    hashes = {
        "P-3": ["h-photo", "h-letter"],
        "P-1": ["h-letter", "h-own", "h-own"],
        "P-2": ["h-letter", "h-photo"],
        "P-4": ["h-solo", "h-solo"],  # the same file twice is not shared
    }
    assert identical_evidence(hashes) == {
        "h-letter": ("P-1", "P-2", "P-3"),
        "h-photo": ("P-2", "P-3"),
    }
    assert list(identical_evidence(hashes)) == ["h-letter", "h-photo"]


def test_nothing_shared_gives_an_empty_mapping() -> None:
    assert identical_evidence({}) == {}
    assert identical_evidence({"P-1": ["a"], "P-2": ["b"], "P-3": []}) == {}


def test_a_bare_string_of_hashes_is_refused() -> None:
    with pytest.raises(TypeError, match="got a string"):
        identical_evidence({"P-1": "abc"})


@given(
    hashes=st.dictionaries(
        st.sampled_from(["P-1", "P-2", "P-3", "P-4"]),
        st.lists(st.sampled_from(["h1", "h2", "h3", "h4", "h5"]), max_size=4),
    ),
    seed=st.integers(),
)
def test_identical_evidence_ignores_order(hashes: dict[str, list[str]], seed: int) -> None:
    rng = random.Random(seed)
    items = [(p, rng.sample(h, len(h))) for p, h in hashes.items()]
    rng.shuffle(items)
    assert identical_evidence(dict(items)) == identical_evidence(hashes)


def test_interval_unpacks_as_low_high() -> None:
    low, high = Interval(0.25, 0.75)
    assert (low, high) == (0.25, 0.75)
