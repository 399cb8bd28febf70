"""The pilot office's staged contract milestones (C10), as a generator of the moments
it acts at (see fundpilot.claims.simulate).

Tranches are claimed in order, each a few weeks before its milestone's due date: the
contract evidence is uploaded, the claim drafted and submitted, and the independent
verifier decides. The first tranche with a cure period is rejected once and cured
within it. A tranche whose live use falls short on the day it would be submitted is
not claimed, and neither is any tranche after it: live use comes from the lifecycle
data (referrals received and answered), never from paperwork.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fundpilot.claims.actions.contract import draft_contract_claim, submit_contract_claim
from fundpilot.claims.actions.evidence import upload_evidence
from fundpilot.claims.actions.verification import MEASURE, checklist_for, verify_claim
from fundpilot.claims.live_use import live_use, live_use_problem
from fundpilot.claims.models import Claim, Verification
from fundpilot.claims.simulation.world import World, days, document, is_log_extract
from fundpilot.participants.models import Referral
from fundpilot.pilots.models import User
from fundpilot.rules.rulebook import Milestone, Tranche

P_LATE = 0.1
CASE_ROWS = 500  # at most this many referrals listed in a case-log extract


def contract_claims(w: World) -> Generator[datetime, None, None]:
    rb, rng = w.rb, w.rng("contract")
    claimants = sorted(w.people.claimants, key=lambda u: (u not in w.people.compliance, u.username))
    if not claimants:
        return
    claimant = claimants[0]
    now = w.morning(rb.pilot.period_start)
    cured = False
    for tranche in rb.tranches:
        milestone = rb.milestone(tranche.milestone)
        due = milestone.due_date or rb.pilot.period_end
        reached_on = max(due - days(rng.uniform(7, 20)), w.clock.local(now) + days(10))
        if reached_on > w.today:
            return
        docs = sorted(
            (reached_on - days(rng.uniform(2, 40)), kind)
            for req in milestone.evidence
            for kind in [req.kind] * req.minimum
        )
        moments = []
        for day, _ in docs:
            now = w.after(max(now, w.morning(day)), rng, slack=3)
            moments.append(now)
        drafted_at = w.after(max(now, w.morning(reached_on)), rng, slack=2)
        submitted_at = w.after(drafted_at, rng, slack=1)
        figures = live_use(w.pilot, at=submitted_at)
        measures = _measures(tranche, figures.real_cases, rng)
        if live_use_problem(figures, tranche.live_use) or measures is None:
            return  # not honestly claimable: it and every later tranche stay pending
        for moment, (day, kind) in zip(moments, docs, strict=True):
            yield moment
            _upload(w, claimant, kind, day, moment)
        yield drafted_at
        claim = draft_contract_claim(
            pilot=w.pilot,
            milestone=milestone.code,
            reached_on=reached_on,
            measures=measures,
            by=claimant,
            at=drafted_at,
        )
        yield submitted_at
        submit_contract_claim(claim=claim, by=claimant, at=submitted_at)
        now = w.by_due(submitted_at, claim.verification_due, rng, P_LATE)
        yield now
        reject = not cured and bool(tranche.cure_period_days)
        decision = _verify(w, claim, reject=reject, at=now, rng=rng)
        if decision is None:
            return
        if reject:
            cured = True
            yield from _cure(w, claimant, claim, milestone, measures, decision, rng)
            claims = Claim.objects.filter(pilot=w.pilot, tranche=tranche.code)
            if not claims.filter(status=Claim.PAYABLE).exists():
                return
            now = max(now, claims.latest("pk").payable_at or now)


def _cure(
    w: World,
    claimant: User,
    rejected: Claim,
    milestone: Milestone,
    measures: dict[str, Any],
    decision: Verification,
    rng: Any,
) -> Generator[datetime, None, None]:
    """Within the cure period: the missing piece, a new claim naming the rejected one."""
    rejected = decision.claim  # as the verification left it (with its cure period)
    assert rejected.cure_until is not None
    failing = next(a["kind"] for a in decision.checklist if not a["met"])
    decided_on = w.clock.local(decision.decided_at)
    day = decided_on + days(rng.uniform(3, 12))
    if day > min(rejected.cure_until, w.today):
        return
    now = w.after(w.morning(day), rng, slack=1)
    yield now
    if not failing.startswith(MEASURE):
        _upload(w, claimant, failing, day, now, note="signed by every partner")
    now = w.after(now, rng, slack=1)
    if w.clock.local(now) > rejected.cure_until:
        return
    yield now
    claim = draft_contract_claim(
        pilot=w.pilot,
        milestone=milestone.code,
        reached_on=day,
        measures=measures,
        resubmission_of=rejected,
        by=claimant,
        at=now,
    )
    now += timedelta(minutes=rng.randint(10, 90))
    if w.clock.local(now) > rejected.cure_until:
        return
    yield now
    submit_contract_claim(claim=claim, by=claimant, at=now)
    now = w.by_due(now, claim.verification_due, rng, P_LATE)
    yield now
    _verify(w, claim, reject=False, at=now, rng=rng)


def _verify(w: World, claim: Claim, *, reject: bool, at: datetime, rng: Any) -> Verification | None:
    verifier = w.people.verifier_for(claim.provider_id, rng)
    if verifier is None:
        return None
    items = checklist_for(claim, w.rb)
    failing = ""
    if reject:
        kinds = [i.kind for i in items if not i.kind.startswith(MEASURE)]
        failing = "governance" if "governance" in kinds else kinds[-1]
    checklist = [
        {
            "kind": i.kind,
            "met": i.kind != failing,
            "note": "a plan of the escalation rules, not rules agreed and signed by every partner"
            if i.kind == failing
            else "checked against the definition",
        }
        for i in items
    ]
    return verify_claim(
        claim=claim,
        outcome=Verification.REJECTED if reject else Verification.VERIFIED,
        checklist=checklist,
        reason_codes=w.codes(("VR-PAPER",), rng) if reject else (),
        note="" if reject else "Every criterion met",
        by=verifier,
        at=at,
    )


def _measures(tranche: Tranche, real_cases: int, rng: Any) -> dict[str, Any] | None:
    """Attested quality figures for the tranche's floors, at the volume the lifecycle
    data shows; None when that volume is below a floor's."""
    floors = tranche.live_use.quality_floors if tranche.live_use else ()
    found = {}
    for floor in floors:
        if real_cases < floor.at_volume:
            return None
        value = min(Decimal(floor.floor) + Decimal(rng.randint(50, 600)) / 100, Decimal(100))
        found[floor.measure] = {"value": str(value.quantize(Decimal("0.01"))), "volume": real_cases}
    return found


def _upload(w: World, by: User, kind: str, day: date, at: datetime, *, note: str = "") -> None:
    label = w.kind(kind).label
    rows = None
    if is_log_extract(kind):
        referrals = Referral.objects.filter(pilot=w.pilot, referred_at__lte=at).order_by(
            "referred_at", "pk"
        )[:CASE_ROWS]
        rows = [
            [w.clock.local(r.referred_at).isoformat(), r.reference, r.source, r.provider.code]
            for r in referrals.select_related("provider")
        ]
    lines = [
        w.rb.pilot.name,
        label,
        f"Document date {day.isoformat()}",
        f"Prepared by {by.get_full_name() or by.username}"
        + (f", {by.organisation.name}" if by.organisation else ""),
        f"Contract evidence {kind}-{day:%Y%m%d}-{w.next_serial():03d}"
        + (f" ({note})" if note else ""),
    ]
    made = document(w.kind(kind), lines, rows)
    if made is None:
        return
    extension, content = made
    upload_evidence(
        pilot=w.pilot,
        participant=None,
        kind=kind,
        filename=f"{kind.replace('_', '-')}-{day:%Y%m%d}.{extension}",
        content=content,
        document_date=day,
        note=note,
        by=by,
        at=at,
    )
