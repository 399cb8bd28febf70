"""Participant lifecycle pages: work queue, participants, one page per step, imports,
breaches. Thin: ask the policy, call one action or query, render.

Every step page shows its control's fields; a refused action re-renders the form
with the reason on the field it is about, and nothing is written.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from fundpilot.participants import forms, imports, queries
from fundpilot.participants.actions import care, intake
from fundpilot.participants.actions.referrals import decline_referral
from fundpilot.participants.models import Barrier, EngagementEvent, Participant, Referral
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused

GET_POST = require_http_methods(["GET", "POST"])
PER_PAGE = 50


@dataclass(frozen=True)
class Step:
    """One lifecycle step: its control, title, form, the action it calls, who does it."""

    control: str
    title: str
    perm: str
    form: type[forms.StepForm]
    act: Callable[..., Any]  # (cleaned_data, by=, at=) -> the recorded decision
    explain: str = ""


def _participant(request: HttpRequest, pilot: Pilot, participant_id: str) -> Participant:
    """The participant, if this person may see them: 404 if none, 403 if another provider's."""
    rows = Participant.objects.filter(pilot=pilot, participant_id=participant_id)
    participant = rows.select_related("provider", "referral", "lead", "pilot").first()
    if participant is None:
        raise Http404(f"no participant '{participant_id}'")
    if not policy.participants_scope(request.user, pilot, rows).exists():
        raise NotPermitted(
            "other_organisation", "this participant belongs to another provider organisation"
        )
    return participant


def _referral(request: HttpRequest, pilot: Pilot, reference: str) -> Referral:
    rows = Referral.objects.filter(pilot=pilot, reference=reference)
    referral = rows.select_related("provider", "pilot").first()
    if referral is None:
        raise Http404(f"no referral '{reference}'")
    if not policy.participants_scope(request.user, pilot, rows).exists():
        raise NotPermitted(
            "other_organisation", "this referral belongs to another provider organisation"
        )
    return referral


def _today(pilot: Pilot) -> Any:
    return pilot.calendar.local_date(timezone.now())


def _context(request: HttpRequest, pilot: Pilot, section: str) -> dict[str, Any]:
    return pilot_context(request, pilot, section) | {"today": _today(pilot)}


def participant_url(pilot: Pilot, participant_id: str) -> str:
    return reverse(
        "participants:participant", kwargs={"pilot": pilot.slug, "participant_id": participant_id}
    )


