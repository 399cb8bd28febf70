"""C20 exit: what the rulebook's unwind rule gives back to each payer, as of a date.

Everything is read as the books stood at the end of `as_of` (entries effective up to
it; obligations that arose by then and were not yet in the ledger by then):

1. Committed obligations — approved spend requests and payable claims whose basis
   was not yet posted, PMPM of the months already started and authorised episodes
   not yet paid (what `due.due` finds), and what is still owed to providers (a positive
   `payable:<provider>` balance) — each charged to the payer funds it would be paid
   from: a spend request to its payer and use, a claim by its payer split, an unpaid
   remittance by the payer parts of the payments not yet remitted.
2. Each fund reserves its obligations, up to what it holds (the rest is a shortfall,
   shown, never taken from another payer's fund): `reserve:<payer>:<use>`. After the
   exit, payment runs pay only those obligations, in cash from the reserves; no new
   receipt, spend approval or reallocation is taken (`refuse_after_exit`).
3. What remains in the funds goes back: `pro_rata_contribution` splits the total of
   every fund's remainder by contribution (`rules.money.allocate`);
   `unspent_by_payer` gives each payer its own funds' remainder.

The figures are plain JSON (amounts as strings) and depend only on the books and
`as_of`, so the approval can recompute them and compare.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Sum

from fundpilot.claims.models import Claim
from fundpilot.money import due, ledger
from fundpilot.money.models import Account, Entry, ExitPlan, SpendRequest, Transaction
from fundpilot.money.monthly import next_month
from fundpilot.pilots.models import Pilot
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import allocate
from fundpilot.rules.rulebook import UnwindRule

ZERO = Decimal("0.00")


def _cents(cents: int | None) -> Decimal:
    return Decimal(cents or 0).scaleb(-2)


def end_of(pilot: Pilot, day: date) -> datetime:
    """The first instant after `day` in the pilot's time zone."""
    zone = ZoneInfo(pilot.rulebook.pilot.timezone)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def _posted_by(pilot: Pilot, keys: list[str], as_of: date) -> set[str]:
    return set(
        Transaction.objects.filter(
            pilot=pilot, basis_key__in=keys, effective_on__lte=as_of
        ).values_list("basis_key", flat=True)
    )


def _spend_obligations(pilot: Pilot, as_of: date) -> list[dict[str, str]]:
    rows = list(
        SpendRequest.objects.filter(
            pilot=pilot, status=SpendRequest.APPROVED, decided_at__lt=end_of(pilot, as_of)
        )
        .select_related("payee", "pilot")
        .order_by("reference")
    )
    posted = _posted_by(pilot, [r.basis_key for r in rows], as_of)
    return [
        {
            "basis": r.basis_key,
            "kind": "spend",
            "provider": r.payee.code,
            "payer": r.payer,
            "use": r.use,
            "amount": str(r.amount),
        }
        for r in rows
        if r.basis_key not in posted
    ]


def _claim_obligations(pilot: Pilot, as_of: date) -> list[dict[str, str]]:
    rows = list(
        Claim.objects.filter(
            pilot=pilot,
            status=Claim.PAYABLE,
            basis_key__isnull=False,
            payable_at__lt=end_of(pilot, as_of),
        )
        .select_related("provider")
        .order_by("basis_key")
    )
    posted = _posted_by(pilot, [c.basis_key for c in rows if c.basis_key], as_of)
    return [
        {
            "basis": c.basis_key or "",
            "kind": "claim",
            "provider": c.provider.code,
            "payer": part["payer"],
            "use": part["use"],
            "amount": str(part["amount"]),
        }
        for c in rows
        if c.basis_key not in posted
        for part in c.payer_split
        if Decimal(str(part["amount"])) != 0
    ]


