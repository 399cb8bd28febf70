"""API of C14, mounted at /api/v1/pilots: monthly reconciliations (run, list, read one
month), investigations (list, assign, resolve) and reallocations (list, propose,
approve, decline).

A month is "YYYY-MM". A payer representative sees only its own payer's figures,
investigations and reallocations; another payer's answers 404 like one that does not
exist. Amounts travel as decimal strings.
"""

from datetime import date, datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.money.actions import reconciliation as actions
from fundpilot.money.api.common import (
    AssignmentIn,
    MonthIn,
    month_or_404,
    person_in,
    username_of,
)
from fundpilot.money.ledger import parse_month
from fundpilot.money.models import Investigation, Reallocation, Reconciliation
from fundpilot.money.reconciliation import scoped, scoped_rows
from fundpilot.participants.api_schemas import DecimalText
from fundpilot.pilots import policy
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Pilot

router = Router(tags=["money"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class ReconciliationOut(Schema):
    month: str = Field(description="YYYY-MM")
    prepared_by: str
    prepared_at: datetime
    rulebook_version: int
    figures: dict[str, Any] = Field(
        description="per payer: contribution, spend by use, utilisation, outcomes, open"
        " disputes and the straight-line plan with the variance from it"
    )
    investigations: list[int]


class InvestigationOut(Schema):
    id: int
    month: str
    payer: str
    measure: str
    variance: dict[str, Any]
    owner: str | None
    due: date | None
    status: str
    resolution: str
    resolved_by: str | None
    resolved_at: datetime | None


class ResolutionIn(Schema):
    resolution: str


class ReallocationOut(Schema):
    id: int
    payer: str
    from_use: str
    to_use: str
    amount: str
    reason: str
    investigation: int | None
    status: str = Field(description="proposed, approved or declined")
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_right: str
    transaction: int | None = Field(description="the journal transaction's number")
    basis_key: str | None


class ReallocationIn(Schema):
    payer: str
    from_use: str
    to_use: str
    amount: DecimalText
    reason: str
    investigation: int | None = None


class DeclineIn(Schema):
    reason: str


def _scope(request: HttpRequest, pilot: Pilot) -> str | None:
    return policy.payer_scope(request.auth, pilot)


def _recon_out(recon: Reconciliation, scope: str | None) -> dict[str, Any]:
    investigations = scoped_rows(recon.investigations.order_by("pk"), scope)
    return {
        "month": f"{recon.month:%Y-%m}",
        "prepared_by": recon.prepared_by.username,
        "prepared_at": recon.prepared_at,
        "rulebook_version": recon.rulebook_version,
        "figures": scoped(recon.figures, scope),
        "investigations": list(investigations.values_list("pk", flat=True)),
    }


def _investigation_out(i: Investigation) -> dict[str, Any]:
    return {
        "id": i.pk,
        "month": f"{i.reconciliation.month:%Y-%m}",
        **{f: getattr(i, f) for f in ("payer", "measure", "variance", "due", "status")},
        "owner": username_of(i.owner),
        "resolution": i.resolution,
        "resolved_by": username_of(i.resolved_by),
        "resolved_at": i.resolved_at,
    }


def _realloc_out(r: Reallocation) -> dict[str, Any]:
    return {
        "id": r.pk,
        **{f: getattr(r, f) for f in ("payer", "from_use", "to_use", "reason", "status")},
        "amount": str(r.amount),
        "investigation": r.investigation_id,
        "proposed_by": r.proposed_by.username,
        "proposed_at": r.proposed_at,
        "decided_by": username_of(r.decided_by),
        "decided_at": r.decided_at,
        "decision_right": r.decision_right,
        "transaction": r.transaction.number if r.transaction else None,
        "basis_key": r.transaction.basis_key if r.transaction else None,
    }


@router.get(
    "/{pilot}/reconciliations",
    response={200: list[ReconciliationOut], **E},
    summary="Monthly reconciliations, latest first (a payer sees its own figures only)",
)
@permission("reconciliation.view")
def list_reconciliations(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "reconciliation.view")
    scope = _scope(request, p)
    rows = Reconciliation.objects.filter(pilot=p).select_related("prepared_by").order_by("-month")
    return [_recon_out(r, scope) for r in rows[:120]]


@router.post(
    "/{pilot}/reconciliations",
    response={201: ReconciliationOut, **E},
    summary="Reconcile a month: figures by payer; variances over threshold open investigations",
)
@permission("reconciliation.run")
def run_reconciliation(request: HttpRequest, pilot: str, body: MonthIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "reconciliation.run")
    made = actions.reconcile_month(
        pilot=p, month=parse_month(body.month), by=request.auth, at=timezone.now()
    )
    return Status(201, _recon_out(made, None))


@router.get(
    "/{pilot}/reconciliations/{month}",
    response={200: ReconciliationOut, **E},
    summary="One month's reconciliation",
)
@permission("reconciliation.view")
def get_reconciliation(request: HttpRequest, pilot: str, month: str) -> dict[str, Any]:
    p, _ = pilot_for(request.auth, pilot, "reconciliation.view")
    found = Reconciliation.objects.filter(pilot=p, month=month_or_404(month)).first()
    if found is None:
        raise Http404(f"{month} is not reconciled")
    return _recon_out(found, _scope(request, p))


def _investigation(request: HttpRequest, pilot: str, pk: int, perm: str) -> Investigation:
    p, _ = pilot_for(request.auth, pilot, perm)
    rows = Investigation.objects.filter(pilot=p, pk=pk).select_related("pilot", "reconciliation")
    rows = scoped_rows(rows, _scope(request, p))
    found = rows.first()
    if found is None:
        raise Http404(f"no investigation {pk} in {p.slug}")
    return found


@router.get(
    "/{pilot}/investigations",
    response={200: list[InvestigationOut], **E},
    summary="Variance investigations, open ones first",
)
@permission("reconciliation.view")
def list_investigations(
    request: HttpRequest, pilot: str, status: str | None = None
) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "reconciliation.view")
    rows = Investigation.objects.filter(pilot=p).select_related(
        "reconciliation", "owner", "resolved_by"
    )
    rows = scoped_rows(rows, _scope(request, p))
    if status:
        rows = rows.filter(status=status)
    return [_investigation_out(i) for i in rows.order_by("-status", "pk")[:500]]


@router.post(
    "/{pilot}/investigations/{investigation_id}/assignment",
    response={200: InvestigationOut, **E},
    summary="Name an investigation's owner and due date",
)
@permission("investigation.manage")
def assign(
    request: HttpRequest, pilot: str, investigation_id: int, body: AssignmentIn
) -> dict[str, Any]:
    found = _investigation(request, pilot, investigation_id, "investigation.manage")
    done = actions.assign_investigation(
        investigation=found,
        owner=person_in(found.pilot, body.owner),
        due=body.due,
        by=request.auth,
        at=timezone.now(),
    )
    return _investigation_out(done)


@router.post(
    "/{pilot}/investigations/{investigation_id}/resolution",
    response={200: InvestigationOut, **E},
    summary="Resolve an investigation",
)
@permission("investigation.manage")
def resolve(
    request: HttpRequest, pilot: str, investigation_id: int, body: ResolutionIn
) -> dict[str, Any]:
    found = _investigation(request, pilot, investigation_id, "investigation.manage")
    done = actions.resolve_investigation(
        investigation=found, resolution=body.resolution, by=request.auth, at=timezone.now()
    )
    return _investigation_out(done)


def _realloc(request: HttpRequest, pilot: str, pk: int, perm: str) -> Reallocation:
    p, _ = pilot_for(request.auth, pilot, perm)
    rows = Reallocation.objects.filter(pilot=p, pk=pk).select_related("pilot", "proposed_by")
    rows = scoped_rows(rows, _scope(request, p))
    found = rows.first()
    if found is None:
        raise Http404(f"no reallocation {pk} in {p.slug}")
    return found


@router.get(
    "/{pilot}/reallocations",
    response={200: list[ReallocationOut], **E},
    summary="Reallocations between a payer's uses, latest first",
)
@permission("reconciliation.view")
def list_reallocations(request: HttpRequest, pilot: str) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "reconciliation.view")
    rows = Reallocation.objects.filter(pilot=p).select_related(
        "proposed_by", "decided_by", "transaction"
    )
    rows = scoped_rows(rows, _scope(request, p))
    return [_realloc_out(r) for r in rows.order_by("-pk")[:500]]


