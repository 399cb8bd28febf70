"""Pages of C7 and C8: a participant's milestone tracker, evidence upload and download,
drafting a claim, the readiness review, submission, the claims list and a claim's page.

Thin: ask the policy, call one action or query, render. A refused action re-renders
its form with the reason on the field it is about, and nothing is written. Evidence
files are served only through `evidence_file`, which asks the policy and the
organisation scoping; there is no public media URL.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, register_converter, reverse
from django.urls.converters import get_converters
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.claims import evidence as files
from fundpilot.claims import tracker
from fundpilot.claims.actions.claims import (
    claim_requirements,
    draft_claim,
    review_readiness,
    submit_claim,
)
from fundpilot.claims.actions.evidence import upload_evidence
from fundpilot.claims.models import Claim, Evidence
from fundpilot.participants.forms import DATE, TEXT, StepForm, coded
from fundpilot.participants.models import Participant
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Organisation, Pilot
from fundpilot.rules.errors import NotPermitted, Refused

GET_POST = require_http_methods(["GET", "POST"])
PER_PAGE = 50


class ClaimReference:
    """A claim reference in a URL: it may hold slashes ("P-0001/M1/1", "T2/1") but never
    ends in a lowercase word, so `claims/<ref>/verification` and the like stay free
    for the claim's sub-pages and operations."""

    regex = r"(?:[^/]+/)*(?![a-z][a-z-]*(?:/|\Z))[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


if "claimref" not in get_converters():
    register_converter(ClaimReference, "claimref")


# --- finding what the viewer may see ---------------------------------------------------


def _in_scope(user: Any, pilot: Pilot, perm: str, rows: QuerySet[Any], provider_id: int) -> None:
    """Reading: the claims scope. Acting: the permission's organisation scoping."""
    if perm == "claim.view":
        if not policy.claims_scope(user, pilot, rows).exists():
            raise NotPermitted(
                "other_organisation", "this belongs to another provider organisation"
            )
    else:
        policy.require_for_provider(user, perm, pilot, provider_id)


def visible_participant(
    user: Any, pilot: Pilot, participant_id: str, perm: str = "claim.view"
) -> Participant:
    """404 if there is no such participant, 403 if it is another provider's."""
    rows = Participant.objects.filter(pilot=pilot, participant_id=participant_id)
    participant = rows.select_related("pilot", "provider", "lead").first()
    if participant is None:
        raise Http404(f"no participant '{participant_id}'")
    _in_scope(user, pilot, perm, rows, participant.provider_id)
    return participant


def visible_claim(user: Any, pilot: Pilot, reference: str, perm: str = "claim.view") -> Claim:
    rows = Claim.objects.filter(pilot=pilot, reference=reference)
    claim = rows.select_related("pilot", "participant", "provider", "drafted_by").first()
    if claim is None:
        raise Http404(f"no claim '{reference}'")
    _in_scope(user, pilot, perm, rows, claim.provider_id)
    return claim


def visible_evidence(user: Any, pilot: Pilot) -> QuerySet[Evidence]:
    return policy.claims_scope(user, pilot, Evidence.objects.filter(pilot=pilot), "organisation")


def claim_url(claim: Claim) -> str:
    return reverse("claims:claim", kwargs={"pilot": claim.pilot.slug, "reference": claim.reference})


def tracker_url(pilot: Pilot, participant_id: str) -> str:
    return reverse("claims:tracker", kwargs={"pilot": pilot.slug, "participant_id": participant_id})


def _today(pilot: Pilot) -> Any:
    return pilot.calendar.local_date(timezone.now())


# --- forms ---------------------------------------------------------------------------


class EvidenceForm(StepForm):
    document_date = forms.DateField(widget=DATE, label="Document date")
    file = forms.FileField(
        allow_empty_file=True,
        help_text="PDF, PNG or JPEG scans; CSV or text where the kind allows it."
        " The type is read from the file's content.",
    )
    note = forms.CharField(required=False, widget=TEXT)

    def build(self) -> None:
        kinds = self.rulebook.evidence_kinds
        self.fields["kind"] = forms.ChoiceField(label="Kind of evidence", choices=coded(kinds))
        self.order_fields(["kind", "document_date", "file", "note"])


class DraftForm(StepForm):
    reached_on = forms.DateField(widget=DATE, label="Reached on")

    def build(self) -> None:
        milestones = tracker.participant_milestones(self.rulebook)
        self.fields["milestone"] = forms.ChoiceField(
            choices=[(m.code, f"{m.code} — {m.name}") for m in milestones]
        )
        self.order_fields(["milestone", "reached_on"])


