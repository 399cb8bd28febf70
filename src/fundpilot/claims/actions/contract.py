"""C10 staged contract milestones: the pilot office claims a contract milestone, which
releases its tranche once the independent verifier accepts it (`verify_claim`).

A tranche is claimed only after its predecessors are payable, only once at a time, and
never again once released. Readiness for a contract claim is checked at submission:
contract evidence of every required kind (dated up to the day the milestone was
reached), live use from the lifecycle data (real cases, referral closure) and the
attested quality measures against their floors. A rejected tranche may be cured within
its cure period and drafted again; the new claim names the one it resubmits.
"""

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from fundpilot.audit import log
from fundpilot.claims.live_use import floor_problem, live_use, live_use_problem, tranche_for
from fundpilot.claims.models import Claim, ClaimEvidence, Evidence
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.rulebook import Milestone, Rulebook, Scope, Tranche

CONTRACT = Scope.CONTRACT.value
# Verification due this many business days after submission when the rulebook is silent.
DEFAULT_VERIFICATION_DAYS = 5


def _milestone(rb: Rulebook, code: str) -> tuple[Milestone, Tranche]:
    try:
        milestone = rb.milestone(code)
    except KeyError:
        raise Refused(
            "unknown_milestone", f"the milestone library has no milestone '{code}'", "milestone"
        ) from None
    if milestone.scope is not Scope.CONTRACT:
        raise Refused(
            "not_contract_milestone",
            f"{code} is a participant milestone; claim it for the participant",
            "milestone",
        )
    tranche = tranche_for(rb, code)
    if tranche is None:
        raise Refused("no_tranche", f"no tranche is released by {code}", "milestone")
    return milestone, tranche


