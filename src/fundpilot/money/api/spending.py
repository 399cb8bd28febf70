"""API of C12: spend requests (list, ask, approve, decline, review an exception) and
contributions (commit, receive), mounted at /api/v1/pilots.

A spend request is addressed by its reference ("SR-0001"); one the caller may not see
(another provider's, another payer's) answers 404 like one that does not exist.
Amounts travel as decimal strings.
"""

from datetime import date, datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from fundpilot.money.actions.contributions import (
    commit_contribution,
    contribution_state,
    receive_contribution,
)
from fundpilot.money.actions.spending import (
    approve_spend,
    decline_spend,
    request_spend,
    review_exception,
    spend_requests_for,
)
from fundpilot.money.api.common import username_of
from fundpilot.money.models import SpendRequest, Transaction
from fundpilot.participants.api_schemas import DecimalText
from fundpilot.pilots.access import permission, pilot_for
from fundpilot.pilots.api import Error
from fundpilot.pilots.models import Organisation
from fundpilot.rules.errors import Refused

router = Router(tags=["money"])
E = {401: Error, 403: Error, 404: Error, 422: Error}


class SpendRequestOut(Schema):
    reference: str
    payer: str
    use: str
    amount: str
    payee: str = Field(description="the provider organisation's code")
    participant_id: str
    purpose: str
    status: str = Field(description="requested, approved or declined")
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decided_role: str
    decision_right: str = Field(description="the decision-rights row applied")
    decision_note: str
    exception: bool
    review_due: date | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str
    review_late_days: int
    basis_key: str = Field(description="the payment basis the payment run pays it on")
    rulebook_version: int


class SpendRequestIn(Schema):
    payer: str
    use: str = Field(description="one of the payer's allowable uses")
    amount: DecimalText
    payee: str = Field(description="the code of a provider organisation of the pilot")
    purpose: str
    participant_id: str = ""


class ApprovalIn(Schema):
    note: str = ""
    exception: bool = Field(
        False, description="the exception route: the rulebook's senior role only"
    )


class DeclineIn(Schema):
    reason: str


class ReviewIn(Schema):
    note: str


class ReceiptIn(Schema):
    reference: str
    received_on: date
    allocations: dict[str, DecimalText] = Field(description="amount per allowable use")


class ContributionOut(Schema):
    payer: str
    transaction: int
    basis_key: str
    amount: str
    contribution: str
    committed: str
    received: str
    outstanding: str


def _out(s: SpendRequest) -> dict[str, Any]:
    plain = ("reference", "payer", "use", "participant_id", "purpose", "status")
    plain += ("requested_at", "decided_at", "decided_role", "decision_right", "decision_note")
    plain += ("exception", "review_due", "reviewed_at", "review_note", "review_late_days")
    return {f: getattr(s, f) for f in (*plain, "rulebook_version")} | {
        "amount": str(s.amount),
        "payee": s.payee.code,
        "requested_by": s.requested_by.username,
        "decided_by": username_of(s.decided_by),
        "reviewed_by": username_of(s.reviewed_by),
        "basis_key": s.basis_key,
    }


def contribution_out(txn: Transaction, payer: str) -> dict[str, Any]:
    state = contribution_state(txn.pilot, payer)
    return {
        "payer": payer,
        "transaction": txn.number,
        "basis_key": txn.basis_key,
        "amount": str(txn.amount),
        **{f: str(getattr(state, f)) for f in ("contribution", "committed", "received")},
        "outstanding": str(state.outstanding),
    }


def _visible(request: HttpRequest, pilot: str, reference: str, perm: str) -> SpendRequest:
    p, _ = pilot_for(request.auth, pilot, perm)
    rows = spend_requests_for(request.auth, p).filter(reference=reference)
    found = rows.select_related("pilot", "payee", "requested_by").first()
    if found is None:
        raise Http404(f"no spend request '{reference}' in {p.slug}")
    return found


