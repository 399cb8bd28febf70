"""C12 pages, under /pilots/<pilot>/money/: spend requests (list, form, detail with the
approve, decline and exception-review forms) and, for finance, contributions (commit
and receive). Thin: ask the policy, call the action or the read model, render; a
refused action re-renders its form with the reason, and nothing is written.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.money.actions.contributions import (
    commit_contribution,
    contribution_state,
    payer_of,
    receive_contribution,
)
from fundpilot.money.actions.spending import (
    approve_spend,
    available_for,
    decline_spend,
    request_spend,
    review_exception,
    spend_requests_for,
)
from fundpilot.money.models import SpendRequest
from fundpilot.participants.forms import DATE, TEXT, StepForm
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Organisation, Pilot
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.rulebook import Payer
from fundpilot.rules.vocabulary import OrgKind

GET_POST = require_http_methods(["GET", "POST"])
SECTION = "money"
STATUSES = (SpendRequest.REQUESTED, SpendRequest.APPROVED, SpendRequest.DECLINED)


def _now() -> Any:
    return timezone.now()


def list_url(pilot: Pilot) -> str:
    return reverse("money:spend-requests", kwargs={"pilot": pilot.slug})


def request_url(pilot: Pilot, reference: str) -> str:
    return reverse("money:spend-request", kwargs={"pilot": pilot.slug, "reference": reference})


def contributions_url(pilot: Pilot) -> str:
    return reverse("money:contributions", kwargs={"pilot": pilot.slug})


def _request(request: HttpRequest, pilot: Pilot, reference: str) -> SpendRequest:
    rows = SpendRequest.objects.filter(pilot=pilot, reference=reference)
    found = rows.select_related(
        "pilot", "payee", "requested_by", "decided_by", "reviewed_by"
    ).first()
    if found is None:
        raise Http404(f"no spend request '{reference}'")
    if not spend_requests_for(request.user, pilot).filter(pk=found.pk).exists():
        raise NotPermitted("not_visible", "this spend request is another organisation's or payer's")
    return found


def _payer(pilot: Pilot, payer: str) -> Payer:
    try:
        return payer_of(pilot.rulebook, payer)
    except Refused:
        raise Http404(f"no payer '{payer}'") from None


# --- forms ----------------------------------------------------------------------------


class SpendRequestForm(StepForm):
    amount = forms.DecimalField(decimal_places=2, min_value=Decimal("0.01"), label="Amount (USD)")
    purpose = forms.CharField(widget=TEXT, help_text="What the money is for.")
    participant_id = forms.CharField(
        max_length=64,
        required=False,
        label="Participant ID",
        help_text="When it is for one person.",
    )

    def build(self) -> None:
        rb = self.rulebook
        self.fields["payer"] = forms.ChoiceField(choices=[(p.id, p.name) for p in rb.payers])
        uses = {u.code: u.label for p in rb.payers for u in p.allowable_uses}
        self.fields["use"] = forms.ChoiceField(
            choices=sorted(uses.items()),
            help_text="; ".join(
                f"{p.id}: {', '.join(u.code for u in p.allowable_uses)}" for p in rb.payers
            ),
        )
        providers = Organisation.objects.filter(
            kind=OrgKind.PROVIDER, pk__in=self.pilot.parties.values("organisation")
        ).order_by("name")
        if not policy.sees_every_provider(self.user, self.pilot):
            providers = providers.filter(pk=self.user.organisation_id)
        self.fields["payee"] = forms.ModelChoiceField(providers, empty_label=None, label="Pay to")
        self.order_fields(["payer", "use", "amount", "payee", "participant_id", "purpose"])


class ApproveForm(StepForm):
    note = forms.CharField(widget=TEXT, required=False)
    exception = forms.BooleanField(
        required=False,
        label="Approve as an exception",
        help_text="The senior role only: beyond the funds or the approve_spend matrix; "
        "it is then reviewed after the fact.",
    )


class DeclineForm(StepForm):
    reason = forms.CharField(widget=TEXT)


class ReviewForm(StepForm):
    note = forms.CharField(widget=TEXT, help_text="What the retrospective review found.")


class CommitForm(StepForm):
    """Nothing to fill in: the rulebook defines the contribution."""


class ReceiveForm(StepForm):
    reference = forms.CharField(max_length=60, help_text="The remittance or transfer reference.")
    received_on = forms.DateField(widget=DATE, label="Received on")

    def build(self) -> None:
        payer: Payer = self.initial["payer_rules"]
        self.uses = [u.code for u in payer.allowable_uses]
        for use in payer.allowable_uses:
            self.fields[f"use_{use.code}"] = forms.DecimalField(
                label=f"{use.code} — {use.label}", required=False, decimal_places=2
            )

    def allocations(self) -> dict[str, Decimal]:
        found = {}
        for use in self.uses:
            amount = self.cleaned_data.get(f"use_{use}")
            if amount is not None:
                found[use] = amount
        return found

    def refused(self, exc: Refused) -> None:
        if exc.field == "allocations":
            exc = Refused(exc.code, exc.message, None)
        super().refused(exc)


# --- rendering ------------------------------------------------------------------------


def _form(
    request: HttpRequest,
    pilot: Pilot,
    form_class: type[StepForm],
    act: Callable[[StepForm], Any],
    done: Callable[[Any], tuple[str, str]],
    context: dict[str, Any],
    initial: dict[str, Any] | None = None,
) -> HttpResponse:
    """GET: the form. POST: the action; on success say so and go on, on refusal show why."""
    kwargs = {"pilot": pilot, "user": request.user, "initial": initial or {}}
    if request.method == "POST":
        form = form_class(request.POST, **kwargs)
        if form.is_valid():
            try:
                result = act(form)
            except Refused as exc:
                if isinstance(exc, NotPermitted):
                    raise
                form.refused(exc)
            else:
                message, url = done(result)
                messages.success(request, message)
                return redirect(url)
    else:
        form = form_class(**kwargs)
    form.mark_errors()
    page_context = pilot_context(request, pilot, SECTION) | {"form": form} | context
    status = 422 if form.errors else 200
    return render(request, "money/spending/form.html", page_context, status=status)


# --- spend requests -------------------------------------------------------------------


@require_GET
@page("spend.view")
def spend_request_list(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Spend requests the viewer may see: provider staff their organisation's, payer
    representatives their payer's, the pilot office and oversight all of them."""
    rows = spend_requests_for(request.user, pilot).select_related("payee", "requested_by")
    status = request.GET.get("status", "")
    if status in STATUSES:
        rows = rows.filter(status=status)
    context = pilot_context(request, pilot, SECTION) | {
        "rows": rows[:200],
        "status": status,
        "statuses": STATUSES,
        "today": pilot.calendar.local_date(_now()),
        "may_request": policy.allowed(request.user, "spend.request", pilot),
        "may_record": policy.allowed(request.user, "contribution.record", pilot),
    }
    return render(request, "money/spending/list.html", context)


