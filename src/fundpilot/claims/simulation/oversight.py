"""The verification body's monthly post-payment samples (C9), with the disputes their
findings draw, and a provider disputing an activation rejection (C11): generators of
the moments they act at (see fundpilot.claims.simulate)."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Generator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fundpilot.claims.actions.disputes import raise_dispute, resolve_dispute
from fundpilot.claims.actions.sampling import (
    MAX_SEED,
    appraise_sample,
    audit_sampled_claim,
    draw_sample,
    period_bounds,
    universe,
)
from fundpilot.claims.models import Dispute, Sample, SampleAudit, SampleItem
from fundpilot.claims.simulation.world import (
    P_AUDIT_FAIL,
    P_DISPUTE_AUDIT,
    P_LATE_AUDIT,
    P_LATE_DISPUTE,
    REUSE_GROUNDS,
    World,
    reuse_in,
)
from fundpilot.participants.deadlines import due_after
from fundpilot.participants.models import ActivationDecision
from fundpilot.pilots.models import User
from fundpilot.rules.money import CENT

DEFAULT_AUDIT_DAYS = 5
# Findings of a failed audit, most common first.
AUDIT_FINDINGS = ("VR-DEFINITION", "VR-WINDOW", "VR-UNSIGNED")
AUDIT_NOTES = {
    "VR-DEFINITION": "Two of the contacts were by phone; the definition asks for face to face.",
    "VR-WINDOW": "One document is dated after the milestone was reached.",
    "VR-UNSIGNED": "The plan on file is not signed by the participant.",
    "VR-REUSED": "The same document is on file for another participant.",
}


def sample_seed(seed: int, period: str) -> int:
    """The draw's seed, derived from the simulation's (a whole number below 2^63)."""
    digest = hashlib.sha256(f"fundpilot-sample/{seed}/{period}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & MAX_SEED


def periods(first: date, until: date) -> list[str]:
    """The months from `first`'s through the last one that ended before `until`."""
    found, year, month = [], first.year, first.month
    while (year, month) < (until.year, until.month):
        found.append(f"{year:04d}-{month:02d}")
        year, month = year + month // 12, month % 12 + 1
    return found


def month_sample(w: World, period: str) -> Generator[datetime, None, None]:
    """Draw the month's sample once it has ended, audit every item, appraise it; a
    failed audit may be disputed, and a changed finding calls for a new appraisal."""
    rng = w.rng("sample", period)
    _, end = period_bounds(w.pilot, period)
    drawn_at = w.after(w.morning(end.date()), rng, slack=2)
    yield drawn_at
    sampling = w.rb.sampling
    if Sample.objects.filter(pilot=w.pilot, period=period).exists():
        return  # drawn already (by hand)
    found = universe(w.pilot, period, sampling) if sampling else {}
    providers = {claim.provider_id for claim, _ in found.values()}
    drawers = [u for u in w.people.verifiers if u.organisation_id not in providers]
    if not found or not drawers:
        return
    drawer = rng.choice(drawers)
    sample = draw_sample(
        pilot=w.pilot, period=period, seed=sample_seed(w.seed, period), by=drawer, at=drawn_at
    )
    due = due_after(w.pilot, drawn_at, w.rb.deadlines.verification or DEFAULT_AUDIT_DAYS)
    agenda: list[tuple[datetime, int, str, Any]] = []
    counter = iter(range(10**9))
    items = sample.items.select_related("claim__provider", "sample__pilot").order_by("position")
    for item in items:
        moment = w.by_due(drawn_at, due, rng, P_LATE_AUDIT)
        agenda.append((moment, next(counter), "audit", item))
    last = max(a[0] for a in agenda)
    agenda.append((w.after(last, rng, slack=1), next(counter), "appraise", None))
    heapq.heapify(agenda)
    appraised = False
    while agenda:
        at, _, kind, data = heapq.heappop(agenda)
        if at > w.until:
            return
        yield at
        if kind == "audit":
            audit, original = _audit(w, data, rng, at)
            if audit.supported_amount < audit.paid_amount:
                w.audit_failures += 1
                if original or w.audit_failures == 1 or rng.random() < P_DISPUTE_AUDIT:
                    raised = w.after(at, rng, slack=4)
                    heapq.heappush(agenda, (raised, next(counter), "raise", (audit, original)))
        elif kind == "raise":
            audit, original = data
            dispute = _raise(w, audit, original, rng, at)
            if dispute is not None:
                moment = w.by_due(at, dispute.due, rng, P_LATE_DISPUTE)
                heapq.heappush(agenda, (moment, next(counter), "resolve", (dispute, original)))
        elif kind == "resolve":
            dispute, original = data
            changed = _resolve(w, dispute, original, rng, at)
            if changed and appraised:
                heapq.heappush(agenda, (w.after(at, rng, slack=1), next(counter), "appraise", None))
        else:
            appraise_sample(sample=sample, by=drawer, at=at)
            appraised = True


