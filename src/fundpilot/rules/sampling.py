"""The C9 post-payment audit sample: a random draw anyone can repeat and check.

The draw is a function of (seed, universe, design, size or rate) only:

- Every unit gets a rank, SHA-256 of the UTF-8 text "{seed}:{stratum}:{key}" read as
  a big-endian integer. Within each stratum (a simple design is one stratum, label
  "") the n_h units with the smallest ranks are chosen, ties (never seen in
  practice) broken by key. If SHA-256 behaves as a random function, that is a
  uniformly random subset of n_h out of N_h; and since nothing but the text of
  the unit enters its rank, the same sample comes out on any machine and Python
  version, whatever order the units were listed in.
- The sample size n is `size`, capped at the population, or ceil(N · rate / 100),
  at least 1 when the population is not empty.
- Stratified designs allocate n to the strata in proportion to N_h by largest
  remainder (each stratum first gets the whole part of n · N_h / N, the units left
  go one each to the largest fractional parts, ties by stratum label). Every
  stratum then gets at least one unit, so the total grows past n when a
  stratum's share rounds down to none. No stratum gets more than N_h: a whole
  part below N_h plus one leftover cannot exceed it.
- The universe digest is the SHA-256 (hex) of the canonical JSON (see
  `canonical.py`) of the list [key, stratum, amount as "0.00"] sorted by key, so
  anyone holding the universe can confirm it is the one that was sampled.
"""

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor

from fundpilot.rules.canonical import canonical_bytes, sha256_hex
from fundpilot.rules.money import CENT
from fundpilot.rules.rulebook import SampleDesign


@dataclass(frozen=True)
class Unit:
    """One paid claim in the universe; `stratum` is "" in a simple design."""

    key: str
    stratum: str
    amount: Decimal


@dataclass(frozen=True)
class StratumCount:
    """How many units a stratum holds (N_h) and how many were drawn from it (n_h)."""

    stratum: str
    population: int
    sample: int


@dataclass(frozen=True)
class Draw:
    """A drawn sample and everything needed to redo or check the draw.

    `chosen` is in draw order: strata by label, then units by rank.
    `strata` is sorted by label.
    """

    design: SampleDesign
    seed: int
    universe_digest: str
    strata: tuple[StratumCount, ...]
    chosen: tuple[Unit, ...]

    @property
    def population(self) -> int:
        return sum(s.population for s in self.strata)

    @property
    def size(self) -> int:
        return len(self.chosen)


def sample_size(population: int, *, size: int | None, rate: Decimal | None) -> int:
    """n for a universe of `population` units: `size` capped, or `rate` percent rounded up."""
    if population < 0:
        raise ValueError(f"population must not be negative, got {population}")
    if size is not None and rate is None:
        if size < 1:
            raise ValueError(f"sample size must be at least 1, got {size}")
        return min(size, population)
    if rate is not None and size is None:
        if not 0 < rate <= 100:
            raise ValueError(
                f"sampling rate must be a percentage above 0 and at most 100, got {rate}"
            )
        # Exact rational arithmetic: 10% of 30 is 3, never 3.0000000001 rounded up to 4.
        return ceil(population * Fraction(rate) / 100)
    raise ValueError("give exactly one of a sample size or a sampling rate")


def draw(
    units: Sequence[Unit],
    *,
    design: SampleDesign,
    size: int | None,
    rate: Decimal | None,
    seed: int,
) -> Draw:
    """Draw the audit sample from `units` (see the module docstring for the algorithm)."""
    _check_universe(units, design, seed)
    by_stratum: dict[str, list[Unit]] = {}
    for unit in units:
        by_stratum.setdefault(unit.stratum, []).append(unit)
    populations = {label: len(members) for label, members in sorted(by_stratum.items())}
    allocation = _allocate(populations, sample_size(len(units), size=size, rate=rate))
    chosen: list[Unit] = []
    for label, n_h in allocation.items():
        ranked = sorted(by_stratum[label], key=lambda u: (rank(seed, u), u.key))
        chosen.extend(ranked[:n_h])
    return Draw(
        design=design,
        seed=seed,
        universe_digest=universe_digest(units),
        strata=tuple(
            StratumCount(label, populations[label], allocation[label]) for label in populations
        ),
        chosen=tuple(chosen),
    )


def rank(seed: int, unit: Unit) -> int:
    """The unit's place in the random order: SHA-256 of "{seed}:{stratum}:{key}"."""
    text = f"{seed}:{unit.stratum}:{unit.key}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


def _allocate(populations: Mapping[str, int], n: int) -> dict[str, int]:
    """n_h per (non-empty) stratum: proportional by largest remainder, at least 1 each."""
    total = sum(populations.values())
    quotas = {label: Fraction(n * size, total) for label, size in populations.items()}
    counts = {label: floor(q) for label, q in quotas.items()}
    leftover = n - sum(counts.values())
    by_remainder = sorted(quotas, key=lambda label: (counts[label] - quotas[label], label))
    for label in by_remainder[:leftover]:
        counts[label] += 1
    return {label: max(count, 1) for label, count in sorted(counts.items())}


def universe_digest(units: Sequence[Unit]) -> str:
    """SHA-256 hex of the canonical list of [key, stratum, amount], sorted by key code points."""
    rows = sorted([u.key, u.stratum, str(u.amount.quantize(CENT))] for u in units)
    return sha256_hex(canonical_bytes(rows))


def _check_universe(units: Sequence[Unit], design: SampleDesign, seed: int) -> None:
    if seed < 0:
        raise ValueError(f"seed must not be negative, got {seed}")
    duplicates = sorted(key for key, count in Counter(u.key for u in units).items() if count > 1)
    if duplicates:
        raise ValueError(f"each unit needs its own key; repeated: {', '.join(duplicates)}")
    for unit in units:
        if unit.amount < 0:
            raise ValueError(f"unit {unit.key}: amount {unit.amount} is negative")
        if unit.amount != unit.amount.quantize(CENT):
            raise ValueError(
                f"unit {unit.key}: amount {unit.amount} has more than 2 decimal places"
            )
        if design is SampleDesign.SIMPLE and unit.stratum:
            raise ValueError(
                f"unit {unit.key}: a simple design has one stratum, labelled ''; "
                f"got {unit.stratum!r}"
            )
