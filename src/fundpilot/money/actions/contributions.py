"""C12 contributions: each payer's defined contribution is committed once, then
received in parts, each part allocated to the payer's allowable uses.

Postings (see the brief's chart of accounts):
- commitment, basis `commit:<pilot>:<payer>`: Dr `receivable:<payer>` / Cr
  `contribution:<payer>`, the rulebook's contribution;
- receipt, basis `receipt:<pilot>:<payer>:<reference>`: Dr `fund:<payer>:<use>` for
  each use's part / Cr `receivable:<payer>`. A receipt never exceeds what is committed
  and not yet received (the receivable's balance).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction

from fundpilot.audit import log
from fundpilot.money import ledger, unwind
from fundpilot.money.ledger import Leg, Posting
from fundpilot.money.models import Account, Transaction
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import CENT, MAX_AMOUNT, format_usd, to_decimal
from fundpilot.rules.rulebook import Payer, Rulebook

REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,59}")
ZERO = Decimal("0.00")


def commit_basis(pilot: Pilot, payer: str) -> str:
    return f"commit:{pilot.slug}:{payer}"


def receipt_basis(pilot: Pilot, payer: str, reference: str) -> str:
    return f"receipt:{pilot.slug}:{payer}:{reference}"


def payer_of(rb: Rulebook, payer: str) -> Payer:
    """The rulebook's payer, or refused `unknown_payer` naming the payers it has."""
    try:
        return rb.payer(payer)
    except KeyError:
        known = ", ".join(p.id for p in rb.payers)
        raise Refused(
            "unknown_payer", f"the rulebook has no payer '{payer}' (payers: {known})", "payer"
        ) from None


def allowed_use(found: Payer, use: str, field: str = "use") -> None:
    """Refused `use_not_allowed`, naming the payer's allowable uses, unless it allows `use`."""
    if not found.allows(use):
        uses = ", ".join(u.code for u in found.allowable_uses)
        raise Refused(
            "use_not_allowed",
            f"{found.id} funds may be spent only on {uses}; not on '{use}'",
            field,
        )


def money_amount(value: object, field: str = "amount") -> Decimal:
    """A positive amount of dollars with at most two places, or refused `invalid_amount`."""
    try:
        amount = to_decimal(value)
    except ValueError as exc:
        raise Refused("invalid_amount", f"{value!r}: {exc}", field) from None
    if amount <= 0:
        raise Refused("invalid_amount", f"{amount} is not a positive amount", field)
    if amount != amount.quantize(CENT):
        raise Refused("invalid_amount", f"{amount} has more than 2 decimal places", field)
    if amount >= MAX_AMOUNT:
        raise Refused("invalid_amount", f"{amount} is beyond any pilot's budget", field)
    return amount.quantize(CENT)


@dataclass(frozen=True)
class ContributionState:
    """One payer's contribution as the ledger holds it."""

    payer: str
    contribution: Decimal  # what the rulebook defines
    committed: Decimal
    received: Decimal
    outstanding: Decimal  # committed and not yet received


def contribution_state(pilot: Pilot, payer: str) -> ContributionState:
    found = payer_of(pilot.rulebook, payer)
    held = ledger.balances(pilot, payer=payer)
    committed = -held.get(ledger.payer_account(Account.CONTRIBUTION, payer), ZERO)
    outstanding = held.get(ledger.payer_account(Account.RECEIVABLE, payer), ZERO)
    return ContributionState(
        payer=payer,
        contribution=found.contribution,
        committed=committed,
        received=committed - outstanding,
        outstanding=outstanding,
    )


