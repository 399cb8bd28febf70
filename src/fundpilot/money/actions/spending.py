"""C12 spend requests and decision rights.

A spend request names one payer, one of that payer's allowable uses, an amount and a
provider to pay; it is validated centrally against the payer's rules when made, and
approved only by someone else whose decision right covers the action, payer, use and
amount, and only within the funds of that payer and use not already promised to other
approved requests. Beyond those funds (or outside the matrix) only the rulebook's
senior role approves, as an exception, which is then reviewed after the fact.

The payment run pays approved requests on `SpendRequest.basis_key`; until it does, an
approved request holds its amount against the fund.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, QuerySet, Sum, Value
from django.db.models.functions import Concat

from fundpilot.audit import log
from fundpilot.money import ledger, rights, unwind
from fundpilot.money.actions.contributions import allowed_use, money_amount, payer_of
from fundpilot.money.models import SpendRequest, Transaction
from fundpilot.participants.deadlines import late_by
from fundpilot.participants.models import Participant
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.money import format_usd
from fundpilot.rules.rulebook import DecisionAction, DecisionRight
from fundpilot.rules.vocabulary import OrgKind, Role

ZERO = Decimal("0.00")
# Roles that see every spend request; payer representatives see their payer's,
# provider staff their own organisation's.
SEES_ALL = policy.MONEY_READERS - {Role.PAYER_REP}


# --- reading --------------------------------------------------------------------------


def spend_requests_for(user: Any, pilot: Pilot) -> QuerySet[SpendRequest]:
    """The spend requests this person may see, newest first."""
    rows = SpendRequest.objects.filter(pilot=pilot).order_by("-pk")
    if not policy.allowed(user, "spend.view", pilot):
        return rows.none()
    roles = policy.roles_in(user, pilot)
    if roles & SEES_ALL or policy.sees_every_provider(user, pilot):
        return rows
    if Role.PAYER_REP in roles:
        scope = policy.payer_scope(user, pilot)
        return rows.filter(payer=scope) if scope else rows.none()
    return rows.filter(payee_id=user.organisation_id)


def basis_key_of(pilot: Pilot) -> Concat:
    """`SpendRequest.basis_key` as a database expression."""
    return Concat(
        Value(f"spend:{pilot.slug}:"), "reference", output_field=CharField(max_length=200)
    )


def unpaid_approved(pilot: Pilot) -> QuerySet[SpendRequest]:
    """Approved requests the payment run has not paid yet (their basis not posted)."""
    posted = Transaction.objects.filter(basis_key=OuterRef("basis"))
    return (
        SpendRequest.objects.filter(pilot=pilot, status=SpendRequest.APPROVED)
        .annotate(basis=basis_key_of(pilot))
        .exclude(Exists(posted))
    )


def available_for(
    pilot: Pilot, payer: str, use: str, *, excluding: SpendRequest | None = None
) -> Decimal:
    """The fund of this payer and use less what approved, unpaid requests hold on it."""
    held = unpaid_approved(pilot).filter(payer=payer, use=use)
    if excluding is not None:
        held = held.exclude(pk=excluding.pk)
    promised = held.aggregate(total=Sum("amount"))["total"] or ZERO
    return ledger.fund_available(pilot, payer, use) - promised


def _visible(request: SpendRequest, by: User) -> None:
    """Nobody decides on a request they may not see (another payer's, another
    provider's)."""
    if not spend_requests_for(by, request.pilot).filter(pk=request.pk).exists():
        raise NotPermitted(
            "not_visible", f"{request.reference} is another organisation's or payer's request"
        )


# --- requesting -----------------------------------------------------------------------


def request_spend(
    *,
    pilot: Pilot,
    payer: str,
    use: str,
    amount: Decimal,
    payee: Organisation,
    purpose: str,
    participant_id: str = "",
    by: User,
    at: datetime,
) -> SpendRequest:
    """C12: ask to spend one payer's funds on one of its allowable uses, paid to a
    provider of the pilot. Frontline staff ask for their own organisation; the pilot
    office for any provider. Validated centrally against the payer's rules now."""
    role = policy.require(by, "spend.request", pilot)
    unwind.refuse_after_exit(pilot, "spend requests")
    found = payer_of(pilot.rulebook, payer)
    allowed_use(found, use)
    amount = money_amount(amount)
    purpose = (purpose or "").strip()
    if not purpose:
        raise Refused("purpose_required", "say what the money is for", "purpose")
    is_party = pilot.parties.filter(organisation=payee).exists()
    if payee.kind != OrgKind.PROVIDER or not is_party:
        raise Refused(
            "payee_not_provider", f"{payee.name} is not a provider of this pilot", "payee"
        )
    if not policy.sees_every_provider(by, pilot) and by.organisation_id != payee.pk:
        raise NotPermitted(
            "other_organisation", "you may ask to spend only for your own organisation"
        )
    participant_id = (participant_id or "").strip()
    if participant_id:
        person = Participant.objects.filter(pilot=pilot, participant_id=participant_id).first()
        if person is None:
            raise Refused(
                "unknown_participant",
                f"no participant '{participant_id}' in this pilot",
                "participant_id",
            )
        if person.provider_id != payee.pk:
            raise Refused(
                "participant_not_payee",
                f"{participant_id} is another provider's participant, not {payee.name}'s",
                "participant_id",
            )
    with transaction.atomic(durable=True):
        # References are sequential per pilot: one request numbered at a time.
        Pilot.objects.select_for_update().get(pk=pilot.pk)
        number = SpendRequest.objects.filter(pilot=pilot).count() + 1
        made = SpendRequest.objects.create(
            pilot=pilot,
            reference=f"SR-{number:04d}",
            payer=payer,
            use=use,
            amount=amount,
            payee=payee,
            participant_id=participant_id,
            purpose=purpose,
            requested_by=by,
            requested_at=at,
            rulebook_version=pilot.current.number,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="spend.request",
            subject=f"spend:{made.reference}",
            payload={
                "payer": payer,
                "use": use,
                "amount": amount,
                "payee": payee.code,
                "participant_id": participant_id,
                "purpose": purpose,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return made


# --- deciding -------------------------------------------------------------------------


def _pending(request: SpendRequest) -> None:
    if request.status != SpendRequest.REQUESTED:
        raise Refused(
            "not_pending", f"{request.reference} is {request.status}, not awaiting a decision"
        )


def _not_own(request: SpendRequest, by: User) -> None:
    if request.requested_by_id == by.pk:
        raise Refused("own_request", "nobody decides on their own request", "by")


def _payer_rep_own_payer(request: SpendRequest, role: Role, by: User) -> None:
    """A payer representative's right is over its own payer's money only."""
    if role is Role.PAYER_REP and policy.payer_scope(by, request.pilot) != request.payer:
        raise Refused(
            "no_decision_right",
            f"a payer representative decides only on its own payer's funds, not {request.payer}'s",
            "by",
        )


def _exception_right(request: SpendRequest, by: User) -> tuple[Role, DecisionRight]:
    route = request.pilot.rulebook.exception_route
    if route is None:
        raise Refused("no_exception_route", "the rulebook has no exception route", "exception")
    if route.senior_role not in policy.roles_in(by, request.pilot):
        raise Refused(
            "not_senior_role",
            f"only the {route.senior_role.label} approves an exception",
            "exception",
        )
    return rights.covering_right(
        request.pilot,
        by,
        DecisionAction.APPROVE_EXCEPTION,
        payer=request.payer,
        use=request.use,
        amount=request.amount,
    )


def _lock(request: SpendRequest) -> SpendRequest:
    locked = SpendRequest.objects.select_for_update().get(pk=request.pk)
    _pending(locked)
    return locked


def approve_spend(
    *,
    request: SpendRequest,
    by: User,
    at: datetime,
    note: str = "",
    exception: bool = False,
) -> SpendRequest:
    """C12: approve a spend request under the decision-rights matrix.

    Refused for one's own request, without a covering decision right (or above its
    limit), and beyond the funds of that payer and use not already held by other
    approved requests. `exception=True` is the exception route: the rulebook's senior
    role, within its approve_exception right, may approve beyond the funds or the
    approve_spend matrix; the approval is then due a retrospective review.
    """
    pilot = request.pilot
    policy.require(by, "spend.approve", pilot)
    unwind.refuse_after_exit(pilot, "spend approvals")
    _not_own(request, by)
    _pending(request)
    _visible(request, by)
    # The payer's rules as in force now, not only as they were when asked.
    allowed_use(payer_of(pilot.rulebook, request.payer), request.use)
    if exception:
        role, right = _exception_right(request, by)
    else:
        role, right = rights.covering_right(
            pilot,
            by,
            DecisionAction.APPROVE_SPEND,
            payer=request.payer,
            use=request.use,
            amount=request.amount,
        )
    _payer_rep_own_payer(request, role, by)
    route = pilot.rulebook.exception_route
    with transaction.atomic(durable=True):
        ledger.lock(pilot)  # funds are weighed against postings and other approvals
        request = _lock(request)
        available = available_for(pilot, request.payer, request.use, excluding=request)
        if request.amount > available and not exception:
            raise Refused(
                "insufficient_funds",
                f"{format_usd(request.amount)} is more than the {format_usd(available)}"
                f" available in {request.payer}/{request.use} (after other approved requests);"
                " only an exception may exceed it",
                "amount",
            )
        request.status = SpendRequest.APPROVED
        request.decided_by = by
        request.decided_at = at
        request.decided_role = role.value
        request.decision_right = right.key
        request.decision_note = note.strip()
        request.exception = exception
        if exception and route is not None:
            request.review_due = pilot.calendar.due_date(at, route.retrospective_review_days)
        request.save(
            update_fields=[
                "status",
                "decided_by",
                "decided_at",
                "decided_role",
                "decision_right",
                "decision_note",
                "exception",
                "review_due",
            ]
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="spend.approve",
            subject=f"spend:{request.reference}",
            payload={
                "payer": request.payer,
                "use": request.use,
                "amount": request.amount,
                "decision_right": right.key,
                "exception": exception,
                "available": available,
                "review_due": request.review_due,
                "note": request.decision_note,
                "basis": request.basis_key,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return request


def _deciding_right(request: SpendRequest, by: User) -> tuple[Role, DecisionRight]:
    """Who may decline: anyone whose approve_spend (or, for the senior role,
    approve_exception) right covers the payer and use, whatever the amount."""
    scope = {"payer": request.payer, "use": request.use, "amount": None}
    try:
        return rights.covering_right(request.pilot, by, DecisionAction.APPROVE_SPEND, **scope)
    except Refused as first:
        route = request.pilot.rulebook.exception_route
        if route is None or route.senior_role not in policy.roles_in(by, request.pilot):
            raise first from None
        return rights.covering_right(request.pilot, by, DecisionAction.APPROVE_EXCEPTION, **scope)


def decline_spend(*, request: SpendRequest, reason: str, by: User, at: datetime) -> SpendRequest:
    """C12: decline a spend request, with the reason, by someone who could approve it."""
    pilot = request.pilot
    policy.require(by, "spend.approve", pilot)
    _not_own(request, by)
    _pending(request)
    _visible(request, by)
    reason = (reason or "").strip()
    if not reason:
        raise Refused("reason_required", "say why the request is declined", "reason")
    role, right = _deciding_right(request, by)
    _payer_rep_own_payer(request, role, by)
    with transaction.atomic(durable=True):
        request = _lock(request)
        request.status = SpendRequest.DECLINED
        request.decided_by = by
        request.decided_at = at
        request.decided_role = role.value
        request.decision_right = right.key
        request.decision_note = reason
        request.save(
            update_fields=[
                "status",
                "decided_by",
                "decided_at",
                "decided_role",
                "decision_right",
                "decision_note",
            ]
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="spend.decline",
            subject=f"spend:{request.reference}",
            payload={
                "payer": request.payer,
                "use": request.use,
                "amount": request.amount,
                "decision_right": right.key,
                "reason": reason,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return request


def review_exception(*, request: SpendRequest, note: str, by: User, at: datetime) -> SpendRequest:
    """C12: the retrospective review of a spend approved as an exception, by someone
    other than who approved (or asked for) it; lateness counted against `review_due`."""
    pilot = request.pilot
    role = policy.require(by, "exception.review", pilot)
    if request.status != SpendRequest.APPROVED or not request.exception:
        raise Refused(
            "not_exception", f"{request.reference} was not approved as an exception", "request"
        )
    if request.reviewed_by_id is not None:
        raise Refused(
            "already_reviewed", f"{request.reference}'s exception is already reviewed", "request"
        )
    if request.decided_by_id == by.pk:
        raise Refused("own_approval", "nobody reviews an exception they approved", "by")
    _not_own(request, by)
    note = (note or "").strip()
    if not note:
        raise Refused("note_required", "record what the review found", "note")
    late_days = late_by(pilot, request.review_due, at)
    with transaction.atomic(durable=True):
        request = SpendRequest.objects.select_for_update().get(pk=request.pk)
        if request.reviewed_by_id is not None:
            raise Refused(
                "already_reviewed",
                f"{request.reference}'s exception is already reviewed",
                "request",
            )
        request.reviewed_by = by
        request.reviewed_at = at
        request.review_note = note
        request.review_late_days = late_days
        request.save(
            update_fields=["reviewed_by", "reviewed_at", "review_note", "review_late_days"]
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="spend.exception_review",
            subject=f"spend:{request.reference}",
            payload={
                "decision_right": request.decision_right,
                "approved_by": request.decided_by.username if request.decided_by else "",
                "review_due": request.review_due,
                "late_days": late_days,
                "note": note,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return request
