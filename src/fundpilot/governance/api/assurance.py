"""API of C19, mounted at /api/v1/pilots: quarterly assurance reviews (record, list, read
one quarter's) and their findings (list — every payer sees them all — and close)."""

from datetime import date, datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.governance import assurance
from fundpilot.governance.actions import assurance as actions
from fundpilot.governance.models import AssuranceReview, Finding
from fundpilot.money.api.common import person_in, username_of
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error

router = Router(tags=["governance"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class FindingIn(Schema):
    area: str = Field(description="compliance, outcomes or equity")
    severity: str = Field(description="low, medium or high")
    title: str
    action_plan: str
    owner: str = Field(description="the owner's username")
    deadline: date = Field(description="after the review")


class ReviewIn(Schema):
    quarter: str = Field(description="an ended quarter, YYYY-Qn", examples=["2026-Q2"])
    compliance: str
    outcomes: str
    equity: str
    summary: str = ""
    findings: list[FindingIn] = Field(default_factory=list)


class ClosureIn(Schema):
    note: str


class FindingOut(Schema):
    id: int
    quarter: str
    area: str
    severity: str
    title: str
    action_plan: str
    owner: str
    deadline: date
    status: str = Field(description="open or closed")
    escalated_at: datetime | None = Field(description="when its missed deadline was escalated")
    closed_by: str | None
    closed_at: datetime | None
    closing_note: str


class ReviewOut(Schema):
    quarter: str
    compliance: str
    outcomes: str
    equity: str
    summary: str
    reviewed_by: str
    reviewed_at: datetime
    rulebook_version: int
    findings: list[FindingOut]


def _finding_out(f: Finding) -> dict[str, Any]:
    fields = ("area", "severity", "title", "action_plan", "deadline", "status", "escalated_at")
    return {
        "id": f.pk,
        "quarter": f.review.quarter,
        **{k: getattr(f, k) for k in (*fields, "closed_at", "closing_note")},
        "owner": f.owner.username,
        "closed_by": username_of(f.closed_by),
    }


def _review_out(r: AssuranceReview) -> dict[str, Any]:
    fields = ("quarter", "compliance", "outcomes", "equity", "summary", "reviewed_at")
    return {
        **{k: getattr(r, k) for k in (*fields, "rulebook_version")},
        "reviewed_by": r.reviewed_by.username,
        "findings": [
            _finding_out(f)
            for f in r.findings.select_related("review", "owner", "closed_by").order_by("pk")
        ],
    }


@router.get(
    "/{pilot}/assurance-reviews",
    response={200: list[ReviewOut], **E},
    summary="Quarterly assurance reviews, latest first",
)
@permission("assurance.view")
def list_reviews(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "assurance.view")
    return [_review_out(r) for r in assurance.reviews(p)[:80]]


@router.post(
    "/{pilot}/assurance-reviews",
    response={201: ReviewOut, **E},
    summary="Record a quarter's review of compliance, outcomes and equity; its findings"
    " go to every payer",
)
@permission("assurance.review")
def record_review(request: HttpRequest, pilot: str, body: ReviewIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "assurance.review")
    findings = [f.dict() | {"owner": person_in(p, f.owner)} for f in body.findings]
    made = actions.record_assurance_review(
        pilot=p,
        quarter=body.quarter,
        compliance=body.compliance,
        outcomes=body.outcomes,
        equity=body.equity,
        summary=body.summary,
        findings=findings,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, _review_out(made))


@router.get(
    "/{pilot}/assurance-reviews/{quarter}",
    response={200: ReviewOut, **E},
    summary="One quarter's assurance review with its findings",
)
@permission("assurance.view")
def get_review(request: HttpRequest, pilot: str, quarter: str) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "assurance.view")
    found = assurance.reviews(p).filter(quarter=quarter).first()
    if found is None:
        raise Http404(f"no assurance review of {quarter}")
    return _review_out(found)


@router.get(
    "/{pilot}/findings",
    response={200: list[FindingOut], **E},
    summary="Assurance findings, soonest deadline first (status: open|closed)",
)
@permission("assurance.view")
def list_findings(
    request: HttpRequest, pilot: str, status: str | None = None
) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "assurance.view")
    rows = assurance.findings(p)
    if status:
        rows = rows.filter(status=status)
    return [_finding_out(f) for f in rows[:500]]


@router.post(
    "/{pilot}/findings/{finding_id}/closure",
    response={200: FindingOut, **E},
    summary="Close a finding whose action plan is done (assurance reviewer)",
)
@permission("finding.close")
def close_finding(
    request: HttpRequest, pilot: str, finding_id: int, body: ClosureIn
) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "finding.close")
    found = assurance.findings(p).filter(pk=finding_id).select_related("review__pilot").first()
    if found is None:
        raise Http404(f"no finding {finding_id} in {p.slug}")
    done = actions.close_finding(finding=found, note=body.note, by=request.auth, at=timezone.now())
    return _finding_out(done)
