"""What the monthly-cycle pages (C14 reconciliation, C15 variance) share: the page
context with their permissions, the form page (a refusal re-renders it with the reason,
status 422, nothing written) and the month and assignment forms.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from fundpilot.pilots import policy
from fundpilot.pilots.access import pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused

GET_POST = require_http_methods(["GET", "POST"])


def context(
    request: HttpRequest, pilot: Pilot, section: str = "money", **extra: Any
) -> dict[str, Any]:
    user = request.user
    return pilot_context(request, pilot, section) | {
        "today": pilot.calendar.local_date(timezone.now()),
        **{
            f"may_{perm.replace('.', '_')}": policy.allowed(user, perm, pilot)
            for perm in (
                "reconciliation.run",
                "investigation.manage",
                "reallocation.propose",
                "reallocation.approve",
                "dispute.view",
                "variance.run",
                "case_review.manage",
            )
        },
        **extra,
    }


def form_page(
    request: HttpRequest,
    pilot: Pilot,
    form_class: type[forms.Form],
    act: Callable[[dict[str, Any]], str],
    section: str = "money",
    **extra: Any,
) -> HttpResponse:
    """GET shows the form; POST calls `act` with the cleaned data, which returns where
    to go next; a refusal re-renders the form with its reason (status 422). `section`
    is the pilot nav's (governance pages use it too)."""
    form = form_class(request.POST or None, initial=request.GET.dict())
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            return redirect(act(form.cleaned_data))
        except Refused as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, f"{exc.message} ({exc.code})")
    if request.method == "POST":
        status = 422
    return render(
        request,
        "money/reconciliation/form.html",
        context(request, pilot, section, form=form, **extra),
        status=status,
    )


class MonthForm(forms.Form):
    month = forms.RegexField(label="Month (YYYY-MM)", regex=r"^\d{4}-\d{2}$")


class AssignForm(forms.Form):
    owner = forms.CharField(label="Owner (username)", max_length=150)
    due = forms.DateField(label="Due (YYYY-MM-DD)")
