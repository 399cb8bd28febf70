"""C14 pages, under /pilots/<pilot>/money/: the reconciliations (run one, read one month
per payer), investigations with their assign and resolve forms, and reallocations
(propose, approve, decline). A payer representative sees only its own payer's rows
(`policy.payer_scope`). A refused form re-renders with the reason; nothing is written.
"""

from collections.abc import Callable
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.money.actions import reconciliation as actions
from fundpilot.money.ledger import parse_month
from fundpilot.money.models import Investigation, Reallocation, Reconciliation
from fundpilot.money.reconciliation import METHOD, scoped
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused

GET_POST = require_http_methods(["GET", "POST"])
TEXT = forms.Textarea(attrs={"rows": 3})


def context(request: HttpRequest, pilot: Pilot, **extra: Any) -> dict[str, Any]:
    user = request.user
    return pilot_context(request, pilot, "money") | {
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


def person(pilot: Pilot, username: str) -> User:
    found = User.objects.filter(username=username.strip(), is_active=True).first()
    if found is None or not policy.roles_in(found, pilot):
        raise Refused("unknown_person", f"nobody '{username}' holds a role here", "owner")
    return found


def form_page(
    request: HttpRequest,
    pilot: Pilot,
    form_class: type[forms.Form],
    act: Callable[[dict[str, Any]], str],
    **extra: Any,
) -> HttpResponse:
    """GET shows the form; POST calls `act` with the cleaned data, which returns where
    to go next; a refusal re-renders the form with its reason (status 422)."""
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
        context(request, pilot, form=form, **extra),
        status=status,
    )


def _scope(request: HttpRequest, pilot: Pilot) -> str | None:
    return policy.payer_scope(request.user, pilot)


def _visible(request: HttpRequest, pilot: Pilot, payer: str) -> None:
    scope = _scope(request, pilot)
    if scope is not None and scope != payer:
        raise NotPermitted("other_payer", "this concerns another payer")


def _month(text: str) -> date:
    try:
        return parse_month(text)
    except Refused:
        raise Http404(f"no month '{text}'") from None


# --- reconciliations --------------------------------------------------------------------


