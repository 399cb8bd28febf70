"""C19 pages, under /pilots/<pilot>/governance/: the assurance reviews by quarter with
the open findings (owner, deadline, escalated or not), one quarter's review, the
review form (assurance reviewer) and closing a finding. Every payer's representatives
see every finding: findings go to every payer.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.http import require_GET

from fundpilot.governance import assurance
from fundpilot.governance.actions import assurance as actions
from fundpilot.governance.actions.assurance import review_link
from fundpilot.governance.models import Finding
from fundpilot.money.views.common import GET_POST, form_page
from fundpilot.participants.forms import TEXT
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot

BACK = ("governance:assurance-reviews", "Independent assurance")


def context(request: HttpRequest, pilot: Pilot, **extra: Any) -> dict[str, Any]:
    user = request.user
    return pilot_context(request, pilot, "governance") | {
        "today": pilot.calendar.local_date(timezone.now()),
        "may_assurance_review": policy.allowed(user, "assurance.review", pilot),
        "may_finding_close": policy.allowed(user, "finding.close", pilot),
        **extra,
    }


@require_GET
@page("assurance.view")
def assurance_reviews(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    ctx = context(
        request,
        pilot,
        reviews=assurance.reviews(pilot),
        findings=assurance.open_findings(pilot),
        payers=assurance.payer_representatives(pilot),
    )
    return render(request, "governance/assurance/list.html", ctx)


@require_GET
@page("assurance.view")
def assurance_review(request: HttpRequest, pilot: Pilot, quarter: str) -> HttpResponse:
    found = assurance.reviews(pilot).filter(quarter=quarter).first()
    if found is None:
        raise Http404(f"no assurance review of {quarter}")
    ctx = context(
        request,
        pilot,
        review=found,
        findings=found.findings.select_related("review", "owner", "closed_by").order_by(
            "deadline", "pk"
        ),
    )
    return render(request, "governance/assurance/review.html", ctx)


class ReviewForm(forms.Form):
    quarter = forms.RegexField(label="Quarter (YYYY-Qn)", regex=r"^\d{4}-Q[1-4]$")
    compliance = forms.CharField(widget=TEXT, help_text="What the review found on compliance.")
    outcomes = forms.CharField(widget=TEXT, help_text="What it found on outcomes.")
    equity = forms.CharField(widget=TEXT, help_text="What it found on equity.")
    summary = forms.CharField(widget=TEXT, required=False, label="Overall conclusion")
    findings = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="One per line: area (compliance, outcomes or equity) | severity (low,"
        " medium or high) | title | action plan | owner's username | deadline YYYY-MM-DD.",
    )


@GET_POST
@page("assurance.review")
def assurance_record(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    def act(data: dict[str, Any]) -> str:
        lines = [line for line in data.pop("findings").splitlines() if line.strip()]
        review = actions.record_assurance_review(
            pilot=pilot,
            findings=[assurance.parse_finding(pilot, line) for line in lines],
            by=request.user,
            at=timezone.now(),
            **data,
        )
        messages.success(request, f"The {review.quarter} review is recorded and sent to payers.")
        return review_link(pilot, review.quarter)

    return form_page(
        request,
        pilot,
        ReviewForm,
        act,
        section="governance",
        title="Record a quarterly assurance review",
        control="C19",
        back=BACK,
        intro="Compliance, outcomes and equity, once the quarter has ended. Each finding goes"
        " to every payer with its action plan, owner and deadline, and is escalated when the"
        " deadline passes.",
    )


class CloseForm(forms.Form):
    note = forms.CharField(widget=TEXT, help_text="How the action plan was carried out.")


@GET_POST
@page("finding.close")
def finding_close(request: HttpRequest, pilot: Pilot, finding_id: int) -> HttpResponse:
    found = (
        Finding.objects.filter(review__pilot=pilot, pk=finding_id)
        .select_related("review__pilot", "owner")
        .first()
    )
    if found is None:
        raise Http404(f"no finding {finding_id}")

    def act(data: dict[str, Any]) -> str:
        actions.close_finding(finding=found, note=data["note"], by=request.user, at=timezone.now())
        messages.success(request, "The finding is closed.")
        return review_link(pilot, found.review.quarter)

    return form_page(
        request,
        pilot,
        CloseForm,
        act,
        section="governance",
        title=f"Close finding {found.pk}: {found.title[:60]}",
        control="C19",
        back=BACK,
    )


urls: list[URLPattern] = [
    path("governance/assurance/", assurance_reviews, name="assurance-reviews"),
    path("governance/assurance/record/", assurance_record, name="assurance-record"),
    path("governance/assurance/<str:quarter>/", assurance_review, name="assurance-review"),
    path("governance/findings/<int:finding_id>/close/", finding_close, name="finding-close"),
]
