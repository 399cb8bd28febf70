"""C15 pages, under /pilots/<pilot>/money/: the variance cycles (run one, read one month:
tables by cohort, geography and service level with their flags, stop-loss hits, the
case reviews opened and the corrective actions re-tested), and each case review with
its assign, corrective-action and close forms.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from fundpilot.money.actions import variance as actions
from fundpilot.money.api.common import month_or_404, person_in
from fundpilot.money.ledger import parse_month
from fundpilot.money.models import CaseReview, CorrectiveAction, VarianceCycle
from fundpilot.money.variance import DIMENSIONS
from fundpilot.money.views.common import (
    GET_POST,
    AssignForm,
    MonthForm,
    context,
    form_page,
)
from fundpilot.participants.forms import TEXT
from fundpilot.pilots.access import page
from fundpilot.pilots.models import Pilot

METHOD = (
    "Planned cost of a group = planned cost per member-month × its member-months: the"
    " pilot-wide cost per member-month that month for cohort and geography, the level's"
    " PMPM rate for service level. Episodes are planned at the pilot-wide episodes per"
    " member-month. A cost or episode variance above the rulebook's threshold is flagged"
    " and opens a case review, as does each stop-loss trigger."
)
BACK = ("money:variance-cycles", "Variance and stop-loss")


@require_GET
@page("variance.view")
def variance_cycles(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Every cycle run, the open case reviews and the open corrective actions."""
    ctx = context(
        request,
        pilot,
        cycles=VarianceCycle.objects.filter(pilot=pilot).order_by("-month"),
        reviews=CaseReview.objects.filter(pilot=pilot, status=CaseReview.OPEN)
        .select_related("cycle", "owner")
        .order_by("pk"),
        corrective=CorrectiveAction.objects.filter(pilot=pilot, status=CorrectiveAction.OPEN)
        .select_related("owner", "review")
        .order_by("due", "pk"),
        method=METHOD,
        rules=pilot.rulebook.stop_loss,
    )
    return render(request, "money/variance/list.html", ctx)


@GET_POST
@page("variance.run")
def variance_run(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    def act(data: dict[str, Any]) -> str:
        month = parse_month(data["month"])
        actions.run_variance_cycle(pilot=pilot, month=month, by=request.user, at=timezone.now())
        messages.success(request, f"The {month:%Y-%m} variance cycle has run.")
        return reverse(
            "money:variance-cycle", kwargs={"pilot": pilot.slug, "month": f"{month:%Y-%m}"}
        )

    return form_page(
        request,
        pilot,
        MonthForm,
        act,
        title="Run a variance cycle",
        control="C15",
        back=BACK,
        intro=METHOD,
    )


@require_GET
@page("variance.view")
def variance_cycle(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    cycle = VarianceCycle.objects.filter(pilot=pilot, month=month_or_404(month)).first()
    if cycle is None:
        raise Http404(f"no variance cycle for {month}")
    tables = [(d.replace("_", " "), cycle.figures["tables"][d]) for d in DIMENSIONS]
    ctx = context(
        request,
        pilot,
        cycle=cycle,
        figures=cycle.figures,
        tables=tables,
        reviews=cycle.reviews.select_related("owner").order_by("pk"),
        retested=cycle.retests.select_related("review", "owner").order_by("pk"),
        method=METHOD,
    )
    return render(request, "money/variance/cycle.html", ctx)


def _review(pilot: Pilot, review_id: int) -> CaseReview:
    found = (
        CaseReview.objects.filter(pilot=pilot, pk=review_id)
        .select_related("pilot", "cycle", "owner", "closed_by")
        .first()
    )
    if found is None:
        raise Http404(f"no case review {review_id}")
    return found


def _review_url(pilot: Pilot, review: CaseReview) -> str:
    return reverse("money:case-review", kwargs={"pilot": pilot.slug, "review_id": review.pk})


@require_GET
@page("variance.view")
def case_review(request: HttpRequest, pilot: Pilot, review_id: int) -> HttpResponse:
    found = _review(pilot, review_id)
    ctx = context(
        request,
        pilot,
        review=found,
        corrective=found.actions.select_related("owner", "retest_cycle").order_by("pk"),
    )
    return render(request, "money/variance/review.html", ctx)


@GET_POST
@page("case_review.manage")
def case_review_assign(request: HttpRequest, pilot: Pilot, review_id: int) -> HttpResponse:
    found = _review(pilot, review_id)

    def act(data: dict[str, Any]) -> str:
        actions.assign_case_review(
            review=found,
            owner=person_in(pilot, data["owner"]),
            due=data["due"],
            by=request.user,
            at=timezone.now(),
        )
        messages.success(request, "The case review has an owner.")
        return _review_url(pilot, found)

    return form_page(
        request,
        pilot,
        AssignForm,
        act,
        title=f"Assign case review {found.pk}",
        control="C15",
        back=BACK,
    )


class CorrectiveForm(AssignForm):
    description = forms.CharField(widget=TEXT, help_text="What is to change; re-tested next cycle.")


@GET_POST
@page("case_review.manage")
def corrective_action_add(request: HttpRequest, pilot: Pilot, review_id: int) -> HttpResponse:
    found = _review(pilot, review_id)

    def act(data: dict[str, Any]) -> str:
        actions.add_corrective_action(
            review=found,
            description=data["description"],
            owner=person_in(pilot, data["owner"]),
            due=data["due"],
            by=request.user,
            at=timezone.now(),
        )
        messages.success(request, "The corrective action is recorded.")
        return _review_url(pilot, found)

    return form_page(
        request,
        pilot,
        CorrectiveForm,
        act,
        title=f"Corrective action for case review {found.pk}",
        control="C15",
        back=BACK,
    )


class CloseForm(forms.Form):
    findings = forms.CharField(widget=TEXT)


@GET_POST
@page("case_review.manage")
def case_review_close(request: HttpRequest, pilot: Pilot, review_id: int) -> HttpResponse:
    found = _review(pilot, review_id)

    def act(data: dict[str, Any]) -> str:
        actions.close_case_review(
            review=found, findings=data["findings"], by=request.user, at=timezone.now()
        )
        messages.success(request, "The case review is closed.")
        return _review_url(pilot, found)

    return form_page(
        request,
        pilot,
        CloseForm,
        act,
        title=f"Close case review {found.pk}",
        control="C15",
        back=BACK,
    )


urls: list[URLPattern] = [
    path("money/variance/", variance_cycles, name="variance-cycles"),
    path("money/variance/run/", variance_run, name="variance-run"),
    path("money/variance/<str:month>/", variance_cycle, name="variance-cycle"),
    path("money/case-reviews/<int:review_id>/", case_review, name="case-review"),
    path(
        "money/case-reviews/<int:review_id>/assign/", case_review_assign, name="case-review-assign"
    ),
    path(
        "money/case-reviews/<int:review_id>/corrective-actions/",
        corrective_action_add,
        name="corrective-action-add",
    ),
    path("money/case-reviews/<int:review_id>/close/", case_review_close, name="case-review-close"),
]
