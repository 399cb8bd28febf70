"""C9 post-payment sample audit of sampled-tier claims: the draw, the audits, the appraisal.

- The universe of a period ("YYYY-MM") is the pilot's claims whose tier is in
  `sampling.tiers` that became payable in that month of the pilot's time zone. Each is
  a unit keyed by its reference, worth its payable amount; a stratified design labels
  it with the rulebook's `sampling.strata` joined with "|" (milestone code, provider
  code, payer of the largest share, participant's acuity band).
- A period is drawn once, after it has ended (until then claims can still join it).
  The draw (`rules.sampling`) depends on the seed and the universe alone: `redraw`
  gives the same items from the stored data, and the digest shows it is unchanged.
- Each sampled claim is audited once, by a verifier independent of its provider; a
  failure (supported < paid) is marked for recoupment at once. A changed finding is a
  dispute's outcome (a superseding audit, `claims.actions.disputes`), never an edit.
- The appraisal (`rules.appraisal`) extrapolates the current audits' differences with
  the sampling plan recorded at the draw (design, confidence, sides); whether to
  extrapolate is the rulebook's in force. The recovery is the lower limit, a figure
  separate from, and explained against, the individual recoupments. The newest
  appraisal of a sample is the one in force.
"""

import re
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction

from fundpilot.audit import log
from fundpilot.claims.models import Appraisal, Claim, Recoupment, Sample, SampleAudit, SampleItem
from fundpilot.participants.deadlines import due_after, late_by
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules import appraisal as maths
from fundpilot.rules import sampling as draws
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import CENT
from fundpilot.rules.rulebook import SampleDesign, Sampling, Sided, Stratum

PERIOD = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
MAX_SEED = 2**63 - 1  # what the database's BIGINT holds
DEFAULT_AUDIT_DAYS = 5  # C9 time box (deadlines.verification) when the rulebook is silent
ZERO = Decimal("0.00")


# --- the universe ----------------------------------------------------------------------


def period_bounds(pilot: Pilot, period: str) -> tuple[datetime, datetime]:
    """The instants the pilot-local month `period` begins and the next one begins."""
    match = PERIOD.fullmatch(period) if isinstance(period, str) else None
    if match is None:
        raise Refused("bad_period", f"'{period}' is not a month: write it as YYYY-MM", "period")
    year, month = int(match[1]), int(match[2])
    zone = ZoneInfo(pilot.rulebook.pilot.timezone)
    start = datetime(year, month, 1, tzinfo=zone)
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start, following


def stratum_of(claim: Claim, strata: Sequence[Stratum]) -> str:
    """The claim's stratum label: the rulebook's strata, in its order, joined with "|"."""
    parts = []
    for stratum in strata:
        if stratum is Stratum.MILESTONE:
            parts.append(claim.milestone)
        elif stratum is Stratum.PROVIDER:
            parts.append(claim.provider.code)
        elif stratum is Stratum.PAYER:
            shares = [
                (Decimal(s["share"]), -i, s["payer"]) for i, s in enumerate(claim.payer_split)
            ]
            parts.append(max(shares)[2] if shares else "")  # largest share; first on a tie
        else:
            parts.append(claim.participant.acuity_band if claim.participant else "")
    return "|".join(parts)


def universe(pilot: Pilot, period: str, sampling: Sampling) -> dict[str, tuple[Claim, draws.Unit]]:
    """The period's sampled-tier payable claims, each with its unit, by reference."""
    start, end = period_bounds(pilot, period)
    claims = Claim.objects.filter(
        pilot=pilot,
        tier__in=[t.value for t in sampling.tiers],
        payable_at__gte=start,
        payable_at__lt=end,
        payable_amount__isnull=False,
    ).select_related("provider", "participant")
    stratified = sampling.design is SampleDesign.STRATIFIED
    return {
        c.reference: (
            c,
            draws.Unit(
                c.reference,
                stratum_of(c, sampling.strata) if stratified else "",
                c.payable_amount,
            ),
        )
        for c in claims.order_by("reference")
    }


