"""Reads of the books for pages, the API and the CLI: fund balances by payer and use,
the ledger's transactions with their legs, one account, a payer's statement. Totals
are summed in SQL; a payer representative's reads are narrowed to its own payer by
the caller (`policy.payer_scope`).
"""

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q, QuerySet, Sum

from fundpilot.money import ledger
from fundpilot.money.models import Account, Entry, Transaction
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused

ZERO = Decimal("0.00")
KINDS = (
    Transaction.COMMITMENT,
    Transaction.RECEIPT,
    Transaction.PAYMENT,
    Transaction.REMITTANCE,
    Transaction.RECOUPMENT,
    Transaction.REALLOCATION,
    Transaction.REVERSAL,
    Transaction.EXIT,
)


def _dollars(cents: int | None) -> Decimal:
    return Decimal(cents or 0).scaleb(-2)


def funds(
    pilot: Pilot, *, payer: str | None = None, on: date | None = None
) -> list[dict[str, Any]]:
    """Per payer (all, or just `payer`): committed, received, paid, available, reserved
    and returned, and the same by allowable use. Committed is the contribution
    recorded; received is cash in (receipts, net of their reversals); paid what the
    payer's funds paid for (net of recoupments); available the fund balance."""
    rows = Entry.objects.filter(account__pilot=pilot)
    if on is not None:
        rows = rows.filter(transaction__effective_on__lte=on)
    if payer is not None:
        rows = rows.filter(account__payer=payer)
    balance: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in rows.values("account__kind", "account__payer", "account__use").annotate(
        cents=Sum("amount_cents")
    ):
        balance[(row["account__kind"], row["account__payer"], row["account__use"])] = _dollars(
            row["cents"]
        )
    receipts = rows.filter(account__kind=Account.FUND).filter(
        Q(transaction__kind=Transaction.RECEIPT)
        | Q(transaction__reverses__kind=Transaction.RECEIPT)
    )
    received: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in receipts.values("account__payer", "account__use").annotate(
        cents=Sum("amount_cents")
    ):
        received[(row["account__payer"], row["account__use"])] = _dollars(row["cents"])
    found = []
    for p in pilot.rulebook.payers:
        if payer is not None and p.id != payer:
            continue
        uses: list[dict[str, Any]] = []
        for use in p.allowable_uses:
            uses.append(
                {
                    "use": use.code,
                    "label": use.label,
                    "received": received[(p.id, use.code)],
                    "paid": balance[(Account.PAID, p.id, use.code)],
                    "available": balance[(Account.FUND, p.id, use.code)],
                }
            )
        found.append(
            {
                "payer": p.id,
                "name": p.name,
                "contribution": p.contribution,
                "committed": -balance[(Account.CONTRIBUTION, p.id, "")],
                "receivable": balance[(Account.RECEIVABLE, p.id, "")],
                "received": sum((u["received"] for u in uses), ZERO),
                "paid": sum((u["paid"] for u in uses), ZERO),
                "available": sum((u["available"] for u in uses), ZERO),
                "reserved": balance[(Account.RESERVE, p.id, "")],
                "returned": balance[(Account.RETURNED, p.id, "")],
                "uses": uses,
            }
        )
    return found


def transactions(
    pilot: Pilot,
    *,
    kind: str = "",
    month: str = "",
    account: str = "",
    payer: str | None = None,
) -> QuerySet[Transaction]:
    """The ledger's transactions, newest first, with their legs: filtered by kind,
    accounting month ("YYYY-MM") and account code; `payer` keeps only the transactions
    touching that payer's accounts, and only those legs."""
    rows = Transaction.objects.filter(pilot=pilot)
    if kind:
        if kind not in KINDS:
            raise Refused("unknown_kind", f"'{kind}' is not a kind of transaction", "kind")
        rows = rows.filter(kind=kind)
    if month:
        rows = rows.filter(period=ledger.parse_month(month))
    if account:
        rows = rows.filter(legs__account__code=account)
    legs = Entry.objects.select_related("account").order_by("-amount_cents", "account__code")
    if payer is not None:
        rows = rows.filter(legs__account__payer=payer)
        legs = legs.filter(account__payer=payer)
    return (
        rows.distinct()
        .select_related("posted_by", "provider", "reverses")
        .prefetch_related(Prefetch("legs", queryset=legs, to_attr="shown_legs"))
        .order_by("-number")
    )


def transaction_out(t: Transaction) -> dict[str, Any]:
    return {
        "number": t.number,
        "kind": t.kind,
        "basis_key": t.basis_key,
        "period": f"{t.period:%Y-%m}",
        "adjusts": f"{t.adjusts:%Y-%m}" if t.adjusts else None,
        "effective_on": t.effective_on,
        "posted_at": t.posted_at,
        "posted_by": t.posted_by.username if t.posted_by else "",
        "provider": t.provider.code if t.provider else None,
        "participant_id": t.participant_id,
        "reverses": t.reverses.number if t.reverses else None,
        "amount": t.amount,
        "memo": t.memo,
        "rulebook_version": t.rulebook_version,
        "legs": [
            {"account": e.account.code, "amount": e.amount}
            for e in getattr(t, "shown_legs", None) or t.legs.select_related("account")
        ],
    }


def account_of(pilot: Pilot, code: str) -> Account | None:
    return Account.objects.filter(pilot=pilot, code=code).first()


def account_entries(account: Account) -> list[dict[str, Any]]:
    """Every leg on the account, oldest first, with the running balance."""
    rows = (
        Entry.objects.filter(account=account)
        .select_related("transaction")
        .order_by("transaction__number")
    )
    running = ZERO
    found = []
    for e in rows:
        running += e.amount
        t = e.transaction
        found.append(
            {
                "number": t.number,
                "kind": t.kind,
                "basis_key": t.basis_key,
                "effective_on": t.effective_on,
                "period": f"{t.period:%Y-%m}",
                "memo": t.memo,
                "amount": e.amount,
                "balance": running,
            }
        )
    return found


def statement(pilot: Pilot, payer: str) -> dict[str, Any]:
    """A payer's statement: its accounts' balances and every leg on them, in ledger
    order, each with its account's running balance."""
    accounts = list(Account.objects.filter(pilot=pilot, payer=payer).order_by("code"))
    totals = ledger.balances(pilot, payer=payer)
    entries = [{"account": a.code} | row for a in accounts for row in account_entries(a)]
    entries.sort(key=lambda row: (row["number"], row["account"]))
    return {
        "payer": payer,
        "accounts": [{"account": a.code, "balance": totals.get(a.code, ZERO)} for a in accounts],
        "entries": entries,
    }
