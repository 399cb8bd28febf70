"""C17 pages, under /pilots/<pilot>/governance/: the board's decisions (and the
settlements awaiting one), one decision with its restrictions and external statements,
the decision form (board chair), the statement form, and lifting a restriction.
"""

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from fundpilot.governance import board
from fundpilot.governance.actions import board as actions
from fundpilot.governance.models import BoardDecision, Restriction, Settlement
from fundpilot.money.api.common import month_or_404, person_in
from fundpilot.money.views.common import GET_POST, form_page
from fundpilot.participants.forms import DATE, TEXT
from fundpilot.pilots import policy
from fundpilot.pilots.access import page, pilot_context
from fundpilot.pilots.models import Pilot

BACK = ("governance:board-decisions", "Board decisions")
POSITIONS = [(p, p) for p in BoardDecision.POSITIONS]


def context(request: HttpRequest, pilot: Pilot, **extra: Any) -> dict[str, Any]:
    user = request.user
    return pilot_context(request, pilot, "governance") | {
        "today": pilot.calendar.local_date(timezone.now()),
        **{
            f"may_{perm.replace('.', '_')}": policy.allowed(user, perm, pilot)
            for perm in ("board.decide", "restriction.close", "statement.record")
        },
        **extra,
    }


def _settlement(pilot: Pilot, month: str) -> Settlement:
    found = Settlement.objects.filter(pilot=pilot, month=month_or_404(month)).first()
    if found is None:
        raise Http404(f"no settlement file for {month}")
    return found


def _decision(pilot: Pilot, month: str) -> BoardDecision:
    found = board.decision_for(pilot, month_or_404(month))
    if found is None:
        raise Http404(f"the board has not decided on {month}")
    return found


def _decision_url(pilot: Pilot, month: date) -> str:
    return reverse(
        "governance:board-decision", kwargs={"pilot": pilot.slug, "month": f"{month:%Y-%m}"}
    )


@require_GET
@page("board.view")
def board_decisions(request: HttpRequest, pilot: Pilot) -> HttpResponse:
    """Every decision, the finalised settlements awaiting one, the open restrictions."""
    ctx = context(
        request,
        pilot,
        decisions=board.decisions(pilot),
        awaiting=board.awaiting_decision(pilot).prefetch_related("reviews"),
        restrictions=board.open_restrictions(pilot),
    )
    return render(request, "governance/board/list.html", ctx)


