"""Participant milestone claims: draft, C8 readiness review, submission.

A claim is drafted by the participant's care staff once the milestone is reached; a
supervisor of the same organisation who did not draft it confirms every required
piece of evidence is present (C8); then it is submitted. A sampled-tier claim is
payable at once (and joins the audit-sample universe, C9); an independent-tier claim
waits for verification, due `deadlines.verification` business days after submission.
Contract-scope claims have their own actions (`claims.actions.contract`).
"""

from datetime import date, datetime

from django.db import transaction

from fundpilot.audit import log
from fundpilot.claims import tracker
from fundpilot.claims.models import Claim, ClaimEvidence, ReadinessReview
from fundpilot.claims.payable import make_payable
from fundpilot.participants.models import Participant, Pathway
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import RulebookVersion, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import Milestone, Rulebook, Scope, Tier
from fundpilot.rules.vocabulary import Role

DEFAULT_VERIFICATION_DAYS = 5  # C9, when the rulebook leaves it out


def _audit(
    *,
    claim: Claim,
    version: RulebookVersion,
    by: User,
    role: Role | None,
    action: str,
    payload: dict[str, object],
    at: datetime,
) -> None:
    log.append(
        chain=log.pilot_chain(claim.pilot.slug),
        actor=actor(by, role),
        action=action,
        subject=f"claim:{claim.reference}",
        payload={
            "claim": claim.reference,
            "participant": claim.participant.participant_id if claim.participant else None,
            "milestone": claim.milestone,
            "attempt": claim.attempt,
            **payload,
        },
        at=at,
        rulebook_version=version.number,
    )


def _participant_milestone(rulebook: Rulebook, code: str) -> Milestone:
    try:
        milestone = rulebook.milestone(code)
    except KeyError:
        milestone = None
    if milestone is None or milestone.scope is not Scope.PARTICIPANT:
        known = ", ".join(m.code for m in tracker.participant_milestones(rulebook)) or "none"
        raise Refused(
            "unknown_milestone",
            f"'{code}' is not a participant milestone of this pilot (it has: {known})",
            "milestone",
        )
    return milestone


def _lock_claim(claim: Claim) -> Claim:
    return (
        Claim.objects.select_for_update(of=("self",))
        .select_related("pilot", "participant", "participant__pilot")
        .get(pk=claim.pk)
    )


def _require_participant_claim(claim: Claim) -> None:
    if claim.scope != Scope.PARTICIPANT.value or claim.participant is None:
        raise Refused(
            "contract_claim",
            f"{claim.reference} is a contract claim: submit it as one",
            "claim",
        )


def _evidence_status(
    claim: Claim, history: tracker.History, milestone: Milestone
) -> tuple[tracker.RequirementStatus, ...]:
    """The claim's requirements against the participant's evidence dated within the
    claim's attempt, up to the day the milestone was reached."""
    start = tracker.attempt_start(history, claim.attempt, claim.reached_on)
    found = tracker.qualifying(history, milestone, start, claim.reached_on)
    return tracker.requirements(history.rulebook, milestone.evidence, found)


def claim_requirements(claim: Claim) -> tuple[tracker.RequirementStatus, ...]:
    """What the readiness review would find for this claim now (for pages and API)."""
    assert claim.participant is not None
    history = tracker.load_history(claim.participant)
    milestone = history.rulebook.milestone(claim.milestone)
    return _evidence_status(claim, history, milestone)


def _link(claim: Claim, statuses: tuple[tracker.RequirementStatus, ...]) -> list[int]:
    """Link the counting evidence to the claim (once each); the ids newly linked."""
    linked = set(ClaimEvidence.objects.filter(claim=claim).values_list("evidence_id", flat=True))
    new = [(s.kind, pk) for s in statuses for pk in s.evidence if pk not in linked]
    ClaimEvidence.objects.bulk_create(
        ClaimEvidence(claim=claim, evidence_id=pk, kind=kind) for kind, pk in new
    )
    return [pk for _, pk in new]


# --- draft ---------------------------------------------------------------------------


