"""C16 pages, under /pilots/<pilot>/governance/: the settlement files month by month
(status, due date, overdue), one month's file with every figure and the records behind
it, its reviews and recompute check, the forms (prepare, document the reconciliation,
finalise, review), and the methodology questions (raise, resolve).

People who may read participants or claims see the records behind each figure, linked;
everyone else who may read the file (the board, payers) sees the figures and counts.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from fundpilot.governance import settlement as figures
from fundpilot.governance.actions import settlement as actions
from fundpilot.governance.models import MethodologyQuestion, Settlement
from fundpilot.money.api.common import month_or_404
from fundpilot.money.ledger import parse_month
from fundpilot.money.views.common import GET_POST, MonthForm, form_page
from fundpilot.participants.forms import TEXT
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot

PERMS = (
    "settlement.prepare",
    "settlement.review",
    "methodology.raise",
    "methodology.resolve",
    "participant.view",
    "claim.view",
)


def _context(request: HttpRequest, pilot: Pilot, **extra: Any) -> dict[str, Any]:
    user = request.user
    return (
        pilot_context(request, pilot, "governance")
        | {"today": pilot.calendar.local_date(timezone.now())}
        | {f"may_{p.replace('.', '_')}": policy.allowed(user, p, pilot) for p in PERMS}
        | extra
    )


def _settlement(pilot: Pilot, month: str) -> Settlement:
    found = (
        Settlement.objects.filter(pilot=pilot, month=month_or_404(month))
        .select_related("pilot", "prepared_by", "finalised_by")
        .first()
    )
    if found is None:
        raise Http404(f"no settlement file for {month}")
    return found


BACK = ("governance:settlements", "Settlement files")


@require_GET
@page("settlement.view")
def settlements(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Every ended month of the pilot period: its file's status, due date, overdue."""
    today = pilot.calendar.local_date(timezone.now())
    stored = {s.month: s for s in Settlement.objects.filter(pilot=pilot)}
    rows = [
        {
            "month": month,
            "settlement": stored.get(month),
            "due": figures.due_on(pilot, month),
            "overdue": figures.is_overdue(stored.get(month), pilot, month, today),
        }
        for month in figures.months_to_settle(pilot, today)
    ]
    ctx = _context(
        request,
        pilot,
        rows=rows,
        method=pilot.rulebook.settlement,
        open_questions=MethodologyQuestion.objects.filter(
            pilot=pilot, resolved_at__isnull=True
        ).count(),
    )
    return render(request, "governance/settlement/list.html", ctx)