@GET_POST
@page("spend.request")
def spend_request_new(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    def act(form: StepForm) -> SpendRequest:
        cd = form.cleaned_data
        return request_spend(
            pilot=pilot,
            payer=cd["payer"],
            use=cd["use"],
            amount=cd["amount"],
            payee=cd["payee"],
            purpose=cd["purpose"],
            participant_id=cd.get("participant_id", ""),
            by=request.user,  # type: ignore[arg-type]
            at=_now(),
        )

    def done(made: SpendRequest) -> tuple[str, str]:
        return f"{made.reference} requested.", request_url(pilot, made.reference)

    context = {"title": "Request spending", "control": "C12"}
    return _form(request, pilot, SpendRequestForm, act, done, context)


@require_GET
@page("spend.view")
def spend_request_page(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    found = _request(request, pilot, reference)
    user = request.user
    pending = found.status == SpendRequest.REQUESTED
    may_decide = pending and found.requested_by_id != user.pk
    may_decide = may_decide and policy.allowed(user, "spend.approve", pilot)
    awaiting_review = (
        found.status == SpendRequest.APPROVED and found.exception and found.reviewed_by_id is None
    )
    today = pilot.calendar.local_date(_now())
    context = pilot_context(request, pilot, SECTION) | {
        "spend": found,
        "today": today,
        "available": available_for(pilot, found.payer, found.use, excluding=found)
        if pending
        else None,
        "may_decide": may_decide,
        "approve_form": ApproveForm(pilot=pilot, user=user) if may_decide else None,
        "decline_form": DeclineForm(pilot=pilot, user=user) if may_decide else None,
        "review_form": ReviewForm(pilot=pilot, user=user)
        if awaiting_review and policy.allowed(user, "exception.review", pilot)
        else None,
        "review_overdue": awaiting_review and found.review_due and found.review_due < today,
    }
    return render(request, "money/spending/detail.html", context)


def _decision(
    request: HttpRequest,
    pilot: Pilot,
    reference: str,
    form_class: type[StepForm],
    act: Callable[[SpendRequest, dict[str, Any]], SpendRequest],
    title: str,
) -> HttpResponse:
    found = _request(request, pilot, reference)

    def run(form: StepForm) -> SpendRequest:
        return act(found, form.cleaned_data)

    def done(decided: SpendRequest) -> tuple[str, str]:
        return f"{title}: recorded.", request_url(pilot, decided.reference)

    context = {"title": f"{title} {found.reference}", "spend": found, "control": "C12"}
    return _form(request, pilot, form_class, run, done, context)


@GET_POST
@page("spend.approve")
def spend_request_approve(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    def act(found: SpendRequest, cd: dict[str, Any]) -> SpendRequest:
        return approve_spend(
            request=found,
            note=cd.get("note", ""),
            exception=bool(cd.get("exception")),
            by=request.user,  # type: ignore[arg-type]
            at=_now(),
        )

    return _decision(request, pilot, reference, ApproveForm, act, "Approve")


@GET_POST
@page("spend.approve")
def spend_request_decline(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    def act(found: SpendRequest, cd: dict[str, Any]) -> SpendRequest:
        return decline_spend(
            request=found,
            reason=cd["reason"],
            by=request.user,  # type: ignore[arg-type]
            at=_now(),
        )

    return _decision(request, pilot, reference, DeclineForm, act, "Decline")


@GET_POST
@page("exception.review")
def spend_request_review(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    def act(found: SpendRequest, cd: dict[str, Any]) -> SpendRequest:
        return review_exception(
            request=found,
            note=cd["note"],
            by=request.user,  # type: ignore[arg-type]
            at=_now(),
        )

    return _decision(request, pilot, reference, ReviewForm, act, "Review the exception of")


# --- contributions --------------------------------------------------------------------


@require_GET
@page("contribution.record")
def contributions(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Each payer's defined contribution: committed, received, outstanding."""
    rows = [(p, contribution_state(pilot, p.id)) for p in pilot.rulebook.payers]
    context = pilot_context(request, pilot, SECTION) | {"rows": rows}
    return render(request, "money/spending/contributions.html", context)


@GET_POST
@page("contribution.record")
def contribution_commit(request: HttpRequest, pilot: Pilot, payer: str) -> HttpResponse:
    found = _payer(pilot, payer)

    def act(form: StepForm) -> Any:
        return commit_contribution(pilot=pilot, payer=found.id, by=request.user, at=_now())  # type: ignore[arg-type]

    def done(txn: Any) -> tuple[str, str]:
        return f"{found.id}: contribution committed (T{txn.number}).", contributions_url(pilot)

    context = {"title": f"Commit {found.name}'s contribution", "payer": found, "control": "C12"}
    return _form(request, pilot, CommitForm, act, done, context)


@GET_POST
@page("contribution.record")
def contribution_receive(request: HttpRequest, pilot: Pilot, payer: str) -> HttpResponse:
    found = _payer(pilot, payer)

    def act(form: StepForm) -> Any:
        assert isinstance(form, ReceiveForm)
        return receive_contribution(
            pilot=pilot,
            payer=found.id,
            reference=form.cleaned_data["reference"],
            allocations=form.allocations(),
            received_on=form.cleaned_data["received_on"],
            by=request.user,  # type: ignore[arg-type]
            at=_now(),
        )

    def done(txn: Any) -> tuple[str, str]:
        return f"{found.id}: {txn.amount} received (T{txn.number}).", contributions_url(pilot)

    state = contribution_state(pilot, found.id)
    context = {
        "title": f"Receive {found.name}'s contribution",
        "payer": found,
        "state": state,
        "control": "C12",
    }
    initial = {"payer_rules": found, "received_on": pilot.calendar.local_date(_now())}
    return _form(request, pilot, ReceiveForm, act, done, context, initial)


urls: list[URLPattern] = [
    path("money/spend-requests/", spend_request_list, name="spend-requests"),
    path("money/spend-requests/new/", spend_request_new, name="spend-request-new"),
    path("money/spend-requests/<str:reference>/", spend_request_page, name="spend-request"),
    path(
        "money/spend-requests/<str:reference>/approve/",
        spend_request_approve,
        name="spend-request-approve",
    ),
    path(
        "money/spend-requests/<str:reference>/decline/",
        spend_request_decline,
        name="spend-request-decline",
    ),
    path(
        "money/spend-requests/<str:reference>/review/",
        spend_request_review,
        name="spend-request-review",
    ),
    path("money/contributions/", contributions, name="contributions"),
    path(
        "money/contributions/<str:payer>/commit/",
        contribution_commit,
        name="contribution-commit",
    ),
    path(
        "money/contributions/<str:payer>/receive/",
        contribution_receive,
        name="contribution-receive",
    ),
]
