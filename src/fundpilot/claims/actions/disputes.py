"""C11 disputes: any verification, activation or sample-audit decision can be disputed.
A dispute moves through the rulebook's stages one at a time, is due a number of the
pilot's business days after it was raised, and ends with a documented outcome and the
learning fed back. The outcome is a new decision, never an edit of the old one:

- a verification: a superseding `Verification` (validated like any verification). A
  rejected claim it accepts becomes payable; a payable claim whose amount it changes
  gets a `Recoupment` for the difference (negative when money is owed back).
- a sample audit: a superseding `SampleAudit`; the recoupment is adjusted by a new
  `Recoupment` row for the difference, positive or negative.
- an activation: the participant returns to the activation approver (status
  `eligible`, as `decide_activation` expects) for a new C2 decision.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Case, IntegerField, QuerySet, Sum, Value, When

from fundpilot.audit import log
from fundpilot.claims.actions import sampling
from fundpilot.claims.actions import verification as v
from fundpilot.claims.models import (
    Claim,
    Dispute,
    DisputeStep,
    Recoupment,
    SampleAudit,
    Verification,
)
from fundpilot.claims.payable import make_payable
from fundpilot.participants.deadlines import due_after, late_by
from fundpilot.participants.models import ActivationDecision, Participant
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role

Subject = Verification | ActivationDecision | SampleAudit
OUTCOMES = (Dispute.UPHELD, Dispute.OVERTURNED, Dispute.VARIED)
# What each kind of dispute's new decision is made of (resolve_dispute's **new_decision).
NEW_DECISION_FIELDS = {
    Dispute.VERIFICATION: (
        "verification_outcome",
        "checklist",
        "reason_codes",
        "criteria_met",
        "note",
    ),
    Dispute.SAMPLE_AUDIT: ("supported_amount", "finding_codes", "note"),
    Dispute.ACTIVATION: (),
}
ZERO = Decimal("0.00")
RESOLVED_FIELDS = ["status", "outcome", "new_decision", "resolution", "learning"]
RESOLVED_FIELDS += ["resolved_by", "resolved_at", "late_days"]


def _kind(subject: Subject) -> str:
    if isinstance(subject, Verification):
        return Dispute.VERIFICATION
    if isinstance(subject, SampleAudit):
        return Dispute.SAMPLE_AUDIT
    return Dispute.ACTIVATION


def _pilot_provider_claim(subject: Subject) -> tuple[Pilot, int, Claim | None]:
    if isinstance(subject, Verification):
        return subject.claim.pilot, subject.claim.provider_id, subject.claim
    if isinstance(subject, SampleAudit):
        claim = subject.item.claim
        return claim.pilot, claim.provider_id, claim
    return subject.participant.pilot, subject.participant.provider_id, None


def subject_of(dispute: Dispute) -> Subject:
    found = dispute.verification or dispute.sample_audit or dispute.activation
    assert found is not None
    return found


def _on_affected_side(by: User, pilot: Pilot, subject: Subject) -> None:
    """Staff of the affected provider (contract claimants for their contract claims), or
    a payer representative, may dispute a decision; nobody else."""
    _, provider_id, claim = _pilot_provider_claim(subject)
    roles = policy.roles_in(by, pilot)
    if Role.PAYER_REP in roles:
        return
    ours = by.organisation_id == provider_id
    contract = claim is not None and claim.scope == "contract"
    if ours and (roles & policy.PROVIDER_STAFF or (contract and roles & policy.CONTRACT_CLAIMANTS)):
        return
    raise NotPermitted("other_organisation", "this decision concerns another organisation")


def _superseded(subject: Subject) -> bool:
    if isinstance(subject, ActivationDecision):
        later = ActivationDecision.objects.filter(participant_id=subject.participant_id)
        return later.filter(pk__gt=subject.pk).exists()
    return type(subject).objects.filter(supersedes=subject).exists()


def _disputes_of(subject: Subject) -> QuerySet[Dispute]:
    return Dispute.objects.filter(**{_kind(subject): subject})


def raise_dispute(*, subject: Subject, grounds: str, by: User, at: datetime) -> Dispute:
    """C11: dispute a verification, activation or sample-audit decision. It starts at
    the rulebook's first dispute stage, due `deadlines.dispute_resolution` business
    days from today."""
    pilot, provider_id, _ = _pilot_provider_claim(subject)
    role = policy.require(by, "dispute.raise", pilot)
    _on_affected_side(by, pilot, subject)
    grounds = grounds.strip()
    if not grounds:
        raise Refused("grounds_required", "say why the decision is wrong", "grounds")
    rb = pilot.rulebook
    if not rb.codes.dispute_stages:
        raise Refused("no_dispute_stages", "the rulebook names no dispute stages", "subject")
    stage = rb.codes.dispute_stages[0].code
    due = due_after(pilot, at, rb.deadlines.dispute_resolution)
    assert due is not None
    kind = _kind(subject)
    with transaction.atomic(durable=True):
        Pilot.objects.select_for_update().get(pk=pilot.pk)  # numbers disputes one at a time
        if _superseded(subject):
            raise Refused("superseded", "this decision was already replaced", "subject")
        if earlier := _disputes_of(subject).first():
            state = "is open" if earlier.status == Dispute.OPEN else f"was {earlier.outcome}"
            raise Refused(
                "already_disputed", f"{earlier.reference} on this decision {state}", "subject"
            )
        dispute = Dispute.objects.create(
            pilot=pilot,
            reference=f"D-{Dispute.objects.filter(pilot=pilot).count() + 1:04d}",
            subject_kind=kind,
            provider_id=provider_id,
            grounds=grounds,
            raised_by=by,
            raised_at=at,
            stage=stage,
            due=due,
            rulebook_version=pilot.current.number,
            **{kind: subject},
        )
        DisputeStep.objects.create(
            dispute=dispute, stage=stage, action="raised", by=by, at=at, note=grounds
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="dispute.raise",
            subject=f"dispute:{dispute.reference}",
            payload={
                "decision": f"{kind}:{subject.pk}",
                "grounds": grounds,
                "stage": stage,
                "due": due,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return dispute


def _locked_open(dispute: Dispute) -> Dispute:
    locked = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if locked.status != Dispute.OPEN:
        raise Refused("already_resolved", f"{locked.reference} was already resolved", "dispute")
    return locked


def escalate_dispute(*, dispute: Dispute, note: str, by: User, at: datetime) -> Dispute:
    """C11: the disputing side takes an open dispute to the rulebook's next stage."""
    pilot = dispute.pilot
    role = policy.require(by, "dispute.raise", pilot)
    _on_affected_side(by, pilot, subject_of(dispute))
    note = note.strip()
    if not note:
        raise Refused("note_required", "say why the dispute goes to the next stage", "note")
    stages = [s.code for s in pilot.rulebook.codes.dispute_stages]
    with transaction.atomic(durable=True):
        locked = _locked_open(dispute)
        position = stages.index(locked.stage) if locked.stage in stages else len(stages) - 1
        if position + 1 >= len(stages):
            raise Refused(
                "last_stage",
                f"{locked.stage} is the last dispute stage; resolve it there",
                "dispute",
            )
        previous, locked.stage = locked.stage, stages[position + 1]
        locked.save(update_fields=["stage"])
        DisputeStep.objects.create(
            dispute=locked, stage=locked.stage, action="escalated", by=by, at=at, note=note
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="dispute.escalate",
            subject=f"dispute:{locked.reference}",
            payload={"from": previous, "to": locked.stage, "note": note},
            at=at,
            rulebook_version=pilot.current.number,
        )
    dispute.stage = locked.stage
    return dispute


