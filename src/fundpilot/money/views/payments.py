"""C13 pages, under /pilots/<pilot>/money/ (names in the `money:` namespace): the
payment runs, the run form (a dry-run preview, then post), a run's detail with each
basis it paid, and remittance downloads. Provider staff see only their own
remittances. Thin: ask the policy, call the action or the read model, render.
"""

import json
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.claims.models import Claim
from fundpilot.money import remittance
from fundpilot.money.actions.payments import run_payments
from fundpilot.money.api.payments import bases_of
from fundpilot.money.ledger import parse_month
from fundpilot.money.models import PaymentRun, Transaction
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Organisation, Pilot
from fundpilot.rules.errors import NotPermitted, Refused

SECTION = "money"
PER_PAGE = 200


class RunForm(forms.Form):
    month = forms.CharField(
        label="Month paid for", max_length=7, help_text="YYYY-MM, in the pilot's time zone."
    )


def _run(pilot: Pilot, number: int) -> PaymentRun:
    found = PaymentRun.objects.filter(pilot=pilot, number=number).select_related("run_by").first()
    if found is None:
        raise Http404(f"no payment run {number}")
    return found


@require_GET
@page("payment.view")
def runs(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    context = pilot_context(request, pilot, SECTION) | {
        "runs": PaymentRun.objects.filter(pilot=pilot).select_related("run_by").order_by("-number"),
        "may_run": policy.allowed(request.user, "payment.run", pilot),
    }
    return render(request, "money/payments/runs.html", context)


@require_http_methods(["GET", "POST"])
@page("payment.run")
def run_form(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """GET: the form. POST "preview": a dry run shown below the form. POST "post": the
    run itself, then its page (or, with nothing due, the form saying so)."""
    today = pilot.calendar.local_date(timezone.now())
    form = RunForm(request.POST or None, initial={"month": f"{today:%Y-%m}"})
    preview = None
    status = 200
    if request.method == "POST" and form.is_valid():
        dry_run = request.POST.get("action") != "post"
        try:
            result = run_payments(
                pilot=pilot,
                month=parse_month(form.cleaned_data["month"]),
                by=request.user,  # type: ignore[arg-type]
                at=timezone.now(),
                dry_run=dry_run,
            )
        except Refused as exc:
            if isinstance(exc, NotPermitted):
                raise
            form.add_error("month" if exc.field == "month" else None, exc.message)
            status = 422
        else:
            if result.run is not None:
                return redirect(
                    reverse(
                        "money:payment-run", kwargs={"pilot": pilot.slug, "number": result.number}
                    )
                )
            preview = result.as_dict()
    elif request.method == "POST":
        status = 422
    context = pilot_context(request, pilot, SECTION) | {"form": form, "preview": preview}
    return render(request, "money/payments/form.html", context, status=status)


def _claim_links(bases: list[dict[str, Any]]) -> None:
    """Each milestone basis links to its claim's page; a tranche to the tranche board."""
    keys = [b["basis_key"] for b in bases if b["kind"] in ("milestone", "tranche")]
    references = dict(
        Claim.objects.filter(basis_key__in=keys).values_list("basis_key", "reference")
    )
    for b in bases:
        b["claim"] = references.get(b["basis_key"], "")


@require_GET
@page("payment.view")
def run_page(request: HttpRequest, pilot: Pilot, number: int) -> HttpResponse:
    run = _run(pilot, number)
    count = Transaction.objects.filter(run=run).count()
    pages = Paginator(range(count), PER_PAGE)
    current = pages.get_page(request.GET.get("page"))
    offset = (current.number - 1) * PER_PAGE
    bases = bases_of(run, limit=PER_PAGE, offset=offset)
    _claim_links(bases)
    context = pilot_context(request, pilot, SECTION) | {
        "run": run,
        "summary": run.summary,
        "bases": bases,
        "page": current,
    }
    return render(request, "money/payments/run.html", context)


@require_GET
@page("remittance.view")
def remittances(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """The remittances the viewer may see: every one for finance and oversight, a
    provider's own for its staff."""
    rows = Transaction.objects.filter(pilot=pilot, kind=Transaction.REMITTANCE)
    if not policy.allowed(request.user, "payment.view", pilot):
        rows = rows.filter(provider_id=getattr(request.user, "organisation_id", None))
    context = pilot_context(request, pilot, SECTION) | {
        "rows": rows.select_related("run", "provider").order_by("-number")[:500],
    }
    return render(request, "money/payments/remittances.html", context)


def _document(request: HttpRequest, pilot: Pilot, number: int, provider: str) -> dict[str, Any]:
    run = _run(pilot, number)
    org = Organisation.objects.filter(code=provider).first()
    if org is None:
        raise Http404(f"no provider '{provider}'")
    remittance.require_remittance(request.user, pilot, org)
    if org not in remittance.providers_of(run):
        raise Http404(f"run {number} remitted nothing to {provider}")
    return remittance.remittance(run, org)


@require_GET
@page("remittance.view")
def remittance_csv(request: HttpRequest, pilot: Pilot, number: int, provider: str) -> HttpResponse:
    document = _document(request, pilot, number, provider)
    response = HttpResponse(remittance.as_csv(document), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="{remittance.filename(document, "csv")}"'
    )
    return response


@require_GET
@page("remittance.view")
def remittance_json(request: HttpRequest, pilot: Pilot, number: int, provider: str) -> HttpResponse:
    document = _document(request, pilot, number, provider)
    response = HttpResponse(json.dumps(document, indent=2), content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="{remittance.filename(document, "json")}"'
    )
    return response


RUN = "money/payments/<int:number>/"
urls: list[URLPattern] = [
    path("money/payments/", runs, name="payment-runs"),
    path("money/payments/new/", run_form, name="payment-run-new"),
    path(RUN, run_page, name="payment-run"),
    path(RUN + "remittances/<str:provider>.csv", remittance_csv, name="remittance-csv"),
    path(RUN + "remittances/<str:provider>.json", remittance_json, name="remittance-json"),
    path("money/remittances/", remittances, name="remittances"),
]
