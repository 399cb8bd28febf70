"""C11 pages: the dispute list (open first, due dates, lateness), one dispute with its
stage history, and the raise, escalate and resolve forms. A refused action re-renders
the form with the reason, and nothing is written.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.claims.actions.disputes import (
    disputes_for,
    escalate_dispute,
    open_days_late,
    raise_dispute,
    resolve_dispute,
    subject_of,
)
from fundpilot.claims.actions.verification import checklist_for
from fundpilot.claims.models import Claim, Dispute, SampleAudit, Verification
from fundpilot.claims.views.verification import VerificationForm
from fundpilot.participants.forms import TEXT, StepForm, coded
from fundpilot.participants.models import ActivationDecision
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import NotPermitted, Refused

GET_POST = require_http_methods(["GET", "POST"])
SUBJECTS: dict[str, tuple[Any, str]] = {
    Dispute.VERIFICATION: (Verification, "claim__pilot"),
    Dispute.ACTIVATION: (ActivationDecision, "participant__pilot"),
    Dispute.SAMPLE_AUDIT: (SampleAudit, "item__sample__pilot"),
}
# Refusals about the new verification land on its form.
DECISION_FIELDS = ("outcome", "checklist", "reason_codes", "criteria_met")
OUTCOMES = [
    (Dispute.UPHELD, "Upheld: the decision stands"),
    (Dispute.OVERTURNED, "Overturned: a new decision replaces it"),
    (Dispute.VARIED, "Varied: a new decision changes it in part"),
]


def _today(pilot: Pilot) -> Any:
    return pilot.calendar.local_date(timezone.now())


def dispute_url(pilot: Pilot, reference: str) -> str:
    return reverse("claims:dispute", kwargs={"pilot": pilot.slug, "reference": reference})


def _dispute(request: HttpRequest, pilot: Pilot, reference: str) -> Dispute:
    rows = Dispute.objects.filter(pilot=pilot, reference=reference)
    found = rows.select_related("pilot", "provider", "raised_by", "resolved_by").first()
    if found is None:
        raise Http404(f"no dispute '{reference}'")
    if not disputes_for(request.user, pilot).filter(pk=found.pk).exists():
        raise NotPermitted("other_organisation", "this dispute is another organisation's")
    return found


def _claim_of(subject: Any) -> Claim | None:
    if isinstance(subject, Verification):
        return subject.claim
    if isinstance(subject, SampleAudit):
        return subject.item.claim
    return None


def _describe(subject: Any) -> str:
    if isinstance(subject, Verification):
        return f"verification of claim {subject.claim.reference}: {subject.outcome}"
    if isinstance(subject, SampleAudit):
        return (
            f"sample audit of claim {subject.item.claim.reference}: {subject.supported_amount}"
            f" of {subject.paid_amount} supported"
        )
    return f"activation decision on {subject.participant.participant_id}: {subject.outcome}"


class RaiseForm(StepForm):
    grounds = forms.CharField(widget=TEXT, help_text="Why the decision is wrong.")


class EscalateForm(StepForm):
    note = forms.CharField(widget=TEXT, help_text="Why it goes to the next stage.")


class ResolveForm(StepForm):
    outcome = forms.ChoiceField(choices=OUTCOMES, widget=forms.RadioSelect)
    resolution = forms.CharField(widget=TEXT)
    learning = forms.CharField(widget=TEXT, help_text="Fed back to providers and verifiers.")

    def build(self) -> None:
        if self.initial.get("kind") == Dispute.SAMPLE_AUDIT:
            self.fields["supported_amount"] = forms.DecimalField(
                label="New audit: amount supported", required=False, decimal_places=2
            )
            reasons = self.rulebook.codes.verification_rejection_reasons
            self.fields["finding_codes"] = forms.MultipleChoiceField(
                label="New audit: findings",
                choices=coded(reasons),
                widget=forms.CheckboxSelectMultiple,
                required=False,
            )
            self.fields["note"] = forms.CharField(label="Note", required=False, widget=TEXT)


def _form_page(
    request: HttpRequest, pilot: Pilot, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    page_context = pilot_context(request, pilot, "disputes") | {"today": _today(pilot)} | context
    return render(request, f"claims/disputes/{template}", page_context, status=status)


@require_GET
@page("dispute.view")
def dispute_list(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    today = _today(pilot)
    rows = disputes_for(request.user, pilot)
    if request.GET.get("status") in (Dispute.OPEN, Dispute.RESOLVED):
        rows = rows.filter(status=request.GET["status"])
    listing = [{"dispute": d, "late_days": open_days_late(pilot, d, today)} for d in rows[:200]]
    context = {"rows": listing, "status": request.GET.get("status", "")}
    return _form_page(request, pilot, "list.html", context)


@require_GET
@page("dispute.view")
def dispute_page(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    found = _dispute(request, pilot, reference)
    subject = subject_of(found)
    context = {
        "dispute": found,
        "subject": _describe(subject),
        "claim": _claim_of(subject),
        "steps": found.steps.select_related("by"),
        "late_days": open_days_late(pilot, found, _today(pilot)),
        "may_escalate": found.status == Dispute.OPEN
        and policy.allowed(request.user, "dispute.raise", pilot),
        "may_resolve": found.status == Dispute.OPEN
        and policy.allowed(request.user, "dispute.decide", pilot),
    }
    return _form_page(request, pilot, "dispute.html", context)


@GET_POST
@page("dispute.raise")
def dispute_raise(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Raise a dispute on the decision named in the query (?verification=ID, …)."""
    kind = next((k for k in SUBJECTS if request.GET.get(k, "").isdigit()), None)
    if kind is None:
        raise Http404("name the decision: ?verification=, ?activation= or ?sample_audit=")
    model, pilot_field = SUBJECTS[kind]
    subject = model.objects.filter(pk=int(request.GET[kind]), **{pilot_field: pilot}).first()
    if subject is None:
        raise Http404(f"no {kind} {request.GET[kind]}")
    kwargs = {"pilot": pilot, "user": request.user}
    form = RaiseForm(request.POST or None, **kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            made = raise_dispute(
                subject=subject,
                grounds=form.cleaned_data["grounds"],
                by=request.user,  # type: ignore[arg-type]
                at=timezone.now(),
            )
        except Refused as exc:
            form.refused(exc)
        else:
            messages.success(request, f"{made.reference} raised, due {made.due}.")
            return redirect(dispute_url(pilot, made.reference))
    form.mark_errors()
    context = {"form": form, "title": "Raise a dispute", "subject": _describe(subject)}
    return _form_page(request, pilot, "form.html", context, 422 if form.errors else 200)


@GET_POST
@page("dispute.raise")
def dispute_escalate(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    found = _dispute(request, pilot, reference)
    form = EscalateForm(request.POST or None, pilot=pilot, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            escalate_dispute(
                dispute=found,
                note=form.cleaned_data["note"],
                by=request.user,  # type: ignore[arg-type]
                at=timezone.now(),
            )
        except Refused as exc:
            form.refused(exc)
        else:
            messages.success(request, f"{found.reference} is now at stage {found.stage}.")
            return redirect(dispute_url(pilot, found.reference))
    form.mark_errors()
    context = {"form": form, "title": f"Escalate {found.reference}", "dispute": found}
    context["subject"] = _describe(subject_of(found))
    return _form_page(request, pilot, "form.html", context, 422 if form.errors else 200)


@GET_POST
@page("dispute.decide")
def dispute_resolve(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    """The outcome, and — for an overturned or varied verification or sample audit —
    the new decision, checked like the original decision."""
    found = _dispute(request, pilot, reference)
    subject = subject_of(found)
    data = request.POST or None
    form = ResolveForm(data, pilot=pilot, user=request.user, initial={"kind": found.subject_kind})
    decision = None
    if isinstance(subject, Verification):
        items = checklist_for(subject.claim, pilot.rulebook)
        decision = VerificationForm(data, claim=subject.claim, items=items, prefix="new")
    if request.method == "POST" and form.is_valid():
        cd = form.cleaned_data
        fields: dict[str, Any] = {}
        upheld = cd["outcome"] == Dispute.UPHELD
        if decision is not None and not upheld and decision.is_valid():
            new = decision.cleaned_data
            fields = {
                "verification_outcome": new["outcome"],
                "checklist": decision.checklist(),
                "reason_codes": new.get("reason_codes", []),
                "criteria_met": new.get("criteria_met", []),
                "note": new.get("note", ""),
            }
        elif found.subject_kind == Dispute.SAMPLE_AUDIT and not upheld:
            amount = cd.get("supported_amount")
            fields = {"supported_amount": "" if amount is None else str(amount)}
            fields |= {"finding_codes": cd.get("finding_codes", []), "note": cd.get("note", "")}
        if decision is None or upheld or decision.is_valid():
            try:
                resolve_dispute(
                    dispute=found,
                    outcome=cd["outcome"],
                    resolution=cd["resolution"],
                    learning=cd["learning"],
                    by=request.user,  # type: ignore[arg-type]
                    at=timezone.now(),
                    **fields,
                )
            except Refused as exc:
                field = "outcome" if exc.field == "verification_outcome" else exc.field
                if decision is not None and field in DECISION_FIELDS:
                    decision.refused(Refused(exc.code, exc.message, field))
                else:
                    form.refused(exc)
            else:
                messages.success(request, f"{found.reference} resolved: {cd['outcome']}.")
                return redirect(dispute_url(pilot, found.reference))
    form.mark_errors()
    context = {
        "form": form,
        "decision": decision,
        "title": f"Resolve {found.reference}",
        "dispute": found,
        "subject": _describe(subject),
    }
    errors = form.errors or (decision is not None and decision.errors)
    return _form_page(request, pilot, "form.html", context, 422 if errors else 200)


urls: list[URLPattern] = [
    path("disputes/", dispute_list, name="disputes"),
    path("disputes/raise/", dispute_raise, name="dispute-raise"),
    path("disputes/<str:reference>/", dispute_page, name="dispute"),
    path("disputes/<str:reference>/escalate/", dispute_escalate, name="dispute-escalate"),
    path("disputes/<str:reference>/resolve/", dispute_resolve, name="dispute-resolve"),
]
