"""Intake: referrals, assessments, the C1 eligibility file, the C2 activation decision,
removal from the locked roster and the compliance review of the register.

Each action checks the policy first, then refuses with a coded `Refused` in
DOMAIN.md's order before anything is written, then writes in one durable
transaction and appends exactly one audit record last.
"""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction

from fundpilot.audit import log
from fundpilot.participants.deadlines import due_after, late_by, review_due
from fundpilot.participants.models import (
    ActivationDecision,
    Assessment,
    ComplianceReview,
    EligibilityEntry,
    EligibilityFile,
    Participant,
    Referral,
    RosterRemoval,
)
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Organisation, Party, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import ActivationOutcome, CodeLabel, Eligibility, Rulebook
from fundpilot.rules.vocabulary import OrgKind

ASSESSMENT_KINDS = (Assessment.BASELINE, Assessment.SCREENING, Assessment.REASSESSMENT)
# No approved tool scores beyond this; it guards against typos (6250 for 62.50).
MAX_SCORE = Decimal("1000")
ACTIVE = "active"
# The register status recorded when no register row covers the date.
NOT_IN_REGISTER = "not_in_register"


# --- shared checks ------------------------------------------------------------------


def _eligibility(rb: Rulebook) -> Eligibility:
    if rb.eligibility is None:
        raise Refused(
            "no_eligibility_rules", "this pilot's rulebook enrols no participants", "pilot"
        )
    return rb.eligibility


def _codes(entries: Sequence[CodeLabel]) -> set[str]:
    return {entry.code for entry in entries}