@GET_POST
@page("settlement.prepare")
def settlement_prepare(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    def act(data: dict[str, Any]) -> str:
        month = parse_month(data["month"])
        actions.prepare_settlement(pilot=pilot, month=month, by=request.user, at=timezone.now())
        messages.success(request, f"The {month:%Y-%m} settlement file is drafted.")
        return figures.month_page(pilot, month)

    return form_page(
        request,
        pilot,
        MonthForm,
        act,
        section="governance",
        control="C16",
        title="Prepare a settlement file",
        back=BACK,
        intro="The figures are computed from the records up to now (the cut-off). Preparing"
        " a draft again refreshes its figures; a finalised month is not recomputed.",
    )


@require_GET
@page("settlement.view")
def settlement_month(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    found = _settlement(pilot, month)
    today = pilot.calendar.local_date(timezone.now())
    finalised = found.status == Settlement.FINALISED
    check = figures.recompute_check(found) if finalised and request.GET.get("check") else None
    ctx = _context(
        request,
        pilot,
        settlement=found,
        f=found.figures,
        trace=found.figures["trace"],
        due=figures.due_on(pilot, found.month),
        overdue=figures.is_overdue(found, pilot, found.month, today),
        reviews=found.reviews.select_related("reviewed_by").order_by("reviewed_at", "pk"),
        missing=[r.label for r in actions.reviews_missing(found)],
        check=check,
        questions=MethodologyQuestion.objects.filter(
            pk__in=found.figures["trace"]["unresolved_questions"]
        ).order_by("pk"),
    )
    return render(request, "governance/settlement/month.html", ctx)


class NoteForm(forms.Form):
    note = forms.CharField(widget=TEXT)


@GET_POST
@page("settlement.prepare")
def settlement_reconciliation(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    found = _settlement(pilot, month)

    def act(data: dict[str, Any]) -> str:
        actions.document_reconciliation(
            settlement=found, note=data["note"], by=request.user, at=timezone.now()
        )
        messages.success(request, "The reconciliation is documented.")
        return figures.month_page(pilot, found.month)

    return form_page(
        request,
        pilot,
        NoteForm,
        act,
        section="governance",
        control="C16",
        title=f"Reconciliation of {found.month:%Y-%m}",
        back=BACK,
        intro="How the milestone reporting reconciles with the reassessment integrity log"
        " for this month. The file cannot be finalised without it.",
    )


class FinaliseForm(forms.Form):
    confirm = forms.BooleanField(
        label="The figures are validated: finalise the file",
        help_text="The activated count must be the locked roster, the figures must recompute"
        " at the cut-off, and reassessment completion must reflect the live log.",
    )


@GET_POST
@page("settlement.prepare")
def settlement_finalise(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    found = _settlement(pilot, month)

    def act(_: dict[str, Any]) -> str:
        actions.finalise_settlement(settlement=found, by=request.user, at=timezone.now())
        messages.success(request, f"The {found.month:%Y-%m} settlement file is finalised.")
        return figures.month_page(pilot, found.month)

    return form_page(
        request,
        pilot,
        FinaliseForm,
        act,
        section="governance",
        control="C16",
        title=f"Finalise the settlement file of {found.month:%Y-%m}",
        back=BACK,
    )


class ReviewForm(NoteForm):
    role = forms.ChoiceField(
        required=False,
        choices=[("", "—")] + [(r.value, r.label) for r in sorted(policy.SETTLEMENT_REVIEWERS)],
        help_text="Only when you hold more than one reviewing role.",
    )


@GET_POST
@page("settlement.review")
def settlement_review(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    found = _settlement(pilot, month)

    def act(data: dict[str, Any]) -> str:
        actions.review_settlement(
            settlement=found,
            note=data["note"],
            role=data["role"] or None,
            by=request.user,
            at=timezone.now(),
        )
        messages.success(request, "Your review is recorded.")
        return figures.month_page(pilot, found.month)

    return form_page(
        request,
        pilot,
        ReviewForm,
        act,
        section="governance",
        control="C16",
        title=f"Review the settlement file of {found.month:%Y-%m}",
        back=BACK,
        intro="Finance, compliance and the executive sponsor each review the finalised file"
        " before it goes to the board.",
    )


# --- methodology questions ----------------------------------------------------------------

QUESTIONS = ("governance:methodology-questions", "Methodology questions")


@require_GET
@page("methodology.raise")
def methodology_questions(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    rows = MethodologyQuestion.objects.filter(pilot=pilot).select_related(
        "raised_by", "resolved_by"
    )
    ctx = _context(
        request, pilot, questions=rows.order_by(F("resolved_at").desc(nulls_first=True), "-pk")
    )
    return render(request, "governance/settlement/questions.html", ctx)


class QuestionForm(forms.Form):
    question = forms.CharField(widget=TEXT)
    milestone = forms.CharField(
        required=False, max_length=40, help_text="The milestone code it concerns, if one."
    )


@GET_POST
@page("methodology.raise")
def methodology_question_raise(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    def act(data: dict[str, Any]) -> str:
        actions.raise_methodology_question(
            pilot=pilot,
            question=data["question"],
            milestone=data["milestone"],
            by=request.user,
            at=timezone.now(),
        )
        messages.success(request, "The question is raised.")
        return reverse("governance:methodology-questions", kwargs={"pilot": pilot.slug})

    return form_page(
        request,
        pilot,
        QuestionForm,
        act,
        section="governance",
        control="C16",
        title="Raise a methodology question",
        back=QUESTIONS,
        intro="How a milestone or the denominator is counted. Open questions are counted in"
        " the settlement file and noted by the board.",
    )


class AnswerForm(forms.Form):
    answer = forms.CharField(widget=TEXT)


@GET_POST
@page("methodology.resolve")
def methodology_question_resolve(
    request: HttpRequest, pilot: Pilot, question_id: int
) -> HttpResponse:
    found = MethodologyQuestion.objects.filter(pilot=pilot, pk=question_id).first()
    if found is None:
        raise Http404(f"no methodology question {question_id}")

    def act(data: dict[str, Any]) -> str:
        actions.resolve_methodology_question(
            question=found, answer=data["answer"], by=request.user, at=timezone.now()
        )
        messages.success(request, "The question is resolved.")
        return reverse("governance:methodology-questions", kwargs={"pilot": pilot.slug})

    return form_page(
        request,
        pilot,
        AnswerForm,
        act,
        section="governance",
        control="C16",
        title=f"Resolve question {found.pk}",
        back=QUESTIONS,
        intro=found.question,
    )


ONE = "governance/settlements/<str:month>/"
urls: list[URLPattern] = [
    path("governance/settlements/", settlements, name="settlements"),
    path("governance/settlements/prepare/", settlement_prepare, name="settlement-prepare"),
    path(ONE, settlement_month, name="settlement"),
    path(ONE + "reconciliation/", settlement_reconciliation, name="settlement-reconciliation"),
    path(ONE + "finalise/", settlement_finalise, name="settlement-finalise"),
    path(ONE + "review/", settlement_review, name="settlement-review"),
    path("governance/methodology-questions/", methodology_questions, name="methodology-questions"),
    path(
        "governance/methodology-questions/new/",
        methodology_question_raise,
        name="methodology-question-raise",
    ),
    path(
        "governance/methodology-questions/<int:question_id>/resolve/",
        methodology_question_resolve,
        name="methodology-question-resolve",
    ),
]