class ReadinessForm(StepForm):
    note = forms.CharField(required=False, widget=TEXT)


class SubmitForm(StepForm):
    """Nothing to fill in: submitting is the decision."""


def _run(
    request: HttpRequest,
    pilot: Pilot,
    form_class: type[StepForm],
    act: Callable[[dict[str, Any]], Any],
    done: Callable[[Any], str],
    context: dict[str, Any],
    initial: dict[str, Any] | None = None,
) -> HttpResponse:
    """GET: the form. POST: the action; on success go on, on refusal say why."""
    participant = context.get("participant")
    kwargs = {"pilot": pilot, "user": request.user, "participant": participant}
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, **kwargs)
        if form.is_valid():
            try:
                return redirect(done(act(form.cleaned_data)))
            except Refused as exc:
                form.refused(exc)
    else:
        form = form_class(initial=initial or {}, **kwargs)
    form.mark_errors()
    page_context = pilot_context(request, pilot, "claims") | {"form": form} | context
    return render(request, "claims/tracker/form.html", page_context, status=200)


# --- the participant's tracker -------------------------------------------------------


@require_GET
@page("claim.view")
def tracker_page(request: HttpRequest, pilot: Pilot, participant_id: str) -> HttpResponse:
    participant = visible_participant(request.user, pilot, participant_id)
    evidence = visible_evidence(request.user, pilot).filter(participant=participant)
    context = pilot_context(request, pilot, "participants") | {
        "participant": participant,
        "rows": tracker.milestone_tracker(participant, today=_today(pilot)),
        "evidence": evidence.select_related("uploaded_by").order_by("-document_date", "-pk"),
        "may_upload": policy.allowed(request.user, "evidence.upload", pilot),
        "may_draft": policy.allowed(request.user, "claim.draft", pilot),
        "today": _today(pilot),
    }
    return render(request, "claims/tracker/tracker.html", context)


@require_GET
@page("claim.view")
def tracker_summary(request: HttpRequest, pilot: Pilot, participant_id: str) -> HttpResponse:
    """The participant page's milestone box (loaded with htmx): next and missing."""
    participant = visible_participant(request.user, pilot, participant_id)
    context = {
        "pilot": pilot,
        "participant": participant,
        "summary": tracker.tracker_summary(participant, today=_today(pilot)),
    }
    return render(request, "claims/tracker/summary.html", context)


def upload_from_form(
    cd: dict[str, Any], *, pilot: Pilot, participant: Participant | None, by: Any
) -> Evidence:
    """Upload the evidence file of a submitted form (a participant's, or contract-scope)."""
    upload = cd["file"]
    return upload_evidence(
        pilot=pilot,
        participant=participant,
        kind=cd["kind"],
        filename=upload.name or "evidence",
        # Never more than one byte past the limit: the action refuses it as too large.
        content=upload.read(files.max_bytes() + 1),
        document_date=cd["document_date"],
        note=cd["note"],
        by=by,
        at=timezone.now(),
    )


@GET_POST
@page("evidence.upload")
def evidence_upload(request: HttpRequest, pilot: Pilot, participant_id: str) -> HttpResponse:
    participant = visible_participant(request.user, pilot, participant_id, "evidence.upload")

    def act(cd: dict[str, Any]) -> Evidence:
        return upload_from_form(cd, pilot=pilot, participant=participant, by=request.user)

    kind = request.GET.get("kind", "")
    return _run(
        request,
        pilot,
        EvidenceForm,
        act,
        lambda _: tracker_url(pilot, participant_id),
        {"participant": participant, "title": "Upload evidence", "control": "C7"},
        initial={"kind": kind, "document_date": _today(pilot)},
    )


