"""The statistics behind the C18 equity safeguards, over plain counts and dates.

- `wilson_interval`: the score interval for a proportion (Wilson 1927), the one
  Newcombe (1998) recommends over the textbook ± z·SE interval, which leaves
  [0, 1] and collapses to a point at 0 and 100 %.
- `observed_vs_expected`: risk-adjusted attainment by indirect standardisation,
  with Byar's approximation to the Poisson interval of the observed count.
- `acceptance_trend`: the Cochran–Armitage test for a trend in acceptance rates
  across acuity ranks (the cherry-picking signal).
- `deadline_bursts`, `implausibly_fast`, `identical_evidence`: the three
  documentation-inflation signals.

Numbers: counts are ints; rates, ratios, shares, limits and p-values are floats.
Nothing here is money and every figure is a statistic to be read, not paid, so
the floats of `math` and `statistics.NormalDist` serve. Where an identity must
hold exactly (the expected counts of the whole pilot add up to its observed
count, a share is compared with a threshold), the sums are kept as `Fraction`s
and turned into floats once, at the end. Confidence levels are two-sided, with
z = Φ⁻¹((1 + confidence)/2) from `statistics.NormalDist`.

Every result lists its groups, strata or ranks sorted by key, so the order of
the input never shows in the output. A statistic that cannot be computed is None
and the result says why in `reason`, rather than dividing by zero.
"""

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from statistics import NormalDist
from typing import NamedTuple

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval; unpacks as `low, high`."""

    low: float
    high: float

    def __iter__(self) -> Iterator[float]:
        return iter((self.low, self.high))


# -- proportions -----------------------------------------------------------------


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.90) -> Interval:
    """The Wilson score interval for successes/trials.

    With p = successes/trials, n = trials and z the two-sided critical value:

        centre     = (p + z²/2n) / (1 + z²/n)
        half-width = z/(1 + z²/n) · sqrt(p(1 − p)/n + z²/4n²)

    E. B. Wilson, "Probable inference, the law of succession, and statistical
    inference", JASA 22 (1927) 209–212; method 3 of R. G. Newcombe, "Two-sided
    confidence intervals for the single proportion: comparison of seven
    methods", Statistics in Medicine 17 (1998) 857–872. The limits are exactly 0
    when there are no successes and exactly 1 when every trial succeeded.
    """
    if trials < 0 or successes < 0:
        raise ValueError(f"counts must not be negative, got {successes}/{trials}")
    if trials == 0:
        raise ValueError("a proportion of zero trials has no confidence interval")
    if successes > trials:
        raise ValueError(f"{successes} successes out of {trials} trials")
    z = _two_sided_z(confidence)
    n, p = trials, successes / trials
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Rounding must not push a limit past the point estimate or out of [0, 1].
    low = 0.0 if successes == 0 else min(p, max(0.0, centre - half))
    high = 1.0 if successes == trials else max(p, min(1.0, centre + half))
    return Interval(low, high)


# -- risk-adjusted attainment ------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One participant's record: the group judged (e.g. a provider), the stratum
    the expectation comes from (e.g. "acuity=3|homeless|dual-diagnosis", any
    string that names acuity band and subpopulation flags together) and whether
    the milestone was attained."""

    group: str
    stratum: str
    attained: bool


@dataclass(frozen=True)
class StratumRate:
    """The pilot-wide attainment rate of one stratum: attained/units."""

    stratum: str
    units: int
    attained: int
    rate: float


@dataclass(frozen=True)
class GroupRatio:
    """Observed against expected attainment for one group.

    `ratio` (O/E) and `interval` are None, with `reason` saying why, when the
    group has no units or its expected count is 0. `excludes_one` is True when
    the interval lies wholly above or wholly below 1; `ratio` then says which.
    """

    group: str
    units: int
    observed: int
    expected: float
    ratio: float | None
    interval: Interval | None
    excludes_one: bool
    reason: str | None