@require_GET
@page("reconciliation.view")
def reconciliations(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Every reconciled month, the open investigations and the latest reallocations."""
    scope = _scope(request, pilot)
    open_ones = Investigation.objects.filter(pilot=pilot, status=Investigation.OPEN)
    reallocs = Reallocation.objects.filter(pilot=pilot)
    if scope is not None:
        open_ones, reallocs = open_ones.filter(payer=scope), reallocs.filter(payer=scope)
    ctx = context(
        request,
        pilot,
        months=Reconciliation.objects.filter(pilot=pilot).order_by("-month"),
        investigations=open_ones.select_related("reconciliation", "owner").order_by("pk"),
        reallocations=reallocs.select_related("proposed_by").order_by("-pk")[:20],
        method=METHOD,
    )
    return render(request, "money/reconciliation/list.html", ctx)


class MonthForm(forms.Form):
    month = forms.RegexField(label="Month (YYYY-MM)", regex=r"^\d{4}-\d{2}$")


@GET_POST
@page("reconciliation.run")
def reconciliation_run(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    def act(data: dict[str, Any]) -> str:
        month = parse_month(data["month"])
        actions.reconcile_month(pilot=pilot, month=month, by=request.user, at=timezone.now())
        messages.success(request, f"{month:%Y-%m} is reconciled.")
        return reverse(
            "money:reconciliation", kwargs={"pilot": pilot.slug, "month": f"{month:%Y-%m}"}
        )

    return form_page(
        request,
        pilot,
        MonthForm,
        act,
        title="Reconcile a month",
        control="C14",
        back=("money:reconciliations", "Reconciliation"),
        intro=METHOD,
    )


@require_GET
@page("reconciliation.view")
def reconciliation(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    """One month per payer: contribution, spend by use, utilisation, outcomes, plan."""
    found = Reconciliation.objects.filter(pilot=pilot, month=_month(month)).first()
    if found is None:
        raise Http404(f"{month} is not reconciled")
    scope = _scope(request, pilot)
    figures = scoped(found.figures, scope) if scope != "" else found.figures | {"payers": []}
    investigations = found.investigations.select_related("owner").order_by("payer")
    if scope is not None:
        investigations = investigations.filter(payer=scope)
    ctx = context(
        request,
        pilot,
        recon=found,
        figures=figures,
        investigations=investigations,
        scoped=scope is not None,
    )
    return render(request, "money/reconciliation/month.html", ctx)


# --- investigations ---------------------------------------------------------------------


def _investigation(request: HttpRequest, pilot: Pilot, investigation_id: int) -> Investigation:
    found = (
        Investigation.objects.filter(pilot=pilot, pk=investigation_id)
        .select_related("reconciliation", "owner", "resolved_by", "pilot")
        .first()
    )
    if found is None:
        raise Http404(f"no investigation {investigation_id}")
    _visible(request, pilot, found.payer)
    return found


@require_GET
@page("reconciliation.view")
def investigation(request: HttpRequest, pilot: Pilot, investigation_id: int) -> HttpResponse:
    found = _investigation(request, pilot, investigation_id)
    ctx = context(
        request,
        pilot,
        investigation=found,
        reallocations=found.reallocations.order_by("pk"),
    )
    return render(request, "money/reconciliation/investigation.html", ctx)


class AssignForm(forms.Form):
    owner = forms.CharField(label="Owner (username)", max_length=150)
    due = forms.DateField(label="Due (YYYY-MM-DD)")


@GET_POST
@page("investigation.manage")
def investigation_assign(request: HttpRequest, pilot: Pilot, investigation_id: int) -> HttpResponse:
    found = _investigation(request, pilot, investigation_id)

    def act(data: dict[str, Any]) -> str:
        actions.assign_investigation(
            investigation=found,
            owner=person(pilot, data["owner"]),
            due=data["due"],
            by=request.user,
            at=timezone.now(),
        )
        messages.success(request, "The investigation has an owner.")
        return _investigation_url(pilot, found)

    return form_page(
        request,
        pilot,
        AssignForm,
        act,
        title=f"Assign investigation {found.pk} ({found.payer})",
        control="C14",
        back=("money:reconciliations", "Reconciliation"),
    )


class ResolveForm(forms.Form):
    resolution = forms.CharField(widget=TEXT)


@GET_POST
@page("investigation.manage")
def investigation_resolve(
    request: HttpRequest, pilot: Pilot, investigation_id: int
) -> HttpResponse:
    found = _investigation(request, pilot, investigation_id)

    def act(data: dict[str, Any]) -> str:
        actions.resolve_investigation(
            investigation=found, resolution=data["resolution"], by=request.user, at=timezone.now()
        )
        messages.success(request, "The investigation is resolved.")
        return _investigation_url(pilot, found)

    return form_page(
        request,
        pilot,
        ResolveForm,
        act,
        title=f"Resolve investigation {found.pk} ({found.payer})",
        control="C14",
        back=("money:reconciliations", "Reconciliation"),
    )


def _investigation_url(pilot: Pilot, found: Investigation) -> str:
    return reverse(
        "money:investigation", kwargs={"pilot": pilot.slug, "investigation_id": found.pk}
    )


# --- reallocations ----------------------------------------------------------------------


def _reallocation(request: HttpRequest, pilot: Pilot, reallocation_id: int) -> Reallocation:
    found = (
        Reallocation.objects.filter(pilot=pilot, pk=reallocation_id)
        .select_related("pilot", "proposed_by", "decided_by", "transaction", "investigation")
        .first()
    )
    if found is None:
        raise Http404(f"no reallocation {reallocation_id}")
    _visible(request, pilot, found.payer)
    return found


def _reallocation_url(pilot: Pilot, found: Reallocation) -> str:
    return reverse("money:reallocation", kwargs={"pilot": pilot.slug, "reallocation_id": found.pk})


@require_GET
@page("reconciliation.view")
def reallocation(request: HttpRequest, pilot: Pilot, reallocation_id: int) -> HttpResponse:
    found = _reallocation(request, pilot, reallocation_id)
    ctx = context(request, pilot, realloc=found)
    return render(request, "money/reconciliation/reallocation.html", ctx)


class ProposeForm(forms.Form):
    payer = forms.CharField(max_length=40)
    from_use = forms.CharField(label="From use", max_length=40)
    to_use = forms.CharField(label="To use", max_length=40)
    amount = forms.DecimalField(decimal_places=2, max_digits=14)
    reason = forms.CharField(widget=TEXT)
    investigation = forms.IntegerField(label="Investigation number", required=False)


@GET_POST
@page("reallocation.propose")
def reallocation_propose(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    def act(data: dict[str, Any]) -> str:
        investigation = None
        if data.get("investigation"):
            investigation = Investigation.objects.filter(
                pilot=pilot, pk=data["investigation"]
            ).first()
            if investigation is None:
                raise Refused("unknown_investigation", "no such investigation", "investigation")
        made = actions.propose_reallocation(
            pilot=pilot,
            payer=data["payer"].strip(),
            from_use=data["from_use"].strip(),
            to_use=data["to_use"].strip(),
            amount=data["amount"],
            reason=data["reason"],
            investigation=investigation,
            by=request.user,
            at=timezone.now(),
        )
        messages.success(request, f"Reallocation {made.pk} is proposed; somebody else decides it.")
        return _reallocation_url(pilot, made)

    return form_page(
        request,
        pilot,
        ProposeForm,
        act,
        title="Propose a reallocation",
        control="C14",
        back=("money:reconciliations", "Reconciliation"),
        intro="Moves one payer's funds between two of its allowable uses, by journal, once"
        " somebody else approves it under the decision-rights matrix.",
    )


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(label="I approve this reallocation")


class DeclineForm(forms.Form):
    reason = forms.CharField(widget=TEXT)


@GET_POST
@page("reallocation.approve")
def reallocation_approve(request: HttpRequest, pilot: Pilot, reallocation_id: int) -> HttpResponse:
    found = _reallocation(request, pilot, reallocation_id)

    def act(data: dict[str, Any]) -> str:
        done = actions.approve_reallocation(reallocation=found, by=request.user, at=timezone.now())
        messages.success(request, f"Approved and posted as T{done.transaction.number}.")
        return _reallocation_url(pilot, found)

    return form_page(
        request,
        pilot,
        ConfirmForm,
        act,
        title=f"Approve reallocation {found.pk}",
        control="C14",
        back=("money:reconciliations", "Reconciliation"),
        intro=f"{found.payer}: {found.amount} from {found.from_use} to {found.to_use}."
        f" {found.reason}",
    )


@GET_POST
@page("reallocation.approve")
def reallocation_decline(request: HttpRequest, pilot: Pilot, reallocation_id: int) -> HttpResponse:
    found = _reallocation(request, pilot, reallocation_id)

    def act(data: dict[str, Any]) -> str:
        actions.decline_reallocation(
            reallocation=found, reason=data["reason"], by=request.user, at=timezone.now()
        )
        messages.success(request, "The reallocation is declined.")
        return _reallocation_url(pilot, found)

    return form_page(
        request,
        pilot,
        DeclineForm,
        act,
        title=f"Decline reallocation {found.pk}",
        control="C14",
        back=("money:reconciliations", "Reconciliation"),
    )


urls: list[URLPattern] = [
    path("money/reconciliation/", reconciliations, name="reconciliations"),
    path("money/reconciliation/run/", reconciliation_run, name="reconciliation-run"),
    path("money/reconciliation/<str:month>/", reconciliation, name="reconciliation"),
    path("money/investigations/<int:investigation_id>/", investigation, name="investigation"),
    path(
        "money/investigations/<int:investigation_id>/assign/",
        investigation_assign,
        name="investigation-assign",
    ),
    path(
        "money/investigations/<int:investigation_id>/resolve/",
        investigation_resolve,
        name="investigation-resolve",
    ),
    path("money/reallocations/propose/", reallocation_propose, name="reallocation-propose"),
    path("money/reallocations/<int:reallocation_id>/", reallocation, name="reallocation"),
    path(
        "money/reallocations/<int:reallocation_id>/approve/",
        reallocation_approve,
        name="reallocation-approve",
    ),
    path(
        "money/reallocations/<int:reallocation_id>/decline/",
        reallocation_decline,
        name="reallocation-decline",
    ),
]