# --- resolution -----------------------------------------------------------------------


def _new_decision_fields(kind: str, outcome: str, fields: dict[str, Any]) -> dict[str, Any]:
    allowed = NEW_DECISION_FIELDS[kind] if outcome != Dispute.UPHELD else ()
    given = {k: val for k, val in fields.items() if val not in (None, "", [], ())}
    extra = sorted(set(given) - set(allowed))
    if extra:
        what = "an upheld decision stands" if outcome == Dispute.UPHELD else f"a {kind} dispute"
        raise Refused("unexpected_fields", f"{what}: no {', '.join(extra)} to give", extra[0])
    return given


def _verification_decision(claim: Claim, fields: dict[str, Any]) -> dict[str, Any]:
    """The superseding verification's fields, checked exactly as `verify_claim` checks."""
    rb = claim.pilot.rulebook
    outcome = fields.get("verification_outcome", "")
    if outcome not in v.OUTCOMES:
        raise Refused(
            "unknown_outcome",
            f"the new verification must be one of {', '.join(v.OUTCOMES)}",
            "verification_outcome",
        )
    answers = v._answers(v.checklist_for(claim, rb), fields.get("checklist", ()))
    tranche = v.tranche_of(claim, rb)
    met = v._criteria(claim, tranche, outcome, fields.get("criteria_met", ()))
    if outcome == Verification.VERIFIED and not all(a["met"] for a in answers):
        raise Refused("unmet_items", "verified means every checklist item is met", "checklist")
    reasons = v._reasons(rb, outcome, fields.get("reason_codes", ()))
    amount = ZERO
    if outcome == Verification.PARTIAL:
        assert tranche is not None
        amount = v._check_partial(tranche, met)
    elif outcome == Verification.VERIFIED:
        amount = tranche.release_amount(len(met)) if tranche else claim.amount
    return {
        "outcome": outcome,
        "checklist": answers,
        "criteria_met": met,
        "reason_codes": reasons,
        "amount": amount,
        "note": str(fields.get("note", "")).strip(),
    }


