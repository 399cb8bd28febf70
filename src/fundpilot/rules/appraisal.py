"""Variable appraisal of a C9 audit sample, following HHS-OIG RAT-STATS conventions.

Each sampled claim contributes its difference d = paid − supported (0 when the
evidence supports the whole payment). For stratum h with N_h claims in the
universe and n_h of them sampled, with mean ȳ_h and sample variance s_h²
(denominator n_h − 1):

    point estimate  Σ N_h · ȳ_h
    variance        Σ N_h · (N_h − n_h) · s_h² / n_h
    standard error  sqrt(variance)

A simple (unrestricted) design is the one-stratum case, where the standard error
is N·sqrt((1 − n/N)·s²/n). The limits are estimate ± c · SE with c the
critical value: Student's t with n − 1 degrees of freedom for a simple design,
the standard normal z for a stratified one; at 1 − α/2 two-sided (α = 1 −
confidence), or at the confidence level one-sided, which gives a lower limit
only. The amount to recover is the lower limit, never below zero.

One sampled value says nothing about spread: such a stratum adds no variance
and the result carries a warning (not when N_h = 1, a census, where there is
no spread to estimate).

Arithmetic is Decimal at 40 significant digits (sums are exact, the square root
correctly rounded); the critical value is a float from `student_t`, recorded and
used as its shortest decimal spelling. Amounts are rounded to the cent once, at
the end, by the system's one rule (`money.quantize`, half even); the precision
percentage to 0.01.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Literal

from fundpilot.rules.money import quantize
from fundpilot.rules.rulebook import SampleDesign, Sided
from fundpilot.rules.student_t import t_quantile, z_quantile

_PRECISION = 40
_ZERO_CENTS = Decimal("0.00")


@dataclass(frozen=True)
class StratumSample:
    """A stratum's universe size N_h and the differences of its n_h sampled claims."""

    stratum: str
    population: int
    differences: tuple[Decimal, ...]


@dataclass(frozen=True)
class StratumAppraisal:
    """One stratum's figures, in cents: mean and standard deviation of d, and N_h · mean."""

    stratum: str
    population: int
    sample: int
    mean: Decimal
    sd: Decimal
    estimate: Decimal


@dataclass(frozen=True)
class Appraisal:
    """The extrapolated overpayment with its confidence limits; amounts in cents.

    `critical_value` is None only when a simple design sampled one claim (no
    degrees of freedom). `upper` is None for a one-sided appraisal.
    `precision` is the distance from the estimate to the lower limit, and
    `precision_percent` that as a percentage of the estimate (None when it is 0).
    """

    design: SampleDesign
    confidence: Decimal
    sided: Sided
    population: int
    sample: int
    sample_overpayment: Decimal
    point_estimate: Decimal
    standard_error: Decimal
    critical_kind: Literal["t", "z"]
    degrees_of_freedom: int | None
    critical_value: Decimal | None
    lower: Decimal
    upper: Decimal | None
    precision: Decimal
    precision_percent: Decimal | None
    recovery: Decimal
    strata: tuple[StratumAppraisal, ...]
    warnings: tuple[str, ...]


def appraise(
    samples: Sequence[StratumSample],
    *,
    design: SampleDesign,
    confidence: Decimal = Decimal("0.90"),
    sided: Sided = Sided.TWO,
) -> Appraisal:
    """Extrapolate the sampled differences to the universe (see the module docstring)."""
    _check(samples, design, confidence)
    with localcontext(prec=_PRECISION):
        rows = [_stratum_figures(s) for s in samples]
        estimate = sum((r.estimate for r in rows), Decimal(0))
        standard_error = sum((r.variance for r in rows), Decimal(0)).sqrt()
        n = sum(len(s.differences) for s in samples)
        kind, df, critical = _critical(design, n, confidence, sided)
        half_width = critical * standard_error if critical is not None else Decimal(0)
        lower, point_estimate = _cents(estimate - half_width), _cents(estimate)
        percent = half_width / estimate * 100 if point_estimate else None
        overpayment = sum((d for s in samples for d in s.differences), Decimal(0))
        return Appraisal(
            design=design,
            confidence=confidence,
            sided=sided,
            population=sum(s.population for s in samples),
            sample=n,
            sample_overpayment=_cents(overpayment),
            point_estimate=point_estimate,
            standard_error=_cents(standard_error),
            critical_kind=kind,
            degrees_of_freedom=df,
            critical_value=critical,
            lower=lower,
            upper=_cents(estimate + half_width) if sided is Sided.TWO else None,
            precision=_cents(half_width),
            precision_percent=quantize(percent) if percent is not None else None,
            recovery=max(_ZERO_CENTS, lower),
            strata=tuple(r.public for r in rows),
            warnings=tuple(w for s in samples for w in _warnings(s, design)),
        )


