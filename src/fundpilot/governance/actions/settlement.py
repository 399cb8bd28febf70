"""C16 settlement file: finance prepares the month's file, documents the reconciliation
between milestone reporting and the reassessment integrity log, and finalises it once
its figures are validated; finance, compliance and the executive sponsor each review
the finalised file before it goes to the board. Methodology questions are raised by
anyone who reads the figures and resolved by compliance (never by who raised them).

- `prepare_settlement`: the month must have ended; creates the draft, or refreshes a
  draft's figures and cut-off (a refresh that changes the figures clears the documented
  reconciliation, which was of the old figures). A finalised month is never recomputed
  into a new file: later changes show as adjustments in the next month's.
- `document_reconciliation`, `finalise_settlement`, `review_settlement`.
- `raise_methodology_question`, `resolve_methodology_question`.
"""

from datetime import date, datetime
from typing import Any

from django.db import transaction

from fundpilot.audit import log
from fundpilot.governance import settlement as figures
from fundpilot.governance.models import MethodologyQuestion, Settlement, SettlementReview
from fundpilot.money.ledger import month_of
from fundpilot.money.monthly import check_month
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.vocabulary import Role


def _subject(month: date) -> str:
    return f"settlement:{month:%Y-%m}"


def _summary(f: dict[str, Any]) -> dict[str, Any]:
    """What the audit record keeps of the figures (their hash binds the rest)."""
    return {
        "activated": f["activated"],
        "attainment": {k: f["attainment"][k] for k in ("numerator", "denominator", "rate")},
        "reassessment": {k: f["reassessment"][k] for k in ("due", "completed", "rate")},
        "payment_trigger_met": f["payment_trigger"]["met"],
        "unresolved_questions": f["unresolved_questions"],
        "milestone_amount": f["milestone_amount"],
        "adjusted_months": [a["month"] for a in f["adjustments"]],
    }


def _draft(settlement: Settlement) -> None:
    if settlement.status == Settlement.FINALISED:
        raise Refused(
            "already_finalised",
            f"the {settlement.month:%Y-%m} settlement is finalised; later changes show as"
            " adjustments in the next month's file",
            "month",
        )