def draft_claim(
    *, participant: Participant, milestone: str, reached_on: date, by: User, at: datetime
) -> Claim:
    """Draft a claim that the participant reached `milestone` on `reached_on` (C7).

    Refuses, in this order: another organisation's participant; an unknown milestone;
    a participant not on the locked roster or not engaged; no released pathway (where
    the rulebook has stages); a date in the future; a milestone already reached (and
    not lost) or already claimed in this attempt; a date outside the attempt's window
    (after risk adjustment); a prerequisite not reached on or before that date. The
    participant's qualifying evidence is linked; what is missing is for the readiness
    review to find."""
    pilot = participant.pilot
    role = policy.require_for_provider(by, "claim.draft", pilot, participant.provider_id)
    version = pilot.current
    rulebook = version.rulebook
    m = _participant_milestone(rulebook, milestone)
    today = pilot.calendar.local_date(at)
    with transaction.atomic(durable=True):
        p = Participant.objects.select_for_update().select_related("pilot").get(pk=participant.pk)
        if p.status != Participant.ACTIVATED:
            raise Refused(
                "not_on_roster",
                f"{p.participant_id} is not on the locked activation roster (status {p.status})",
                "participant",
            )
        if not p.engaged:
            raise Refused(
                "not_engaged",
                f"{p.participant_id} is disengaged: record the re-engagement first",
                "participant",
            )
        if rulebook.milestone_stages and not Pathway.objects.filter(participant=p).exists():
            raise Refused(
                "pathway_not_released",
                f"{p.participant_id}'s milestone pathway has not been released",
                "participant",
            )
        if reached_on > today:
            raise Refused("future_date", f"{reached_on} is after today ({today})", "reached_on")
        history = tracker.load_history(p, rulebook)
        state = tracker.milestone_state(history, m)
        if state.reached is not None:
            raise Refused(
                "already_reached",
                f"{p.participant_id} already reached {m.code} ({state.reached.reference})",
                "milestone",
            )
        if state.open_claim is not None:
            raise Refused(
                "already_claimed",
                f"{m.code} is already claimed for this attempt ({state.open_claim.reference},"
                f" {state.open_claim.status})",
                "milestone",
            )
        if (
            state.start is None
            or reached_on < state.start
            or (state.window_end is not None and reached_on > state.window_end)
        ):
            window = (
                f"from {state.start} to {state.window_end}"
                if state.window_end
                else f"from {state.start}"
            )
            raise Refused(
                "outside_window",
                f"{m.code} attempt {state.attempt} can be reached {window}; not {reached_on}",
                "reached_on",
            )
        late = [c for c in m.prerequisites if not tracker.reached_by(history, c, reached_on)]
        if late:
            raise Refused(
                "prerequisite_not_reached",
                f"{m.code} needs {', '.join(late)} reached on or before {reached_on}",
                "milestone",
            )
        if state.price is None:
            raise Refused("no_price", f"the rulebook gives {m.code} no price", "milestone")
        reference = f"{p.participant_id}/{m.code}/{state.attempt}"
        earlier = state.attempt_claims  # all rejected: an open or payable one refused above
        if earlier:
            reference += f"-{len(earlier) + 1}"
        claim = Claim.objects.create(
            pilot=pilot,
            reference=reference,
            milestone=m.code,
            scope=Scope.PARTICIPANT.value,
            tier=m.tier.value,
            participant=p,
            provider_id=p.provider_id,
            attempt=state.attempt,
            resubmission_of_id=earlier[-1].pk if earlier else None,
            amount=state.price,
            variant=state.variant,
            reached_on=reached_on,
            status=Claim.DRAFT,
            drafted_by=by,
            drafted_at=at,
            rulebook_version=version.number,
        )
        found = tracker.qualifying(history, m, state.start, reached_on)
        statuses = tracker.requirements(rulebook, m.evidence, found)
        linked = _link(claim, statuses)
        _audit(
            claim=claim,
            version=version,
            by=by,
            role=role,
            action="claim.draft",
            at=at,
            payload={
                "reached_on": reached_on,
                "tier": claim.tier,
                "amount": claim.amount,
                "variant": claim.variant,
                "window_end": state.window_end,
                "evidence": linked,
                "missing": tracker.missing_text(statuses),
                "resubmission_of": earlier[-1].reference if earlier else None,
            },
        )
    return claim