@dataclass(frozen=True)
class _Figures:
    public: StratumAppraisal
    estimate: Decimal
    variance: Decimal


def _stratum_figures(sample: StratumSample) -> _Figures:
    """ȳ_h, s_h and the stratum's share of the estimate and of the variance."""
    big_n, d = sample.population, sample.differences
    n = len(d)
    if n == 0:  # an empty stratum (N_h = 0) contributes nothing
        mean = variance = Decimal(0)
    else:
        mean = sum(d, Decimal(0)) / n
        variance = sum(((x - mean) ** 2 for x in d), Decimal(0)) / (n - 1) if n > 1 else Decimal(0)
    estimate = big_n * mean
    public = StratumAppraisal(
        stratum=sample.stratum,
        population=big_n,
        sample=n,
        mean=_cents(mean),
        sd=_cents(variance.sqrt()),
        estimate=_cents(estimate),
    )
    share = big_n * (big_n - n) * variance / n if n else Decimal(0)
    return _Figures(public=public, estimate=estimate, variance=share)


def _critical(
    design: SampleDesign, n: int, confidence: Decimal, sided: Sided
) -> tuple[Literal["t", "z"], int | None, Decimal | None]:
    """(kind, degrees of freedom, value) of the critical value for the limits."""
    p = float((1 + confidence) / 2 if sided is Sided.TWO else confidence)
    if design is SampleDesign.STRATIFIED:
        return "z", None, Decimal(repr(z_quantile(p)))
    df = n - 1
    return "t", df, Decimal(repr(t_quantile(p, df))) if df > 0 else None


def _warnings(sample: StratumSample, design: SampleDesign) -> list[str]:
    if len(sample.differences) != 1 or sample.population == 1:
        return []
    where = f"stratum {sample.stratum!r}: " if design is SampleDesign.STRATIFIED else ""
    return [
        f"{where}1 claim sampled out of {sample.population}: one value cannot show how "
        "claims vary, so its variance counts as 0 and the standard error is understated"
    ]


def _cents(amount: Decimal) -> Decimal:
    rounded = quantize(amount)
    return rounded if rounded else _ZERO_CENTS  # no "-0.00"


def _check(samples: Sequence[StratumSample], design: SampleDesign, confidence: Decimal) -> None:
    if not samples:
        raise ValueError("nothing to appraise: no strata given")
    if design is SampleDesign.SIMPLE and len(samples) != 1:
        raise ValueError(f"a simple design has exactly one stratum, got {len(samples)}")
    labels = [s.stratum for s in samples]
    if len(set(labels)) != len(labels):
        raise ValueError("each stratum may appear only once")
    if not (confidence.is_finite() and 0 < confidence < 1):
        raise ValueError(
            f"confidence must be strictly between 0 and 1, e.g. 0.90; got {confidence}"
        )
    for s in samples:
        _check_stratum(s)
    if not any(s.differences for s in samples):
        raise ValueError("nothing to appraise: no claims were sampled")


def _check_stratum(s: StratumSample) -> None:
    n = len(s.differences)
    if s.population < 0:
        raise ValueError(f"stratum {s.stratum!r}: population {s.population} is negative")
    if n > s.population:
        raise ValueError(
            f"stratum {s.stratum!r}: {n} claims sampled from a population of {s.population}"
        )
    if n == 0 and s.population > 0:
        raise ValueError(
            f"stratum {s.stratum!r}: no claims sampled from a population of {s.population}; "
            "every non-empty stratum needs at least one"
        )
    for d in s.differences:
        if not d.is_finite() or d < 0:
            raise ValueError(
                f"stratum {s.stratum!r}: difference {d} must be a finite amount ≥ 0 "
                "(paid minus supported)"
            )
