"""C9 verification pages: the verifier's queue, the verification form for one claim,
and the monthly verification report (page and CSV). Thin: ask the policy, call the
action or the query, render; a refused decision re-renders the form with the reason
and nothing is written.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.claims import report
from fundpilot.claims.actions.verification import (
    ChecklistItem,
    checklist_for,
    milestone_of,
    tranche_of,
    verify_claim,
)
from fundpilot.claims.models import Claim, ClaimEvidence, Verification
from fundpilot.claims.views.tracker import visible_claim  # also registers `claimref`
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import PartialRelease

PER_PAGE = 50
MET = [("yes", "Met"), ("no", "Not met")]
OUTCOMES = [
    (Verification.VERIFIED, "Verified: every requirement is met"),
    (Verification.REJECTED, "Rejected"),
    (Verification.PARTIAL, "Partially verified (tranche criteria)"),
]


def _today(pilot: Pilot) -> Any:
    return pilot.calendar.local_date(timezone.now())


class VerificationForm(forms.Form):
    """One met/not met answer and note per checklist item (`met_<n>`, `note_<n>`), the
    outcome, reason codes and, for a tranche, the criteria met."""

    def __init__(self, *args: Any, claim: Claim, items: list[ChecklistItem], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.items = items
        rulebook = claim.pilot.rulebook
        tranche = tranche_of(claim, rulebook)
        partial = tranche is not None and tranche.partial_release is PartialRelease.PROPORTIONAL
        for n, item in enumerate(items):
            self.fields[f"met_{n}"] = forms.ChoiceField(
                label=item.label, choices=MET, widget=forms.RadioSelect, required=False
            )
            self.fields[f"note_{n}"] = forms.CharField(label="Note", required=False)
        self.fields["outcome"] = forms.ChoiceField(
            label="Decision",
            choices=[o for o in OUTCOMES if partial or o[0] != Verification.PARTIAL],
            widget=forms.RadioSelect,
        )
        reasons = rulebook.codes.verification_rejection_reasons
        self.fields["reason_codes"] = forms.MultipleChoiceField(
            label="Reason codes (a rejection needs one at least)",
            choices=[(c.code, f"{c.code} — {c.label}") for c in reasons],
            widget=forms.CheckboxSelectMultiple,
            required=False,
        )
        if partial:
            assert tranche is not None
            self.fields["criteria_met"] = forms.MultipleChoiceField(
                label=f"Criteria met (tranche {tranche.code})",
                choices=[(c.code, f"{c.code} — {c.label}") for c in tranche.criteria],
                widget=forms.CheckboxSelectMultiple,
                required=False,
            )
        self.fields["note"] = forms.CharField(
            label="Note", widget=forms.Textarea(attrs={"rows": 3}), required=False
        )

    def answers(self, n: int) -> dict[str, Any]:
        return {"met": self[f"met_{n}"], "note": self[f"note_{n}"]}

    def checklist(self) -> list[dict[str, Any]]:
        """The answers given; an item left unanswered is left out (the action names it)."""
        answers = []
        for n, item in enumerate(self.items):
            met = self.cleaned_data.get(f"met_{n}")
            if met:
                note = self.cleaned_data.get(f"note_{n}", "")
                answers.append({"kind": item.kind, "met": met == "yes", "note": note})
        return answers

    def refused(self, exc: Refused) -> None:
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, f"{exc.message} ({exc.code})")


def _download(pilot: Pilot, evidence_id: int) -> str:
    return reverse("claims:evidence-file", kwargs={"pilot": pilot.slug, "number": evidence_id})


def _evidence(claim: Claim, items: list[ChecklistItem]) -> dict[str, list[dict[str, Any]]]:
    """The claim's linked evidence per checklist kind, with reuse flags and links."""
    found: dict[str, list[dict[str, Any]]] = {item.kind: [] for item in items}
    links = (
        ClaimEvidence.objects.filter(claim=claim)
        .select_related("evidence", "evidence__uploaded_by")
        .order_by("evidence__document_date", "pk")
    )
    for link in links:
        found.setdefault(link.kind, []).append(
            {"evidence": link.evidence, "url": _download(claim.pilot, link.evidence_id)}
        )
    return found


