"""API of C18, mounted at /api/v1/pilots: equity checks (run, list, read one month), the
figures of any month computed now, the findings and their review.

Whoever may not see participants gets the figures and findings without their
"records" (participant ids, claims, evidence)."""

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.governance import equity
from fundpilot.governance.actions import equity as actions
from fundpilot.governance.models import EquityCheck, EquityFinding
from fundpilot.money.api.common import MonthIn, month_or_404, username_of
from fundpilot.money.ledger import parse_month
from fundpilot.pilots import policy
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot

router = Router(tags=["governance"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class FindingOut(Schema):
    id: int
    month: str
    kind: str = Field(description=", ".join(equity.KINDS))
    subject: str
    data: dict[str, Any] = Field(description="the figures behind the signal, and its records")
    status: str = Field(description="open or reviewed")
    review_note: str
    reviewed_by: str | None
    reviewed_at: datetime | None


class CheckOut(Schema):
    month: str
    run_by: str
    run_at: datetime
    rulebook_version: int
    figures: dict[str, Any] = Field(
        description="tables by group (counts, rates, Wilson intervals), acceptance floors,"
        " O/E by provider, cherry-picking, bursts, reuse, fast, providers, signals"
    )
    findings: list[FindingOut]


class FiguresOut(Schema):
    month: str
    stored: bool = Field(description="whether these are the figures of the check as run")
    figures: dict[str, Any]


class ReviewIn(Schema):
    note: str


def _shown(request: HttpRequest, pilot: Pilot, value: Any) -> Any:
    if policy.allowed(request.auth, "participant.view", pilot):
        return value
    return equity.redacted(value)


def _finding_out(request: HttpRequest, f: EquityFinding) -> dict[str, Any]:
    return {
        "id": f.pk,
        "month": f"{f.month:%Y-%m}",
        **{k: getattr(f, k) for k in ("kind", "subject", "status", "review_note", "reviewed_at")},
        "data": _shown(request, f.pilot, f.data),
        "reviewed_by": username_of(f.reviewed_by),
    }


def _check_out(request: HttpRequest, c: EquityCheck) -> dict[str, Any]:
    findings = c.findings.select_related("pilot", "reviewed_by").order_by("pk")
    return {
        "month": f"{c.month:%Y-%m}",
        "run_by": c.run_by.username,
        "run_at": c.run_at,
        "rulebook_version": c.rulebook_version,
        "figures": _shown(request, c.pilot, c.figures),
        "findings": [_finding_out(request, f) for f in findings],
    }


@router.get(
    "/{pilot}/equity-checks",
    response={200: list[CheckOut], **E},
    summary="Equity checks run, latest first",
)
@permission("equity.view")
def list_checks(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "equity.view")
    rows = EquityCheck.objects.filter(pilot=p).select_related("pilot", "run_by").order_by("-month")
    return [_check_out(request, c) for c in rows[:36]]


@router.post(
    "/{pilot}/equity-checks",
    response={201: CheckOut, **E},
    summary="Run a month's equity check (the month must have ended; once per month):"
    " its figures are stored and each signal becomes a finding for review",
)
@permission("equity.run")
def run_check(request: HttpRequest, pilot: str, body: MonthIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "equity.run")
    made = actions.run_equity_check(
        pilot=p, month=parse_month(body.month), by=request.auth, at=timezone.now()
    )
    return Status(201, _check_out(request, made))


@router.get(
    "/{pilot}/equity-checks/{month}",
    response={200: CheckOut, **E},
    summary="One month's equity check as run",
)
@permission("equity.view")
def get_check(request: HttpRequest, pilot: str, month: str) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "equity.view")
    found = EquityCheck.objects.filter(pilot=p, month=month_or_404(month)).first()
    if found is None:
        raise Http404(f"no equity check for {month}")
    return _check_out(request, found)


@router.get(
    "/{pilot}/equity/{month}",
    response={200: FiguresOut, **E},
    summary="A month's equity figures: the stored check's when it has run, else computed now",
)
@permission("equity.view")
def get_figures(request: HttpRequest, pilot: str, month: str) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "equity.view")
    first = month_or_404(month)
    found = EquityCheck.objects.filter(pilot=p, month=first).first()
    figures = found.figures if found else equity.compute(p, first)
    return {
        "month": f"{first:%Y-%m}",
        "stored": found is not None,
        "figures": _shown(request, p, figures),
    }


@router.get(
    "/{pilot}/equity-findings",
    response={200: list[FindingOut], **E},
    summary="Equity findings, by month; filter by status (open, reviewed) or month",
)
@permission("equity.view")
def list_findings(
    request: HttpRequest, pilot: str, status: str | None = None, month: str | None = None
) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "equity.view")
    rows = EquityFinding.objects.filter(pilot=p).select_related("pilot", "reviewed_by")
    if status:
        rows = rows.filter(status=status)
    if month:
        rows = rows.filter(month=month_or_404(month))
    return [_finding_out(request, f) for f in rows.order_by("-month", "pk")[:500]]


@router.post(
    "/{pilot}/equity-findings/{finding_id}/review",
    response={200: FindingOut, **E},
    summary="Record the review of an equity finding, with a note",
)
@permission("equity.review")
def review_finding(
    request: HttpRequest, pilot: str, finding_id: int, body: ReviewIn
) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "equity.review")
    found = EquityFinding.objects.filter(pilot=p, pk=finding_id).select_related("pilot").first()
    if found is None:
        raise Http404(f"no equity finding {finding_id} in {p.slug}")
    done = actions.review_equity_finding(
        finding=found, note=body.note, by=request.auth, at=timezone.now()
    )
    return _finding_out(request, done)