def _run_step(
    request: HttpRequest,
    pilot: Pilot,
    step: Step,
    *,
    participant: Participant | None = None,
    referral: Referral | None = None,
    initial: dict[str, Any] | None = None,
    done: Callable[[Any], str] | None = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """GET: the empty form. POST: call the action; on success go on, on refusal say why."""
    kwargs = {
        "pilot": pilot,
        "user": request.user,
        "participant": participant,
        "referral": referral,
    }
    if request.method == "POST":
        form = step.form(request.POST, request.FILES, **kwargs)
        if form.is_valid():
            try:
                result = step.act(
                    form.cleaned_data,
                    pilot=pilot,
                    participant=participant,
                    referral=referral,
                    by=request.user,
                    at=timezone.now(),
                )
            except Refused as exc:
                form.refused(exc)
            else:
                messages.success(request, f"{step.title}: recorded.")
                if done is not None:
                    return redirect(done(result))
                assert participant is not None
                return redirect(participant_url(pilot, participant.participant_id))
    else:
        form = step.form(initial=initial or {}, **kwargs)
    form.mark_errors()
    context = _context(request, pilot, "participants") | {
        "step": step,
        "form": form,
        "participant": participant,
        "referral": referral,
    }
    return render(request, "participants/step.html", context | (extra or {}))


# --- the steps ----------------------------------------------------------------------

RECEIVE = Step(
    "C1",
    "Receive a referral",
    "referral.receive",
    forms.ReferralForm,
    lambda cd, *, pilot, by, at, **_: intake.receive_referral(pilot=pilot, **cd, by=by, at=at),
    "No wrong door: a referral from any source is received and answered with a coded"
    " decision. Its eligibility file falls due in the pilot's business days.",
)
ASSESS = Step(
    "C1",
    "Record an assessment",
    "assessment.record",
    forms.AssessmentForm,
    lambda cd, *, pilot, by, at, **_: intake.record_assessment(pilot=pilot, **cd, by=by, at=at),
    "An assessment on a tool version the rulebook does not approve is recorded, but cannot"
    " support an eligibility file.",
)
FILE = Step(
    "C1",
    "Eligibility file",
    "eligibility.file",
    forms.EligibilityFileForm,
    lambda cd, *, referral, by, at, **_: intake.file_eligibility(
        referral=referral, **cd, by=by, at=at
    ),
    "Checked against the referral, the payer register as loaded and the signed baseline"
    " assessment. Only then is the referral pilot-eligible.",
)
DECLINE = Step(
    "C2",
    "Decline the referral",
    "activation.decide",
    forms.DeclineForm,
    lambda cd, *, referral, by, at, **_: decline_referral(referral=referral, **cd, by=by, at=at),
    "No wrong door: a referral that cannot become pilot-eligible (payer not active, an"
    " unapproved tool, a score out of range, an exclusion) is answered with a coded reason.",
)
ACTIVATE = Step(
    "C2",
    "Activation decision",
    "activation.decide",
    forms.ActivationForm,
    lambda cd, *, participant, by, at, **_: intake.decide_activation(
        participant=participant, **cd, by=by, at=at
    ),
    "Activated participants join the locked roster. A pending clarification needs an owner"
    " and a due date; a rejection needs a coded reason.",
)
COMPLIANCE = Step(
    "C2",
    "Compliance review of the activation",
    "compliance.review",
    forms.ComplianceReviewForm,
    lambda cd, *, participant, by, at, **_: intake.review_compliance(
        participant=participant, **cd, by=by, at=at
    ),
    "Compliance and payer relations review the register before milestone planning begins.",
)
REMOVE = Step(
    "C2",
    "Remove from the activation roster",
    "roster.remove",
    forms.RemovalForm,
    lambda cd, *, participant, by, at, **_: intake.remove_from_roster(
        participant=participant, **cd, by=by, at=at
    ),
    "Removal from the locked roster is its own coded, audited decision.",
)
REQUEST_LEVEL = Step(
    "C3",
    "Service level request",
    "service_level.request",
    forms.ServiceLevelRequestForm,
    lambda cd, *, participant, by, at, **_: care.request_service_level(
        participant=participant, **cd, by=by, at=at
    ),
    "An initial level from the standardised assessment, or an upgrade citing the objective"
    " triggers the current level lists.",
)
DECIDE_LEVEL = Step(
    "C3",
    "Service level decision",
    "service_level.decide",
    forms.ServiceLevelDecisionForm,
    lambda cd, *, by, at, **_: care.decide_service_level(**cd, by=by, at=at),
    "The clinical lead approves with a rationale and an expected duration, or refuses with"
    " a rationale. Both go to the authorisation register.",
)
PATHWAY = Step(
    "C4",
    "Pathway release",
    "pathway.release",
    forms.PathwayForm,
    lambda cd, *, participant, by, at, **_: care.release_pathway(
        participant=participant, **cd, by=by, at=at
    ),
    "The lead must hold the role and have caseload capacity; the stage must match the"
    " baseline score and the barrier category the screening record. The lead, supervisors"
    " and quality reviewers are notified.",
)
ACTIVITY = Step(
    "C5",
    "Record an activity",
    "activity.record",
    forms.ActivityForm,
    lambda cd, *, participant, by, at, **_: care.record_activity(
        participant=participant, **cd, by=by, at=at
    ),
    "Baseline-package work is recorded and visible, never billable; an episode is billable"
    " only under its criteria.",
)
OPEN_BARRIER = Step(
    "C5",
    "Open a barrier",
    "barrier.manage",
    forms.BarrierForm,
    lambda cd, *, participant, by, at, **_: care.open_barrier(
        participant=participant, **cd, by=by, at=at
    ),
    "A barrier has an owner and stays visible until it is resolved.",
)
RESOLVE_BARRIER = Step(
    "C5",
    "Resolve a barrier",
    "barrier.manage",
    forms.ResolveBarrierForm,
    lambda cd, *, by, at, **_: care.resolve_barrier(**cd, by=by, at=at),
)
REVIEW = Step(
    "C6",
    "Progression review",
    "progression.review",
    forms.ReviewForm,
    lambda cd, *, participant, by, at, **_: care.review_progression(
        participant=participant, **cd, by=by, at=at
    ),
    "Every 14 days: progressed, stalled (with a coded reason) or escalated (with an owner,"
    " the threshold crossed and a dated next checkpoint).",
)


def _engage(
    cd: dict[str, Any], *, participant: Participant, by: User, at: datetime, **_: Any
) -> Any:
    record = (
        care.record_disengagement
        if cd["kind"] == EngagementEvent.DISENGAGED
        else care.record_reengagement
    )
    return record(participant=participant, reason=cd["reason"], by=by, at=at)


ENGAGEMENT = Step(
    "",
    "Disengagement or re-engagement",
    "engagement.record",
    forms.EngagementForm,
    _engage,
    "Relapse and re-engagement are kept in the history; work continues.",
)


def _undecided(p: Participant, rb: Any) -> bool:
    return p.status in (Participant.ELIGIBLE, Participant.PENDING)


def _on_roster(p: Participant, rb: Any) -> bool:
    return p.status == Participant.ACTIVATED


def _levels(p: Participant, rb: Any) -> bool:
    return _on_roster(p, rb) and bool(rb.service_levels)


def _no_pathway(p: Participant, rb: Any) -> bool:
    return _on_roster(p, rb) and bool(rb.milestone_stages) and not p.pathways.exists()


# Steps offered on a participant's page: (step, URL name, whether it applies now).
PARTICIPANT_STEPS = [
    (ACTIVATE, "activation", _undecided),
    (COMPLIANCE, "compliance", _on_roster),
    (REQUEST_LEVEL, "service-level-request", _levels),
    (DECIDE_LEVEL, "service-level-decision", _levels),
    (PATHWAY, "pathway", _no_pathway),
    (ACTIVITY, "activity", _on_roster),
    (OPEN_BARRIER, "barriers", _on_roster),
    (REVIEW, "review", _on_roster),
    (ENGAGEMENT, "engagement", _on_roster),
    (REMOVE, "removal", _on_roster),
]


@GET_POST
@page("referral.receive")
def receive_referral(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    return _run_step(
        request,
        pilot,
        RECEIVE,
        initial={"referred_at": timezone.now()},
        done=lambda referral: reverse(
            "participants:eligibility",
            kwargs={"pilot": pilot.slug, "reference": referral.reference},
        ),
    )


@GET_POST
@page("assessment.record")
def record_assessment(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    def done(assessment: Any) -> str:
        referral = (
            queries.referrals_for(request.user, pilot)
            .filter(participant_id=assessment.participant_id, eligibility_file__isnull=True)
            .first()
        )
        if referral is not None and policy.allowed(request.user, "eligibility.file", pilot):
            return reverse(
                "participants:eligibility",
                kwargs={"pilot": pilot.slug, "reference": referral.reference},
            )
        if Participant.objects.filter(
            pilot=pilot, participant_id=assessment.participant_id
        ).exists():
            return participant_url(pilot, assessment.participant_id)
        return reverse("participants:list", kwargs={"pilot": pilot.slug})

    initial = {
        "participant_id": request.GET.get("participant", ""),
        "signed_at": timezone.now(),
        "kind": request.GET.get("kind", "baseline"),
    }
    return _run_step(request, pilot, ASSESS, initial=initial, done=done)


@GET_POST
@page("eligibility.file")
def file_eligibility(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    referral = _referral(request, pilot, reference)

    def done(file: Any) -> str:
        if file.exclusion_code:
            return reverse("participants:list", kwargs={"pilot": pilot.slug})
        return participant_url(pilot, file.participant_id)

    initial = {
        "participant_id": referral.participant_id,
        "service_category": referral.service_category,
        "proposed_start": _today(pilot),
    }
    return _run_step(request, pilot, FILE, referral=referral, initial=initial, done=done)


@GET_POST
@page("activation.decide")
def decline(request: HttpRequest, pilot: Pilot, reference: str) -> HttpResponse:
    referral = _referral(request, pilot, reference)
    done = lambda _: reverse("participants:list", kwargs={"pilot": pilot.slug})  # noqa: E731
    return _run_step(request, pilot, DECLINE, referral=referral, done=done)


def _participant_step(step: Step, initial: Callable[[Pilot, Participant], dict[str, Any]]) -> Any:
    """A view for a step on one participant, guarded by the step's permission."""

    @GET_POST
    @page(step.perm)
    def view(request: HttpRequest, pilot: Pilot, participant_id: str) -> HttpResponse:
        participant = _participant(request, pilot, participant_id)
        return _run_step(
            request, pilot, step, participant=participant, initial=initial(pilot, participant)
        )

    view.__name__ = view.__qualname__ = f"step_{step.perm.replace('.', '_')}"
    return view


def _dates(*names: str) -> Callable[[Pilot, Participant], dict[str, Any]]:
    return lambda pilot, participant: dict.fromkeys(names, _today(pilot))


decide_activation = _participant_step(ACTIVATE, _dates("review_date"))
review_compliance = _participant_step(COMPLIANCE, _dates())
remove_from_roster = _participant_step(REMOVE, _dates())
request_service_level = _participant_step(REQUEST_LEVEL, _dates())
decide_service_level = _participant_step(DECIDE_LEVEL, _dates())
release_pathway = _participant_step(PATHWAY, _dates())
record_activity = _participant_step(
    ACTIVITY, lambda pilot, participant: {"occurred_at": timezone.now()}
)
review_progression = _participant_step(REVIEW, _dates("review_date"))
record_engagement = _participant_step(
    ENGAGEMENT,
    lambda pilot, participant: {
        "kind": EngagementEvent.DISENGAGED if participant.engaged else EngagementEvent.REENGAGED
    },
)


@GET_POST
@page("barrier.manage")
def barriers(request: HttpRequest, pilot: Pilot, participant_id: str) -> HttpResponse:
    """The participant's barrier tracker: open barriers, and the form to open one."""
    participant = _participant(request, pilot, participant_id)
    open_barriers = (
        Barrier.objects.filter(participant=participant, resolved_at__isnull=True)
        .select_related("owner")
        .order_by("opened_at", "pk")
    )
    return _run_step(
        request,
        pilot,
        OPEN_BARRIER,
        participant=participant,
        done=lambda barrier: request.path,
        extra={"open_barriers": open_barriers, "show_barriers": True},
    )


@GET_POST
@page("barrier.manage")
def resolve_barrier(request: HttpRequest, pilot: Pilot, participant_id: str) -> HttpResponse:
    participant = _participant(request, pilot, participant_id)
    initial = {"barrier": request.GET.get("barrier")}
    return _run_step(
        request,
        pilot,
        RESOLVE_BARRIER,
        participant=participant,
        initial=initial,
        done=lambda barrier: reverse("participants:barriers", args=[pilot.slug, participant_id]),
    )


# --- reading ------------------------------------------------------------------------


@require_GET
@page("queue.view")
def work_queue(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    queue = queries.work_queue(request.user, pilot, today=_today(pilot))
    context = _context(request, pilot, "queue") | {"queue": queue}
    return render(request, "participants/queue.html", context)


@require_GET
@page("participant.view")
def participant_list(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    status = request.GET.get("status", "")
    rows = queries.participants_for(request.user, pilot)
    if status in dict(Participant.STATUSES):
        rows = rows.filter(status=status)
    participants = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    waiting = queries.referrals_for(request.user, pilot).filter(
        eligibility_file__isnull=True, decline__isnull=True
    )
    context = _context(request, pilot, "participants") | {
        "participants": participants,
        "status": status,
        "statuses": [s for s, _ in Participant.STATUSES],
        "referrals": waiting[:PER_PAGE],
        "referral_count": waiting.count(),
        "may_receive": policy.allowed(request.user, "referral.receive", pilot),
        "may_assess": policy.allowed(request.user, "assessment.record", pilot),
        "may_file": policy.allowed(request.user, "eligibility.file", pilot),
        "may_decline": policy.allowed(request.user, "activation.decide", pilot),
        "may_import_register": policy.allowed(request.user, "eligibility.import", pilot),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "participants/participant_rows.html", context)
    return render(request, "participants/participants.html", context)


@require_GET
@page("participant.view")
def participant_page(request: HttpRequest, pilot: Pilot, participant_id: str) -> HttpResponse:
    participant = _participant(request, pilot, participant_id)
    rulebook = pilot.rulebook
    steps = [
        {"step": step, "url": reverse(f"participants:{name}", args=[pilot.slug, participant_id])}
        for step, name, applies in PARTICIPANT_STEPS
        if policy.allowed(request.user, step.perm, pilot) and applies(participant, rulebook)
    ]
    context = _context(request, pilot, "participants") | {
        "participant": participant,
        "timeline": queries.timeline(participant),
        "steps": steps,
        "activation": participant.activations.select_related("clarification_owner")
        .order_by("-pk")
        .first(),
        "open_barriers": Barrier.objects.filter(participant=participant, resolved_at__isnull=True)
        .select_related("owner")
        .order_by("opened_at", "pk"),
    }
    return render(request, "participants/participant.html", context)


@require_GET
@page("breaches.view")
def breach_report(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    month = request.GET.get("month") or _today(pilot).strftime("%Y-%m")
    try:
        rows = queries.breach_report(pilot, month=month, user=request.user)
        error = None
    except Refused as exc:
        rows, error = [], exc
    controls: dict[tuple[str, str], list[queries.BreachRow]] = {}
    for row in rows:
        controls.setdefault((row.control, row.what), []).append(row)
    context = _context(request, pilot, "breaches") | {
        "month": month,
        "controls": [{"control": c, "what": w, "rows": r} for (c, w), r in controls.items()],
        "error": error,
    }
    return render(request, "participants/breaches.html", context, status=400 if error else 200)


# --- imports ------------------------------------------------------------------------


def _import(
    request: HttpRequest,
    pilot: Pilot,
    form_class: type[forms.StepForm],
    run: Callable[..., imports.ImportResult],
    title: str,
) -> HttpResponse:
    form = form_class(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        pilot=pilot,
        user=request.user,
    )
    result = problems = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data.pop("file")
        try:
            result = run(
                pilot=pilot,
                filename=upload.name,
                content=upload.read(),
                by=request.user,
                at=timezone.now(),
                **form.cleaned_data,
            )
        except imports.ImportRefused as exc:
            form.refused(exc)
            problems = exc.problems
        except Refused as exc:
            form.refused(exc)
    form.mark_errors()
    context = _context(request, pilot, "participants") | {
        "form": form,
        "title": title,
        "result": result,
        "problems": problems,
    }
    return render(request, "participants/import.html", context)


@GET_POST
@page("eligibility.import")
def import_eligibility(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    return _import(
        request,
        pilot,
        forms.EligibilityImportForm,
        imports.import_eligibility,
        "Import a payer eligibility register",
    )


@GET_POST
@page("referral.receive")
def import_referrals(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    return _import(
        request, pilot, forms.ReferralImportForm, imports.import_referrals, "Import referrals"
    )
