"""C14 pages, under /pilots/<pilot>/money/: the reconciliations (run one, read one month
per payer), investigations with their assign and resolve forms, and reallocations
(propose, approve, decline). A payer representative sees only its own payer's rows
(`policy.payer_scope`). A refused form re-renders with the reason; nothing is written.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from fundpilot.money.actions import reconciliation as actions
from fundpilot.money.api.common import month_or_404, person_in
from fundpilot.money.ledger import parse_month
from fundpilot.money.models import Investigation, Reallocation, Reconciliation
from fundpilot.money.reconciliation import METHOD, scoped, scoped_rows
from fundpilot.money.views.common import (
    GET_POST,
    AssignForm,
    MonthForm,
    context,
    form_page,
)
from fundpilot.participants.forms import TEXT
from fundpilot.pilots import policy
from fundpilot.pilots.access import page
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted, Refused


def _scope(request: HttpRequest, pilot: Pilot) -> str | None:
    return policy.payer_scope(request.user, pilot)


def _visible(request: HttpRequest, pilot: Pilot, payer: str) -> None:
    scope = _scope(request, pilot)
    if scope is not None and scope != payer:
        raise NotPermitted("other_payer", "this concerns another payer")


# --- reconciliations --------------------------------------------------------------------


@require_GET
@page("reconciliation.view")
def reconciliations(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Every reconciled month, the open investigations and the latest reallocations."""
    scope = _scope(request, pilot)
    open_ones = scoped_rows(
        Investigation.objects.filter(pilot=pilot, status=Investigation.OPEN), scope
    )
    reallocs = scoped_rows(Reallocation.objects.filter(pilot=pilot), scope)
    ctx = context(
        request,
        pilot,
        months=Reconciliation.objects.filter(pilot=pilot).order_by("-month"),
        investigations=open_ones.select_related("reconciliation", "owner").order_by("pk"),
        reallocations=reallocs.select_related("proposed_by").order_by("-pk")[:20],
        method=METHOD,
    )
    return render(request, "money/reconciliation/list.html", ctx)


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
    found = Reconciliation.objects.filter(pilot=pilot, month=month_or_404(month)).first()
    if found is None:
        raise Http404(f"{month} is not reconciled")
    scope = _scope(request, pilot)
    figures = scoped(found.figures, scope) if scope != "" else found.figures | {"payers": []}
    investigations = scoped_rows(
        found.investigations.select_related("owner").order_by("payer"), scope
    )
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


@GET_POST
@page("investigation.manage")
def investigation_assign(request: HttpRequest, pilot: Pilot, investigation_id: int) -> HttpResponse:
    found = _investigation(request, pilot, investigation_id)

    def act(data: dict[str, Any]) -> str:
        actions.assign_investigation(
            investigation=found,
            owner=person_in(pilot, data["owner"]),
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
