"""API of C15, mounted at /api/v1/pilots: variance cycles (run, list, read one month),
case reviews (list, assign, add a corrective action, close) and corrective actions."""

from datetime import date, datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.money.actions import variance as actions
from fundpilot.money.api.common import (
    AssignmentIn,
    MonthIn,
    month_or_404,
    person_in,
    username_of,
)
from fundpilot.money.ledger import parse_month
from fundpilot.money.models import CaseReview, CorrectiveAction, VarianceCycle
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error

router = Router(tags=["money"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class CycleOut(Schema):
    month: str
    run_by: str
    run_at: datetime
    rulebook_version: int
    figures: dict[str, Any] = Field(
        description="pilot totals; tables by cohort, geography and service level with"
        " plan, variance and flags; stop-loss hits; reviews still open; re-tests"
    )
    reviews: list[int] = Field(description="the case reviews this cycle opened")


class CaseReviewOut(Schema):
    id: int
    month: str
    trigger: str
    subject: str
    figures: dict[str, Any]
    owner: str | None
    due: date | None
    status: str
    findings: str
    closed_by: str | None
    closed_at: datetime | None


class CorrectiveActionOut(Schema):
    id: int
    review: int
    description: str
    owner: str
    due: date
    status: str = Field(description="open, passed or failed (its re-test)")
    retest_month: str | None
    retest_result: str
    created_by: str
    created_at: datetime


class CorrectiveIn(AssignmentIn):
    description: str


class ClosureIn(Schema):
    findings: str


def _cycle_out(c: VarianceCycle) -> dict[str, Any]:
    return {
        "month": f"{c.month:%Y-%m}",
        "run_by": c.run_by.username,
        "run_at": c.run_at,
        "rulebook_version": c.rulebook_version,
        "figures": c.figures,
        "reviews": list(c.reviews.order_by("pk").values_list("pk", flat=True)),
    }


def _review_out(r: CaseReview) -> dict[str, Any]:
    return {
        "id": r.pk,
        "month": f"{r.cycle.month:%Y-%m}",
        **{f: getattr(r, f) for f in ("trigger", "subject", "figures", "due", "status")},
        "owner": username_of(r.owner),
        "findings": r.findings,
        "closed_by": username_of(r.closed_by),
        "closed_at": r.closed_at,
    }


def _action_out(a: CorrectiveAction) -> dict[str, Any]:
    return {
        "id": a.pk,
        "review": a.review_id,
        **{f: getattr(a, f) for f in ("description", "due", "status", "retest_result")},
        "owner": a.owner.username,
        "retest_month": f"{a.retest_cycle.month:%Y-%m}" if a.retest_cycle else None,
        "created_by": a.created_by.username,
        "created_at": a.created_at,
    }


@router.get(
    "/{pilot}/variance-cycles",
    response={200: list[CycleOut], **E},
    summary="Variance cycles, latest first",
)
@permission("variance.view")
def list_cycles(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "variance.view")
    rows = VarianceCycle.objects.filter(pilot=p).select_related("run_by").order_by("-month")
    return [_cycle_out(c) for c in rows[:120]]


@router.post(
    "/{pilot}/variance-cycles",
    response={201: CycleOut, **E},
    summary="Run a month's variance cycle: flags and stop-loss open case reviews;"
    " corrective actions of earlier cycles are re-tested",
)
@permission("variance.run")
def run_cycle(request: HttpRequest, pilot: str, body: MonthIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "variance.run")
    made = actions.run_variance_cycle(
        pilot=p, month=parse_month(body.month), by=request.auth, at=timezone.now()
    )
    return Status(201, _cycle_out(made))


@router.get(
    "/{pilot}/variance-cycles/{month}",
    response={200: CycleOut, **E},
    summary="One month's variance cycle",
)
@permission("variance.view")
def get_cycle(request: HttpRequest, pilot: str, month: str) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "variance.view")
    found = VarianceCycle.objects.filter(pilot=p, month=month_or_404(month)).first()
    if found is None:
        raise Http404(f"no variance cycle for {month}")
    return _cycle_out(found)


def _review(request: HttpRequest, pilot: str, pk: int, perm: str) -> CaseReview:
    p, _ = pilot_for(request.auth, pilot, perm)
    found = CaseReview.objects.filter(pilot=p, pk=pk).select_related("pilot", "cycle").first()
    if found is None:
        raise Http404(f"no case review {pk} in {p.slug}")
    return found


@router.get(
    "/{pilot}/case-reviews",
    response={200: list[CaseReviewOut], **E},
    summary="Case reviews opened by stop-loss triggers and flagged variances",
)
@permission("variance.view")
def list_reviews(
    request: HttpRequest, pilot: str, status: str | None = None
) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "variance.view")
    rows = CaseReview.objects.filter(pilot=p).select_related("cycle", "owner", "closed_by")
    if status:
        rows = rows.filter(status=status)
    return [_review_out(r) for r in rows.order_by("-status", "pk")[:500]]


@router.post(
    "/{pilot}/case-reviews/{review_id}/assignment",
    response={200: CaseReviewOut, **E},
    summary="Name a case review's owner and due date",
)
@permission("case_review.manage")
def assign_review(
    request: HttpRequest, pilot: str, review_id: int, body: AssignmentIn
) -> dict[str, Any]:
    found = _review(request, pilot, review_id, "case_review.manage")
    done = actions.assign_case_review(
        review=found,
        owner=person_in(found.pilot, body.owner),
        due=body.due,
        by=request.auth,
        at=timezone.now(),
    )
    return _review_out(done)


@router.post(
    "/{pilot}/case-reviews/{review_id}/corrective-actions",
    response={201: CorrectiveActionOut, **E},
    summary="Add a corrective action (owner, due date), re-tested in the next cycle",
)
@permission("case_review.manage")
def add_action(
    request: HttpRequest, pilot: str, review_id: int, body: CorrectiveIn
) -> Status[dict[str, Any]]:
    found = _review(request, pilot, review_id, "case_review.manage")
    made = actions.add_corrective_action(
        review=found,
        description=body.description,
        owner=person_in(found.pilot, body.owner),
        due=body.due,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, _action_out(made))


@router.post(
    "/{pilot}/case-reviews/{review_id}/closure",
    response={200: CaseReviewOut, **E},
    summary="Close a case review with its findings",
)
@permission("case_review.manage")
def close_review(
    request: HttpRequest, pilot: str, review_id: int, body: ClosureIn
) -> dict[str, Any]:
    found = _review(request, pilot, review_id, "case_review.manage")
    done = actions.close_case_review(
        review=found, findings=body.findings, by=request.auth, at=timezone.now()
    )
    return _review_out(done)


@router.get(
    "/{pilot}/corrective-actions",
    response={200: list[CorrectiveActionOut], **E},
    summary="Corrective actions with their owners, due dates and re-test results",
)
@permission("variance.view")
def list_actions(
    request: HttpRequest, pilot: str, status: str | None = None
) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "variance.view")
    rows = CorrectiveAction.objects.filter(pilot=p).select_related(
        "owner", "created_by", "retest_cycle"
    )
    if status:
        rows = rows.filter(status=status)
    return [_action_out(a) for a in rows.order_by("due", "pk")[:500]]