@require_GET
@page("claim.verify")
def verification_queue(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Submitted independent-tier claims of other organisations, oldest due first."""
    rows = (
        policy.claims_scope(request.user, pilot, Claim.objects.filter(pilot=pilot))
        .filter(status=Claim.SUBMITTED, tier="independent")
        .exclude(provider_id=request.user.organisation_id)
        .select_related("participant", "provider")
        .order_by("verification_due", "submitted_at", "pk")
    )
    today = _today(pilot)
    listing = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    calendar = pilot.calendar
    claims = [
        {
            "claim": c,
            "late_days": calendar.lateness(c.verification_due, today) if c.verification_due else 0,
        }
        for c in listing
    ]
    context = pilot_context(request, pilot, "verification") | {
        "today": today,
        "claims": claims,
        "listing": listing,
    }
    return render(request, "claims/verification/queue.html", context)


@require_http_methods(["GET", "POST"])
@page("claim.verify")
def verify(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    """The checklist for one claim: each evidence requirement against the definition."""
    claim = visible_claim(request.user, pilot, reference)
    rulebook = pilot.rulebook
    try:
        milestone = milestone_of(claim, rulebook)
        items = checklist_for(claim, rulebook)
    except Refused as exc:
        raise Http404(exc.message) from exc
    decided = claim.status != Claim.SUBMITTED or claim.verifications.exists()
    form = None
    if not decided:
        data = request.POST if request.method == "POST" else None
        form = VerificationForm(data, claim=claim, items=items)
        if request.method == "POST" and form.is_valid():
            try:
                verify_claim(
                    claim=claim,
                    outcome=form.cleaned_data["outcome"],
                    checklist=form.checklist(),
                    reason_codes=form.cleaned_data.get("reason_codes", []),
                    criteria_met=form.cleaned_data.get("criteria_met", []),
                    note=form.cleaned_data.get("note", ""),
                    by=request.user,
                    at=timezone.now(),
                )
            except Refused as exc:
                form.refused(exc)
            else:
                messages.success(request, f"{claim.reference}: decision recorded.")
                return redirect(
                    reverse("claims:verify", kwargs={"pilot": pilot.slug, "reference": reference})
                )
    today = _today(pilot)
    due = claim.verification_due
    evidence = _evidence(claim, items)
    context = pilot_context(request, pilot, "verification") | {
        "today": today,
        "claim": claim,
        "milestone": milestone,
        "tranche": tranche_of(claim, rulebook),
        "checklist": [
            {"item": i, "evidence": evidence.get(i.kind, [])} | (form.answers(n) if form else {})
            for n, i in enumerate(items)
        ],
        "form": form,
        "late_days": pilot.calendar.lateness(due, today) if due and not decided else 0,
        "decisions": claim.verifications.select_related("decided_by", "organisation").order_by(
            "decided_at", "pk"
        ),
        "reason_labels": {c.code: c.label for c in rulebook.codes.verification_rejection_reasons},
    }
    status = 422 if form is not None and form.errors else 200
    return render(request, "claims/verification/verify.html", context, status=status)


def _report(request: HttpRequest, pilot: Pilot) -> tuple[str, Any, Refused | None]:
    month = request.GET.get("month") or _today(pilot).strftime("%Y-%m")
    try:
        return month, report.verification_report(pilot, month=month, user=request.user), None
    except Refused as exc:
        return month, None, exc


@require_GET
@page("verification.report")
def verification_report(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    month, found, error = _report(request, pilot)
    context = pilot_context(request, pilot, "verification-report") | {
        "month": month,
        "report": found,
        "error": error,
    }
    return render(request, "claims/verification/report.html", context, status=400 if error else 200)


@require_GET
@page("verification.report")
def verification_report_csv(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    month, found, error = _report(request, pilot)
    if error is not None:
        return HttpResponse(
            f"{error.code}: {error.message}\n", status=400, content_type="text/plain"
        )
    response = HttpResponse(report.as_csv(found), content_type="text/csv; charset=utf-8")
    filename = f"verification-{pilot.slug}-{month}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


urls: list[URLPattern] = [
    path("verification/", verification_queue, name="verification-queue"),
    path("claims/<claimref:reference>/verification/", verify, name="verify"),
    path("verification-report/", verification_report, name="verification-report"),
    path("verification-report.csv", verification_report_csv, name="verification-report-csv"),
]