def _payable_obligations(pilot: Pilot, as_of: date) -> list[dict[str, str]]:
    """What providers are owed for payments posted but not remitted, by the payer
    parts of those payments (the remitted runs are those with a `remit:` basis)."""
    owed = {
        code: -amount
        for code, amount in ledger.balances(pilot, on=as_of, kind=Account.PAYABLE).items()
        if amount < 0
    }
    if not owed:
        return []
    remitted = set(
        Transaction.objects.filter(
            pilot=pilot, kind=Transaction.REMITTANCE, effective_on__lte=as_of
        ).values_list("basis_key", flat=True)
    )
    reversed_ids = Transaction.objects.filter(
        pilot=pilot, reverses__isnull=False, effective_on__lte=as_of
    ).values_list("reverses_id", flat=True)
    payments = (
        Entry.objects.filter(
            transaction__pilot=pilot,
            transaction__kind=Transaction.PAYMENT,
            transaction__effective_on__lte=as_of,
            account__kind=Account.PAID,
        )
        .exclude(transaction_id__in=reversed_ids)
        .values(
            "transaction__provider__code",
            "transaction__run__number",
            "account__payer",
            "account__use",
        )
        .annotate(cents=Sum("amount_cents"))
    )
    unremitted: dict[str, dict[tuple[str, str], Decimal]] = defaultdict(
        lambda: defaultdict(lambda: ZERO)
    )
    every: dict[str, dict[tuple[str, str], Decimal]] = defaultdict(
        lambda: defaultdict(lambda: ZERO)
    )
    for row in payments:
        provider = row["transaction__provider__code"]
        part = (row["account__payer"], row["account__use"])
        every[provider][part] += _cents(row["cents"])
        run = row["transaction__run__number"]
        if run is None or f"remit:{pilot.slug}:{run}:{provider}" not in remitted:
            unremitted[provider][part] += _cents(row["cents"])
    found: list[dict[str, str]] = []
    for account in sorted(owed):
        provider = account.partition(":")[2]
        weights = {k: v for k, v in unremitted[provider].items() if v > 0} or {
            k: v for k, v in every[provider].items() if v > 0
        }
        if not weights:  # owed for nothing paid from a fund: nothing to charge it to
            continue
        parts = sorted(weights)
        shares = allocate(owed[account], [weights[p] for p in parts])
        found.extend(
            {
                "basis": account,
                "kind": "payable",
                "provider": provider,
                "payer": payer,
                "use": use,
                "amount": str(share),
            }
            for (payer, use), share in zip(parts, shares, strict=True)
            if share != 0
        )
    return found


def _service_obligations(pilot: Pilot, as_of: date) -> list[dict[str, str]]:
    """PMPM of every month already started by `as_of` and authorised episodes delivered,
    not yet paid: what a payment run of those months would pay (`due.due`)."""
    rows = []
    month = ledger.month_of(pilot.rulebook.pilot.period_start)
    last = ledger.month_of(min(as_of, pilot.rulebook.pilot.period_end))
    while month <= last:
        for item in due.due(pilot, month).items:
            if item.kind in (due.PMPM, due.EPISODE):
                rows.extend(
                    {
                        "basis": item.basis_key,
                        "kind": item.kind,
                        "provider": item.provider,
                        "payer": part.payer,
                        "use": part.use,
                        "amount": str(part.amount),
                    }
                    for part in item.parts
                )
        month = next_month(month)
    return rows


def obligations(pilot: Pilot, as_of: date) -> list[dict[str, str]]:
    """Committed obligations as of `as_of`, one row per payer part."""
    return (
        _spend_obligations(pilot, as_of)
        + _claim_obligations(pilot, as_of)
        + _service_obligations(pilot, as_of)
        + _payable_obligations(pilot, as_of)
    )