@require_GET
@page("board.view")
def board_decision(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    found = _decision(pilot, month)
    ctx = context(
        request,
        pilot,
        decision=found,
        figures=found.settlement.figures,
        restrictions=found.restrictions.select_related("owner", "closed_by").order_by("due", "pk"),
        statements=found.statements.select_related("made_by").order_by("made_at", "pk"),
    )
    return render(request, "governance/board/decision.html", ctx)


class DecisionForm(forms.Form):
    position = forms.ChoiceField(choices=POSITIONS)
    decision_code = forms.CharField(max_length=40)
    approved_amount = forms.DecimalField(
        max_digits=16, decimal_places=2, help_text="At most the settlement's milestone amount."
    )
    review_date = forms.DateField(widget=DATE)
    next_checkpoint = forms.DateField(widget=DATE)
    executive_owner = forms.CharField(
        label="Executive owner (username)",
        max_length=150,
        help_text="The executive sponsor or the board chair.",
    )
    residual_risk = forms.ChoiceField(choices=[(r, r) for r in board.RESIDUAL_RISKS])
    integrity_risks = forms.CharField(
        label="Reassessment integrity risks",
        widget=TEXT,
        help_text="Write 'none identified' if there are none; blank is not a statement.",
    )
    denominator_disputes = forms.CharField(widget=TEXT)
    definition_issues = forms.CharField(label="Unresolved milestone definition issues", widget=TEXT)
    restrictions = forms.CharField(
        widget=TEXT,
        required=False,
        help_text="One per line: description | owner's username | due YYYY-MM-DD.",
    )


def _intro(settlement: Settlement) -> str:
    f = settlement.figures
    trigger = f["payment_trigger"]
    met = "met" if trigger["met"] else "not met"
    return (
        f"Settlement of {f['month']}: payment trigger {met} ({trigger['rule']});"
        f" milestone amount {f['milestone_amount']}; {f['unresolved_questions']} unresolved"
        " methodology questions. A supportable position needs the trigger met."
    )


@GET_POST
@page("board.decide")
def board_decide(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    settlement = _settlement(pilot, month)

    def act(data: dict[str, Any]) -> str:
        lines = [line for line in data["restrictions"].splitlines() if line.strip()]
        actions.decide(
            settlement=settlement,
            position=data["position"],
            decision_code=data["decision_code"],
            review_date=data["review_date"],
            executive_owner=person_in(pilot, data["executive_owner"]),
            residual_risk=data["residual_risk"],
            next_checkpoint=data["next_checkpoint"],
            integrity_risks=data["integrity_risks"],
            denominator_disputes=data["denominator_disputes"],
            definition_issues=data["definition_issues"],
            approved_amount=data["approved_amount"],
            restrictions=[board.parse_restriction(pilot, line) for line in lines],
            by=request.user,
            at=timezone.now(),
        )
        messages.success(request, f"The board's position on {month} is recorded.")
        return _decision_url(pilot, settlement.month)

    return form_page(
        request,
        pilot,
        DecisionForm,
        act,
        section="governance",
        title=f"Board decision on the {settlement.month:%Y-%m} settlement",
        control="C17",
        back=BACK,
        intro=_intro(settlement),
    )


class StatementForm(forms.Form):
    audience = forms.CharField(max_length=200)
    position = forms.ChoiceField(choices=POSITIONS)
    amount = forms.DecimalField(max_digits=16, decimal_places=2)
    text = forms.CharField(widget=TEXT)


@GET_POST
@page("statement.record")
def statement_record(request: HttpRequest, pilot: Pilot, month: str) -> HttpResponse:
    found = _decision(pilot, month)

    def act(data: dict[str, Any]) -> str:
        actions.record_external_statement(
            decision=found, by=request.user, at=timezone.now(), **data
        )
        messages.success(request, "The external statement is recorded.")
        return _decision_url(pilot, found.settlement.month)

    return form_page(
        request,
        pilot,
        StatementForm,
        act,
        section="governance",
        title=f"External payment statement on {found.settlement.month:%Y-%m}",
        control="C17",
        back=BACK,
        intro=f"The board's position: {found.position}, {found.approved_amount} approved."
        " A statement may say no more than that.",
    )


class CloseForm(forms.Form):
    note = forms.CharField(widget=TEXT, help_text="Why the restriction can be lifted.")


@GET_POST
@page("restriction.close")
def restriction_close(request: HttpRequest, pilot: Pilot, restriction_id: int) -> HttpResponse:
    found = (
        Restriction.objects.filter(decision__pilot=pilot, pk=restriction_id)
        .select_related("decision__pilot", "decision__settlement", "owner")
        .first()
    )
    if found is None:
        raise Http404(f"no restriction {restriction_id}")

    def act(data: dict[str, Any]) -> str:
        actions.close_restriction(
            restriction=found, note=data["note"], by=request.user, at=timezone.now()
        )
        messages.success(request, "The restriction is lifted.")
        return _decision_url(pilot, found.decision.settlement.month)

    return form_page(
        request,
        pilot,
        CloseForm,
        act,
        section="governance",
        title=f"Lift restriction {found.pk}: {found.description[:60]}",
        control="C17",
        back=BACK,
    )


urls: list[URLPattern] = [
    path("governance/board/", board_decisions, name="board-decisions"),
    path("governance/board/<str:month>/", board_decision, name="board-decision"),
    path("governance/board/<str:month>/decide/", board_decide, name="board-decide"),
    path("governance/board/<str:month>/statements/", statement_record, name="board-statement"),
    path(
        "governance/restrictions/<int:restriction_id>/close/",
        restriction_close,
        name="restriction-close",
    ),
]
