"""C9 post-payment sample audit pages: the samples of a pilot, the draw, one sample
(universe, strata, items with their audits, the appraisal and its explanation), the
audit of one sampled claim and the appraisal. Thin: ask the policy, call the action,
render; a refused action re-renders its form with the reason and nothing is written.
"""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.claims.actions import sampling
from fundpilot.claims.models import ClaimEvidence, Sample, SampleItem
from fundpilot.claims.views import tracker  # noqa: F401  (registers the `claimref` converter)
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused

GET_POST = require_http_methods(["GET", "POST"])
SECTION = "samples"


class _Form(forms.Form):
    def refused(self, exc: Refused) -> None:
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, f"{exc.message} ({exc.code})")


class DrawForm(_Form):
    period = forms.RegexField(
        regex=sampling.PERIOD,
        label="Period (YYYY-MM)",
        help_text="The month in which the claims became payable, in the pilot's time zone.",
        error_messages={"invalid": "Write the month as YYYY-MM."},
    )
    seed = forms.IntegerField(
        label="Seed",
        min_value=0,
        max_value=sampling.MAX_SEED,
        help_text="Anyone holding the seed and the universe can redraw the same sample.",
    )


class AuditForm(_Form):
    supported_amount = forms.DecimalField(
        label="Amount the evidence supports", min_value=0, decimal_places=2, max_digits=14
    )
    finding_codes = forms.MultipleChoiceField(
        label="Findings (needed when less than the amount paid is supported)",
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    note = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args: Any, pilot: Pilot, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reasons = pilot.rulebook.codes.verification_rejection_reasons
        self.fields["finding_codes"].choices = [(c.code, f"{c.code} — {c.label}") for c in reasons]  # type: ignore[attr-defined]


def _sample(pilot: Pilot, period: str) -> Sample:
    found = Sample.objects.filter(pilot=pilot, period=period).select_related("drawn_by").first()
    if found is None:
        raise Http404(f"no sample of '{period}' in {pilot.slug}")
    return found


def _sample_url(pilot: Pilot, period: str) -> str:
    return reverse("claims:sample", kwargs={"pilot": pilot.slug, "period": period})


def _context(request: HttpRequest, pilot: Pilot, **extra: Any) -> dict[str, Any]:
    return pilot_context(request, pilot, SECTION) | {
        "may_draw": policy.allowed(request.user, "sample.draw", pilot),
        "may_audit": policy.allowed(request.user, "sample.audit", pilot),
        **extra,
    }


@require_GET
@page("claim.view")
def samples(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Every sample of the pilot, newest period first, with its audit progress."""
    rows = []
    for s in sampling.samples_of(pilot):
        audits = sampling.current_audits(s)
        rows.append(
            {
                "sample": s,
                "size": sum(stratum["sample"] for stratum in s.strata),
                "audited": len(audits),
                "failed": sum(1 for a in audits.values() if a.supported_amount < a.paid_amount),
                "appraisal": sampling.latest_appraisal(s),
            }
        )
    return render(request, "claims/sampling/list.html", _context(request, pilot, rows=rows))


@GET_POST
@page("sample.draw")
def draw(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Draw the audit sample of a month that has ended."""
    if request.method == "POST":
        form = DrawForm(request.POST)
        if form.is_valid():
            period = form.cleaned_data["period"]
            try:
                sampling.draw_sample(
                    pilot=pilot,
                    period=period,
                    seed=form.cleaned_data["seed"],
                    by=request.user,
                    at=timezone.now(),
                )
            except Refused as exc:
                form.refused(exc)
            else:
                messages.success(request, f"The sample of {period} is drawn.")
                return redirect(_sample_url(pilot, period))
    else:
        last_month = pilot.calendar.local_date(timezone.now()).replace(day=1) - timedelta(days=1)
        form = DrawForm(initial={"period": last_month.strftime("%Y-%m")})
    status = 422 if form.errors else 200
    context = _context(request, pilot, form=form)
    return render(request, "claims/sampling/draw.html", context, status=status)


def _items(request: HttpRequest, s: Sample) -> list[dict[str, Any]]:
    audits = sampling.current_audits(s)
    return [
        {"item": i, "claim": i.claim, "audit": audits.get(i.pk)}
        for i in sampling.visible_items(request.user, s)
    ]


@require_GET
@page("claim.view")
def sample(request: HttpRequest, pilot: Pilot, period: str) -> HttpResponse:
    """One sample: its universe and strata, the items with their audits, the appraisal."""
    s = _sample(pilot, period)
    redrawn = sampling.redraw(s)
    items = _items(request, s)
    size = sum(stratum["sample"] for stratum in s.strata)
    audited = len(sampling.current_audits(s))
    context = _context(
        request,
        pilot,
        sample=s,
        items=items,
        hidden=size - len(items),
        size=size,
        audited=audited,
        digest_holds=redrawn.universe_digest == s.universe_digest,
        appraisal=sampling.latest_appraisal(s),
        earlier=s.appraisals.order_by("-decided_at", "-pk")[1:],
    )
    return render(request, "claims/sampling/sample.html", context)


@GET_POST
@page("sample.audit")
def appraise(request: HttpRequest, pilot: Pilot, period: str) -> HttpResponse:
    """Appraise a fully audited sample: extrapolate what the audits found."""
    s = _sample(pilot, period)
    error = None
    if request.method == "POST":
        try:
            sampling.appraise_sample(sample=s, by=request.user, at=timezone.now())
        except Refused as exc:
            error = exc
        else:
            messages.success(request, f"The sample of {period} is appraised.")
            return redirect(_sample_url(pilot, period))
    size = sum(stratum["sample"] for stratum in s.strata)
    context = _context(
        request, pilot, sample=s, size=size, audited=len(sampling.current_audits(s)), error=error
    )
    return render(request, "claims/sampling/appraise.html", context, status=422 if error else 200)


@GET_POST
@page("sample.audit")
def audit(request: HttpRequest, pilot: Pilot, period: str, reference: str) -> HttpResponse:
    """Audit one sampled claim: the amount its evidence supports, and the findings."""
    s = _sample(pilot, period)
    item = (
        SampleItem.objects.filter(sample=s, claim__reference=reference)
        .select_related("claim", "claim__provider", "claim__participant", "sample__pilot")
        .first()
    )
    if item is None:
        raise Http404(f"{reference} is not in the sample of {period}")
    done = item.audits.select_related("decided_by", "organisation").order_by("decided_at", "pk")
    form = None
    if not done:
        form = AuditForm(request.POST if request.method == "POST" else None, pilot=pilot)
        if request.method == "POST" and form.is_valid():
            try:
                sampling.audit_sampled_claim(
                    item=item,
                    supported_amount=form.cleaned_data["supported_amount"],
                    finding_codes=form.cleaned_data["finding_codes"],
                    note=form.cleaned_data["note"],
                    by=request.user,
                    at=timezone.now(),
                )
            except Refused as exc:
                form.refused(exc)
            else:
                messages.success(request, f"{reference}: audit recorded.")
                return redirect(_sample_url(pilot, period))
    evidence = (
        ClaimEvidence.objects.filter(claim=item.claim)
        .select_related("evidence")
        .order_by("kind", "evidence__document_date", "pk")
    )
    milestone = next((m for m in pilot.rulebook.milestones if m.code == item.claim.milestone), None)
    context = _context(
        request,
        pilot,
        sample=s,
        item=item,
        claim=item.claim,
        milestone=milestone,
        evidence=evidence,
        audits=done,
        recoupments=item.claim.recoupments.order_by("created_at", "pk"),
        form=form,
    )
    status = 422 if form is not None and form.errors else 200
    return render(request, "claims/sampling/audit.html", context, status=status)


urls: list[URLPattern] = [
    path("samples/", samples, name="samples"),
    path("samples/draw/", draw, name="sample-draw"),
    path("samples/<str:period>/", sample, name="sample"),
    path("samples/<str:period>/appraise/", appraise, name="sample-appraise"),
    path("samples/<str:period>/items/<claimref:reference>/audit/", audit, name="sample-audit"),
]
