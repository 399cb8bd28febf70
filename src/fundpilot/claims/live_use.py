"""C10 live use: proof that the pathway runs on real cases, taken from the lifecycle
data rather than from readiness paperwork, and the tranche board that shows it.

Real cases are the referrals the pilot received up to a moment (any source, any
provider: "no wrong door" means every one of them is a real person sent to the
pathway). The referral closure rate is the share of those referrals answered by that
same moment, by an eligibility file (C1) or by a coded decline (C2). Both figures are
one aggregate query, whatever the pilot's size.

Quality floors ("quality holds as volume grows") are attested figures on the claim,
`{measure: {"value": percent, "volume": cases}}`; `floor_problem` checks them.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q

from fundpilot.claims.models import Claim
from fundpilot.participants.models import Referral
from fundpilot.pilots.models import Pilot
from fundpilot.rules.money import canonical_percent, quantize
from fundpilot.rules.rulebook import LiveUse, Rulebook, Tranche


@dataclass(frozen=True)
class LiveUseFigures:
    """Live use of the pathway at one moment."""

    at: datetime
    real_cases: int
    answered: int

    @property
    def closure_rate(self) -> Decimal | None:
        """Percent of real cases answered, to at most two places (None before any referral)."""
        if not self.real_cases:
            return None
        return canonical_percent(quantize(Decimal(self.answered) * 100 / self.real_cases))

    def closure_at_least(self, minimum: Decimal) -> bool:
        """Exact comparison: 79.996% is short of 80%, even though it shows as 80.00."""
        return self.real_cases > 0 and self.answered * 100 >= minimum * self.real_cases

    def as_json(self) -> dict[str, Any]:
        rate = self.closure_rate
        return {
            "at": self.at.isoformat(),
            "real_cases": self.real_cases,
            "answered": self.answered,
            "referral_closure_rate": None if rate is None else str(rate),
        }


def live_use(pilot: Pilot, *, at: datetime) -> LiveUseFigures:
    """Referrals received in the pilot up to `at`, and how many were answered by then."""
    answered = Q(eligibility_file__decided_at__lte=at) | Q(decline__decided_at__lte=at)
    figures = Referral.objects.filter(pilot=pilot, referred_at__lte=at).aggregate(
        real=Count("pk", distinct=True), answered=Count("pk", distinct=True, filter=answered)
    )
    return LiveUseFigures(at=at, real_cases=figures["real"], answered=figures["answered"])


def live_use_problem(figures: LiveUseFigures, requirement: LiveUse | None) -> str:
    """Why live use falls short of the tranche's requirement ("" when it does not)."""
    if requirement is None:
        return ""
    problems = []
    if figures.real_cases < requirement.minimum_real_cases:
        problems.append(
            f"{figures.real_cases} real cases, {requirement.minimum_real_cases} required"
        )
    minimum = requirement.minimum_referral_closure_rate
    if minimum is not None and not figures.closure_at_least(minimum):
        rate = figures.closure_rate
        shown = "no referrals" if rate is None else f"{rate}% of referrals closed"
        problems.append(f"{shown}, {minimum}% required")
    return "; ".join(problems)


def floor_problem(requirement: LiveUse | None, measures: Mapping[str, Any]) -> tuple[str, str]:
    """(code, message) for the first quality floor the attested measures miss; ("", "")
    when every floor holds at its volume. Values are percent, volumes case counts."""
    for floor in requirement.quality_floors if requirement else ():
        attested = measures.get(floor.measure)
        if attested is None:
            return "measure_missing", f"attest {floor.measure} ({floor.label})"
        value, volume = Decimal(str(attested["value"])), int(attested["volume"])
        if value < floor.floor or volume < floor.at_volume:
            return (
                "quality_below_floor",
                f"{floor.measure} is {value}% at {volume} cases; the floor is"
                f" {floor.floor}% at {floor.at_volume} cases or more",
            )
    return "", ""


def tranche_for(rulebook: Rulebook, milestone: str) -> Tranche | None:
    """The tranche a contract milestone releases, if any."""
    return next((t for t in rulebook.tranches if t.milestone == milestone), None)


# --- the tranche board ----------------------------------------------------------------


@dataclass(frozen=True)
class TrancheRow:
    """One tranche as the board shows it: what it needs, where it stands."""

    tranche: Tranche
    predecessors: tuple[str, ...]  # tranche codes of its prerequisite milestones
    status: str  # not_claimed | draft | submitted | payable | rejected | cure_over
    claim: Claim | None  # the latest claim of the tranche
    claims: int
    live_use: dict[str, Any]  # as submitted (submitted, payable), else today's figures
    live_use_short: str
    cure_until: date | None
    released: Decimal | None
    payer_split: list[dict[str, str]]

    @property
    def code(self) -> str:
        return self.tranche.code


def tranche_board(pilot: Pilot, *, at: datetime) -> list[TrancheRow]:
    """Every tranche of the rulebook in force, in the rulebook's order."""
    rb = pilot.rulebook
    today = pilot.calendar.local_date(at)
    latest: dict[str, Claim] = {}
    counts: dict[str, int] = {}
    claims = Claim.objects.filter(pilot=pilot, scope="contract").order_by("pk")
    for claim in claims.select_related("submitted_by", "drafted_by"):
        latest[claim.tranche] = claim
        counts[claim.tranche] = counts.get(claim.tranche, 0) + 1
    now = live_use(pilot, at=at)
    by_milestone = {t.milestone: t.code for t in rb.tranches}
    rows = []
    for tranche in rb.tranches:
        claim = latest.get(tranche.code)
        status = claim.status if claim else "not_claimed"
        if (
            claim
            and claim.status == Claim.REJECTED
            and (claim.cure_until is None or today > claim.cure_until)
        ):
            status = "cure_over"
        # As submitted while verification is under way or done; today's figures otherwise.
        decided = claim is not None and claim.status in (Claim.SUBMITTED, Claim.PAYABLE)
        stored = claim.live_use if decided and claim and claim.live_use else None
        figures = stored or now.as_json()
        measured = LiveUseFigures(
            at=at, real_cases=figures["real_cases"], answered=figures["answered"]
        )
        milestone = rb.milestone(tranche.milestone)
        payable = claim is not None and claim.status == Claim.PAYABLE
        rows.append(
            TrancheRow(
                tranche=tranche,
                predecessors=tuple(
                    by_milestone[m] for m in milestone.prerequisites if m in by_milestone
                ),
                status=status,
                claim=claim,
                claims=counts.get(tranche.code, 0),
                live_use=figures,
                live_use_short=live_use_problem(measured, tranche.live_use),
                cure_until=claim.cure_until if claim and claim.status == Claim.REJECTED else None,
                released=claim.payable_amount if payable and claim else None,
                payer_split=claim.payer_split if payable and claim else [],
            )
        )
    return rows
