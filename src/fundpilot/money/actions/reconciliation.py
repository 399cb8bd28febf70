"""C14 monthly multi-payer reconciliation: record a month's figures, investigate the
variances above threshold, and reallocate funds between one payer's uses by journal.

- `reconcile_month` computes the figures (`money.reconciliation.compute`), stores them
  once per month, and opens an investigation for each payer whose variance from plan
  exceeds the rulebook's `variance.payer_percent`.
- `assign_investigation` / `resolve_investigation`: an owner and a due date, then the
  documented resolution.
- `propose_reallocation` / `approve_reallocation` / `decline_reallocation`: moving a
  payer's funds from one of its allowable uses to another, proposed by one person and
  approved by somebody else whose decision right covers approve_reallocation for the
  payer, the receiving use and the amount; approval posts Dr fund:<payer>:<to> /
  Cr fund:<payer>:<from> on the basis `realloc:<pilot>:<id>`.
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from fundpilot.audit import log
from fundpilot.money import ledger, rights, unwind
from fundpilot.money.models import Account, Investigation, Reallocation, Reconciliation, Transaction
from fundpilot.money.monthly import check_month, due_ahead, owner_may
from fundpilot.money.reconciliation import compute, over_threshold
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import CENT, MAX_AMOUNT, format_usd
from fundpilot.rules.rulebook import DecisionAction, Payer


def reconcile_month(*, pilot: Pilot, month: date, by: User, at: datetime) -> Reconciliation:
    """C14: reconcile one month: spend, utilisation and outcomes by payer against
    contribution and plan; variances above threshold open investigations."""
    role = policy.require(by, "reconciliation.run", pilot)
    month = month.replace(day=1)
    check_month(pilot, month, at)
    with transaction.atomic(durable=True):
        # One reconciliation of a month: concurrent runs queue here, the second refused.
        Pilot.objects.select_for_update().get(pk=pilot.pk)
        if Reconciliation.objects.filter(pilot=pilot, month=month).exists():
            raise Refused("already_reconciled", f"{month:%Y-%m} is already reconciled", "month")
        figures = compute(pilot, month)
        recon = Reconciliation.objects.create(
            pilot=pilot,
            month=month,
            figures=figures,
            prepared_by=by,
            prepared_at=at,
            rulebook_version=pilot.current.number,
        )
        opened = Investigation.objects.bulk_create(
            Investigation(
                pilot=pilot,
                reconciliation=recon,
                payer=row["payer"],
                measure="spend_to_date",
                variance={
                    "plan": row["plan"]["to_date"],
                    "actual": row["plan"]["actual"],
                    "variance": row["plan"]["variance"],
                    "percent": row["plan"]["percent"],
                    "threshold": figures["threshold_percent"],
                },
            )
            for row in over_threshold(figures)
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="reconciliation.run",
            subject=f"reconciliation:{month:%Y-%m}",
            payload={
                "month": f"{month:%Y-%m}",
                "payers": {
                    p["payer"]: {
                        "spend_to_date": p["spend"]["to_date"],
                        "plan_to_date": p["plan"]["to_date"],
                        "percent": p["plan"]["percent"],
                    }
                    for p in figures["payers"]
                },
                "investigations": [i.payer for i in opened],
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return recon


def _unresolved(investigation: Investigation) -> None:
    if investigation.status != Investigation.OPEN:
        raise Refused("investigation_resolved", "this investigation is resolved", "investigation")


def assign_investigation(
    *, investigation: Investigation, owner: User, due: date, by: User, at: datetime
) -> Investigation:
    """C14: name who investigates a variance, and by when."""
    pilot = investigation.pilot
    role = policy.require(by, "investigation.manage", pilot)
    _unresolved(investigation)
    owner_may(pilot, owner, "investigation.manage")
    due_ahead(pilot, due, at)
    with transaction.atomic(durable=True):
        locked = Investigation.objects.select_for_update().get(pk=investigation.pk)
        _unresolved(locked)
        locked.owner, locked.due = owner, due
        locked.save(update_fields=["owner", "due"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="investigation.assign",
            subject=f"investigation:{locked.pk}",
            payload={"payer": locked.payer, "owner": owner.username, "due": due},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


def resolve_investigation(
    *, investigation: Investigation, resolution: str, by: User, at: datetime
) -> Investigation:
    """C14: close an investigation with its documented resolution."""
    pilot = investigation.pilot
    role = policy.require(by, "investigation.manage", pilot)
    resolution = resolution.strip()
    if not resolution:
        raise Refused("resolution_required", "say what the investigation found", "resolution")
    with transaction.atomic(durable=True):
        locked = Investigation.objects.select_for_update().get(pk=investigation.pk)
        _unresolved(locked)
        locked.status = Investigation.RESOLVED
        locked.resolution, locked.resolved_by, locked.resolved_at = resolution, by, at
        locked.save(update_fields=["status", "resolution", "resolved_by", "resolved_at"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="investigation.resolve",
            subject=f"investigation:{locked.pk}",
            payload={"payer": locked.payer, "resolution": resolution},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


# --- reallocation -----------------------------------------------------------------------


def _payer(pilot: Pilot, payer_id: str) -> Payer:
    try:
        return pilot.rulebook.payer(payer_id)
    except KeyError:
        raise Refused("unknown_payer", f"the rulebook has no payer '{payer_id}'", "payer") from None


def _amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Refused("invalid_amount", f"{value!r} is not an amount", "amount") from None
    if not amount.is_finite() or amount != amount.quantize(CENT) or amount > MAX_AMOUNT:
        raise Refused("invalid_amount", f"{value} is not an amount in cents", "amount")
    if amount <= 0:
        raise Refused("invalid_amount", "a reallocation moves more than nothing", "amount")
    return amount


def _funds(pilot: Pilot, payer: str, use: str, amount: Decimal) -> None:
    available = ledger.fund_available(pilot, payer, use)
    if amount > available:
        raise Refused(
            "insufficient_funds",
            f"{payer}/{use} holds {format_usd(available)}; cannot move {format_usd(amount)}",
            "amount",
        )


def propose_reallocation(
    *,
    pilot: Pilot,
    payer: str,
    from_use: str,
    to_use: str,
    amount: Decimal | str,
    reason: str,
    investigation: Investigation | None = None,
    by: User,
    at: datetime,
) -> Reallocation:
    """C14: propose moving one payer's funds between two of its allowable uses."""
    role = policy.require(by, "reallocation.propose", pilot)
    unwind.refuse_after_exit(pilot, "reallocations")
    found = _payer(pilot, payer)
    for field, use in (("from_use", from_use), ("to_use", to_use)):
        if not found.allows(use):
            raise Refused("use_not_allowed", f"'{use}' is not an allowable use of {payer}", field)
    if from_use == to_use:
        raise Refused("same_use", "a reallocation moves funds between two uses", "to_use")
    value = _amount(amount)
    reason = reason.strip()
    if not reason:
        raise Refused("reason_required", "say why the funds move", "reason")
    if investigation is not None:
        if investigation.pilot_id != pilot.pk or investigation.payer != payer:
            raise Refused(
                "investigation_other_payer",
                f"investigation {investigation.pk} is not about {payer}",
                "investigation",
            )
        if investigation.status != Investigation.OPEN:
            raise Refused(
                "investigation_resolved",
                f"investigation {investigation.pk} is resolved",
                "investigation",
            )
    _funds(pilot, payer, from_use, value)
    with transaction.atomic(durable=True):
        made = Reallocation.objects.create(
            pilot=pilot,
            investigation=investigation,
            payer=payer,
            from_use=from_use,
            to_use=to_use,
            amount=value,
            reason=reason,
            proposed_by=by,
            proposed_at=at,
            rulebook_version=pilot.current.number,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="reallocation.propose",
            subject=f"reallocation:{made.pk}",
            payload={
                "payer": payer,
                "from_use": from_use,
                "to_use": to_use,
                "amount": value,
                "reason": reason,
                "investigation": investigation.pk if investigation else None,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return made


def _proposed(realloc: Reallocation) -> None:
    if realloc.status != Reallocation.PROPOSED:
        raise Refused(
            "not_proposed", f"reallocation {realloc.pk} is already {realloc.status}", "reallocation"
        )


def _not_own(realloc: Reallocation, by: User) -> None:
    if realloc.proposed_by_id == by.pk:
        raise Refused("own_request", "nobody decides their own proposal", "by")


def basis_key(realloc: Reallocation) -> str:
    return f"realloc:{realloc.pilot.slug}:{realloc.pk}"


def approve_reallocation(*, reallocation: Reallocation, by: User, at: datetime) -> Reallocation:
    """C14: approve a proposed reallocation under the decision-rights matrix and post
    its journal transaction (funds re-checked under the ledger lock)."""
    pilot = reallocation.pilot
    role = policy.require(by, "reallocation.approve", pilot)
    unwind.refuse_after_exit(pilot, "reallocations")
    _proposed(reallocation)
    _not_own(reallocation, by)
    right_role, right = rights.covering_right(
        pilot,
        by,
        DecisionAction.APPROVE_REALLOCATION,
        payer=reallocation.payer,
        use=reallocation.to_use,
        amount=reallocation.amount,
    )
    _payer(pilot, reallocation.payer)
    with transaction.atomic(durable=True):
        locked = Reallocation.objects.select_for_update().get(pk=reallocation.pk)
        _proposed(locked)
        ledger.lock(pilot)
        _funds(pilot, locked.payer, locked.from_use, locked.amount)
        fund = Account.FUND
        txn = ledger.post(
            pilot,
            ledger.Posting(
                kind=Transaction.REALLOCATION,
                basis_key=basis_key(locked),
                legs=[
                    ledger.Leg(
                        ledger.payer_account(fund, locked.payer, locked.to_use), locked.amount
                    ),
                    ledger.Leg(
                        ledger.payer_account(fund, locked.payer, locked.from_use), -locked.amount
                    ),
                ],
                effective_on=pilot.calendar.local_date(at),
                memo=f"reallocation {locked.pk}: {locked.reason}",
            ),
            by=by,
            at=at,
        )
        locked.status = Reallocation.APPROVED
        locked.decided_by, locked.decided_at = by, at
        locked.decision_right, locked.transaction = right.key, txn
        locked.save(
            update_fields=["status", "decided_by", "decided_at", "decision_right", "transaction"]
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, right_role or role),
            action="reallocation.approve",
            subject=f"reallocation:{locked.pk}",
            payload={
                "payer": locked.payer,
                "from_use": locked.from_use,
                "to_use": locked.to_use,
                "amount": locked.amount,
                "decision_right": right.key,
                "transaction": txn.number,
                "basis": txn.basis_key,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked


def decline_reallocation(
    *, reallocation: Reallocation, reason: str, by: User, at: datetime
) -> Reallocation:
    """C14: decline a proposed reallocation (somebody other than the proposer)."""
    pilot = reallocation.pilot
    role = policy.require(by, "reallocation.approve", pilot)
    _proposed(reallocation)
    _not_own(reallocation, by)
    reason = reason.strip()
    if not reason:
        raise Refused("reason_required", "say why the reallocation is declined", "reason")
    with transaction.atomic(durable=True):
        locked = Reallocation.objects.select_for_update().get(pk=reallocation.pk)
        _proposed(locked)
        locked.status = Reallocation.DECLINED
        locked.decided_by, locked.decided_at = by, at
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="reallocation.decline",
            subject=f"reallocation:{locked.pk}",
            payload={"payer": locked.payer, "amount": locked.amount, "reason": reason},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return locked