@dataclass(frozen=True)
class ObservedExpected:
    """Risk-adjusted attainment; strata and groups sorted by name."""

    confidence: float
    strata: tuple[StratumRate, ...]
    groups: tuple[GroupRatio, ...]


NO_UNITS = "no participants in this group"
ZERO_EXPECTED = (
    "expected attainment is 0: nobody in this group's strata attained the milestone "
    "anywhere in the pilot, so there is no ratio"
)


def observed_vs_expected(
    units: Sequence[Unit], *, confidence: float = 0.90, groups: Iterable[str] = ()
) -> ObservedExpected:
    """Observed/expected attainment per group by indirect standardisation.

    The model is the pilot's own attainment rate per stratum, r_s = attained_s/n_s
    over every unit of the pilot in stratum s. A group's expected count is
    E = Σ r_s over its units, i.e. what it would have attained had its
    participants done as well as participants of the same acuity band and
    subpopulation flags did pilot-wide; O is the count it did attain, and O/E is
    its standardised attainment ratio. Summed over the whole pilot E equals O
    exactly (kept in fractions), so the pilot's own O/E is 1.

    The interval treats O as Poisson and E as fixed, using Byar's approximation
    to the exact Poisson limits of O (Breslow & Day, Statistical Methods in
    Cancer Research vol. II, IARC Scientific Publications 82, 1987, p. 69):

        O_low  = O · (1 − 1/(9O) − z/(3√O))³            (0 when O = 0)
        O_high = (O + 1) · (1 − 1/(9(O + 1)) + z/(3√(O + 1)))³

    and the O/E limits are O_low/E and O_high/E. A cube that would go negative
    (O = 1 above about 99 % confidence) is taken as 0.

    A stratum with a single unit still counts: its rate is 0 or 1, so that unit
    adds the same to O and to E and pulls its group's ratio towards 1 (there is
    nobody like it to compare with). A group with no units (named in `groups`
    but absent from `units`) and a group whose expected count is 0 (then its
    observed count is 0 too) are listed with no ratio and no interval, and a
    `reason` (`NO_UNITS`, `ZERO_EXPECTED`).
    """
    z = _two_sided_z(confidence)
    by_stratum: dict[str, list[int]] = {}  # stratum -> [units, attained]
    for unit in units:
        counts = by_stratum.setdefault(unit.stratum, [0, 0])
        counts[0] += 1
        counts[1] += int(unit.attained)
    rates = {s: Fraction(attained, n) for s, (n, attained) in by_stratum.items()}

    members: dict[str, list[Unit]] = {g: [] for g in groups}
    for unit in units:
        members.setdefault(unit.group, []).append(unit)
    return ObservedExpected(
        confidence=confidence,
        strata=tuple(
            StratumRate(stratum=s, units=n, attained=a, rate=float(rates[s]))
            for s, (n, a) in sorted(by_stratum.items())
        ),
        groups=tuple(_group_ratio(g, members[g], rates, z) for g in sorted(members)),
    )


def _group_ratio(
    group: str, units: list[Unit], rates: Mapping[str, Fraction], z: float
) -> GroupRatio:
    observed = sum(1 for u in units if u.attained)
    expected = sum((rates[u.stratum] for u in units), Fraction(0))
    reason = NO_UNITS if not units else ZERO_EXPECTED if expected == 0 else None
    if reason is not None:
        return GroupRatio(group, len(units), observed, 0.0, None, None, False, reason)
    low, high = byar_limits(observed, z)
    e = float(expected)
    interval = Interval(low / e, high / e)
    return GroupRatio(
        group=group,
        units=len(units),
        observed=observed,
        expected=e,
        ratio=float(observed / expected),
        interval=interval,
        excludes_one=interval.low > 1 or interval.high < 1,
        reason=None,
    )


