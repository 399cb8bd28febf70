"""API of C16, mounted at /api/v1/pilots: settlement files (list, read a month, prepare,
document the reconciliation, finalise, review, check that a stored file recomputes to
its figures) and methodology questions (list, raise, resolve).

The `trace` of a file's figures (participant ids, claim references) is given to those
who may read participants or claims; others get the figures without it.
"""

from datetime import date, datetime
from typing import Any

from django.db.models import F
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.governance import settlement as figures
from fundpilot.governance.actions import settlement as actions
from fundpilot.governance.models import MethodologyQuestion, Settlement, SettlementReview
from fundpilot.money.api.common import MonthIn, month_or_404, username_of
from fundpilot.money.ledger import parse_month
from fundpilot.pilots import policy
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot, User

router = Router(tags=["governance"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class ReviewOut(Schema):
    role: str
    reviewed_by: str
    reviewed_at: datetime
    note: str


class SettlementOut(Schema):
    month: str
    status: str = Field(description="draft or finalised")
    due: date = Field(description="the rulebook's day of the next month, next business day")
    overdue: bool = Field(description="past its due day and not finalised")
    cutoff: datetime = Field(description="records up to this instant make the figures")
    figures: dict[str, Any] = Field(
        description="pilot month, activated count (locked roster), attainment, reassessment"
        " completion, payment trigger, unresolved methodology questions, milestone amount,"
        " adjustments of earlier months; `trace` (the records behind each figure) only for"
        " those who may read participants or claims"
    )
    figures_sha256: str
    reconciliation_note: str
    prepared_by: str
    prepared_at: datetime
    finalised_by: str | None
    finalised_at: datetime | None
    rulebook_version: int
    reviews: list[ReviewOut]
    reviews_missing: list[str] = Field(description="reviewer roles still to review")


class NoteIn(Schema):
    note: str


class ReviewIn(NoteIn):
    role: str | None = Field(
        default=None,
        description="finance, compliance or executive_sponsor; only when you"
        " hold more than one of them",
    )


class CheckOut(Schema):
    month: str
    cutoff: str
    stored_sha256: str
    recomputed_sha256: str
    matches: bool = Field(description="the stored figures equal their recompute at the cut-off")
    differences: list[dict[str, Any]]


class QuestionOut(Schema):
    id: int
    milestone: str
    question: str
    raised_by: str
    raised_at: datetime
    answer: str
    resolved_by: str | None
    resolved_at: datetime | None


class QuestionIn(Schema):
    question: str
    milestone: str = Field(default="", description="the milestone code it concerns, if one")


class AnswerIn(Schema):
    answer: str


def _traced(user: User, pilot: Pilot) -> bool:
    return policy.allowed(user, "participant.view", pilot) or policy.allowed(
        user, "claim.view", pilot
    )


def _review_out(r: SettlementReview) -> dict[str, Any]:
    return {
        "role": r.role,
        "reviewed_by": r.reviewed_by.username,
        "reviewed_at": r.reviewed_at,
        "note": r.note,
    }


def _out(s: Settlement, user: User) -> dict[str, Any]:
    pilot = s.pilot
    today = pilot.calendar.local_date(timezone.now())
    shown = dict(s.figures)
    if not _traced(user, pilot):
        shown.pop("trace", None)
    return {
        "month": f"{s.month:%Y-%m}",
        "status": s.status,
        "due": figures.due_on(pilot, s.month),
        "overdue": figures.is_overdue(s, pilot, s.month, today),
        "cutoff": s.cutoff,
        "figures": shown,
        "figures_sha256": s.figures_sha256,
        "reconciliation_note": s.reconciliation_note,
        "prepared_by": s.prepared_by.username,
        "prepared_at": s.prepared_at,
        "finalised_by": username_of(s.finalised_by),
        "finalised_at": s.finalised_at,
        "rulebook_version": s.rulebook_version,
        "reviews": [_review_out(r) for r in s.reviews.select_related("reviewed_by").order_by("pk")],
        "reviews_missing": [r.value for r in actions.reviews_missing(s)],
    }


def _settlement(request: HttpRequest, pilot: str, month: str, perm: str) -> Settlement:
    p, _ = pilot_for(request.auth, pilot, perm)
    found = (
        Settlement.objects.filter(pilot=p, month=month_or_404(month))
        .select_related("pilot", "prepared_by", "finalised_by")
        .first()
    )
    if found is None:
        raise Http404(f"no settlement file for {month} in {p.slug}")
    return found


@router.get(
    "/{pilot}/settlements",
    response={200: list[SettlementOut], **E},
    summary="Settlement files, latest month first",
)
@permission("settlement.view")
def list_settlements(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "settlement.view")
    rows = Settlement.objects.filter(pilot=p).select_related("pilot", "prepared_by", "finalised_by")
    return [_out(s, request.auth) for s in rows.order_by("-month")[:120]]


@router.post(
    "/{pilot}/settlements",
    response={201: SettlementOut, **E},
    summary="Prepare (or refresh the draft of) an ended month's settlement file",
)
@permission("settlement.prepare")
def prepare(request: HttpRequest, pilot: str, body: MonthIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "settlement.prepare")
    made = actions.prepare_settlement(
        pilot=p, month=parse_month(body.month), by=request.auth, at=timezone.now()
    )
    return Status(201, _out(made, request.auth))


@router.get(
    "/{pilot}/settlements/{month}",
    response={200: SettlementOut, **E},
    summary="One month's settlement file",
)
@permission("settlement.view")
def get_settlement(request: HttpRequest, pilot: str, month: str) -> dict[str, Any]:
    return _out(_settlement(request, pilot, month, "settlement.view"), request.auth)


@router.post(
    "/{pilot}/settlements/{month}/reconciliation",
    response={200: SettlementOut, **E},
    summary="Document the reconciliation between milestone reporting and the reassessment"
    " integrity log",
)
@permission("settlement.prepare")
def reconcile(request: HttpRequest, pilot: str, month: str, body: NoteIn) -> dict[str, Any]:
    found = _settlement(request, pilot, month, "settlement.prepare")
    done = actions.document_reconciliation(
        settlement=found, note=body.note, by=request.auth, at=timezone.now()
    )
    return _out(done, request.auth)


@router.post(
    "/{pilot}/settlements/{month}/finalise",
    response={200: SettlementOut, **E},
    summary="Finalise a draft: refused until the reconciliation is documented, and unless"
    " the figures recompute, the activated count is the locked roster and reassessment"
    " completion reflects the live log",
)
@permission("settlement.prepare")
def finalise(request: HttpRequest, pilot: str, month: str) -> dict[str, Any]:
    found = _settlement(request, pilot, month, "settlement.prepare")
    done = actions.finalise_settlement(settlement=found, by=request.auth, at=timezone.now())
    return _out(done, request.auth)


@router.post(
    "/{pilot}/settlements/{month}/reviews",
    response={201: ReviewOut, **E},
    summary="Record your review (finance, compliance or executive sponsor) of a finalised file",
)
@permission("settlement.review")
def review(request: HttpRequest, pilot: str, month: str, body: ReviewIn) -> Status[dict[str, Any]]:
    found = _settlement(request, pilot, month, "settlement.review")
    made = actions.review_settlement(
        settlement=found, note=body.note, role=body.role, by=request.auth, at=timezone.now()
    )
    return Status(201, _review_out(made))


@router.get(
    "/{pilot}/settlements/{month}/recompute-check",
    response={200: CheckOut, **E},
    summary="Recompute a stored file at its cut-off: does it give the stored figures?",
)
@permission("settlement.view")
def recompute_check(request: HttpRequest, pilot: str, month: str) -> dict[str, Any]:
    return figures.recompute_check(_settlement(request, pilot, month, "settlement.view"))


def _question_out(q: MethodologyQuestion) -> dict[str, Any]:
    return {
        "id": q.pk,
        **{f: getattr(q, f) for f in ("milestone", "question", "raised_at", "answer")},
        "raised_by": q.raised_by.username,
        "resolved_by": username_of(q.resolved_by),
        "resolved_at": q.resolved_at,
    }


@router.get(
    "/{pilot}/methodology-questions",
    response={200: list[QuestionOut], **E},
    summary="Methodology questions, open ones first",
)
@permission("methodology.raise")
def list_questions(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "methodology.raise")
    rows = MethodologyQuestion.objects.filter(pilot=p).select_related("raised_by", "resolved_by")
    return [
        _question_out(q)
        for q in rows.order_by(F("resolved_at").desc(nulls_first=True), "-pk")[:500]
    ]


@router.post(
    "/{pilot}/methodology-questions",
    response={201: QuestionOut, **E},
    summary="Raise a methodology question (counted in the settlement file until resolved)",
)
@permission("methodology.raise")
def raise_question(request: HttpRequest, pilot: str, body: QuestionIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "methodology.raise")
    made = actions.raise_methodology_question(
        pilot=p,
        question=body.question,
        milestone=body.milestone,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, _question_out(made))


@router.post(
    "/{pilot}/methodology-questions/{question_id}/resolution",
    response={200: QuestionOut, **E},
    summary="Resolve a methodology question (compliance; not the person who raised it)",
)
@permission("methodology.resolve")
def resolve_question(
    request: HttpRequest, pilot: str, question_id: int, body: AnswerIn
) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "methodology.resolve")
    found = MethodologyQuestion.objects.filter(pilot=p, pk=question_id).first()
    if found is None:
        raise Http404(f"no methodology question {question_id} in {p.slug}")
    done = actions.resolve_methodology_question(
        question=found, answer=body.answer, by=request.auth, at=timezone.now()
    )
    return _question_out(done)