def prepare_settlement(*, pilot: Pilot, month: date, by: User, at: datetime) -> Settlement:
    """C16: build (or refresh) the draft settlement file of an ended month, its figures
    computed from the records up to now (the cut-off)."""
    role = policy.require(by, "settlement.prepare", pilot)
    month = month.replace(day=1)
    check_month(pilot, month, at)
    if month >= month_of(pilot.calendar.local_date(at)):
        raise Refused("month_not_ended", f"{month:%Y-%m} has not ended yet", "month")
    existing = Settlement.objects.filter(pilot=pilot, month=month).first()
    if existing is not None:
        _draft(existing)
    with transaction.atomic(durable=True):
        Pilot.objects.select_for_update().get(pk=pilot.pk)
        locked = Settlement.objects.select_for_update().filter(pilot=pilot, month=month).first()
        if locked is not None:
            _draft(locked)
        made = figures.compute(pilot, month, at)
        sha = figures.figures_sha256(made)
        fields = {
            "figures": made,
            "figures_sha256": sha,
            "cutoff": at,
            "prepared_by": by,
            "prepared_at": at,
            "rulebook_version": pilot.current.number,
        }
        cleared = False
        if locked is None:
            locked = Settlement.objects.create(pilot=pilot, month=month, **fields)
        else:
            cleared = bool(locked.reconciliation_note) and locked.figures_sha256 != sha
            if cleared:
                fields["reconciliation_note"] = ""
            for name, value in fields.items():
                setattr(locked, name, value)
            locked.save(update_fields=list(fields))
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="settlement.prepare",
            subject=_subject(month),
            payload={
                "month": f"{month:%Y-%m}",
                "cutoff": at,
                "figures_sha256": sha,
                "reconciliation_cleared": cleared,
                **_summary(made),
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


def document_reconciliation(
    *, settlement: Settlement, note: str, by: User, at: datetime
) -> Settlement:
    """C16: the documented reconciliation between the milestone reporting and the
    reassessment integrity log, without which the file cannot be finalised."""
    pilot = settlement.pilot
    role = policy.require(by, "settlement.prepare", pilot)
    _draft(settlement)
    note = note.strip()
    if not note:
        raise Refused(
            "note_required",
            "document how the milestone reporting reconciles with the reassessment log",
            "note",
        )
    with transaction.atomic(durable=True):
        locked = Settlement.objects.select_for_update().get(pk=settlement.pk)
        _draft(locked)
        locked.reconciliation_note = note
        locked.save(update_fields=["reconciliation_note"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="settlement.reconcile",
            subject=_subject(locked.month),
            payload={"note": note, "figures_sha256": locked.figures_sha256},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


def _validate(s: Settlement, at: datetime) -> None:
    """Before the file counts: its figures follow the methodology, its activated count
    is the locked roster, its reassessment completion reflects the live log."""
    pilot, month = s.pilot, s.month
    if not s.reconciliation_note:
        raise Refused(
            "reconciliation_missing",
            "document the reconciliation between milestone reporting and the reassessment"
            " integrity log first",
            "reconciliation_note",
        )
    again = figures.compute(pilot, month, s.cutoff)
    if figures.figures_sha256(again) != s.figures_sha256:
        changed = ", ".join(d["figure"] for d in figures.differences(s.figures, again))
        raise Refused(
            "stale_figures",
            f"recomputed at its cut-off the file differs ({changed or 'records behind it'});"
            " prepare it again",
            "figures",
        )
    audited = figures.audited_roster(pilot, month, s.cutoff)
    counted = set(s.figures["trace"]["activated"])
    if counted != audited:
        extra, missing = sorted(counted - audited), sorted(audited - counted)
        raise Refused(
            "roster_mismatch",
            f"the activated count {len(counted)} is not the locked roster of {len(audited)}"
            f" in the audit log (not on the roster: {', '.join(extra) or 'none'};"
            f" missing: {', '.join(missing) or 'none'})",
            "activated",
        )
    live = figures.reassessment_in_log(pilot, month, s.cutoff, at)
    drafted = s.figures["reassessment"]
    if (live["due"], live["completed"]) != (drafted["due"], drafted["completed"]):
        raise Refused(
            "reassessment_mismatch",
            f"the live reassessment log shows {live['completed']} of {live['due']} completed,"
            f" the file {drafted['completed']} of {drafted['due']}; prepare it again",
            "reassessment",
        )


def finalise_settlement(*, settlement: Settlement, by: User, at: datetime) -> Settlement:
    """C16: finalise a draft whose reconciliation is documented and whose figures pass
    validation; its figures and their SHA-256 are then fixed."""
    pilot = settlement.pilot
    role = policy.require(by, "settlement.prepare", pilot)
    _draft(settlement)
    with transaction.atomic(durable=True):
        locked = (
            Settlement.objects.select_for_update().select_related("pilot").get(pk=settlement.pk)
        )
        _draft(locked)
        _validate(locked, at)
        locked.status = Settlement.FINALISED
        locked.finalised_by, locked.finalised_at = by, at
        locked.save(update_fields=["status", "finalised_by", "finalised_at"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="settlement.finalise",
            subject=_subject(locked.month),
            payload={
                "cutoff": locked.cutoff,
                "figures_sha256": locked.figures_sha256,
                "reconciliation_note": locked.reconciliation_note,
                **_summary(locked.figures),
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


def _reviewer_role(by: User, pilot: Pilot, role: str | None) -> Role:
    held = policy.roles_in(by, pilot) & policy.SETTLEMENT_REVIEWERS
    if role:
        if role not in {r.value for r in held}:
            raise Refused(
                "not_your_role",
                f"you do not review as {role} in {pilot.slug}"
                f" (you may as {', '.join(sorted(r.value for r in held))})",
                "role",
            )
        return Role(role)
    if len(held) > 1:
        raise Refused(
            "role_required",
            f"say which role you review in: {', '.join(sorted(r.value for r in held))}",
            "role",
        )
    return next(iter(held))


def review_settlement(
    *, settlement: Settlement, note: str, by: User, at: datetime, role: str | None = None
) -> SettlementReview:
    """C16: finance, compliance and the executive sponsor each record one review of the
    finalised file before it goes to the board; one person records one review."""
    pilot = settlement.pilot
    policy.require(by, "settlement.review", pilot)
    acting = _reviewer_role(by, pilot, role)
    if settlement.status != Settlement.FINALISED:
        raise Refused(
            "not_finalised", f"the {settlement.month:%Y-%m} file is not finalised", "settlement"
        )
    note = note.strip()
    if not note:
        raise Refused("note_required", "record what the review found", "note")
    with transaction.atomic(durable=True):
        locked = Settlement.objects.select_for_update().get(pk=settlement.pk)
        done = SettlementReview.objects.filter(settlement=locked)
        if done.filter(role=acting.value).exists():
            raise Refused(
                "already_reviewed",
                f"the {acting.label} review of {locked.month:%Y-%m} is recorded",
                "role",
            )
        if done.filter(reviewed_by=by).exists():
            raise Refused(
                "already_reviewed",
                "you have reviewed this file already; each review is another person's",
                "role",
            )
        review = SettlementReview.objects.create(
            settlement=locked, role=acting.value, reviewed_by=by, reviewed_at=at, note=note
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, acting),
            action="settlement.review",
            subject=_subject(locked.month),
            payload={"role": acting.value, "note": note, "figures_sha256": locked.figures_sha256},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return review


def reviews_missing(settlement: Settlement) -> list[Role]:
    """The reviewer roles still to review the file (board-ready when empty)."""
    done = set(settlement.reviews.values_list("role", flat=True))
    return sorted(
        (r for r in policy.SETTLEMENT_REVIEWERS if r.value not in done), key=list(Role).index
    )


# --- methodology questions ----------------------------------------------------------------


def raise_methodology_question(
    *, pilot: Pilot, question: str, milestone: str = "", by: User, at: datetime
) -> MethodologyQuestion:
    """An open question about how a milestone or the denominator is counted; counted in
    the settlement file until resolved, and noted by the board (C17)."""
    role = policy.require(by, "methodology.raise", pilot)
    question, milestone = question.strip(), milestone.strip()
    if not question:
        raise Refused("question_required", "write the question", "question")
    if milestone:
        try:
            pilot.rulebook.milestone(milestone)
        except KeyError:
            raise Refused(
                "unknown_milestone", f"the library has no milestone '{milestone}'", "milestone"
            ) from None
    with transaction.atomic(durable=True):
        made = MethodologyQuestion.objects.create(
            pilot=pilot, milestone=milestone, question=question, raised_by=by, raised_at=at
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="methodology_question.raise",
            subject=f"methodology_question:{made.pk}",
            payload={"milestone": milestone, "question": question},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return made


def _open(question: MethodologyQuestion) -> None:
    if question.resolved_at is not None:
        raise Refused("already_resolved", f"question {question.pk} is resolved", "question")


def resolve_methodology_question(
    *, question: MethodologyQuestion, answer: str, by: User, at: datetime
) -> MethodologyQuestion:
    """Compliance answers a methodology question; nobody answers their own."""
    pilot = question.pilot
    role = policy.require(by, "methodology.resolve", pilot)
    _open(question)
    if question.raised_by_id == by.pk:
        raise Refused("own_question", "you raised this question; another person answers it")
    answer = answer.strip()
    if not answer:
        raise Refused("answer_required", "write the answer", "answer")
    with transaction.atomic(durable=True):
        locked = MethodologyQuestion.objects.select_for_update().get(pk=question.pk)
        _open(locked)
        locked.answer, locked.resolved_by, locked.resolved_at = answer, by, at
        locked.save(update_fields=["answer", "resolved_by", "resolved_at"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="methodology_question.resolve",
            subject=f"methodology_question:{locked.pk}",
            payload={"answer": answer},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked
