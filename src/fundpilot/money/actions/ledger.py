"""C13 corrections and accounting periods: reverse a posted transaction, and move a
month through open → locked → closed (a locked month may be reopened; closed is final).

Nothing posts to a locked or closed month: `ledger.posting_month` sends a late item to
the first open month as an adjustment naming the month it belongs to. A reversal is a
new transaction mirroring every leg of the one it names; the reversed basis stays
consumed, so it is never paid again.
"""

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction

from fundpilot.audit import log
from fundpilot.money import ledger
from fundpilot.money.models import Account, Period, Transaction
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import format_usd

# Which state each change moves a month from, and to.
_MOVES = {
    "lock": (Period.OPEN, Period.LOCKED),
    "close": (Period.LOCKED, Period.CLOSED),
    "reopen": (Period.LOCKED, Period.OPEN),
}


def _previous(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def _change_period(*, pilot: Pilot, month: str, move: str, by: User, at: datetime) -> Period:
    role = policy.require(by, "period.manage", pilot)
    first = ledger.parse_month(month)
    source, target = _MOVES[move]
    today = pilot.calendar.local_date(at)
    if move == "lock" and first >= ledger.month_of(today):
        raise Refused(
            "month_not_over", f"{first:%Y-%m} has not ended yet; lock it once it has", "month"
        )
    with transaction.atomic(durable=True):
        # The ledger's lock: no posting reads a month's state while it changes.
        ledger.lock(pilot)
        Period.objects.bulk_create([Period(pilot=pilot, month=first)], ignore_conflicts=True)
        period = Period.objects.select_for_update().get(pilot=pilot, month=first)
        if period.status != source:
            raise Refused(
                "period_state",
                f"{first:%Y-%m} is {period.status}; only a {source} month can be {move}ed"
                + (" (a closed month is final)" if period.status == Period.CLOSED else ""),
                "month",
            )
        if move == "close":
            _earlier_closed(pilot, first)
        period.status = target
        period.changed_by = by
        period.changed_at = at
        period.save(update_fields=["status", "changed_by", "changed_at"])
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action=f"period.{move}",
            subject=f"period:{first:%Y-%m}",
            payload={"month": f"{first:%Y-%m}", "from": source, "to": target},
            at=at,
            rulebook_version=pilot.current.number,
        )
    return period


def _earlier_closed(pilot: Pilot, month: date) -> None:
    """Months close in order: the month before (within the pilot) and every earlier
    month on record must be closed first."""
    start = ledger.month_of(pilot.rulebook.pilot.period_start)
    earlier = Period.objects.filter(pilot=pilot, month__lt=month).exclude(status=Period.CLOSED)
    open_month = earlier.order_by("month").values_list("month", flat=True).first()
    previous = _previous(month)
    if (
        open_month is None
        and previous >= start
        and ledger.period_status(pilot, previous) != (Period.CLOSED)
    ):
        open_month = previous
    if open_month is not None:
        raise Refused(
            "earlier_month_open",
            f"{open_month:%Y-%m} is not closed yet; close the months in order",
            "month",
        )


def lock_period(*, pilot: Pilot, month: str, by: User, at: datetime) -> Period:
    """Lock an ended month (open → locked): nothing more posts to it; late items post
    to the first open month as adjustments."""
    return _change_period(pilot=pilot, month=month, move="lock", by=by, at=at)


def close_period(*, pilot: Pilot, month: str, by: User, at: datetime) -> Period:
    """Close a locked month for good (locked → closed), after every earlier month."""
    return _change_period(pilot=pilot, month=month, move="close", by=by, at=at)


def reopen_period(*, pilot: Pilot, month: str, by: User, at: datetime) -> Period:
    """Reopen a locked month (locked → open); a closed month is never reopened."""
    return _change_period(pilot=pilot, month=month, move="reopen", by=by, at=at)


# --- reversal ---------------------------------------------------------------------------


def _transaction(pilot: Pilot, number: int) -> Transaction:
    txn = Transaction.objects.filter(pilot=pilot, number=number).first()
    if txn is None:
        raise Refused("unknown_transaction", f"there is no transaction T{number}", "number")
    return txn


def _funds_cover(pilot: Pilot, posting: ledger.Posting) -> None:
    """Invariant 3: a reversal never takes a fund below zero (a receipt already spent
    cannot simply be undone)."""
    have = ledger.balances(pilot, kind=Account.FUND)
    for leg in posting.legs:
        if leg.account.startswith(f"{Account.FUND}:") and leg.amount < 0:
            available = have.get(leg.account, Decimal("0.00"))
            if available + leg.amount < 0:
                raise Refused(
                    "insufficient_funds",
                    f"reversing takes {format_usd(-leg.amount)} from {leg.account},"
                    f" which holds {format_usd(available)}",
                    "number",
                )


def reverse_transaction(
    *, pilot: Pilot, number: int, reason: str, by: User, at: datetime
) -> Transaction:
    """C13 correction: post the reversal of transaction `number` (every leg mirrored,
    naming it). Its basis stays consumed: what it paid is never paid again."""
    role = policy.require(by, "ledger.reverse", pilot)
    reason = (reason or "").strip()
    if not reason:
        raise Refused("reason_required", "say why the transaction is reversed", "reason")
    original = _transaction(pilot, number)
    today = pilot.calendar.local_date(at)
    with transaction.atomic(durable=True):
        ledger.lock(pilot)
        if original.kind == Transaction.REVERSAL or original.reverses_id is not None:
            raise Refused(
                "is_reversal",
                f"T{number} is itself a reversal; post the correction anew instead",
                "number",
            )
        done = Transaction.objects.filter(reverses=original).values_list("number", flat=True)
        if done:
            raise Refused(
                "already_reversed", f"T{number} was already reversed by T{done[0]}", "number"
            )
        posting = ledger.reversal_of(original, effective_on=today, reason=reason)
        _funds_cover(pilot, posting)
        reversal = ledger.post(pilot, posting, by=by, at=at)
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="ledger.reverse",
            subject=f"transaction:{number}",
            payload={
                "reverses": number,
                "basis_key": original.basis_key,
                "reversal": reversal.number,
                "amount": original.amount,
                "reason": reason,
                "period": f"{reversal.period:%Y-%m}",
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return reversal
