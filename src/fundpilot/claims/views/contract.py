"""C10 pages: the tranche board, contract evidence, and the contract claim's draft and
submission. Thin: ask the policy, call the action or the read model, render; a refused
action re-renders its form with the reason, and nothing is written.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.claims.actions.contract import (
    contract_evidence,
    draft_contract_claim,
    submit_contract_claim,
)
from fundpilot.claims.live_use import live_use, live_use_problem, tranche_board
from fundpilot.claims.models import Claim
from fundpilot.claims.views.tracker import upload_from_form
from fundpilot.participants.forms import DATE, TEXT, StepForm
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import Tranche

GET_POST = require_http_methods(["GET", "POST"])


def _tranche(pilot: Pilot, code: str) -> Tranche:
    found = next((t for t in pilot.rulebook.tranches if t.code == code), None)
    if found is None:
        raise Http404(f"no tranche '{code}'")
    return found


def _latest(pilot: Pilot, tranche: Tranche) -> Claim | None:
    rows = Claim.objects.filter(pilot=pilot, scope="contract", tranche=tranche.code)
    return rows.select_related("drafted_by", "resubmission_of").order_by("-pk").first()


def board_url(pilot: Pilot) -> str:
    return reverse("claims:tranches", kwargs={"pilot": pilot.slug})


class ContractEvidenceForm(StepForm):
    document_date = forms.DateField(widget=DATE, label="Document date")
    file = forms.FileField(allow_empty_file=True, help_text="The type is read from the content.")
    note = forms.CharField(required=False, widget=TEXT)

    def build(self) -> None:
        kinds = {k.code: k.label for k in self.rulebook.evidence_kinds}
        tranche: Tranche = self.initial["tranche"]
        required = self.rulebook.milestone(tranche.milestone).evidence
        self.fields["kind"] = forms.ChoiceField(
            label="Kind of evidence",
            choices=[(r.kind, f"{r.kind} — {kinds.get(r.kind, r.kind)}") for r in required],
        )
        self.order_fields(["kind", "document_date", "file", "note"])


class ContractDraftForm(StepForm):
    """The day the milestone was reached and, per quality floor, the attested measure."""

    reached_on = forms.DateField(widget=DATE, label="Milestone reached on")

    def build(self) -> None:
        self.tranche: Tranche = self.initial["tranche"]
        floors = self.tranche.live_use.quality_floors if self.tranche.live_use else ()
        self.floors = floors
        for floor in floors:
            self.fields[f"value_{floor.measure}"] = forms.DecimalField(
                label=f"{floor.label} (%), floor {floor.floor}% at {floor.at_volume} cases",
                required=False,
            )
            self.fields[f"volume_{floor.measure}"] = forms.IntegerField(
                label=f"{floor.measure}: cases measured", required=False
            )

    def measures(self) -> dict[str, dict[str, Any]]:
        found = {}
        for floor in self.floors:
            value = self.cleaned_data.get(f"value_{floor.measure}")
            volume = self.cleaned_data.get(f"volume_{floor.measure}")
            if value is not None or volume is not None:
                found[floor.measure] = {"value": "" if value is None else str(value)}
                found[floor.measure]["volume"] = volume
        return found


class SubmitForm(StepForm):
    """Nothing to fill in: submitting is the decision."""


def _run(
    request: HttpRequest,
    pilot: Pilot,
    form_class: type[StepForm],
    act: Callable[[StepForm], Any],
    context: dict[str, Any],
    initial: dict[str, Any],
) -> HttpResponse:
    """GET: the form. POST: the action; on success back to the board, on refusal say why."""
    kwargs = {"pilot": pilot, "user": request.user, "initial": initial}
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, **kwargs)
        if form.is_valid():
            try:
                act(form)
            except Refused as exc:
                form.refused(exc)
            else:
                messages.success(request, f"{context['title']}: recorded.")
                return redirect(board_url(pilot))
    else:
        form = form_class(**kwargs)
    form.mark_errors()
    page_context = pilot_context(request, pilot, "tranches") | {"form": form} | context
    status = 422 if form.errors else 200
    return render(request, "claims/contract/form.html", page_context, status=status)


@require_GET
@page("pilot.view")
def tranches(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """The tranche board: each tranche's milestone, amount, predecessor, status, live
    use against its requirement, cure deadline, and what it released to whom."""
    now = timezone.now()
    rulebook = pilot.rulebook
    rows = tranche_board(pilot, at=now)
    context = pilot_context(request, pilot, "tranches") | {
        "rows": [(row, rulebook.milestone(row.tranche.milestone)) for row in rows],
        "today": pilot.calendar.local_date(now),
        "may_claim": policy.allowed(request.user, "contract.claim", pilot),
    }
    return render(request, "claims/contract/board.html", context)


@GET_POST
@page("contract.claim")
def tranche_evidence(request: HttpRequest, pilot: Pilot, tranche: str) -> HttpResponse:
    found = _tranche(pilot, tranche)

    def act(form: StepForm) -> Any:
        return upload_from_form(form.cleaned_data, pilot=pilot, participant=None, by=request.user)

    today = pilot.calendar.local_date(timezone.now())
    context = {"title": f"Contract evidence for {found.code}", "tranche": found}
    initial = {"tranche": found, "document_date": today}
    return _run(request, pilot, ContractEvidenceForm, act, context, initial)


@GET_POST
@page("contract.claim")
def tranche_claim(request: HttpRequest, pilot: Pilot, tranche: str) -> HttpResponse:
    found = _tranche(pilot, tranche)

    def act(form: StepForm) -> Any:
        assert isinstance(form, ContractDraftForm)
        return draft_contract_claim(
            pilot=pilot,
            milestone=found.milestone,
            reached_on=form.cleaned_data["reached_on"],
            measures=form.measures(),
            by=request.user,  # type: ignore[arg-type]
            at=timezone.now(),
        )

    latest = _latest(pilot, found)
    context = {
        "title": f"Claim tranche {found.code}",
        "tranche": found,
        "resubmits": latest if latest and latest.status == Claim.REJECTED else None,
    }
    initial = {"tranche": found, "reached_on": pilot.calendar.local_date(timezone.now())}
    return _run(request, pilot, ContractDraftForm, act, context, initial)


@GET_POST
@page("contract.claim")
def tranche_submit(request: HttpRequest, pilot: Pilot, tranche: str) -> HttpResponse:
    """The tranche's draft with what submission will check: evidence, live use, measures."""
    found = _tranche(pilot, tranche)
    claim = _latest(pilot, found)
    if claim is None or claim.status != Claim.DRAFT:
        raise Http404(f"tranche {found.code} has no draft claim to submit")
    milestone = pilot.rulebook.milestone(found.milestone)
    evidence, missing = contract_evidence(claim, milestone)
    figures = live_use(pilot, at=timezone.now())

    def act(form: StepForm) -> Any:
        return submit_contract_claim(claim=claim, by=request.user, at=timezone.now())  # type: ignore[arg-type]

    context = {
        "title": f"Submit {claim.reference}",
        "tranche": found,
        "claim": claim,
        "evidence": evidence,
        "missing": missing,
        "live_use": figures,
        "live_use_short": live_use_problem(figures, found.live_use),
    }
    return _run(request, pilot, SubmitForm, act, context, {})


urls: list[URLPattern] = [
    path("tranches/", tranches, name="tranches"),
    path("tranches/<str:tranche>/evidence/", tranche_evidence, name="tranche-evidence"),
    path("tranches/<str:tranche>/claim/", tranche_claim, name="tranche-claim"),
    path("tranches/<str:tranche>/submit/", tranche_submit, name="tranche-submit"),
]