def byar_limits(observed: int, z: float) -> tuple[float, float]:
    """Byar's approximate Poisson limits for a count (see `observed_vs_expected`)."""
    if observed < 0:
        raise ValueError(f"a count must not be negative, got {observed}")
    low = 0.0
    if observed > 0:
        base = 1 - 1 / (9 * observed) - z / (3 * math.sqrt(observed))
        low = observed * max(0.0, base) ** 3
    above = observed + 1
    high = above * (1 - 1 / (9 * above) + z / (3 * math.sqrt(above))) ** 3
    return low, high


# -- cherry-picking ------------------------------------------------------------------


class AcuityRow(NamedTuple):
    """Referrals and acceptances at one acuity rank (higher rank, higher need)."""

    acuity_rank: int
    referred: int
    accepted: int


@dataclass(frozen=True)
class RankRate:
    """Acceptance at one acuity rank; `rate` is None when nobody was referred."""

    acuity_rank: int
    referred: int
    accepted: int
    rate: float | None


@dataclass(frozen=True)
class Trend:
    """Acceptance by acuity rank and the Cochran–Armitage test for trend.

    `slope` is the change in acceptance rate per acuity rank (weighted least
    squares); `statistic` is the signed z (negative when acceptance falls with
    acuity) and `p_value` its two-sided normal p-value. Both are None, with a
    `reason`, when the data cannot show a trend.
    """

    ranks: tuple[RankRate, ...]
    referred: int
    accepted: int
    slope: float | None
    statistic: float | None
    p_value: float | None
    alpha: float
    falling_with_acuity: bool
    reason: str | None


NO_REFERRALS = "no referrals"
ONE_RANK = "referrals at a single acuity rank: no trend to test"
ALL_ACCEPTED = "every referral was accepted: acceptance cannot vary with acuity"
NONE_ACCEPTED = "no referral was accepted: acceptance cannot vary with acuity"