def _log(
    pilot: Pilot, by: User, role: Any, action: str, subject: str, at: datetime, **payload: Any
) -> None:
    log.append(
        chain=log.pilot_chain(pilot.slug),
        actor=actor(by, role),
        action=action,
        subject=subject,
        payload=payload,
        at=at,
        rulebook_version=pilot.current.number,
    )


def _sampling(pilot: Pilot) -> Sampling:
    sampling = pilot.rulebook.sampling
    if sampling is None:
        raise Refused("no_sampling_rule", "this pilot's rulebook samples no claims", "pilot")
    return sampling


def redraw(sample: Sample) -> draws.Draw:
    """The draw again, from the stored seed, the sampling rule in force at the draw and
    the universe as the data holds it now: the same items and digest while it is unchanged."""
    pilot = sample.pilot
    sampling = pilot.versions.get(number=sample.rulebook_version).rulebook.sampling
    assert sampling is not None, "a sample is drawn under a rulebook that samples"
    units = [unit for _, unit in universe(pilot, sample.period, sampling).values()]
    design = SampleDesign(sample.design)
    return draws.draw(
        units, design=design, size=sampling.size, rate=sampling.rate, seed=sample.seed
    )


# --- C9 the draw -----------------------------------------------------------------------


def draw_sample(*, pilot: Pilot, period: str, seed: int, by: User, at: datetime) -> Sample:
    """C9: draw the post-payment audit sample of one period's sampled-tier claims.

    Refused (nothing written) when: the rulebook has no sampling (no_sampling_rule);
    the seed is not a whole number from 0 to 2^63 − 1 (bad_seed); the period is not
    YYYY-MM or has not ended in the pilot's time zone (bad_period); the period was
    already drawn (already_drawn); nothing was payable in it (empty_universe); the
    drawer's organisation delivered claims of the universe (not_independent).
    """
    role = policy.require(by, "sample.draw", pilot)
    sampling = _sampling(pilot)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise Refused("bad_seed", f"the seed is a whole number from 0 to {MAX_SEED}", "seed")
    _, end = period_bounds(pilot, period)
    if at < end:
        raise Refused(
            "bad_period",
            f"{period} has not ended in the pilot's time zone: claims can still join it",
            "period",
        )
    version = pilot.current
    with transaction.atomic(durable=True):
        Pilot.objects.select_for_update().get(pk=pilot.pk)  # one draw at a time per pilot
        if Sample.objects.filter(pilot=pilot, period=period).exists():
            raise Refused("already_drawn", f"the sample of {period} is already drawn", "period")
        found = universe(pilot, period, sampling)
        if not found:
            raise Refused(
                "empty_universe", f"no sampled-tier claim became payable in {period}", "period"
            )
        if any(claim.provider_id == by.organisation_id for claim, _ in found.values()):
            raise Refused(
                "not_independent",
                "your organisation delivered claims of this universe: an independent"
                " verifier draws the sample",
                "by",
            )
        try:
            drawn = draws.draw(
                [unit for _, unit in found.values()],
                design=sampling.design,
                size=sampling.size,
                rate=sampling.rate,
                seed=seed,
            )
        except ValueError as exc:
            raise Refused("bad_sampling_rule", str(exc), "pilot") from None
        strata = [asdict(s) for s in drawn.strata]
        sample = Sample.objects.create(
            pilot=pilot,
            period=period,
            seed=seed,
            design=sampling.design.value,
            universe_size=drawn.population,
            universe_amount=sum((u.amount for _, u in found.values()), ZERO),
            universe_digest=drawn.universe_digest,
            strata=strata,
            confidence=sampling.confidence,
            sided=sampling.sided.value,
            drawn_by=by,
            drawn_at=at,
            rulebook_version=version.number,
        )
        SampleItem.objects.bulk_create(
            SampleItem(sample=sample, claim=found[u.key][0], stratum=u.stratum, position=i)
            for i, u in enumerate(drawn.chosen, start=1)
        )
        _log(
            pilot,
            by,
            role,
            "sample.draw",
            f"sample:{period}",
            at,
            period=period,
            seed=seed,
            design=sample.design,
            size=sampling.size,
            rate=sampling.rate,
            strata_by=[s.value for s in sampling.strata],
            universe_size=sample.universe_size,
            universe_amount=sample.universe_amount,
            universe_digest=sample.universe_digest,
            strata=strata,
            items=[u.key for u in drawn.chosen],
        )
    return sample