def _required(value: str, field: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise Refused("required", f"give the {what}", field)
    return value


def _within_period(pilot: Pilot, rb: Rulebook, day: date, field: str, what: str) -> None:
    period = rb.pilot
    if not period.period_start <= day <= period.period_end:
        raise Refused(
            "outside_pilot_period",
            f"the {what} ({day}) is outside the pilot period"
            f" {period.period_start} to {period.period_end}",
            field,
        )


def _subject(participant_id: str) -> str:
    return f"participant:{participant_id}"


def register_status(
    pilot: Pilot, *, payer_id: str, member_id: str, on: date
) -> tuple[str, EligibilityEntry | None]:
    """The member's status on a date per the payer register as loaded.

    When several batches cover the date, the latest batch speaks for the payer.
    """
    entry = (
        EligibilityEntry.objects.filter(
            pilot=pilot, payer_id=payer_id, member_id=member_id, coverage_start__lte=on
        )
        .exclude(coverage_end__lt=on)
        .order_by("-batch__imported_at", "-batch_id", "-pk")
        .first()
    )
    return (entry.status, entry) if entry else (NOT_IN_REGISTER, None)


# --- referrals and assessments --------------------------------------------------------


def receive_referral(
    *,
    pilot: Pilot,
    reference: str,
    participant_id: str,
    payer_id: str,
    member_id: str,
    source: str,
    provider: Organisation,
    service_category: str,
    referred_at: datetime,
    geography: str = "",
    by: User,
    at: datetime,
) -> Referral:
    """Receive a referral from any source ("no wrong door"); its C1 file falls due."""
    role = policy.require_for_provider(by, "referral.receive", pilot, provider.pk)
    rb = pilot.rulebook
    eligibility = _eligibility(rb)
    reference = _required(reference, "reference", "referral reference")
    participant_id = _required(participant_id, "participant_id", "participant ID")
    member_id = _required(member_id, "member_id", "payer member ID")
    if source not in _codes(rb.codes.referral_sources):
        raise Refused("unknown_source", f"'{source}' is not a referral source code", "source")
    if payer_id not in {p.id for p in rb.payers}:
        raise Refused("unknown_payer", f"the rulebook has no payer '{payer_id}'", "payer_id")
    if service_category not in _codes(eligibility.qualifying_service_categories):
        raise Refused(
            "unknown_service_category",
            f"'{service_category}' is not a qualifying service category",
            "service_category",
        )
    if geography and geography not in _codes(rb.codes.geographies):
        raise Refused("unknown_geography", f"'{geography}' is not a geography code", "geography")
    if provider.kind != OrgKind.PROVIDER:
        raise Refused("not_a_provider", f"{provider} is not a provider organisation", "provider")
    if not Party.objects.filter(pilot=pilot, organisation=provider).exists():
        raise Refused("not_a_party", f"{provider} does not take part in this pilot", "provider")
    if referred_at > at:
        raise Refused("referred_in_future", "the referral date is later than now", "referred_at")
    _within_period(pilot, rb, pilot.calendar.local_date(referred_at), "referred_at", "referral")
    file_due = due_after(pilot, referred_at, rb.deadlines.eligibility_file)
    with transaction.atomic(durable=True):
        if Referral.objects.filter(pilot=pilot, reference=reference).exists():
            raise Refused(
                "duplicate_reference", f"referral '{reference}' was already received", "reference"
            )
        referral = Referral.objects.create(
            pilot=pilot,
            reference=reference,
            participant_id=participant_id,
            payer_id=payer_id,
            member_id=member_id,
            source=source,
            provider=provider,
            service_category=service_category,
            geography=geography,
            referred_at=referred_at,
            received_by=by,
            # With no deadline in the rulebook the file is due the day of referral.
            file_due=file_due or pilot.calendar.local_date(referred_at),
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="referral.receive",
            subject=_subject(participant_id),
            payload={
                "reference": reference,
                "payer_id": payer_id,
                "member_id": member_id,
                "source": source,
                "provider": provider.code,
                "service_category": service_category,
                "geography": geography,
                "referred_at": referred_at,
                "file_due": referral.file_due,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return referral


def record_assessment(
    *,
    pilot: Pilot,
    participant_id: str,
    kind: str,
    tool: str,
    tool_version: str,
    score: Decimal,
    acuity_band: str = "",
    flags: Sequence[str] = (),
    barriers: Sequence[str] = (),
    signed_by: str,
    signed_at: datetime,
    by: User,
    at: datetime,
) -> Assessment:
    """Record a signed assessment. An unapproved tool version is recorded, marked
    `approved_tool=False`, and cannot support an eligibility file (C1)."""
    policy.require(by, "assessment.record", pilot)
    referral = (
        Referral.objects.filter(pilot=pilot, participant_id=participant_id)
        .order_by("-referred_at", "-pk")
        .first()
    )
    if referral is None:
        raise Refused(
            "no_referral", f"no referral has been received for '{participant_id}'", "participant_id"
        )
    role = policy.require_for_provider(by, "assessment.record", pilot, referral.provider_id)
    rb = pilot.rulebook
    eligibility = _eligibility(rb)
    if kind not in ASSESSMENT_KINDS:
        raise Refused(
            "unknown_assessment_kind",
            f"'{kind}' is not one of {', '.join(ASSESSMENT_KINDS)}",
            "kind",
        )
    tools = {t.code: t for t in eligibility.approved_tools}
    if tool not in tools:
        raise Refused("unknown_tool", f"'{tool}' is not an assessment tool of this pilot", "tool")
    tool_version = _required(tool_version, "tool_version", "tool version")
    if not score.is_finite() or not Decimal(0) <= score <= MAX_SCORE:
        raise Refused("score_out_of_range", f"a score must be between 0 and {MAX_SCORE}", "score")
    if score != score.quantize(Decimal("0.01")):
        raise Refused("score_precision", "a score has at most two decimal places", "score")
    bands = _codes(rb.acuity.bands) if rb.acuity else set()
    if acuity_band and acuity_band not in bands:
        raise Refused(
            "unknown_acuity_band", f"'{acuity_band}' is not an acuity band", "acuity_band"
        )
    known_flags = _codes(rb.acuity.subpopulation_flags) if rb.acuity else set()
    for flag in flags:
        if flag not in known_flags:
            raise Refused("unknown_flag", f"'{flag}' is not a subpopulation flag", "flags")
    for barrier in barriers:
        if barrier not in _codes(rb.codes.barrier_categories):
            raise Refused(
                "unknown_barrier_category", f"'{barrier}' is not a barrier category", "barriers"
            )
    signed_by = _required(signed_by, "signed_by", "name of the person who signed")
    if signed_at > at:
        raise Refused("signed_in_future", "the signature is dated later than now", "signed_at")
    approved = tools[tool].approves(tool_version)
    with transaction.atomic(durable=True):
        assessment = Assessment.objects.create(
            pilot=pilot,
            participant_id=participant_id,
            kind=kind,
            tool=tool,
            tool_version=tool_version,
            approved_tool=approved,
            score=score,
            acuity_band=acuity_band,
            flags=list(dict.fromkeys(flags)),
            barriers=list(dict.fromkeys(barriers)),
            signed_by=signed_by,
            signed_at=signed_at,
            recorded_by=by,
            recorded_at=at,
            rulebook_version=pilot.current.number,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="assessment.record",
            subject=_subject(participant_id),
            payload={
                "assessment": assessment.pk,
                "kind": kind,
                "tool": tool,
                "tool_version": tool_version,
                "approved_tool": approved,
                "score": score,
                "acuity_band": acuity_band,
                "flags": assessment.flags,
                "barriers": assessment.barriers,
                "signed_by": signed_by,
                "signed_at": signed_at,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return assessment


# --- C1 and C2 ------------------------------------------------------------------------


def file_eligibility(
    *,
    referral: Referral,
    assessment: Assessment,
    participant_id: str,
    payer_status: str,
    baseline_score: Decimal,
    service_category: str,
    proposed_start: date,
    exclusion_code: str = "",
    by: User,
    at: datetime,
) -> EligibilityFile:
    """C1 eligibility file: only a file that passes makes the referral pilot-eligible.

    Without an exclusion it creates the Participant (status eligible); with one, the
    referral is answered as excluded and no participant exists.
    """
    pilot = referral.pilot
    role = policy.require_for_provider(by, "eligibility.file", pilot, referral.provider_id)
    rb = pilot.rulebook
    eligibility = _eligibility(rb)
    calendar = pilot.calendar
    # Cannot proceed without: an approved tool version, payer eligibility active.
    if not assessment.approved_tool:
        raise Refused(
            "unapproved_tool_version",
            f"{assessment.tool} version {assessment.tool_version} is not an approved version;"
            " the baseline must be retaken on an approved one",
            "assessment",
        )
    status, _ = register_status(
        pilot, payer_id=referral.payer_id, member_id=referral.member_id, on=proposed_start
    )
    if eligibility.require_active_payer_eligibility and status != ACTIVE:
        found = "has no coverage" if status == NOT_IN_REGISTER else f"says '{status}'"
        raise Refused(
            "payer_not_active",
            f"{referral.payer_id}'s register {found} for member {referral.member_id}"
            f" on {proposed_start}",
            "proposed_start",
        )
    # Validates: participant, register status, baseline score, category, exclusion.
    if participant_id != referral.participant_id:
        raise Refused(
            "participant_mismatch",
            f"the referral is for '{referral.participant_id}', not '{participant_id}'",
            "participant_id",
        )
    if payer_status != status:
        raise Refused(
            "payer_status_mismatch",
            f"the payer register as loaded says '{status}', not '{payer_status}'",
            "payer_status",
        )
    if (
        assessment.kind != Assessment.BASELINE
        or assessment.participant_id != participant_id
        or assessment.pilot_id != pilot.pk
    ):
        raise Refused(
            "not_the_baseline",
            f"the assessment is not a baseline assessment of '{participant_id}'",
            "assessment",
        )
    if baseline_score != assessment.score:
        raise Refused(
            "score_mismatch",
            f"the signed assessment scores {assessment.score}, not {baseline_score}",
            "baseline_score",
        )
    if service_category != referral.service_category:
        raise Refused(
            "service_category_mismatch",
            f"the referral is for '{referral.service_category}', not '{service_category}'",
            "service_category",
        )
    if exclusion_code and exclusion_code not in _codes(eligibility.exclusion_reasons):
        raise Refused(
            "unknown_exclusion", f"'{exclusion_code}' is not an exclusion code", "exclusion_code"
        )
    score_range = eligibility.baseline_score
    if not exclusion_code and not score_range.contains(baseline_score):
        raise Refused(
            "score_not_eligible",
            f"a baseline of {baseline_score} is outside the eligible range"
            f" {score_range.min}–{score_range.max}",
            "baseline_score",
        )
    referral_date = calendar.local_date(referral.referred_at)
    if proposed_start < referral_date:
        raise Refused(
            "start_before_referral",
            f"the proposed start is before the referral date {referral_date}",
            "proposed_start",
        )
    _within_period(pilot, rb, proposed_start, "proposed_start", "proposed start")
    with transaction.atomic(durable=True):
        Referral.objects.select_for_update().get(pk=referral.pk)
        if EligibilityFile.objects.filter(referral=referral).exists():
            raise Refused(
                "already_filed", "this referral already has an eligibility file", "referral"
            )
        if (
            not exclusion_code
            and Participant.objects.filter(pilot=pilot, participant_id=participant_id).exists()
        ):
            raise Refused(
                "already_participant",
                f"'{participant_id}' is already a participant of this pilot",
                "participant_id",
            )
        file = EligibilityFile.objects.create(
            referral=referral,
            assessment=assessment,
            participant_id=participant_id,
            referral_date=referral_date,
            payer_status=payer_status,
            baseline_score=baseline_score,
            service_category=service_category,
            exclusion_code=exclusion_code,
            proposed_start=proposed_start,
            decided_by=by,
            decided_at=at,
            rulebook_version=pilot.current.number,
            due=referral.file_due,
            late_days=late_by(pilot, referral.file_due, at),
        )
        if not exclusion_code:
            Participant.objects.create(
                pilot=pilot,
                participant_id=participant_id,
                referral=referral,
                provider_id=referral.provider_id,
                status=Participant.ELIGIBLE,
                acuity_band=assessment.acuity_band,
                flags=assessment.flags,
                baseline_score=baseline_score,
            )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="eligibility.file",
            subject=_subject(participant_id),
            payload={
                "referral": referral.reference,
                "assessment": assessment.pk,
                "referral_date": referral_date,
                "payer_status": payer_status,
                "baseline_score": baseline_score,
                "service_category": service_category,
                "exclusion_code": exclusion_code,
                "proposed_start": proposed_start,
                "due": file.due,
                "late_days": file.late_days,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return file


def _eligibility_basis_problem(pilot: Pilot, rb: Rulebook, file: EligibilityFile | None) -> str:
    """Why the participant has no valid eligibility basis now ("" when it has one)."""
    if file is None or file.exclusion_code:
        return "there is no eligibility file without an exclusion"
    eligibility = _eligibility(rb)
    if eligibility.require_active_payer_eligibility:
        referral = file.referral
        status, _ = register_status(
            pilot, payer_id=referral.payer_id, member_id=referral.member_id, on=file.proposed_start
        )
        if status != ACTIVE:
            return (
                f"the payer register as loaded now says '{status}' on the proposed start"
                f" {file.proposed_start}"
            )
    return ""


def decide_activation(
    *,
    participant: Participant,
    outcome: str,
    decision_code: str,
    reason_code: str = "",
    review_date: date,
    control_status: str,
    next_checkpoint: date | None = None,
    clarification_owner: User | None = None,
    clarification_due: date | None = None,
    by: User,
    at: datetime,
) -> ActivationDecision:
    """C2 activation decision: activated (onto the locked roster), pending
    clarification (with an owner and a deadline) or rejected (with a coded rationale)."""
    pilot = participant.pilot
    role = policy.require_for_provider(by, "activation.decide", pilot, participant.provider_id)
    rb = pilot.rulebook
    today = pilot.calendar.local_date(at)
    outcomes = [o.value for o in ActivationOutcome]
    if outcome not in outcomes:
        raise Refused(
            "unknown_outcome", f"'{outcome}' is not one of {', '.join(outcomes)}", "outcome"
        )
    codes = {d.code: d for d in rb.codes.activation_decisions}
    if decision_code not in codes:
        raise Refused(
            "unknown_decision_code",
            f"'{decision_code}' is not an activation decision code",
            "decision_code",
        )
    if codes[decision_code].outcome != outcome:
        raise Refused(
            "decision_code_mismatch",
            f"decision code {decision_code} means '{codes[decision_code].outcome}', not"
            f" '{outcome}'",
            "decision_code",
        )
    # Cannot proceed without an owner and deadline for every pending clarification.
    if outcome == ActivationDecision.PENDING:
        if clarification_owner is None:
            raise Refused(
                "clarification_owner_required",
                "name who will clear up the pending clarification",
                "clarification_owner",
            )
        if not policy.roles_in(clarification_owner, pilot):
            raise Refused(
                "owner_not_in_pilot",
                f"{clarification_owner.username} holds no role in this pilot",
                "clarification_owner",
            )
        if clarification_due is None:
            raise Refused(
                "clarification_due_required",
                "give the date the clarification is due",
                "clarification_due",
            )
        if clarification_due < today:
            raise Refused(
                "clarification_due_past",
                f"the clarification due date {clarification_due} has passed",
                "clarification_due",
            )
    reasons = {
        ActivationDecision.PENDING: _codes(rb.codes.pending_reasons),
        ActivationDecision.REJECTED: _codes(rb.codes.rejection_reasons),
    }.get(outcome, set())
    if outcome != ActivationDecision.ACTIVATED and not reason_code:
        raise Refused("reason_required", f"a {outcome} decision needs a reason code", "reason_code")
    if reason_code and reason_code not in reasons:
        raise Refused(
            "unknown_reason", f"'{reason_code}' is not a reason code for '{outcome}'", "reason_code"
        )
    control_status = _required(control_status, "control_status", "control status")
    if review_date > today:
        raise Refused(
            "review_date_in_future", f"the review date {review_date} is after today", "review_date"
        )
    if next_checkpoint is not None and next_checkpoint < review_date:
        raise Refused(
            "checkpoint_before_review",
            "the next checkpoint is before the review date",
            "next_checkpoint",
        )
    with transaction.atomic(durable=True):
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.status not in (Participant.ELIGIBLE, Participant.PENDING):
            raise Refused(
                "already_decided",
                f"{locked.participant_id} is already {locked.status}",
                "participant",
            )
        file = EligibilityFile.objects.filter(referral_id=locked.referral_id).first()
        if outcome == ActivationDecision.ACTIVATED:
            problem = _eligibility_basis_problem(pilot, rb, file)
            if problem:
                raise Refused("no_eligibility_basis", f"cannot activate: {problem}", "participant")
        # Separation of duties: the file's author does not approve it.
        if file is not None and file.decided_by_id == by.pk:
            raise Refused(
                "same_person",
                "you filed this participant's eligibility; another approver must decide",
                "participant",
            )
        due = due_after(pilot, file.decided_at, rb.deadlines.activation_decision) if file else None
        decision = ActivationDecision.objects.create(
            participant=locked,
            outcome=outcome,
            decision_code=decision_code,
            reason_code=reason_code,
            review_date=review_date,
            control_status=control_status,
            next_checkpoint=next_checkpoint,
            clarification_owner=clarification_owner,
            clarification_due=clarification_due,
            decided_by=by,
            decided_at=at,
            rulebook_version=pilot.current.number,
            due=due,
            late_days=late_by(pilot, due, at),
        )
        locked.status = outcome
        fields = ["status"]
        if outcome == ActivationDecision.ACTIVATED:
            locked.activated_at = at
            locked.next_review_due = review_due(pilot, today)
            fields += ["activated_at", "next_review_due"]
        locked.save(update_fields=fields)
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="activation.decide",
            subject=_subject(locked.participant_id),
            payload={
                "outcome": outcome,
                "decision_code": decision_code,
                "reason_code": reason_code,
                "review_date": review_date,
                "control_status": control_status,
                "next_checkpoint": next_checkpoint,
                "clarification_owner": clarification_owner.username if clarification_owner else "",
                "clarification_due": clarification_due,
                "due": due,
                "late_days": decision.late_days,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    _refresh(participant, locked)
    return decision


def _refresh(participant: Participant, locked: Participant) -> None:
    """Let the caller's object see what the action wrote."""
    for name in ("status", "activated_at", "next_review_due"):
        setattr(participant, name, getattr(locked, name))


# --- the locked roster and its review -------------------------------------------------


def remove_from_roster(
    *, participant: Participant, reason_code: str, note: str = "", by: User, at: datetime
) -> RosterRemoval:
    """Remove an activated participant from the locked activation roster: coded, audited."""
    pilot = participant.pilot
    role = policy.require_for_provider(by, "roster.remove", pilot, participant.provider_id)
    rb = pilot.rulebook
    if not reason_code:
        raise Refused("reason_required", "a removal needs a reason code", "reason_code")
    if reason_code not in _codes(rb.codes.removal_reasons):
        raise Refused(
            "unknown_reason", f"'{reason_code}' is not a removal reason code", "reason_code"
        )
    with transaction.atomic(durable=True):
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.status != Participant.ACTIVATED:
            raise Refused(
                "not_on_roster",
                f"{locked.participant_id} is {locked.status}, not on the activation roster",
                "participant",
            )
        removal = RosterRemoval.objects.create(
            participant=locked,
            reason_code=reason_code,
            note=note.strip(),
            decided_by=by,
            decided_at=at,
            rulebook_version=pilot.current.number,
        )
        locked.status = Participant.REMOVED
        locked.save(update_fields=["status"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="roster.remove",
            subject=_subject(locked.participant_id),
            payload={"reason_code": reason_code, "note": removal.note},
            at=at,
            rulebook_version=pilot.current.number,
        )
    _refresh(participant, locked)
    return removal


def review_compliance(
    *, participant: Participant, note: str = "", by: User, at: datetime
) -> ComplianceReview:
    """Compliance / payer relations review a participant's activation before any
    milestone planning (C2)."""
    pilot = participant.pilot
    role = policy.require_for_provider(by, "compliance.review", pilot, participant.provider_id)
    with transaction.atomic(durable=True):
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.status != Participant.ACTIVATED:
            raise Refused(
                "not_activated",
                f"{locked.participant_id} is {locked.status}; only activations are reviewed",
                "participant",
            )
        if ComplianceReview.objects.filter(participant=locked).exists():
            raise Refused(
                "already_reviewed",
                f"the activation of {locked.participant_id} was already reviewed",
                "participant",
            )
        review = ComplianceReview.objects.create(
            participant=locked,
            note=note.strip(),
            decided_by=by,
            decided_at=at,
            rulebook_version=pilot.current.number,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="compliance.review",
            subject=_subject(locked.participant_id),
            payload={"note": review.note},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return review