@require_GET
@page("claim.view")
def evidence_file(request: HttpRequest, pilot: Pilot, number: int) -> HttpResponse:
    """A stored evidence file, for those who may see it (403 for another provider's)."""
    rows = Evidence.objects.filter(pilot=pilot, pk=number)
    evidence = rows.first()
    if evidence is None:
        raise Http404(f"no evidence #{number}")
    if not visible_evidence(request.user, pilot).filter(pk=number).exists():
        raise NotPermitted("other_organisation", "this evidence is another provider's")
    response = FileResponse(
        files.open_file(evidence.file.name),
        as_attachment=True,
        filename=evidence.filename,
        content_type=evidence.media_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


# --- claims ----------------------------------------------------------------------------


@GET_POST
@page("claim.draft")
def claim_draft(request: HttpRequest, pilot: Pilot, participant_id: str) -> HttpResponse:
    participant = visible_participant(request.user, pilot, participant_id, "claim.draft")

    def act(cd: dict[str, Any]) -> Claim:
        return draft_claim(participant=participant, **cd, by=request.user, at=timezone.now())  # type: ignore[arg-type]

    return _run(
        request,
        pilot,
        DraftForm,
        act,
        claim_url,
        {"participant": participant, "title": "Draft a milestone claim", "control": "C7"},
        initial={"milestone": request.GET.get("milestone", ""), "reached_on": _today(pilot)},
    )


def _claim_context(request: HttpRequest, claim: Claim) -> dict[str, Any]:
    links = claim.evidence_links.select_related("evidence").order_by("kind", "evidence__pk")
    return {
        "claim": claim,
        "participant": claim.participant,
        "links": links,
        "requirements": claim_requirements(claim) if claim.participant_id else (),
        "readiness": getattr(claim, "readiness", None),
        "verifications": claim.verifications.select_related("decided_by").order_by("pk"),
    }


@require_GET
@page("claim.view")
def claim_page(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    claim = visible_claim(request.user, pilot, reference)
    user = request.user
    context = pilot_context(request, pilot, "claims") | _claim_context(request, claim)
    context |= {
        "may_review": policy.allowed(user, "claim.readiness", pilot)
        and claim.status == Claim.DRAFT
        and claim.drafted_by_id != user.pk,
        "may_submit": policy.allowed(user, "claim.submit", pilot) and claim.status == Claim.READY,
    }
    return render(request, "claims/tracker/claim.html", context)


def _claim_step(
    request: HttpRequest,
    pilot: Pilot,
    reference: str,
    form_class: type[StepForm],
    act: Callable[..., Any],
    title: str,
    control: str,
    perm: str,
) -> HttpResponse:
    claim = visible_claim(request.user, pilot, reference, perm)
    return _run(
        request,
        pilot,
        form_class,
        lambda cd: act(claim=claim, **cd, by=request.user, at=timezone.now()),
        lambda _: claim_url(claim),
        _claim_context(request, claim) | {"title": title, "control": control, "step": True},
    )


@GET_POST
@page("claim.readiness")
def claim_readiness(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    return _claim_step(
        request,
        pilot,
        reference,
        ReadinessForm,
        review_readiness,
        "Readiness review",
        "C8",
        "claim.readiness",
    )


@GET_POST
@page("claim.submit")
def claim_submit(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    return _claim_step(
        request, pilot, reference, SubmitForm, submit_claim, "Submit the claim", "", "claim.submit"
    )


@require_GET
@page("claim.view")
def claim_list(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    rows = policy.claims_scope(request.user, pilot, Claim.objects.filter(pilot=pilot))
    status, provider = request.GET.get("status", ""), request.GET.get("provider", "")
    if status in dict(Claim.STATUSES):
        rows = rows.filter(status=status)
    if provider:
        rows = rows.filter(provider__code=provider)
    rows = rows.select_related("participant", "provider").order_by("-drafted_at", "-pk")
    providers = Organisation.objects.filter(
        pk__in=policy.claims_scope(request.user, pilot, Claim.objects.filter(pilot=pilot)).values(
            "provider_id"
        )
    ).order_by("name")
    context = pilot_context(request, pilot, "claims") | {
        "claims": Paginator(rows, PER_PAGE).get_page(request.GET.get("page")),
        "status": status,
        "statuses": [s for s, _ in Claim.STATUSES],
        "provider": provider,
        "providers": providers,
    }
    return render(request, "claims/tracker/claims.html", context)


ONE = "participants/<str:participant_id>/"
CLAIM = "claims/<claimref:reference>/"

urls: list[URLPattern] = [
    path(ONE + "milestones/", tracker_page, name="tracker"),
    path(ONE + "milestones/summary/", tracker_summary, name="tracker-summary"),
    path(ONE + "evidence/new/", evidence_upload, name="evidence-upload"),
    path(ONE + "claims/new/", claim_draft, name="claim-draft"),
    path("evidence/<int:number>/", evidence_file, name="evidence-file"),
    path("claims/", claim_list, name="claims"),
    path(CLAIM + "readiness/", claim_readiness, name="claim-readiness"),
    path(CLAIM + "submit/", claim_submit, name="claim-submit"),
    path(CLAIM, claim_page, name="claim"),
]
