"""C13 payment release: a payment run pays every basis due for a month exactly once.

`run_payments` asks the policy (payment.run), checks the month, then — holding the
pilot's ledger lock, so concurrent runs queue and the later one finds nothing left —
computes what is due (`money.due`), holds what the payers' funds cannot cover, checks
the runner's decision right (release_payment) for each payer and use it charges, and
posts everything in one database transaction: a payment transaction per basis, the
recoupments, and per provider one remittance netting the recoupments it owes. A run
killed midway leaves nothing behind; the ledger's unique basis keys make a second
payment of any basis impossible. A dry run computes exactly the same and writes
nothing.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Max, Q, Sum

from fundpilot.audit import log
from fundpilot.money import ledger, unwind
from fundpilot.money.due import Due, DueItem, check_month, due
from fundpilot.money.ledger import Leg, Posting
from fundpilot.money.models import Account, Entry, PaymentRun, Transaction
from fundpilot.money.monthly import last_day
from fundpilot.money.rights import covering_right
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.money import allocate, format_usd
from fundpilot.rules.rulebook import DecisionAction

ZERO = Decimal("0.00")
# Postings per `ledger.post_many` call (all inside the run's one database transaction),
# so a large run stays within the database's limit on query parameters.
CHUNK = 20_000


@dataclass
class Held:
    item: DueItem
    reason: str

    def as_dict(self) -> dict[str, object]:
        return self.item.as_dict() | {"reason": self.reason}


@dataclass
class Remittance:
    """What one provider is paid by a run: gross, recoupments netted, net cash."""

    provider: str
    provider_id: int
    gross: Decimal
    gross_parts: dict[tuple[str, str], Decimal]
    netted: Decimal
    netted_parts: dict[tuple[str, str], Decimal]
    outstanding_after: Decimal  # recoupment still owed by the provider after this run
    basis_key: str = ""

    @property
    def net(self) -> Decimal:
        return self.gross - self.netted

    def as_dict(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "basis_key": self.basis_key,
            "gross": str(self.gross),
            "recoupment_netted": str(self.netted),
            "net": str(self.net),
            "recoupment_outstanding": str(self.outstanding_after),
        }


@dataclass
class RunResult:
    """A payment run as computed (dry run) or posted."""

    pilot: str
    month: date
    dry_run: bool
    number: int | None
    paid: list[DueItem] = field(default_factory=list)
    recoupments: list[DueItem] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    remittances: list[Remittance] = field(default_factory=list)
    rights: dict[str, str] = field(default_factory=dict)
    run: PaymentRun | None = None

    @property
    def total(self) -> Decimal:
        """Net cash to providers (what the run posts out of the funds)."""
        return sum((r.net for r in self.remittances), ZERO)

    @property
    def gross(self) -> Decimal:
        return sum((i.amount for i in self.paid), ZERO)

    @property
    def nothing_due(self) -> bool:
        return not self.paid and not self.recoupments

    def by_kind(self) -> dict[str, dict[str, object]]:
        kinds: dict[str, dict[str, object]] = {}
        for item in [*self.paid, *self.recoupments]:
            row = kinds.setdefault(item.kind, {"count": 0, "amount": ZERO})
            row["count"] = int(row["count"]) + 1  # type: ignore[call-overload]
            row["amount"] = Decimal(row["amount"]) + item.amount  # type: ignore[arg-type]
        return {k: {"count": v["count"], "amount": str(v["amount"])} for k, v in kinds.items()}

    def summary(self) -> dict[str, object]:
        """What the PaymentRun row keeps: counts and amounts by kind, providers, held."""
        return {
            "by_kind": self.by_kind(),
            "gross": str(self.gross),
            "recouped": str(sum((i.amount for i in self.recoupments), ZERO)),
            "netted": str(sum((r.netted for r in self.remittances), ZERO)),
            "total": str(self.total),
            "providers": [r.as_dict() for r in self.remittances],
            "rights": self.rights,
            "held": [h.as_dict() for h in self.held],
        }

    def as_dict(self) -> dict[str, object]:
        return {
            "pilot": self.pilot,
            "month": f"{self.month:%Y-%m}",
            "dry_run": self.dry_run,
            "number": self.number,
            "posted": self.run is not None,
            "nothing_due": self.nothing_due,
            "total": str(self.total),
            **{k: v for k, v in self.summary().items() if k != "total"},
            "paid": [i.as_dict() for i in self.paid],
            "recoupments": [i.as_dict() for i in self.recoupments],
        }


class _NothingToPost(Exception):
    """Raised inside the run's transaction to undo the ledger lock's bookkeeping row."""

    def __init__(self, result: RunResult) -> None:
        self.result = result


# --- computing ------------------------------------------------------------------------


def _hold_short(
    items: list[DueItem], available: dict[tuple[str, str], Decimal]
) -> tuple[list[DueItem], list[Held]]:
    """Pay, in order, each basis whose every part fits what its payer's fund for that
    use still holds; hold the others, saying which fund falls short."""
    left = dict(available)
    paid, held = [], []
    for item in items:
        need: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for part in item.parts:
            need[(part.payer, part.use)] += part.amount
        short = [(k, v) for k, v in need.items() if v > left.get(k, ZERO)]
        if short:
            (payer, use), amount = short[0]
            reason = (
                f"fund:{payer}:{use} has {format_usd(left.get((payer, use), ZERO))} available;"
                f" this needs {format_usd(amount)}"
            )
            held.append(Held(item, reason))
            continue
        for k, v in need.items():
            left[k] = left.get(k, ZERO) - v
        paid.append(item)
    return paid, held


def _outstanding_recoupments(pilot: Pilot) -> dict[int, dict[tuple[str, str], Decimal]]:
    """Recoupment still owed by each provider, by the payer and use it goes back to:
    recouped (less reversed) minus what earlier remittances already netted."""
    owed: dict[int, dict[tuple[str, str], Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    recouped = (
        Entry.objects.filter(transaction__pilot=pilot, account__kind=Account.PAID)
        .filter(
            Q(transaction__kind=Transaction.RECOUPMENT)
            | Q(
                transaction__kind=Transaction.REVERSAL,
                transaction__reverses__kind=Transaction.RECOUPMENT,
            )
        )
        .values("transaction__provider_id", "account__payer", "account__use")
        .annotate(cents=Sum("amount_cents"))
    )
    for row in recouped:
        key = (row["account__payer"], row["account__use"])
        owed[row["transaction__provider_id"]][key] -= Decimal(row["cents"]).scaleb(-2)
    netted = (
        Entry.objects.filter(
            transaction__pilot=pilot,
            transaction__kind=Transaction.REMITTANCE,
            account__kind__in=(Account.FUND, Account.RESERVE),
            amount_cents__gt=0,
        )
        .values("transaction__provider_id", "account__payer", "account__use")
        .annotate(cents=Sum("amount_cents"))
    )
    for row in netted:
        key = (row["account__payer"], row["account__use"])
        owed[row["transaction__provider_id"]][key] -= Decimal(row["cents"]).scaleb(-2)
    return owed


def _remittances(
    pilot: Pilot, paid: list[DueItem], recoupments: list[DueItem], number: int
) -> list[Remittance]:
    """Per provider paid in this run: gross by payer and use, and the recoupment it owes
    (earlier ones still outstanding plus this run's) netted up to the gross — never
    below zero net; the rest stays owed."""
    owed = _outstanding_recoupments(pilot)
    for item in recoupments:
        for part in item.parts:
            owed[item.provider_id][(part.payer, part.use)] += part.amount
    gross: dict[int, dict[tuple[str, str], Decimal]] = defaultdict(
        lambda: defaultdict(lambda: ZERO)
    )
    codes: dict[int, str] = {}
    for item in paid:
        codes[item.provider_id] = item.provider
        for part in item.parts:
            gross[item.provider_id][(part.payer, part.use)] += part.amount
    result = []
    for provider_id in sorted(gross, key=lambda pk: codes[pk]):
        parts = dict(gross[provider_id])
        total = sum(parts.values(), ZERO)
        due_back = {k: v for k, v in owed.get(provider_id, {}).items() if v > 0}
        outstanding = sum(due_back.values(), ZERO)
        netted = min(total, outstanding)
        netted_parts: dict[tuple[str, str], Decimal] = {}
        if netted > 0:
            keys = sorted(due_back)
            shares = allocate(netted, [due_back[k] for k in keys])
            netted_parts = {k: s for k, s in zip(keys, shares, strict=True) if s}
        result.append(
            Remittance(
                provider=codes[provider_id],
                provider_id=provider_id,
                gross=total,
                gross_parts=parts,
                netted=netted,
                netted_parts=netted_parts,
                outstanding_after=outstanding - netted,
                basis_key=f"remit:{pilot.slug}:{number}:{codes[provider_id]}",
            )
        )
    return result


def _check_rights(pilot: Pilot, by: User, paid: list[DueItem]) -> dict[str, str]:
    """The runner's release_payment right must cover each payer and use's total."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for item in paid:
        for part in item.parts:
            totals[(part.payer, part.use)] += part.amount
    rights = {}
    for (payer, use), amount in sorted(totals.items()):
        _, row = covering_right(
            pilot, by, DecisionAction.RELEASE_PAYMENT, payer=payer, use=use, amount=amount
        )
        rights[f"{payer}/{use}"] = row.key
    return rights


def _compute(pilot: Pilot, month: date, by: User, *, dry_run: bool, number: int) -> RunResult:
    found: Due = due(pilot, month)
    exited = unwind.posted_exit(pilot)
    if exited is None:
        paid, held = _hold_short(found.items, ledger.funds_by_payer_and_use(pilot))
    else:  # only the obligations the exit reserved for, in cash from the reserves
        owed = unwind.obligation_bases(exited)
        reserves = ledger.funds_by_payer_and_use(pilot, kind=Account.RESERVE)
        paid, held = _hold_short([i for i in found.items if i.basis_key in owed], reserves)
    result = RunResult(
        pilot=pilot.slug,
        month=month,
        dry_run=dry_run,
        number=number,
        paid=paid,
        recoupments=found.recoupments,
        held=held,
    )
    if result.nothing_due:
        result.number = None
    result.rights = _check_rights(pilot, by, paid)
    result.remittances = _remittances(pilot, paid, found.recoupments, number)
    return result


def _next_number(pilot: Pilot) -> int:
    return (PaymentRun.objects.filter(pilot=pilot).aggregate(n=Max("number"))["n"] or 0) + 1


# --- posting --------------------------------------------------------------------------


def _postings(
    result: RunResult, orgs: dict[int, Organisation], effective_on: date, cash: str
) -> list[Posting]:
    """The run's transactions; cash leaves `cash` accounts (funds, or after the exit the
    reserves) by payer and use."""
    postings = []
    for item in result.paid:
        provider = orgs[item.provider_id]
        legs = [Leg(f"paid:{p.payer}:{p.use}", p.amount) for p in item.parts]
        legs.append(Leg(f"payable:{provider.code}", -item.amount, provider))
        postings.append(
            Posting(
                kind=Transaction.PAYMENT,
                basis_key=item.basis_key,
                legs=legs,
                effective_on=effective_on,
                memo=item.description,
                provider=provider,
                participant_id=item.participant_id,
            )
        )
    for item in result.recoupments:
        provider = orgs[item.provider_id]
        legs = [Leg(f"paid:{p.payer}:{p.use}", -p.amount) for p in item.parts]
        legs.append(Leg(f"recoupment:{provider.code}", item.amount, provider))
        postings.append(
            Posting(
                kind=Transaction.RECOUPMENT,
                basis_key=item.basis_key,
                legs=legs,
                effective_on=effective_on,
                memo=item.description,
                provider=provider,
                participant_id=item.participant_id,
            )
        )
    for r in result.remittances:
        provider = orgs[r.provider_id]
        legs = [Leg(f"payable:{provider.code}", r.gross, provider)]
        legs += [
            Leg(f"{cash}:{payer}:{use}", -a) for (payer, use), a in sorted(r.gross_parts.items())
        ]
        if r.netted:
            legs.append(Leg(f"recoupment:{provider.code}", -r.netted, provider))
            legs += [
                Leg(f"{cash}:{payer}:{use}", a)
                for (payer, use), a in sorted(r.netted_parts.items())
            ]
        postings.append(
            Posting(
                kind=Transaction.REMITTANCE,
                basis_key=r.basis_key,
                legs=legs,
                effective_on=effective_on,
                memo=(
                    f"run {result.number} {result.month:%Y-%m}: gross {r.gross},"
                    f" recoupment netted {r.netted}, net {r.net}"
                ),
                provider=provider,
            )
        )
    return postings


def run_payments(
    *, pilot: Pilot, month: date, by: User, at: datetime, dry_run: bool = False
) -> RunResult:
    """C13 payment release: pay every basis due for `month` not yet paid, once.

    Refused (nothing written) when: the runner may not run payments (policy); the month
    is before the pilot (month_before_pilot) or in the future (future_month); the
    runner's decision right does not cover a payer and use the run charges
    (no_decision_right) or its total (over_limit). Bases whose payer's fund for the use
    cannot cover them are held (listed with the reason), the rest paid. With nothing new
    to pay, nothing is written and the result's total is 0 (`nothing_due`).
    """
    role = policy.require(by, "payment.run", pilot)
    today = pilot.calendar.local_date(at)
    check_month(pilot, month, today)
    if dry_run:
        return _compute(pilot, month, by, dry_run=True, number=_next_number(pilot))
    try:
        with transaction.atomic(durable=True):
            ledger.lock(pilot)  # concurrent runs of this pilot queue here
            number = _next_number(pilot)
            result = _compute(pilot, month, by, dry_run=False, number=number)
            if result.nothing_due:
                raise _NothingToPost(result)
            version = pilot.current.number
            run = PaymentRun.objects.create(
                pilot=pilot,
                number=number,
                month=month,
                run_by=by,
                run_at=at,
                total=result.total,
                summary=result.summary(),
                rulebook_version=version,
            )
            result.run = run
            orgs = {o.pk: o for o in Organisation.objects.all()}
            cash = Account.RESERVE if unwind.posted_exit(pilot) else Account.FUND
            postings = _postings(result, orgs, min(last_day(month), today), cash)
            for start in range(0, len(postings), CHUNK):
                ledger.post_many(pilot, postings[start : start + CHUNK], by=by, at=at, run=run)
            log.append(
                chain=log.pilot_chain(pilot.slug),
                actor=actor(by, role),
                action="payment.run",
                subject=f"payment-run:{number}",
                payload={
                    "month": f"{month:%Y-%m}",
                    "number": number,
                    "total": str(result.total),
                    "gross": str(result.gross),
                    "by_kind": result.by_kind(),
                    "providers": [r.as_dict() for r in result.remittances],
                    "held": len(result.held),
                    "rights": result.rights,
                    "transactions": len(postings),
                },
                at=at,
                rulebook_version=version,
            )
    except _NothingToPost as nothing:
        return nothing.result
    return result