# --- C9 the audit of a sampled claim ----------------------------------------------------


def _supported(amount: Any, paid: Decimal) -> Decimal:
    try:
        supported = Decimal(str(amount).strip())
    except InvalidOperation:
        supported = Decimal("NaN")
    if not supported.is_finite() or supported != supported.quantize(CENT):
        raise Refused(
            "bad_amount", "give the supported amount in dollars and cents", "supported_amount"
        )
    if not 0 <= supported <= paid:
        raise Refused(
            "bad_amount",
            f"the supported amount is between 0.00 and the {paid} paid",
            "supported_amount",
        )
    return supported.quantize(CENT)


def audit_sampled_claim(
    *,
    item: SampleItem,
    supported_amount: Decimal,
    finding_codes: Sequence[str] = (),
    note: str = "",
    by: User,
    at: datetime,
) -> SampleAudit:
    """C9: audit one sampled claim after payment — what was paid, what its evidence
    supports. A failure (supported < paid) is marked for recoupment on that claim.

    Refused (nothing written) when: the verifier's organisation delivered the claim
    (not_independent); the supported amount is not in cents or not between 0 and the
    amount paid (bad_amount); a finding code is not a verification rejection reason
    (unknown_finding); an unsupported amount has no finding code (finding_required);
    the item was audited already (already_audited — a change is a dispute's outcome).
    The audit is due `deadlines.verification` business days after the draw.
    """
    sample = item.sample
    pilot = sample.pilot
    role = policy.require(by, "sample.audit", pilot)
    claim = item.claim
    if by.organisation_id == claim.provider_id:
        raise Refused(
            "not_independent",
            "a verifier may not audit a claim from their own organisation",
            "claim",
        )
    version = pilot.current
    rulebook = version.rulebook
    paid = claim.payable_amount or ZERO
    supported = _supported(supported_amount, paid)
    known = {c.code for c in rulebook.codes.verification_rejection_reasons}
    findings = list(dict.fromkeys(str(c).strip() for c in finding_codes if str(c).strip()))
    if unknown := [c for c in findings if c not in known]:
        raise Refused(
            "unknown_finding",
            f"not a verification rejection reason: {', '.join(unknown)}"
            f" (known: {', '.join(sorted(known)) or 'none'})",
            "finding_codes",
        )
    if supported < paid and not findings:
        raise Refused(
            "finding_required",
            "an amount the evidence does not support needs at least one finding code",
            "finding_codes",
        )
    due = due_after(pilot, sample.drawn_at, rulebook.deadlines.verification or DEFAULT_AUDIT_DAYS)
    with transaction.atomic(durable=True):
        locked = SampleItem.objects.select_for_update().get(pk=item.pk)
        if SampleAudit.objects.filter(item=locked).exists():
            raise Refused(
                "already_audited",
                f"{claim.reference} was audited already; dispute the finding to change it",
                "item",
            )
        audit = SampleAudit.objects.create(
            item=locked,
            organisation=by.organisation,
            paid_amount=paid,
            supported_amount=supported,
            finding_codes=findings,
            note=note.strip(),
            decided_by=by,
            decided_at=at,
            rulebook_version=version.number,
            due=due,
            late_days=late_by(pilot, due, at),
        )
        recoupment = None
        if supported < paid:
            recoupment = Recoupment.objects.create(
                pilot=pilot,
                claim=claim,
                provider_id=claim.provider_id,
                amount=paid - supported,
                reason=Recoupment.SAMPLE_AUDIT,
                audit=audit,
                basis_key=f"recoup:audit:{audit.pk}",
                created_by=by,
                created_at=at,
                rulebook_version=version.number,
            )
        _log(
            pilot,
            by,
            role,
            "sample.audit",
            f"claim:{claim.reference}",
            at,
            sample=sample.period,
            position=locked.position,
            stratum=locked.stratum,
            paid_amount=paid,
            supported_amount=supported,
            finding_codes=findings,
            note=audit.note,
            recoupment=recoupment.basis_key if recoupment else None,
            recouped=paid - supported,
            due=due,
            late_days=audit.late_days,
        )
    return audit


