"""Quantiles of Student's t and the standard normal distribution, without scipy.

Confidence limits of a sample audit need t(p, df) for any sample size, and the
run-time dependencies stop at the standard library here. So the t distribution
is computed from its definition: for t ≥ 0 and ν degrees of freedom,

    P(T > t)     = ½·I_x(ν/2, ½)  with x = ν/(ν + t²)
    P(0 < T < t) = ½·I_y(½, ν/2)  with y = t²/(ν + t²) = 1 − x

where I is the regularized incomplete beta function, evaluated by its continued
fraction (modified Lentz's method). The quantile is the root of whichever of the
two equations involves the smaller probability, so neither loses digits to
cancellation, found by Newton's method on log t (both sides are close to linear
in log t) kept inside a shrinking bracket. ν = 1 and ν = 2 have closed forms,
used as such because their quantiles outgrow floating point for tiny p.

Accuracy: better than 1e-9 relative for ν = 1..10,000 and p in (0, 1) with
min(p, 1 − p) ≥ 1e-300 (subnormal probabilities carry too few bits to invert).
"""

import math
from statistics import NormalDist

_FLOOR = 1e-300  # keeps Lentz's denominators away from zero
_MAX_TERMS = 20_000  # the fraction needs O(sqrt(ν)) terms; ν = 10,000 takes about 200
_CONVERGED = 1e-16
# log t is searched between these: every root for ν ≥ 3 and p ≥ 1e-300 lies inside.
_LOG_T_LOW, _LOG_T_HIGH = math.log(1e-100), math.log(1e160)
_STEP_DONE = 1e-12  # in log t, i.e. relative in t


def z_quantile(p: float) -> float:
    """The p-quantile of the standard normal distribution."""
    _check_probability(p)
    return NormalDist().inv_cdf(p)


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t distribution with `df` degrees of freedom."""
    _check_probability(p)
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"degrees of freedom must be a whole number ≥ 1, got {df!r}")
    if p == 0.5:
        return 0.0
    # 1 − p is exact for p ≥ ½ (Sterbenz), so the upper tail keeps every bit of p.
    upper = p > 0.5
    t = _upper_quantile(1.0 - p if upper else p, df)
    return t if upper else -t


def _check_probability(p: float) -> None:
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be strictly between 0 and 1, got {p!r}")


def _upper_quantile(q: float, df: int) -> float:
    """The t ≥ 0 with P(T > t) = q, for 0 < q < ½."""
    if df == 1:  # Cauchy: P(T > t) = atan(1/t)/π
        return 1.0 / math.tan(math.pi * q) if q < 0.25 else math.tan(math.pi * (0.5 - q))
    if df == 2:  # P(T > t) = ½(1 − t/sqrt(2 + t²))
        return (1.0 - 2.0 * q) / math.sqrt(2.0 * q * (1.0 - q))
    in_tail = q < 0.25
    # ½ − q is exact for q ≥ ¼ (Sterbenz).
    log_target = math.log(q if in_tail else 0.5 - q)
    low, high = _LOG_T_LOW, _LOG_T_HIGH
    u = math.log(-NormalDist().inv_cdf(q))  # the normal quantile as a first guess
    for _ in range(200):
        log_prob, slope = _log_probability(u, df, in_tail)
        gap = log_prob - log_target
        if gap == 0.0:
            return math.exp(u)
        # The tail falls and the centre grows with t: move the bracket edge accordingly.
        if (gap > 0.0) == in_tail:
            low = u
        else:
            high = u
        step = -gap / slope if math.isfinite(gap) else math.inf
        if not low < u + step < high:
            step = (low + high) / 2 - u
        u += step
        if abs(step) < _STEP_DONE:
            break
    return math.exp(u)


def _log_probability(u: float, df: int, in_tail: bool) -> tuple[float, float]:
    """log P(T > t) (tail) or log P(0 < T < t) (centre) at t = e^u, and its derivative in u."""
    t = math.exp(u)
    s = t * t / df
    x, y = 1.0 / (1.0 + s), s / (1.0 + s)
    a = df / 2.0
    prob = 0.5 * (_beta_regularized(a, 0.5, x, y) if in_tail else _beta_regularized(0.5, a, y, x))
    if prob == 0.0:
        return -math.inf, -math.inf
    # d/du log P = ∓ t·f(t)/P with f the t density.
    log_density = (
        math.lgamma((df + 1) / 2.0)
        - math.lgamma(a)
        - 0.5 * math.log(df * math.pi)
        - (df + 1) / 2.0 * math.log1p(s)
    )
    slope = math.exp(u + log_density - math.log(prob))
    return math.log(prob), -slope if in_tail else slope


def _beta_regularized(a: float, b: float, x: float, y: float) -> float:
    """I_x(a, b), given y = 1 − x computed without cancellation by the caller."""
    if x == 0.0:
        return 0.0
    if y == 0.0:
        return 1.0
    # The fraction converges fast below the mean of Beta(a, b); above it, use
    # I_x(a, b) = 1 − I_y(b, a). The directly computed side is the smaller one.
    if x < (a + 1.0) / (a + b + 2.0):
        return _beta_front(a, b, x, y) * _beta_fraction(a, b, x) / a
    return 1.0 - _beta_front(b, a, y, x) * _beta_fraction(b, a, y) / b


def _beta_front(a: float, b: float, x: float, y: float) -> float:
    """x^a · y^b / B(a, b), in logarithms so large a and b do not overflow."""
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    return math.exp(a * math.log(x) + b * math.log(y) - log_beta)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), evaluated by the modified Lentz method."""
    c = 1.0
    d = _nonzero(1.0 - (a + b) * x / (a + 1.0))
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_TERMS + 1):
        # Even and odd terms of the fraction (DLMF 8.17.22).
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 / _nonzero(1.0 + even * d)
        c = _nonzero(1.0 + even / c)
        h *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 / _nonzero(1.0 + odd * d)
        c = _nonzero(1.0 + odd / c)
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _CONVERGED:
            return h
    raise ArithmeticError(f"incomplete beta fraction did not converge for a={a}, b={b}, x={x}")


def _nonzero(v: float) -> float:
    return v if abs(v) > _FLOOR else _FLOOR