def acceptance_trend(rows: Sequence[tuple[int, int, int]], *, alpha: float = 0.10) -> Trend:
    """Does acceptance fall as acuity rises? The Cochran–Armitage test for trend.

    Rows are (acuity_rank, referred, accepted); rows for the same rank are added
    up. With scores x_i = acuity rank, n_i referred, a_i accepted, N = Σ n_i,
    A = Σ a_i and p̄ = A/N:

        T     = Σ x_i (a_i − n_i p̄)
        S_xx  = Σ n_i (x_i − x̄)²,  x̄ = Σ n_i x_i / N
        z     = T / sqrt(p̄ (1 − p̄) S_xx),  p = 2 Φ(−|z|)
        slope = T / S_xx

    W. G. Cochran, "Some methods for strengthening the common χ² tests",
    Biometrics 10 (1954) 417–451; P. Armitage, "Tests for linear trends in
    proportions and frequencies", Biometrics 11 (1955) 375–386; in the form of
    A. Agresti, Categorical Data Analysis (2nd ed., 2002), with the variance
    over N (as SAS PROC FREQ TREND does), not N − 1. T and S_xx are exact
    rationals, so the sign of the slope never depends on rounding.

    `falling_with_acuity` is True when the slope is negative and p < alpha. With
    nobody or everybody accepted (p̄ = 0 or 1), or referrals at one rank only,
    there is no variance: the statistic and p-value are None and `reason` says
    why; the slope is 0 in the first case and None in the second.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")
    merged: dict[int, list[int]] = {}
    for rank, referred, accepted in rows:
        if referred < 0 or accepted < 0 or accepted > referred:
            raise ValueError(f"acuity rank {rank}: {accepted} accepted out of {referred} referred")
        counts = merged.setdefault(rank, [0, 0])
        counts[0] += referred
        counts[1] += accepted
    table = [(x, n, a) for x, (n, a) in sorted(merged.items())]
    ranks = tuple(RankRate(x, n, a, a / n if n else None) for x, n, a in table)
    big_n, big_a = sum(n for _, n, _ in table), sum(a for _, _, a in table)

    def no_test(reason: str, slope: float | None) -> Trend:
        return Trend(ranks, big_n, big_a, slope, None, None, alpha, False, reason)

    if big_n == 0:
        return no_test(NO_REFERRALS, None)
    mean_x = Fraction(sum(n * x for x, n, _ in table), big_n)
    s_xx = sum((n * (x - mean_x) ** 2 for x, n, _ in table), Fraction(0))
    if s_xx == 0:
        return no_test(ONE_RANK, None)
    if big_a in (0, big_n):
        return no_test(NONE_ACCEPTED if big_a == 0 else ALL_ACCEPTED, 0.0)
    p_bar = Fraction(big_a, big_n)
    t = sum((x * (a - n * p_bar) for x, n, a in table), Fraction(0))
    z = float(t) / math.sqrt(float(p_bar * (1 - p_bar) * s_xx))
    p_value = 2 * _NORMAL.cdf(-abs(z))
    return Trend(
        ranks=ranks,
        referred=big_n,
        accepted=big_a,
        slope=float(t / s_xx),
        statistic=z,
        p_value=p_value,
        alpha=alpha,
        falling_with_acuity=t < 0 and p_value < alpha,
        reason=None,
    )


# -- documentation inflation ---------------------------------------------------------


class Upload(NamedTuple):
    """An evidence upload and its deadline; `available_from` is the first day the
    evidence could have been uploaded (None: `available_days` before the deadline)."""

    uploaded_on: date
    deadline: date
    available_from: date | None = None


@dataclass(frozen=True)
class DeadlineBursts:
    """How many uploads came in the last `window_days` before their deadline.

    `observed_share` is in_window/uploads, `expected_share` the share expected
    if uploads were spread evenly (both None without uploads). `late` counts
    uploads after their deadline (in the denominator, never in the window).
    """

    uploads: int
    in_window: int
    late: int
    observed_share: float | None
    expected_share: float | None
    window_days: int
    threshold: float
    margin: float
    flagged: bool
    reason: str | None


NO_UPLOADS = "no uploads"


def deadline_bursts(
    uploads: Sequence[tuple[date, date] | tuple[date, date, date | None]],
    *,
    window_days: int = 2,
    threshold: float = 0.5,
    margin: float = 0.2,
    available_days: int = 30,
) -> DeadlineBursts:
    """Is evidence uploaded in a burst just before deadlines?

    Uploads are (uploaded_on, deadline) or (uploaded_on, deadline, available_from).
    An item's available time is the days from `available_from` to its deadline,
    both included: A = (deadline − available_from) + 1 days; when no
    `available_from` is given it is the last `available_days` days up to the
    deadline. The window is the last `window_days` of those days: with
    window_days = 2, the deadline day and the day before.

    Observed share: uploads dated inside their window, over all uploads. Expected
    share: if each upload were equally likely on any day of its available time,
    it would fall in the window with probability min(window_days, A)/A; the
    expected share is the mean of those probabilities. Flagged when the observed
    share exceeds `threshold` AND exceeds the expected share by at least `margin`
    (an absolute difference of shares: 0.2 is 20 percentage points), so a
    pilot whose items are available for two days only is not flagged for
    uploading in them. Comparisons are exact: shares are fractions, and the
    threshold and margin are read as the decimals they were written as.
    """
    if window_days < 1 or available_days < 1:
        raise ValueError(
            f"window and available time must be at least a day, got {window_days} "
            f"and {available_days}"
        )
    _check_share("threshold", threshold)
    _check_share("margin", margin)
    in_window = late = 0
    expected = Fraction(0)
    for upload in uploads:
        uploaded_on, deadline = upload[0], upload[1]
        available_from = upload[2] if len(upload) == 3 else None
        span = available_days if available_from is None else (deadline - available_from).days + 1
        if span < 1:
            raise ValueError(f"available from {available_from} is after the deadline {deadline}")
        days_before = (deadline - uploaded_on).days
        late += int(days_before < 0)
        in_window += int(0 <= days_before < window_days)
        expected += Fraction(min(window_days, span), span)

    def result(observed: Fraction | None, share: Fraction | None, flagged: bool) -> DeadlineBursts:
        return DeadlineBursts(
            uploads=len(uploads),
            in_window=in_window,
            late=late,
            observed_share=None if observed is None else float(observed),
            expected_share=None if share is None else float(share),
            window_days=window_days,
            threshold=threshold,
            margin=margin,
            flagged=flagged,
            reason=None if observed is not None else NO_UPLOADS,
        )

    if not uploads:
        return result(None, None, False)
    observed, share = Fraction(in_window, len(uploads)), expected / len(uploads)
    flagged = observed > _exact(threshold) and observed - share >= _exact(margin)
    return result(observed, share, flagged)


@dataclass(frozen=True)
class FastMilestones:
    """Items reached faster than the pilot's `percentile`-th percentile.

    `rank` and `cutoff` are None, and nothing is flagged, when there are fewer
    than `minimum` observations (`reason` says so). `flagged` is sorted by
    duration, then key.
    """

    observations: int
    percentile: float
    minimum: int
    rank: int | None
    cutoff: float | None
    flagged: tuple[str, ...]
    reason: str | None


def implausibly_fast(
    durations_days: Mapping[str, float], *, percentile: float = 5, minimum: int = 20
) -> FastMilestones:
    """The keys whose time to the milestone lies below the pilot's percentile.

    The cut-off is the nearest-rank percentile: sort the N durations ascending
    and take the value at rank ⌈P/100 · N⌉ (1-based, computed exactly; never
    below rank 1). Keys strictly below the cut-off are flagged, so a tie with
    the cut-off is never flagged and at most rank − 1 keys are (with P = 5 and
    N ≤ 20 the cut-off is the minimum itself, so nothing can be flagged).
    Fewer than `minimum` observations: no cut-off, no flags, and a reason.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be above 0 and at most 100, got {percentile}")
    if minimum < 1:
        raise ValueError(f"minimum must be at least 1, got {minimum}")
    for key, days in durations_days.items():
        if not (math.isfinite(days) and days >= 0):
            raise ValueError(f"{key}: duration {days} must be a finite number of days ≥ 0")
    n = len(durations_days)
    if n < minimum:
        reason = f"{n} observations, fewer than the {minimum} needed for a percentile"
        return FastMilestones(n, percentile, minimum, None, None, (), reason)
    ordered = sorted(durations_days.values())
    rank = max(1, math.ceil(_exact(percentile) * n / 100))
    cutoff = ordered[rank - 1]
    fast = sorted((d, k) for k, d in durations_days.items() if d < cutoff)
    return FastMilestones(n, percentile, minimum, rank, cutoff, tuple(k for _, k in fast), None)


def identical_evidence(hashes: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Content hashes found in the evidence of more than one participant.

    `hashes` maps a participant to the hashes of their evidence files. The result
    maps each shared hash to the sorted participants holding it, hashes in
    sorted order; a participant holding the same file twice counts once.
    """
    holders: dict[str, set[str]] = {}
    for participant, own in hashes.items():
        if isinstance(own, str):  # a bare string would be read as its characters
            raise TypeError(f"{participant}: expected a sequence of hashes, got a string")
        for digest in own:
            holders.setdefault(digest, set()).add(participant)
    return {h: tuple(sorted(p)) for h, p in sorted(holders.items()) if len(p) > 1}


# -- shared ------------------------------------------------------------------------


def _two_sided_z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(
            f"confidence must be strictly between 0 and 1, e.g. 0.90; got {confidence}"
        )
    return _NORMAL.inv_cdf((1 + confidence) / 2)


def _exact(value: float) -> Fraction:
    """The decimal a float was written as: 0.2 is 1/5, not 0.2000000000000000111."""
    return Fraction(str(value))


def _check_share(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a share between 0 and 1, got {value}")