# --- C9 the appraisal ------------------------------------------------------------------


def current_audits(sample: Sample) -> dict[int, SampleAudit]:
    """Each item's current audit (the one no later audit supersedes), by item id."""
    rows = SampleAudit.objects.filter(item__sample=sample, superseded_by__isnull=True)
    return {a.item_id: a for a in rows.select_related("item__claim", "decided_by", "organisation")}


def latest_appraisal(sample: Sample) -> Appraisal | None:
    """The appraisal in force: the newest."""
    return sample.appraisals.order_by("-decided_at", "-pk").first()


def appraise_sample(*, sample: Sample, by: User, at: datetime) -> Appraisal:
    """C9: extrapolate a fully audited sample's overpayment to its universe (variable
    appraisal, RAT-STATS conventions; see `rules.appraisal`).

    Refused (nothing written) when: an item has no current audit (not_fully_audited);
    the newest appraisal already rests on exactly these audits (already_appraised);
    the appraiser's organisation delivered a sampled claim (not_independent).
    """
    pilot = sample.pilot
    role = policy.require(by, "sample.audit", pilot)
    version = pilot.current
    sampling = version.rulebook.sampling
    extrapolate = bool(sampling and sampling.extrapolate)
    with transaction.atomic(durable=True):
        locked = Sample.objects.select_for_update().get(pk=sample.pk)
        items = list(locked.items.select_related("claim", "claim__provider"))
        if any(i.claim.provider_id == by.organisation_id for i in items):
            raise Refused(
                "not_independent",
                "your organisation delivered claims of this sample: an independent"
                " verifier appraises it",
                "by",
            )
        audits = current_audits(locked)
        missing = [i.claim.reference for i in items if i.pk not in audits]
        if missing:
            raise Refused(
                "not_fully_audited",
                f"{len(missing)} of {len(items)} sampled claims await their audit:"
                f" {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}",
                "sample",
            )
        used = sorted(a.pk for a in audits.values())
        previous = latest_appraisal(locked)
        if previous is not None and previous.detail.get("audits") == used:
            raise Refused(
                "already_appraised",
                "the sample is appraised on these very audits; a changed finding"
                " (a dispute's outcome) calls for a new appraisal",
                "sample",
            )
        differences: dict[str, list[Decimal]] = {}
        for i in items:
            a = audits[i.pk]
            differences.setdefault(i.stratum, []).append(a.paid_amount - a.supported_amount)
        try:
            result = maths.appraise(
                [
                    maths.StratumSample(
                        s["stratum"], s["population"], tuple(differences.get(s["stratum"], ()))
                    )
                    for s in locked.strata
                ],
                design=SampleDesign(locked.design),
                confidence=locked.confidence,
                sided=Sided(locked.sided),
            )
        except ValueError as exc:
            raise Refused("cannot_appraise", str(exc), "sample") from None
        failed = sum(1 for a in audits.values() if a.supported_amount < a.paid_amount)
        detail = _detail(locked, result, extrapolate, used, failed, previous)
        made = Appraisal.objects.create(
            sample=locked,
            point_estimate=result.point_estimate,
            standard_error=result.standard_error,
            lower=result.lower,
            upper=result.upper,
            critical_value=(result.critical_value or Decimal(0)).quantize(Decimal("0.000001")),
            distribution=result.critical_kind,
            degrees_of_freedom=result.degrees_of_freedom,
            confidence=result.confidence,
            sided=result.sided.value,
            sample_overpayment=result.sample_overpayment,
            recovery=result.recovery if extrapolate else ZERO,
            detail=detail,
            decided_by=by,
            decided_at=at,
            rulebook_version=version.number,
        )
        _log(
            pilot,
            by,
            role,
            "sample.appraise",
            f"sample:{locked.period}",
            at,
            point_estimate=made.point_estimate,
            standard_error=made.standard_error,
            lower=made.lower,
            upper=made.upper,
            distribution=made.distribution,
            degrees_of_freedom=made.degrees_of_freedom,
            critical_value=detail["critical_value"],
            confidence=made.confidence,
            sided=made.sided,
            sample_overpayment=made.sample_overpayment,
            recovery=made.recovery,
            **{k: detail[k] for k in ("extrapolate", "audits", "supersedes", "warnings")},
        )
    return made