def commit_contribution(*, pilot: Pilot, payer: str, by: User, at: datetime) -> Transaction:
    """C12: record the payer's defined contribution as committed (once per payer).

    Effective from the pilot's start (or today, if the pilot has not started): the
    contribution is what the parties signed before the first day.
    """
    role = policy.require(by, "contribution.record", pilot)
    rb = pilot.rulebook
    found = payer_of(rb, payer)
    key = commit_basis(pilot, payer)
    if ledger.basis_posted([key]):
        raise Refused("already_committed", f"{payer}'s contribution is already committed", "payer")
    if found.contribution <= 0:
        raise Refused("no_contribution", f"the rulebook defines no contribution for {payer}")
    effective_on = min(pilot.calendar.local_date(at), rb.pilot.period_start)
    amount = found.contribution
    with transaction.atomic(durable=True):
        ledger.lock(pilot)
        if ledger.basis_posted([key]):  # committed concurrently
            raise Refused(
                "already_committed", f"{payer}'s contribution is already committed", "payer"
            )
        txn = ledger.post(
            pilot,
            Posting(
                kind=Transaction.COMMITMENT,
                basis_key=key,
                legs=[
                    Leg(ledger.payer_account(Account.RECEIVABLE, payer), amount),
                    Leg(ledger.payer_account(Account.CONTRIBUTION, payer), -amount),
                ],
                effective_on=effective_on,
                memo=f"{found.name}: contribution committed",
            ),
            by=by,
            at=at,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="contribution.commit",
            subject=f"contribution:{payer}",
            payload={
                "payer": payer,
                "amount": amount,
                "basis": key,
                "transaction": txn.number,
                "effective_on": txn.effective_on,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return txn


def receive_contribution(
    *,
    pilot: Pilot,
    payer: str,
    reference: str,
    allocations: Mapping[str, Decimal],
    received_on: date,
    by: User,
    at: datetime,
) -> Transaction:
    """C12: record contribution cash received from a payer, allocated to its allowable
    uses (each part becomes available in that use's fund)."""
    role = policy.require(by, "contribution.record", pilot)
    unwind.refuse_after_exit(pilot, "contribution receipts")
    rb = pilot.rulebook
    found = payer_of(rb, payer)
    reference = (reference or "").strip()
    if not REFERENCE.fullmatch(reference):
        raise Refused(
            "invalid_reference",
            f"{reference!r} is not a receipt reference: up to 60 letters, digits, . _ / -",
            "reference",
        )
    if not allocations:
        raise Refused(
            "no_allocation", "allocate the receipt to at least one allowable use", "allocations"
        )
    parts: dict[str, Decimal] = {}
    for use, value in allocations.items():
        allowed_use(found, use, "allocations")
        parts[use] = money_amount(value, "allocations")
    if received_on > pilot.calendar.local_date(at):
        raise Refused("received_in_future", f"{received_on} is after today", "received_on")
    total = sum(parts.values(), ZERO)
    key = receipt_basis(pilot, payer, reference)
    receivable = ledger.payer_account(Account.RECEIVABLE, payer)
    with transaction.atomic(durable=True):
        ledger.lock(pilot)
        if not ledger.basis_posted([commit_basis(pilot, payer)]):
            raise Refused(
                "not_committed",
                f"{payer}'s contribution is not committed yet; commit it first",
                "payer",
            )
        if ledger.basis_posted([key]):
            raise Refused(
                "already_posted", f"receipt {reference} of {payer} is already posted", "reference"
            )
        outstanding = ledger.balances(pilot, payer=payer).get(receivable, ZERO)
        if total > outstanding:
            raise Refused(
                "over_contribution",
                f"{format_usd(total)} is more than the {format_usd(outstanding)} of {payer}'s"
                " contribution committed and not yet received",
                "allocations",
            )
        legs = [Leg(ledger.payer_account(Account.FUND, payer, u), a) for u, a in parts.items()]
        txn = ledger.post(
            pilot,
            Posting(
                kind=Transaction.RECEIPT,
                basis_key=key,
                legs=[*legs, Leg(receivable, -total)],
                effective_on=received_on,
                memo=f"{found.name}: contribution received ({reference})",
            ),
            by=by,
            at=at,
        )
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="contribution.receive",
            subject=f"contribution:{payer}",
            payload={
                "payer": payer,
                "reference": reference,
                "received_on": received_on,
                "allocations": {u: str(a) for u, a in sorted(parts.items())},
                "total": total,
                "outstanding_after": outstanding - total,
                "basis": key,
                "transaction": txn.number,
            },
            at=at,
            rulebook_version=pilot.current.number,
        )
    return txn