def _measures(tranche: Tranche, measures: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Attested measures as stored: {measure: {"value": "92.5", "volume": 160}}."""
    floors = tranche.live_use.quality_floors if tranche.live_use else ()
    known = {f.measure for f in floors} | {c.code for c in tranche.criteria}
    clean: dict[str, dict[str, Any]] = {}
    for name, figures in measures.items():
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise Refused(
                "unknown_measure",
                f"'{name}' is not a measure of tranche {tranche.code} (measures: {listed})",
                "measures",
            )
        try:
            value = Decimal(str(figures["value"]).strip())
            volume = figures["volume"]
            if isinstance(volume, str):
                volume = int(volume.strip())
        except (KeyError, TypeError, ValueError, InvalidOperation):
            raise Refused(
                "invalid_measure",
                f"{name}: give a value in percent and a volume in cases",
                "measures",
            ) from None
        if (
            not value.is_finite()
            or not 0 <= value <= 100
            or value != value.quantize(Decimal("0.01"))
        ):
            raise Refused(
                "invalid_measure",
                f"{name}: {value} is not a percentage (0–100, 2 places)",
                "measures",
            )
        if isinstance(volume, bool) or not isinstance(volume, int) or volume < 0:
            raise Refused("invalid_measure", f"{name}: the volume is a count of cases", "measures")
        clean[name] = {"value": str(value), "volume": volume}
    return clean


def _check_floors(tranche: Tranche, measures: Mapping[str, Any]) -> None:
    code, message = floor_problem(tranche.live_use, measures)
    if code:
        raise Refused(code, message, "measures")


def _predecessors_payable(pilot: Pilot, milestone: Milestone) -> None:
    for code in milestone.prerequisites:
        if not Claim.objects.filter(
            pilot=pilot, scope=CONTRACT, milestone=code, status=Claim.PAYABLE
        ).exists():
            raise Refused(
                "tranche_before_predecessor",
                f"{milestone.code} follows {code}, whose tranche is not released yet",
                "milestone",
            )


def _cure_open(pilot: Pilot, rejected: Claim, at: datetime) -> None:
    today = pilot.calendar.local_date(at)
    if rejected.cure_until is None or today > rejected.cure_until:
        until = f"ended on {rejected.cure_until}" if rejected.cure_until else "does not exist"
        raise Refused(
            "cure_period_over",
            f"tranche {rejected.tranche} was rejected; its cure period {until}",
            "resubmission_of",
        )


def draft_contract_claim(
    *,
    pilot: Pilot,
    milestone: str,
    reached_on: date,
    measures: Mapping[str, Mapping[str, Any]] | None = None,
    resubmission_of: Claim | None = None,
    by: User,
    at: datetime,
) -> Claim:
    """C10: draft the pilot's claim that a contract milestone was reached, for its
    tranche. After a rejection, drafting again within the cure period resubmits the
    tranche (`resubmission_of` defaults to the tranche's rejected claim)."""
    role = policy.require(by, "contract.claim", pilot)
    rb = pilot.rulebook
    ms, tranche = _milestone(rb, milestone)
    if reached_on > pilot.calendar.local_date(at):
        raise Refused("reached_in_future", f"{reached_on} is after today", "reached_on")
    if reached_on < rb.pilot.period_start:
        raise Refused(
            "outside_pilot_period",
            f"{reached_on} is before the pilot began on {rb.pilot.period_start}",
            "reached_on",
        )
    if by.organisation_id is None:
        raise Refused("no_organisation", "you belong to no organisation", "by")
    clean = _measures(tranche, measures or {})
    _check_floors(tranche, clean)
    with transaction.atomic(durable=True):
        # One contract claim at a time per pilot: the tranche checks below hold.
        Pilot.objects.select_for_update().get(pk=pilot.pk)
        _predecessors_payable(pilot, ms)
        claims = list(Claim.objects.filter(pilot=pilot, scope=CONTRACT, tranche=tranche.code))
        if any(c.status == Claim.PAYABLE for c in claims):
            raise Refused(
                "already_released", f"tranche {tranche.code} is already payable", "milestone"
            )
        if open_claim := next((c for c in claims if c.status in Claim.OPEN), None):
            raise Refused(
                "already_claimed",
                f"tranche {tranche.code} already has an open claim ({open_claim.reference})",
                "milestone",
            )
        latest = max(claims, key=lambda c: c.pk, default=None)
        if resubmission_of is not None:
            named = resubmission_of
            resubmission_of = next((c for c in claims if c.pk == named.pk), None)
            if resubmission_of is None or resubmission_of.status != Claim.REJECTED:
                raise Refused(
                    "not_rejected",
                    f"{named.reference} is not a rejected claim of tranche {tranche.code}",
                    "resubmission_of",
                )
            if latest is not None and latest.pk != resubmission_of.pk:
                raise Refused(
                    "already_resubmitted",
                    f"{resubmission_of.reference} was resubmitted as {latest.reference}",
                    "resubmission_of",
                )
        elif latest is not None and latest.status == Claim.REJECTED:
            resubmission_of = latest
        if resubmission_of is not None:
            _cure_open(pilot, resubmission_of, at)
        claim = Claim.objects.create(
            pilot=pilot,
            reference=f"{tranche.code}/{len(claims) + 1}",
            milestone=ms.code,
            scope=CONTRACT,
            tier=ms.tier.value,
            tranche=tranche.code,
            provider_id=by.organisation_id,
            resubmission_of=resubmission_of,
            amount=tranche.amount,
            reached_on=reached_on,
            status=Claim.DRAFT,
            drafted_by=by,
            drafted_at=at,
            rulebook_version=pilot.current.number,
            measures=clean,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="contract_claim.draft",
            subject=f"claim:{claim.reference}",
            payload={
                "milestone": ms.code,
                "tranche": tranche.code,
                "amount": tranche.amount,
                "reached_on": reached_on,
                "measures": clean,
                "resubmission_of": resubmission_of.reference if resubmission_of else "",
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return claim


def contract_evidence(claim: Claim, milestone: Milestone) -> tuple[list[Evidence], list[str]]:
    """The pilot's contract evidence of each required kind dated up to `reached_on`, and
    what is missing ("case_log: 0 of 1")."""
    rows = Evidence.objects.filter(
        pilot_id=claim.pilot_id,
        participant__isnull=True,
        kind__in=[r.kind for r in milestone.evidence],
        document_date__lte=claim.reached_on,
    ).order_by("document_date", "pk")
    found = list(rows)
    missing = []
    for requirement in milestone.evidence:
        count = sum(1 for e in found if e.kind == requirement.kind)
        if count < requirement.minimum:
            missing.append(f"{requirement.kind}: {count} of {requirement.minimum}")
    return found, missing


def submit_contract_claim(*, claim: Claim, by: User, at: datetime) -> Claim:
    """C10: submit a drafted contract claim for independent verification. Readiness is
    checked here: evidence, live use and quality floors; live use is stored with it."""
    pilot = claim.pilot
    role = policy.require(by, "contract.claim", pilot)
    if claim.scope != CONTRACT:
        raise Refused("not_contract_claim", f"{claim.reference} is a participant claim", "claim")
    if by.organisation_id != claim.provider_id:
        raise NotPermitted("other_organisation", "this claim was drafted by another organisation")
    if claim.status != Claim.DRAFT:
        raise Refused("not_draft", f"{claim.reference} is {claim.status}, not a draft", "claim")
    rb = pilot.rulebook
    ms, tranche = _milestone(rb, claim.milestone)
    _predecessors_payable(pilot, ms)
    if claim.resubmission_of is not None:
        _cure_open(pilot, claim.resubmission_of, at)
    evidence, missing = contract_evidence(claim, ms)
    if missing:
        raise Refused(
            "missing_evidence",
            f"contract evidence dated up to {claim.reached_on} is missing: {'; '.join(missing)}",
            "evidence",
        )
    figures = live_use(pilot, at=at)
    if short := live_use_problem(figures, tranche.live_use):
        raise Refused("live_use_short", f"live use falls short: {short}", "live_use")
    _check_floors(tranche, claim.measures)
    days = rb.deadlines.verification or DEFAULT_VERIFICATION_DAYS
    due = pilot.calendar.add_business_days(pilot.calendar.local_date(at), days)
    with transaction.atomic(durable=True):
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        if locked.status != Claim.DRAFT:
            raise Refused("not_draft", f"{locked.reference} is {locked.status}", "claim")
        ClaimEvidence.objects.bulk_create(
            ClaimEvidence(claim=locked, evidence=e, kind=e.kind) for e in evidence
        )
        locked.status = Claim.SUBMITTED
        locked.submitted_by = by
        locked.submitted_at = at
        locked.verification_due = due
        locked.live_use = figures.as_json()
        locked.save(
            update_fields=["status", "submitted_by", "submitted_at", "verification_due", "live_use"]
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="contract_claim.submit",
            subject=f"claim:{locked.reference}",
            payload={
                "tranche": locked.tranche,
                "evidence": [e.pk for e in evidence],
                "live_use": locked.live_use,
                "measures": locked.measures,
                "verification_due": due,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    for name in ("status", "submitted_by", "submitted_at", "verification_due", "live_use"):
        setattr(claim, name, getattr(locked, name))
    return claim