# --- C8 readiness review -------------------------------------------------------------


def review_readiness(*, claim: Claim, note: str = "", by: User, at: datetime) -> ReadinessReview:
    """C8 readiness review: a supervisor of the claim's organisation, who did not draft
    it, confirms every required piece of evidence is present. Evidence uploaded since
    the draft is linked; anything still missing is named and refused."""
    pilot = claim.pilot
    role = policy.require_for_provider(by, "claim.readiness", pilot, claim.provider_id)
    version = pilot.current
    with transaction.atomic(durable=True):
        c = _lock_claim(claim)
        _require_participant_claim(c)
        if c.drafted_by_id == by.pk:
            raise Refused(
                "own_draft", "a readiness review is for someone who did not draft it", "claim"
            )
        if c.status != Claim.DRAFT:
            raise Refused(
                "not_draft", f"{c.reference} is {c.status}, not a draft awaiting review", "claim"
            )
        assert c.participant is not None
        history = tracker.load_history(c.participant, version.rulebook)
        milestone = history.rulebook.milestone(c.milestone)
        statuses = _evidence_status(c, history, milestone)
        missing = tracker.missing_text(statuses)
        if missing:
            raise Refused("missing_evidence", f"{c.reference} still needs: {missing}", "evidence")
        linked = _link(c, statuses)
        review = ReadinessReview.objects.create(
            claim=c,
            note=note.strip(),
            decided_by=by,
            decided_at=at,
            rulebook_version=version.number,
        )
        c.status = Claim.READY
        c.save(update_fields=["status"])
        reused = [pk for e in history.evidence if e.reused for pk in [e.pk]]
        _audit(
            claim=c,
            version=version,
            by=by,
            role=role,
            action="claim.readiness",
            at=at,
            payload={
                "review": review.pk,
                "note": review.note,
                "evidence": {s.kind: list(s.evidence) for s in statuses},
                "newly_linked": linked,
                "reused": sorted(set(reused) & {pk for s in statuses for pk in s.evidence}),
            },
        )
    claim.status = c.status
    return review


# --- submission ----------------------------------------------------------------------


def submit_claim(*, claim: Claim, by: User, at: datetime) -> Claim:
    """Submit a claim that passed its readiness review. Sampled tier: payable at once
    (amount, payer split, basis key). Independent tier: submitted, with its
    verification due `deadlines.verification` business days later (C9)."""
    pilot = claim.pilot
    role = policy.require_for_provider(by, "claim.submit", pilot, claim.provider_id)
    version = pilot.current
    rulebook = version.rulebook
    with transaction.atomic(durable=True):
        c = _lock_claim(claim)
        _require_participant_claim(c)
        if c.status == Claim.DRAFT:
            raise Refused(
                "not_ready", f"{c.reference} has not passed its readiness review", "claim"
            )
        if c.status != Claim.READY:
            raise Refused("already_submitted", f"{c.reference} is already {c.status}", "claim")
        c.submitted_by = by
        c.submitted_at = at
        fields = ["status", "submitted_by", "submitted_at"]
        if c.tier == Tier.SAMPLED.value:
            make_payable(c, c.amount, at)
            fields += ["payable_amount", "payable_at", "payer_split", "basis_key"]
        else:
            days = rulebook.deadlines.verification or DEFAULT_VERIFICATION_DAYS
            c.status = Claim.SUBMITTED
            c.verification_due = pilot.calendar.due_date(at, days)
            fields.append("verification_due")
        c.save(update_fields=fields)
        _audit(
            claim=c,
            version=version,
            by=by,
            role=role,
            action="claim.submit",
            at=at,
            payload={
                "tier": c.tier,
                "status": c.status,
                "verification_due": c.verification_due,
                "payable_amount": c.payable_amount,
                "payer_split": c.payer_split,
                "basis_key": c.basis_key,
            },
        )
    for name in (*fields, "payable_amount", "basis_key", "verification_due"):
        setattr(claim, name, getattr(c, name))
    return c