def _audit_decision(old: SampleAudit, fields: dict[str, Any]) -> dict[str, Any]:
    """The superseding sample audit's fields, checked as `audit_sampled_claim` checks."""
    supported = sampling._supported(fields.get("supported_amount", ""), old.paid_amount)
    rb = old.item.sample.pilot.rulebook
    known = {c.code for c in rb.codes.verification_rejection_reasons}
    findings = list(dict.fromkeys(str(c).strip() for c in fields.get("finding_codes", ())))
    if unknown := [c for c in findings if c not in known]:
        raise Refused(
            "unknown_finding", f"not a finding code: {', '.join(unknown)}", "finding_codes"
        )
    if supported < old.paid_amount and not findings:
        raise Refused(
            "finding_required", "an unsupported amount needs a finding code", "finding_codes"
        )
    note = str(fields.get("note", "")).strip()
    return {"supported_amount": supported, "finding_codes": findings, "note": note}


def _recoup(
    dispute: Dispute,
    claim: Claim,
    amount: Decimal,
    by: User,
    at: datetime,
    audit: SampleAudit | None = None,
) -> Recoupment | None:
    if amount == 0:
        return None
    return Recoupment.objects.create(
        pilot=dispute.pilot,
        claim=claim,
        provider_id=claim.provider_id,
        amount=amount,
        reason=Recoupment.DISPUTE,
        audit=audit,
        basis_key=f"recoup:dispute:{dispute.pk}",
        created_by=by,
        created_at=at,
        rulebook_version=dispute.pilot.current.number,
    )


def _stamp(dispute: Dispute, by: User, at: datetime) -> dict[str, Any]:
    """Who decided the superseding decision, when, under which rulebook, due when."""
    pilot = dispute.pilot
    return {
        "organisation": by.organisation,
        "decided_by": by,
        "decided_at": at,
        "rulebook_version": pilot.current.number,
        "due": dispute.due,
        "late_days": late_by(pilot, dispute.due, at),
    }


def _recouped(claim: Claim) -> Decimal:
    total = Recoupment.objects.filter(claim=claim).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def _replace_verification(
    dispute: Dispute, old: Verification, fields: dict[str, Any], by: User, at: datetime
) -> tuple[str, Recoupment | None]:
    claim = Claim.objects.select_for_update().select_related("pilot").get(pk=old.claim_id)
    new = _verification_decision(claim, fields)
    recoupment = None
    if claim.status == Claim.PAYABLE:
        assert claim.payable_amount is not None
        recoupment = _recoup(
            dispute, claim, claim.payable_amount - _recouped(claim) - new["amount"], by, at
        )
        if new["outcome"] == Verification.REJECTED:
            claim.status = Claim.REJECTED
            claim.save(update_fields=["status"])
    elif new["outcome"] != Verification.REJECTED:
        if resubmitted := Claim.objects.filter(resubmission_of=claim).first():
            raise Refused(
                "resubmitted",
                f"{claim.reference} was resubmitted as {resubmitted.reference}; decide that claim",
                "dispute",
            )
        make_payable(claim, new["amount"], at)
        claim.save(
            update_fields=["status", "payable_amount", "payable_at", "payer_split", "basis_key"]
        )
    made = Verification.objects.create(
        claim=claim, supersedes=old, **_stamp(dispute, by, at), **new
    )
    return f"verification:{made.pk}", recoupment


def _replace_audit(
    dispute: Dispute, old: SampleAudit, fields: dict[str, Any], by: User, at: datetime
) -> tuple[str, Recoupment | None]:
    new = _audit_decision(old, fields)
    claim = Claim.objects.select_for_update().get(pk=old.item.claim_id)
    made = SampleAudit.objects.create(
        item=old.item, paid_amount=old.paid_amount, supersedes=old, **_stamp(dispute, by, at), **new
    )
    owed = old.paid_amount - new["supported_amount"]
    return f"sample_audit:{made.pk}", _recoup(dispute, claim, owed - _recouped(claim), by, at, made)