@router.get(
    "/{pilot}/spend-requests",
    response={200: list[SpendRequestOut], **E},
    summary="Spend requests you may see (provider staff: your organisation's; payer "
    "representatives: your payer's), newest first",
)
@permission("spend.view")
def list_spend_requests(
    request: HttpRequest, pilot: str, status: str | None = None, payer: str | None = None
) -> list[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "spend.view")
    rows = spend_requests_for(request.auth, p).select_related(
        "pilot", "payee", "requested_by", "decided_by", "reviewed_by"
    )
    if status:
        rows = rows.filter(status=status)
    if payer:
        rows = rows.filter(payer=payer)
    return [_out(s) for s in rows[:500]]


@router.post(
    "/{pilot}/spend-requests",
    response={201: SpendRequestOut, **E},
    summary="Ask to spend one payer's funds on one of its allowable uses",
)
@permission("spend.request")
def create_spend_request(
    request: HttpRequest, pilot: str, body: SpendRequestIn
) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "spend.request")
    payee = Organisation.objects.filter(code=body.payee).first()
    if payee is None:
        raise Refused("unknown_payee", f"no organisation '{body.payee}'", "payee")
    made = request_spend(
        pilot=p,
        payer=body.payer,
        use=body.use,
        amount=body.amount,
        payee=payee,
        purpose=body.purpose,
        participant_id=body.participant_id,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, _out(made))


@router.get(
    "/{pilot}/spend-requests/{reference}",
    response={200: SpendRequestOut, **E},
    summary="One spend request, with its decision and any exception review",
)
@permission("spend.view")
def get_spend_request(request: HttpRequest, pilot: str, reference: str) -> dict[str, Any]:
    return _out(_visible(request, pilot, reference, "spend.view"))


@router.post(
    "/{pilot}/spend-requests/{reference}/approve",
    response={200: SpendRequestOut, **E},
    summary="Approve under your decision right (or, senior role, as an exception)",
)
@permission("spend.approve")
def approve_one(
    request: HttpRequest, pilot: str, reference: str, body: ApprovalIn
) -> dict[str, Any]:
    found = _visible(request, pilot, reference, "spend.approve")
    decided = approve_spend(
        request=found, note=body.note, exception=body.exception, by=request.auth, at=timezone.now()
    )
    return _out(decided)


@router.post(
    "/{pilot}/spend-requests/{reference}/decline",
    response={200: SpendRequestOut, **E},
    summary="Decline a pending spend request, with the reason",
)
@permission("spend.approve")
def decline_one(
    request: HttpRequest, pilot: str, reference: str, body: DeclineIn
) -> dict[str, Any]:
    found = _visible(request, pilot, reference, "spend.approve")
    decided = decline_spend(request=found, reason=body.reason, by=request.auth, at=timezone.now())
    return _out(decided)


@router.post(
    "/{pilot}/spend-requests/{reference}/review",
    response={200: SpendRequestOut, **E},
    summary="Record the retrospective review of a spend approved as an exception",
)
@permission("exception.review")
def review_one(request: HttpRequest, pilot: str, reference: str, body: ReviewIn) -> dict[str, Any]:
    found = _visible(request, pilot, reference, "exception.review")
    reviewed = review_exception(request=found, note=body.note, by=request.auth, at=timezone.now())
    return _out(reviewed)


@router.post(
    "/{pilot}/contributions/{payer}/commit",
    response={201: ContributionOut, **E},
    summary="Record the payer's defined contribution as committed (once)",
)
@permission("contribution.record")
def commit_one(request: HttpRequest, pilot: str, payer: str) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "contribution.record")
    txn = commit_contribution(pilot=p, payer=payer, by=request.auth, at=timezone.now())
    return Status(201, contribution_out(txn, payer))


@router.post(
    "/{pilot}/contributions/{payer}/receipts",
    response={201: ContributionOut, **E},
    summary="Record contribution cash received, allocated to the payer's allowable uses",
)
@permission("contribution.record")
def receive_one(
    request: HttpRequest, pilot: str, payer: str, body: ReceiptIn
) -> Status[dict[str, Any]]:
    p, _ = pilot_for(request.auth, pilot, "contribution.record")
    txn = receive_contribution(
        pilot=p,
        payer=payer,
        reference=body.reference,
        allocations=body.allocations,
        received_on=body.received_on,
        by=request.auth,
        at=timezone.now(),
    )
    return Status(201, contribution_out(txn, payer))
