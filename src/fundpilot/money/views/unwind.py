"""C20 exit pages, under /pilots/<pilot>/money/exit/: the proposals with their figures,
a dry run and a proposal as of a date (finance), and the approval that posts the
unwind. A payer representative sees only its own payer's figures.
"""

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from fundpilot.money import unwind
from fundpilot.money.actions import unwind as exit_actions
from fundpilot.money.models import ExitPlan
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted, Refused

GET_POST = require_http_methods(["GET", "POST"])
SECTION = "money"


class ProposeForm(forms.Form):
    as_of = forms.DateField(label="As of (YYYY-MM-DD)", help_text="The day the pilot stops.")
    dry_run = forms.BooleanField(label="Dry run: compute only, record nothing", required=False)


def _context(request: HttpRequest, pilot: Pilot, **extra: Any) -> dict[str, Any]:
    return pilot_context(request, pilot, SECTION) | {
        "may_propose": policy.allowed(request.user, "exit.propose", pilot),
        "may_approve": policy.allowed(request.user, "exit.approve", pilot),
        "rule": pilot.rulebook.exit,
        **extra,
    }


@GET_POST
@page("fund.view")
def exits(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """The exit proposals, newest first; finance computes (dry run) or proposes one."""
    scope = policy.payer_scope(request.user, pilot)
    form = ProposeForm(
        request.POST if request.method == "POST" else None,
        initial={"as_of": pilot.calendar.local_date(timezone.now())},
    )
    preview = None
    if request.method == "POST":
        policy.require(request.user, "exit.propose", pilot)
        if form.is_valid():
            as_of: date = form.cleaned_data["as_of"]
            try:
                if form.cleaned_data["dry_run"]:
                    preview = exit_actions.preview_exit(
                        pilot=pilot, as_of=as_of, by=request.user, at=timezone.now()
                    )
                else:
                    plan = exit_actions.propose_exit(
                        pilot=pilot, as_of=as_of, by=request.user, at=timezone.now()
                    )
            except NotPermitted:
                raise
            except Refused as exc:
                field = exc.field if exc.field in form.fields else None
                form.add_error(field, f"{exc.message} ({exc.code})")
            else:
                if preview is None:
                    messages.success(request, f"The exit as of {as_of} is proposed.")
                    return redirect(_plan_url(pilot, plan))
    plans = [
        {"plan": p, "figures": unwind.scoped(p.figures, scope)}
        for p in ExitPlan.objects.filter(pilot=pilot)
        .select_related("proposed_by", "decided_by")
        .order_by("-proposed_at", "-pk")
    ]
    context = _context(request, pilot, plans=plans, form=form, preview=preview)
    return render(request, "money/unwind/exits.html", context, status=422 if form.errors else 200)


def _plan_url(pilot: Pilot, plan: ExitPlan) -> str:
    return reverse("money:exit-plan", kwargs={"pilot": pilot.slug, "plan": plan.pk})


@GET_POST
@page("fund.view")
def plan_page(request: HttpRequest, pilot: Pilot, plan: int) -> HttpResponse:
    """One exit proposal: obligations, reserves, what each payer gets back; approve."""
    found = ExitPlan.objects.filter(pilot=pilot, pk=plan).select_related("proposed_by").first()
    if found is None:
        raise Http404(f"no exit plan {plan}")
    error = None
    if request.method == "POST":
        policy.require(request.user, "exit.approve", pilot)
        try:
            exit_actions.approve_exit(plan=found, by=request.user, at=timezone.now())
        except NotPermitted:
            raise
        except Refused as exc:
            error = exc
        else:
            messages.success(request, f"The exit as of {found.as_of} is approved and posted.")
            return redirect(_plan_url(pilot, found))
    figures = unwind.scoped(found.figures, policy.payer_scope(request.user, pilot))
    context = _context(request, pilot, plan=found, figures=figures, error=error)
    return render(request, "money/unwind/plan.html", context, status=422 if error else 200)


urls: list[URLPattern] = [
    path("money/exit/", exits, name="exit"),
    path("money/exit/<int:plan>/", plan_page, name="exit-plan"),
]