def _detail(
    sample: Sample,
    result: maths.Appraisal,
    extrapolate: bool,
    used: list[int],
    failed: int,
    previous: Appraisal | None,
) -> dict[str, Any]:
    return {
        "population": result.population,
        "sample": result.sample,
        "failed": failed,
        "critical_value": None if result.critical_value is None else str(result.critical_value),
        "precision": str(result.precision),
        "precision_percent": str(result.precision_percent)
        if result.precision_percent is not None
        else None,
        "lower_limit_recovery": str(result.recovery),
        "extrapolate": extrapolate,
        "strata": [
            {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(s).items()}
            for s in result.strata
        ],
        "warnings": list(result.warnings),
        "audits": used,
        "supersedes": previous.pk if previous else None,
        "explanation": explain(sample, result, extrapolate, failed),
    }


def _money(amount: Decimal) -> str:
    return f"USD {amount:,.2f}"


def explain(sample: Sample, r: maths.Appraisal, extrapolate: bool, failed: int) -> str:
    """The appraisal in plain words: what was found, what it suggests for the universe,
    what is recovered, and how that relates to the claim-by-claim recoupments."""
    percent = f"{r.confidence * 100:.0f}%"
    if r.critical_value is None:
        critical = "no critical value (one claim sampled, so no spread to measure)"
    elif r.critical_kind == "t":
        critical = (
            f"Student's t on {r.degrees_of_freedom} degrees of freedom, {r.critical_value:.6f}"
        )
    else:
        critical = f"the normal z, {r.critical_value:.6f}"
    sided = "two-sided" if r.sided is Sided.TWO else "one-sided"
    limits = f"at least {_money(r.lower)}"
    if r.upper is not None:
        limits += f" and at most {_money(r.upper)}"
    strata = f" in {len(r.strata)} strata" if r.design is SampleDesign.STRATIFIED else ""
    words = [
        f"{r.sample} of the {r.population} sampled-tier claims paid in {sample.period}"
        f" ({_money(sample.universe_amount)}) were audited{strata}; {failed} of them were"
        f" overpaid, by {_money(r.sample_overpayment)} in all. Each of those claims is"
        " marked for recoupment on its own.",
        f"Extrapolated to all {r.population} claims, the overpayment is estimated at"
        f" {_money(r.point_estimate)} (standard error {_money(r.standard_error)}). With"
        f" {percent} confidence ({sided}; {critical}) it is {limits}.",
    ]
    if not extrapolate:
        words.append(
            "The rulebook does not extrapolate: only the sampled claims' overpayment is"
            " recovered, claim by claim; nothing more is demanded for the universe."
        )
    elif r.recovery == 0:
        words.append(
            "The lower limit is not above zero, so nothing is demanded for the universe"
            " beyond the sampled claims' own recoupments."
        )
    else:
        rest = r.recovery - r.sample_overpayment
        words.append(
            f"The amount to recover for the universe is the lower limit, {_money(r.recovery)}."
            " It covers every claim of the universe, the sampled ones included, so the"
            f" {_money(r.sample_overpayment)} marked for recoupment on the sampled claims"
            + (
                f" counts toward it, leaving {_money(rest)} for the claims not sampled."
                if rest > 0
                else " already covers it: nothing more is demanded for the claims not sampled."
            )
        )
    words += list(r.warnings)
    return " ".join(words)


# --- reading -----------------------------------------------------------------------------


def samples_of(pilot: Pilot) -> list[Sample]:
    """The pilot's samples, newest period first."""
    return list(Sample.objects.filter(pilot=pilot).order_by("-period"))


def visible_items(user: Any, sample: Sample) -> list[SampleItem]:
    """The sample's items the user may see (provider staff: their organisation's)."""
    rows = SampleItem.objects.filter(sample=sample).select_related(
        "claim", "claim__provider", "claim__participant"
    )
    return list(policy.claims_scope(user, sample.pilot, rows, "claim__provider"))