def _reopen_activation(old: ActivationDecision) -> str:
    participant = Participant.objects.select_for_update().get(pk=old.participant_id)
    if _superseded(old) or participant.status != old.outcome:
        raise Refused("superseded", "a later decision replaced this activation decision", "dispute")
    participant.status = Participant.ELIGIBLE
    participant.activated_at = None
    participant.next_review_due = None
    participant.save(update_fields=["status", "activated_at", "next_review_due"])
    return f"activation:{participant.participant_id}:awaiting-decision"


def resolve_dispute(
    *,
    dispute: Dispute,
    outcome: str,
    resolution: str,
    learning: str,
    by: User,
    at: datetime,
    **new_decision: Any,
) -> Dispute:
    """C11: decide a dispute at its current stage: the disputed decision is upheld, or
    overturned or varied by a new decision (`new_decision`: for a verification
    `verification_outcome`, `checklist`, `reason_codes`, `criteria_met`, `note`; for a
    sample audit `supported_amount`, `finding_codes`, `note`; nothing for an
    activation, which goes back to the activation approver)."""
    pilot = dispute.pilot
    role = policy.require(by, "dispute.decide", pilot)
    subject = subject_of(dispute)
    if by.pk == dispute.raised_by_id:
        raise Refused(
            "own_dispute", "you raised this dispute; another person decides it", "dispute"
        )
    if by.pk == subject.decided_by_id:
        raise Refused(
            "own_decision", "you took the disputed decision; another person decides", "dispute"
        )
    if by.organisation_id == dispute.provider_id:
        raise Refused("not_independent", "the dispute concerns your own organisation", "dispute")
    if outcome not in OUTCOMES:
        raise Refused("unknown_outcome", f"the outcome is one of {', '.join(OUTCOMES)}", "outcome")
    resolution, learning = resolution.strip(), learning.strip()
    if not resolution:
        raise Refused("resolution_required", "document the resolution", "resolution")
    if not learning:
        raise Refused(
            "learning_required", "say what is learnt, for providers and verifiers", "learning"
        )
    fields = _new_decision_fields(dispute.subject_kind, outcome, new_decision)
    with transaction.atomic(durable=True):
        locked = _locked_open(dispute)
        new, recoupment = "", None
        if outcome != Dispute.UPHELD:
            if isinstance(subject, Verification):
                new, recoupment = _replace_verification(locked, subject, fields, by, at)
            elif isinstance(subject, SampleAudit):
                new, recoupment = _replace_audit(locked, subject, fields, by, at)
            else:
                new = _reopen_activation(subject)
        locked.status, locked.outcome, locked.new_decision = Dispute.RESOLVED, outcome, new
        locked.resolution, locked.learning = resolution, learning
        locked.resolved_by, locked.resolved_at = by, at
        locked.late_days = late_by(pilot, locked.due, at)
        locked.save(update_fields=RESOLVED_FIELDS)
        DisputeStep.objects.create(
            dispute=locked, stage=locked.stage, action="resolved", by=by, at=at, note=resolution
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="dispute.resolve",
            subject=f"dispute:{locked.reference}",
            payload={
                "outcome": outcome,
                "stage": locked.stage,
                "new_decision": new,
                "recoupment": recoupment.amount if recoupment else None,
                "resolution": resolution,
                "learning": learning,
                "due": locked.due,
                "late_days": locked.late_days,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


# --- reading --------------------------------------------------------------------------


def disputes_for(user: Any, pilot: Pilot) -> QuerySet[Dispute]:
    """The pilot's disputes the user may see, open ones first (soonest due), then the
    rest newest first. Provider staff see their organisation's; verifiers, finance,
    payers and oversight see all."""
    rows = Dispute.objects.filter(pilot=pilot).select_related(
        "provider", "raised_by", "resolved_by"
    )
    if not policy.allowed(user, "dispute.view", pilot):
        return rows.none()
    everyone = {Role.VERIFIER, Role.FINANCE, Role.PAYER_REP} | policy.OVERSIGHT
    if not (policy.sees_every_provider(user, pilot) or policy.roles_in(user, pilot) & everyone):
        rows = rows.filter(provider_id=user.organisation_id)
    open_first = Case(
        When(status=Dispute.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return rows.order_by(open_first, "due", "-pk")


def open_days_late(pilot: Pilot, dispute: Dispute, today: Any) -> int:
    """Business days an open dispute is past its due date (its recorded lateness once
    resolved)."""
    if dispute.status != Dispute.OPEN:
        return dispute.late_days
    return pilot.calendar.lateness(dispute.due, today)