@router.post(
    "/{pilot}/reallocations",
    response={201: ReallocationOut, **E},
    summary="Propose moving a payer's funds from one allowable use to another",
)
@permission("reallocation.propose")
def propose(request: HttpRequest, pilot: str, body: ReallocationIn) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "reallocation.propose")
    investigation = None
    if body.investigation is not None:
        investigation = Investigation.objects.filter(pilot=p, pk=body.investigation).first()
        if investigation is None:
            raise Http404(f"no investigation {body.investigation} in {p.slug}")
    made = actions.propose_reallocation(
        pilot=p,
        payer=body.payer,
        from_use=body.from_use,
        to_use=body.to_use,
        amount=body.amount,
        reason=body.reason,
        investigation=investigation,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, _realloc_out(made))


@router.post(
    "/{pilot}/reallocations/{reallocation_id}/approve",
    response={200: ReallocationOut, **E},
    summary="Approve a proposed reallocation (decision rights; not the proposer) and post it",
)
@permission("reallocation.approve")
def approve(request: HttpRequest, pilot: str, reallocation_id: int) -> dict[str, Any]:
    found = _realloc(request, pilot, reallocation_id, "reallocation.approve")
    return _realloc_out(
        actions.approve_reallocation(reallocation=found, by=request.auth, at=timezone.now())
    )


@router.post(
    "/{pilot}/reallocations/{reallocation_id}/decline",
    response={200: ReallocationOut, **E},
    summary="Decline a proposed reallocation",
)
@permission("reallocation.approve")
def decline(
    request: HttpRequest, pilot: str, reallocation_id: int, body: DeclineIn
) -> dict[str, Any]:
    found = _realloc(request, pilot, reallocation_id, "reallocation.approve")
    return _realloc_out(
        actions.decline_reallocation(
            reallocation=found, reason=body.reason, by=request.auth, at=timezone.now()
        )
    )