def _audit(w: World, item: SampleItem, rng: Any, at: datetime) -> tuple[SampleAudit, bool]:
    """The audit, and whether it failed a claim for reuse whose documents are the
    originals (the provider will show it)."""
    claim = item.claim
    auditor = w.people.verifier_for(claim.provider_id, rng)
    assert auditor is not None  # the drawer at least is independent of every provider
    paid = claim.payable_amount or Decimal("0.00")
    copies, originals = reuse_in(claim)
    supported, findings = paid, []
    if copies or originals:
        supported, findings = Decimal("0.00"), w.codes(("VR-REUSED",), rng)
    elif rng.random() < P_AUDIT_FAIL:
        share = Decimal(rng.choice(["0.5", "0.5", "0.25", "0"]))
        supported = (paid * share).quantize(CENT)
        findings = w.codes((rng.choice(AUDIT_FINDINGS),), rng, avoid=("VR-MISSING", "VR-REUSED"))
    note = AUDIT_NOTES.get(findings[0], "Finding recorded") if findings else ""
    audit = audit_sampled_claim(
        item=item,
        supported_amount=supported,
        finding_codes=findings,
        note=note if findings else rng.choice(["", "Evidence supports the payment"]),
        by=auditor,
        at=at,
    )
    return audit, bool(originals) and not copies


def _raise(w: World, audit: SampleAudit, original: bool, rng: Any, at: datetime) -> Dispute | None:
    staff = w.people.supervisors.get(audit.item.claim.provider_id, [])
    if not staff:
        return None
    return raise_dispute(
        subject=audit,
        grounds=REUSE_GROUNDS
        if original
        else "The chart holds the signed, dated original; the audit saw the scanned draft.",
        by=rng.choice(staff),
        at=at,
    )


def _resolve(w: World, dispute: Dispute, original: bool, rng: Any, at: datetime) -> bool:
    """Decide a disputed audit: the first (and any failed for a reuse the provider did
    not commit) is overturned, later ones varied or upheld."""
    audit = dispute.sample_audit
    assert audit is not None
    by = _resolver(w, dispute, audit.decided_by_id)
    if by is None:
        return False
    paid = audit.paid_amount
    first = not Dispute.objects.filter(
        pilot=w.pilot, subject_kind=Dispute.SAMPLE_AUDIT, status=Dispute.RESOLVED
    ).exists()
    outcome = (
        Dispute.OVERTURNED if first or original else rng.choice([Dispute.VARIED, Dispute.UPHELD])
    )
    decision: dict[str, Any] = {}
    if outcome == Dispute.OVERTURNED:
        decision = {"supported_amount": paid, "note": "The signed original supports the payment."}
    elif outcome == Dispute.VARIED:
        supported = max(audit.supported_amount, (paid / 2).quantize(CENT))
        if supported == audit.supported_amount:
            supported = paid
        decision = {
            "supported_amount": supported,
            "finding_codes": audit.finding_codes if supported < paid else [],
            "note": "Part of the evidence holds on review.",
        }
    resolution = "Reviewed with the provider's chart." + (
        " The finding stands." if outcome == Dispute.UPHELD else " The finding is changed."
    )
    if original:
        resolution = "The document was on this participant's file first: the claim is supported."
    resolve_dispute(
        dispute=dispute,
        outcome=outcome,
        resolution=resolution,
        learning="Providers upload the signed original; auditors ask for it before failing"
        " a claim.",
        by=by,
        at=at,
        **decision,
    )
    return outcome != Dispute.UPHELD


def _resolver(w: World, dispute: Dispute, decided_by: int) -> User | None:
    """Compliance first (the pilot office hears audit disputes), else another verifier."""
    for user in (*w.people.compliance, *w.people.verifiers):
        if (
            user.pk not in (decided_by, dispute.raised_by_id)
            and user.organisation_id != dispute.provider_id
        ):
            return user
    return None


def activation_dispute(w: World, prefix: str) -> Generator[datetime, None, None]:
    """A provider disputes one coded activation rejection; the pilot office upholds it."""
    rng = w.rng("activation-dispute")
    rejected = (
        ActivationDecision.objects.filter(
            participant__pilot=w.pilot,
            participant__participant_id__startswith=prefix,
            outcome=ActivationDecision.REJECTED,
            decided_at__lte=w.until,
        )
        .exclude(reason_code__in=["R-DECLINED", ""])
        .select_related("participant__pilot")
        .order_by("decided_at", "pk")
    )
    for decision in rejected:
        later = ActivationDecision.objects.filter(
            participant_id=decision.participant_id, pk__gt=decision.pk
        )
        staff = w.people.enrollment.get(decision.participant.provider_id, [])
        disputed = Dispute.objects.filter(activation=decision).exists()
        if staff and not disputed and not later.exists():
            break
    else:
        return
    raised_at = w.after(decision.decided_at, rng, slack=3)
    yield raised_at
    dispute = raise_dispute(
        subject=decision,
        grounds="The exclusion was applied on an out-of-date record; we ask for a new decision.",
        by=rng.choice(staff),
        at=raised_at,
    )
    resolved_at = w.by_due(raised_at, dispute.due, rng, P_LATE_DISPUTE)
    yield resolved_at
    by = next(
        (
            u
            for u in w.people.compliance
            if u.pk not in (decision.decided_by_id, dispute.raised_by_id)
            and u.organisation_id != dispute.provider_id
        ),
        None,
    )
    if by is not None:
        resolve_dispute(
            dispute=dispute,
            outcome=Dispute.UPHELD,
            resolution="The record at the decision date supports the coded rejection.",
            learning="Enrollment checks the payer register's latest update before filing.",
            by=by,
            at=resolved_at,
        )
