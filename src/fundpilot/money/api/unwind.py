"""API of the C20 exit, mounted at /api/v1/pilots: compute the unwind as of a date (a
dry run), propose it, read the proposals, approve one (which posts it). Amounts are
strings; a payer representative sees only its own payer's figures (no pool totals).
"""

from datetime import date, datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.money import unwind
from fundpilot.money.actions import unwind as exit_actions
from fundpilot.money.api.common import username_of
from fundpilot.money.models import ExitPlan
from fundpilot.pilots import policy
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot

router = Router(tags=["money"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class ObligationOut(Schema):
    basis: str
    kind: str = Field(description="spend | claim | payable")
    provider: str
    payer: str
    use: str
    amount: str


class FundOut(Schema):
    payer: str
    use: str
    available: str
    obligations: str
    reserved: str
    shortfall: str = Field(description="obligations beyond what the fund holds")
    remaining: str


class PayerOut(Schema):
    payer: str
    contribution: str
    available: str
    reserved: str
    remaining: str
    returned: str


class TotalsOut(Schema):
    obligations: str
    available: str
    reserved: str
    shortfall: str
    returned: str


class FiguresOut(Schema):
    as_of: date
    rule: str
    obligations: list[ObligationOut]
    funds: list[FundOut]
    payers: list[PayerOut]
    totals: TotalsOut | None = Field(description="pool totals (not shown to a payer)")


class PlanOut(Schema):
    id: int
    as_of: date
    status: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_right: str
    rulebook_version: int
    figures: FiguresOut


class ProposeIn(Schema):
    as_of: date = Field(description="the day the pilot stops (not after today)")


def plan_out(plan: ExitPlan, user: Any) -> dict[str, Any]:
    return {
        "id": plan.pk,
        "as_of": plan.as_of,
        "status": plan.status,
        "proposed_by": plan.proposed_by.username,
        "proposed_at": plan.proposed_at,
        "decided_by": username_of(plan.decided_by),
        "decided_at": plan.decided_at,
        "decision_right": plan.decision_right,
        "rulebook_version": plan.rulebook_version,
        "figures": unwind.scoped(plan.figures, policy.payer_scope(user, plan.pilot)),
    }


def _plan(p: Pilot, plan: int) -> ExitPlan:
    found = (
        ExitPlan.objects.filter(pilot=p, pk=plan)
        .select_related("pilot", "proposed_by", "decided_by")
        .first()
    )
    if found is None:
        raise Http404(f"no exit plan {plan}")
    return found


@router.get(
    "/{pilot}/exit/preview",
    response={200: FiguresOut, **E},
    summary="C20 dry run: the unwind as of a date (default today); records nothing",
)
@permission("exit.propose")
def preview_exit(request: HttpRequest, pilot: str, as_of: date | None = None) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "exit.propose")
    day = as_of or p.calendar.local_date(timezone.now())
    return exit_actions.preview_exit(pilot=p, as_of=day, by=request.auth, at=timezone.now())


@router.get(
    "/{pilot}/exit-plans",
    response={200: list[PlanOut], **E},
    summary="C20 exit proposals, newest first",
)
@permission("fund.view")
def list_plans(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "fund.view")
    rows = (
        ExitPlan.objects.filter(pilot=p)
        .select_related("pilot", "proposed_by", "decided_by")
        .order_by("-proposed_at", "-pk")
    )
    return [plan_out(plan, request.auth) for plan in rows]


@router.get(
    "/{pilot}/exit-plans/{plan}",
    response={200: PlanOut, **E},
    summary="One C20 exit proposal and its figures",
)
@permission("fund.view")
def get_plan(request: HttpRequest, pilot: str, plan: int) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "fund.view")
    return plan_out(_plan(p, plan), request.auth)


@router.post(
    "/{pilot}/exit-plans",
    response={201: PlanOut, **E},
    summary="C20: propose the unwind as of a date (finance)",
)
@permission("exit.propose")
def propose_exit(request: HttpRequest, pilot: str, body: ProposeIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "exit.propose")
    made = exit_actions.propose_exit(pilot=p, as_of=body.as_of, by=request.auth, at=timezone.now())
    return Status(201, plan_out(made, request.auth))


@router.post(
    "/{pilot}/exit-plans/{plan}/approve",
    response={200: PlanOut, **E},
    summary="C20: approve a proposed exit and post it (refused if the books moved)",
)
@permission("exit.approve")
def approve_exit(request: HttpRequest, pilot: str, plan: int) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "exit.approve")
    done = exit_actions.approve_exit(plan=_plan(p, plan), by=request.auth, at=timezone.now())
    return Status(200, plan_out(done, request.auth))
