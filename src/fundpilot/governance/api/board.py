"""API of C17, mounted at /api/v1/pilots: board decisions (decide, list, read one
month's), their external payment statements, and restrictions (list, lift)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.governance import board
from fundpilot.governance.actions import board as actions
from fundpilot.governance.models import BoardDecision, ExternalStatement, Restriction, Settlement
from fundpilot.money.api.common import MonthIn, month_or_404, person_in, username_of
from fundpilot.money.ledger import parse_month
from fundpilot.participants.api_schemas import DecimalText
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error

router = Router(tags=["governance"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class RestrictionIn(Schema):
    description: str
    owner: str = Field(description="the follow-up owner's username")
    due: date


class DecisionIn(MonthIn):
    position: str = Field(description="supportable, provisional or restricted")
    decision_code: str
    review_date: date
    executive_owner: str = Field(description="username of the executive sponsor or board chair")
    residual_risk: str = Field(description="low, medium or high")
    next_checkpoint: date
    integrity_risks: str = Field(description="'none identified' is a note; blank is not")
    denominator_disputes: str
    definition_issues: str
    approved_amount: DecimalText = Field(description="at most the settlement's milestone amount")
    restrictions: list[RestrictionIn] = Field(
        default_factory=list, description="required for a restricted position"
    )


class StatementIn(Schema):
    audience: str
    position: str = Field(description="no more permissive than the board's position")
    amount: DecimalText = Field(description="no more than the approved amount")
    text: str


class ClosureIn(Schema):
    note: str


class RestrictionOut(Schema):
    id: int
    month: str
    description: str
    owner: str
    due: date
    status: str = Field(description="open or lifted")
    closed_by: str | None
    closed_at: datetime | None
    closing_note: str


class StatementOut(Schema):
    id: int
    audience: str
    position: str
    amount: Decimal
    text: str
    made_by: str
    made_at: datetime


class DecisionOut(Schema):
    month: str
    settlement_sha256: str
    position: str
    decision_code: str
    review_date: date
    executive_owner: str
    residual_risk: str
    next_checkpoint: date
    integrity_risks: str
    denominator_disputes: str
    definition_issues: str
    unresolved_questions: int
    approved_amount: Decimal
    decided_by: str
    decided_at: datetime
    rulebook_version: int
    restrictions: list[RestrictionOut]
    statements: list[StatementOut]


def _restriction_out(r: Restriction) -> dict[str, Any]:
    return {
        "id": r.pk,
        "month": f"{r.decision.settlement.month:%Y-%m}",
        **{f: getattr(r, f) for f in ("description", "due", "closed_at", "closing_note")},
        "owner": r.owner.username,
        "status": "open" if r.closed_at is None else "lifted",
        "closed_by": username_of(r.closed_by),
    }


def _statement_out(s: ExternalStatement) -> dict[str, Any]:
    return {
        "id": s.pk,
        **{f: getattr(s, f) for f in ("audience", "position", "amount", "text", "made_at")},
        "made_by": s.made_by.username,
    }


def _decision_out(d: BoardDecision) -> dict[str, Any]:
    fields = (
        "position",
        "decision_code",
        "review_date",
        "residual_risk",
        "next_checkpoint",
        "integrity_risks",
        "denominator_disputes",
        "definition_issues",
        "unresolved_questions",
        "approved_amount",
        "decided_at",
        "rulebook_version",
    )
    return {
        "month": f"{d.settlement.month:%Y-%m}",
        "settlement_sha256": d.settlement.figures_sha256,
        **{f: getattr(d, f) for f in fields},
        "executive_owner": d.executive_owner.username,
        "decided_by": d.decided_by.username,
        "restrictions": [
            _restriction_out(r)
            for r in d.restrictions.select_related(
                "owner", "closed_by", "decision__settlement"
            ).order_by("pk")
        ],
        "statements": [
            _statement_out(s) for s in d.statements.select_related("made_by").order_by("pk")
        ],
    }


def _decision(request: HttpRequest, pilot: str, month: str, perm: str) -> BoardDecision:
    p, _ = pilot_for(request.auth, pilot, perm)
    found = board.decision_for(p, month_or_404(month))
    if found is None:
        raise Http404(f"the board has not decided on {month}")
    return found


@router.get(
    "/{pilot}/board-decisions",
    response={200: list[DecisionOut], **E},
    summary="Board decisions, latest month first",
)
@permission("board.view")
def list_decisions(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "board.view")
    return [_decision_out(d) for d in board.decisions(p)[:120]]


@router.post(
    "/{pilot}/board-decisions",
    response={201: DecisionOut, **E},
    summary="The board chair's position on a finalised, reviewed settlement",
)
@permission("board.decide")
def decide(request: HttpRequest, pilot: str, body: DecisionIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "board.decide")
    settlement = Settlement.objects.filter(pilot=p, month=parse_month(body.month)).first()
    if settlement is None:
        raise Http404(f"no settlement file for {body.month}")
    made = actions.decide(
        settlement=settlement,
        position=body.position,
        decision_code=body.decision_code,
        review_date=body.review_date,
        executive_owner=person_in(p, body.executive_owner),
        residual_risk=body.residual_risk,
        next_checkpoint=body.next_checkpoint,
        integrity_risks=body.integrity_risks,
        denominator_disputes=body.denominator_disputes,
        definition_issues=body.definition_issues,
        approved_amount=body.approved_amount,
        restrictions=[(r.description, person_in(p, r.owner), r.due) for r in body.restrictions],
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, _decision_out(made))


@router.get(
    "/{pilot}/board-decisions/{month}",
    response={200: DecisionOut, **E},
    summary="The board's decision on one month's settlement",
)
@permission("board.view")
def get_decision(request: HttpRequest, pilot: str, month: str) -> dict[str, Any]:
    return _decision_out(_decision(request, pilot, month, "board.view"))


@router.post(
    "/{pilot}/board-decisions/{month}/statements",
    response={201: StatementOut, **E},
    summary="Record an external payment statement; refused if it exceeds the approved position",
)
@permission("statement.record")
def record_statement(
    request: HttpRequest, pilot: str, month: str, body: StatementIn
) -> Status[dict[str, Any]]:
    found = _decision(request, pilot, month, "statement.record")
    made = actions.record_external_statement(
        decision=found, by=request.auth, at=timezone.now(), **body.dict()
    )
    return Status(201, _statement_out(made))


@router.get(
    "/{pilot}/restrictions",
    response={200: list[RestrictionOut], **E},
    summary="Restrictions of board decisions with their follow-up owners (status: open|lifted)",
)
@permission("board.view")
def list_restrictions(
    request: HttpRequest, pilot: str, status: str | None = None
) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "board.view")
    rows = Restriction.objects.filter(decision__pilot=p).select_related(
        "owner", "closed_by", "decision__settlement"
    )
    if status:
        rows = rows.filter(closed_at__isnull=status == "open")
    return [_restriction_out(r) for r in rows.order_by("due", "pk")[:500]]


@router.post(
    "/{pilot}/restrictions/{restriction_id}/closure",
    response={200: RestrictionOut, **E},
    summary="Lift a restriction (board chair), saying why",
)
@permission("restriction.close")
def close_restriction(
    request: HttpRequest, pilot: str, restriction_id: int, body: ClosureIn
) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "restriction.close")
    found = (
        Restriction.objects.filter(decision__pilot=p, pk=restriction_id)
        .select_related("decision__pilot", "decision__settlement", "owner")
        .first()
    )
    if found is None:
        raise Http404(f"no restriction {restriction_id} in {p.slug}")
    done = actions.close_restriction(
        restriction=found, note=body.note, by=request.auth, at=timezone.now()
    )
    return _restriction_out(done)