def compute(pilot: Pilot, as_of: date) -> dict[str, Any]:
    """The unwind as of `as_of`: obligations, each fund's reserve, what each payer gets
    back. Amounts are strings with two places."""
    rb = pilot.rulebook
    rule = rb.exit.unwind
    owed = obligations(pilot, as_of)
    available = ledger.funds_by_payer_and_use(pilot, on=as_of)
    charged: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in owed:
        charged[(row["payer"], row["use"])] += Decimal(row["amount"])
    funds = []
    remaining: dict[tuple[str, str], Decimal] = {}
    reserved: dict[tuple[str, str], Decimal] = {}
    for key in sorted(set(available) | set(charged)):
        held = available.get(key, ZERO)
        reserve = min(charged[key], max(held, ZERO))
        reserved[key] = reserve
        remaining[key] = max(held, ZERO) - reserve
        funds.append(
            {
                "payer": key[0],
                "use": key[1],
                "available": str(held),
                "obligations": str(charged[key]),
                "reserved": str(reserve),
                "shortfall": str(charged[key] - reserve),
                "remaining": str(remaining[key]),
            }
        )
    payers = [p.id for p in rb.payers]
    total_remaining = sum(remaining.values(), ZERO)
    if rule is UnwindRule.PRO_RATA_CONTRIBUTION and total_remaining and payers:
        weights = [p.contribution for p in rb.payers]
        returned = dict(zip(payers, allocate(total_remaining, weights), strict=True))
    else:
        returned = {
            payer: sum((v for (p, _), v in remaining.items() if p == payer), ZERO)
            for payer in payers
        }
    by_payer = []
    for p in rb.payers:

        def mine(values: dict[tuple[str, str], Decimal], payer: str = p.id) -> Decimal:
            return sum((v for (who, _), v in values.items() if who == payer), ZERO)

        by_payer.append(
            {
                "payer": p.id,
                "contribution": str(p.contribution),
                "available": str(mine(available)),
                "reserved": str(mine(reserved)),
                "remaining": str(mine(remaining)),
                "returned": str(returned.get(p.id, ZERO)),
            }
        )
    return {
        "as_of": as_of.isoformat(),
        "rule": rule.value,
        "obligations": owed,
        "funds": funds,
        "payers": by_payer,
        "totals": {
            "obligations": str(sum(charged.values(), ZERO)),
            "available": str(sum(available.values(), ZERO)),
            "reserved": str(sum(reserved.values(), ZERO)),
            "shortfall": str(sum(charged.values(), ZERO) - sum(reserved.values(), ZERO)),
            "returned": str(total_remaining),
        },
    }


def postings(pilot: Pilot, figures: dict[str, Any]) -> list[ledger.Posting]:
    """The reserve and return transactions that carry the figures out."""
    as_of = date.fromisoformat(figures["as_of"])
    base = f"exit:{pilot.slug}:{as_of.isoformat()}"
    reserve_legs: list[ledger.Leg] = []
    return_legs: list[ledger.Leg] = []
    for fund in figures["funds"]:
        code = ledger.payer_account(Account.FUND, fund["payer"], fund["use"])
        reserved = Decimal(fund["reserved"])
        reserve_legs.append(ledger.Leg(code, -reserved))
        reserve_legs.append(
            ledger.Leg(ledger.payer_account(Account.RESERVE, fund["payer"], fund["use"]), reserved)
        )
        return_legs.append(ledger.Leg(code, -Decimal(fund["remaining"])))
    for payer in figures["payers"]:
        return_legs.append(
            ledger.Leg(
                ledger.payer_account(Account.RETURNED, payer["payer"]), Decimal(payer["returned"])
            )
        )
    found = []
    for suffix, legs, memo in (
        ("reserve", reserve_legs, "exit: funds held for committed obligations"),
        ("return", return_legs, f"exit: funds returned ({figures['rule']})"),
    ):
        if sum(1 for leg in legs if leg.amount != 0) >= 2:
            found.append(
                ledger.Posting(
                    kind=Transaction.EXIT,
                    basis_key=f"{base}:{suffix}",
                    legs=legs,
                    effective_on=as_of,
                    memo=memo,
                )
            )
    return found


def posted_exit(pilot: Pilot) -> ExitPlan | None:
    return ExitPlan.objects.filter(pilot=pilot, status=ExitPlan.POSTED).first()


def obligation_bases(plan: ExitPlan) -> set[str]:
    """The bases an exit reserved for: after it, payment runs pay only these."""
    return {row["basis"] for row in plan.figures["obligations"]}


def refuse_after_exit(pilot: Pilot, what: str) -> None:
    """After the exit is posted no new money comes in or is committed (C20)."""
    done = posted_exit(pilot)
    if done is not None:
        raise Refused(
            "pilot_exited",
            f"the pilot's exit as of {done.as_of} is posted: no more {what}",
            "pilot",
        )


def scoped(figures: dict[str, Any], payer: str | None) -> dict[str, Any]:
    """The figures one viewer may see: everything, or only one payer's rows (no pool
    totals, which would tell one payer about the others)."""
    if payer is None:
        return figures
    return {
        "as_of": figures["as_of"],
        "rule": figures["rule"],
        "obligations": [r for r in figures["obligations"] if r["payer"] == payer],
        "funds": [r for r in figures["funds"] if r["payer"] == payer],
        "payers": [r for r in figures["payers"] if r["payer"] == payer],
        "totals": None,
    }
