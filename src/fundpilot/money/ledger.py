"""The double-entry ledger: post balanced transactions on a basis, read balances.

Everything that moves money calls `post` (one transaction) or `post_many` (a payment
run's set, written in bulk) inside its action's database transaction; the action
writes the audit record. A leg is a signed amount on an account: debit positive,
credit negative; the legs of a transaction sum to zero, and the database refuses
anything else (see `ledger_sql.py`).

Account codes: `receivable:<payer>`, `contribution:<payer>`, `fund:<payer>:<use>`,
`paid:<payer>:<use>`, `reserve:<payer>`, `returned:<payer>`, `payable:<provider org
code>`, `recoupment:<provider org code>`.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Model, Q, Sum

from fundpilot.money.models import Account, Entry, LedgerHead, PaymentRun, Period, Transaction
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import CENT


def month_of(day: date) -> date:
    return day.replace(day=1)


def parse_month(text: str) -> date:
    """'2026-03' → date(2026, 3, 1); a clear refusal for anything else."""
    try:
        year, month = text.strip().split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise Refused("invalid_month", f"{text!r} is not a month: write YYYY-MM", "month") from None


# --- accounts -------------------------------------------------------------------------


def payer_account(kind: str, payer: str, use: str = "") -> str:
    return f"{kind}:{payer}:{use}" if use else f"{kind}:{payer}"


def provider_account(kind: str, provider: Organisation) -> str:
    return f"{kind}:{provider.code}"


@dataclass(frozen=True)
class Leg:
    """One side of a transaction: debit when positive, credit when negative."""

    account: str
    amount: Decimal
    provider: Organisation | None = None  # for payable/recoupment accounts


@dataclass
class Posting:
    """A transaction to post: its basis, legs and what it is about."""

    kind: str
    basis_key: str
    legs: Sequence[Leg]
    effective_on: date
    memo: str = ""
    provider: Organisation | None = None
    participant_id: str = ""
    reverses: Transaction | None = None
    details: dict[str, str] = field(default_factory=dict)


def _cents(amount: Decimal) -> int:
    if amount != amount.quantize(CENT):
        raise Refused("invalid_amount", f"{amount} has more than 2 decimal places", "amount")
    return int(amount.scaleb(2))


def _check(posting: Posting) -> None:
    legs = [leg for leg in posting.legs if leg.amount != 0]
    if len(legs) < 2:
        raise Refused(
            "unbalanced", f"{posting.basis_key}: a transaction needs two or more legs", "legs"
        )
    total = sum((leg.amount for leg in legs), Decimal(0))
    if total != 0:
        raise Refused(
            "unbalanced", f"{posting.basis_key}: the legs sum to {total}, not zero", "legs"
        )


def _parts(code: str) -> dict[str, str]:
    kind, _, rest = code.partition(":")
    if kind not in Account.KINDS:
        raise ValueError(f"unknown account kind in {code!r}")
    if kind in (Account.PAYABLE, Account.RECOUPMENT):
        return {"kind": kind}
    payer, _, use = rest.partition(":")
    return {"kind": kind, "payer": payer, "use": use}


def accounts(pilot: Pilot, legs: Iterable[Leg]) -> dict[str, int]:
    """Account ids by code, creating the accounts that do not exist yet."""
    wanted = {leg.account: leg for leg in legs}
    have = dict(Account.objects.filter(pilot=pilot, code__in=wanted).values_list("code", "pk"))
    missing = [
        Account(pilot=pilot, code=code, provider=leg.provider, **_parts(code))
        for code, leg in wanted.items()
        if code not in have
    ]
    if missing:
        Account.objects.bulk_create(missing, ignore_conflicts=True)
        have = dict(Account.objects.filter(pilot=pilot, code__in=wanted).values_list("code", "pk"))
    return have


# --- periods --------------------------------------------------------------------------


def period_status(pilot: Pilot, month: date) -> str:
    status = Period.objects.filter(pilot=pilot, month=month).values_list("status", flat=True)
    return status.first() or Period.OPEN


def posting_month(pilot: Pilot, effective_on: date, today: date) -> tuple[date, date | None]:
    """The month a posting goes to, and the month it adjusts when that one is shut:
    a late item for a locked or closed month posts to the first open month from
    today's (so it is seen, never lost)."""
    month = month_of(effective_on)
    if period_status(pilot, month) == Period.OPEN:
        return month, None
    target = max(month_of(today), month)
    shut = set(
        Period.objects.filter(pilot=pilot, month__gte=target)
        .exclude(status=Period.OPEN)
        .values_list("month", flat=True)
    )
    while target in shut:
        target = date(target.year + target.month // 12, target.month % 12 + 1, 1)
    return target, month


# --- posting --------------------------------------------------------------------------


def lock(pilot: Pilot) -> LedgerHead:
    """Lock the pilot's ledger for this database transaction (serialises postings)."""
    if not connection.in_atomic_block:
        raise RuntimeError("ledger postings must run inside the action's transaction")
    LedgerHead.objects.bulk_create([LedgerHead(pilot=pilot)], ignore_conflicts=True)
    return LedgerHead.objects.select_for_update().get(pilot=pilot)


def post_many(
    pilot: Pilot,
    postings: Sequence[Posting],
    *,
    by: User | None,
    at: datetime,
    run: PaymentRun | None = None,
) -> list[int]:
    """Post many balanced transactions in bulk (legs first, headers last); return their
    numbers.

    Refuses (writing nothing of its own) an unbalanced posting or a basis already
    posted; the database's unique basis key refuses one posted concurrently. Rows go in
    as tuples (a payment run posts hundreds of thousands); the database's triggers check
    every header's legs all the same.
    """
    if not postings:
        return []
    for posting in postings:
        _check(posting)
    keys = [p.basis_key for p in postings]
    if len(set(keys)) != len(keys):
        raise Refused("basis_repeated", "the same basis appears twice in one posting", "basis")
    head = lock(pilot)
    done = basis_posted(keys)
    if done:
        first = sorted(done)[0]
        raise Refused("already_posted", f"{first} is already in the ledger", "basis")
    ids = accounts(pilot, (leg for p in postings for leg in p.legs))
    today = pilot.calendar.local_date(at)
    version = pilot.current.number
    prep = _Prepared()
    months: dict[date, tuple[date, date | None]] = {}
    headers, legs, numbers = [], [], []
    posted_at = prep.value("posted_at", at)
    for number, posting in enumerate(postings, start=head.next_number):
        key = month_of(posting.effective_on)
        if key not in months:
            months[key] = posting_month(pilot, posting.effective_on, today)
        period, adjusts = months[key]
        txn_id = prep.value("id", uuid.uuid4())
        cents = [(ids[leg.account], _cents(leg.amount)) for leg in posting.legs if leg.amount != 0]
        legs.extend((txn_id, account, amount) for account, amount in cents)
        headers.append(
            (
                txn_id,
                pilot.pk,
                number,
                posting.kind,
                posting.basis_key,
                prep.value("period", period),
                prep.value("adjusts", adjusts),
                prep.value("effective_on", posting.effective_on if adjusts is None else period),
                posted_at,
                by.pk if by else None,
                posting.provider.pk if posting.provider else None,
                posting.participant_id,
                run.pk if run else None,
                prep.value("reverses", posting.reverses.pk) if posting.reverses else None,
                sum(amount for _, amount in cents if amount > 0),
                posting.memo[:300],
                version,
            )
        )
        numbers.append(number)
    _insert(Entry, ENTRY_FIELDS, legs)
    _insert(Transaction, TRANSACTION_FIELDS, headers)
    head.next_number += len(headers)
    head.save(update_fields=["next_number"])
    _ensure_periods(pilot, {p for p, _ in months.values()})
    return numbers


def post(pilot: Pilot, posting: Posting, *, by: User | None, at: datetime) -> Transaction:
    """Post one balanced transaction (inside the calling action's transaction)."""
    (number,) = post_many(pilot, [posting], by=by, at=at)
    return Transaction.objects.get(pilot=pilot, number=number)


ENTRY_FIELDS = ("transaction", "account", "amount_cents")
TRANSACTION_FIELDS = (
    "id",
    "pilot",
    "number",
    "kind",
    "basis_key",
    "period",
    "adjusts",
    "effective_on",
    "posted_at",
    "posted_by",
    "provider",
    "participant_id",
    "run",
    "reverses",
    "amount_cents",
    "memo",
    "rulebook_version",
)


class _Prepared:
    """Database forms of Transaction field values, each distinct value prepared once."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, object], object] = {}

    def value(self, name: str, value: object) -> object:
        if value is None:
            return None
        key = (name, value)
        if key not in self.cache:
            field = Transaction._meta.get_field(name)
            if field.is_relation:
                field = field.target_field  # type: ignore[union-attr]
            self.cache[key] = field.get_db_prep_save(value, connection)
        return self.cache[key]


def _insert(model: type[Model], fields: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(f).column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            cursor.executemany(sql, rows[start : start + 5000])


def _ensure_periods(pilot: Pilot, months: set[date]) -> None:
    Period.objects.bulk_create(
        [Period(pilot=pilot, month=m) for m in months], ignore_conflicts=True
    )


def reversal_of(txn: Transaction, *, effective_on: date, reason: str) -> Posting:
    """The posting that undoes `txn`: every leg mirrored, naming what it reverses."""
    legs = [
        Leg(entry.account.code, -entry.amount, entry.account.provider)
        for entry in txn.legs.select_related("account__provider")
    ]
    return Posting(
        kind=Transaction.REVERSAL,
        basis_key=f"reversal:{txn.basis_key}"[:200],
        legs=legs,
        effective_on=effective_on,
        memo=f"reverses T{txn.number}: {reason}",
        provider=txn.provider,
        participant_id=txn.participant_id,
        reverses=txn,
    )


# --- reading --------------------------------------------------------------------------


def balances(
    pilot: Pilot,
    *,
    on: date | None = None,
    kind: str | None = None,
    payer: str | None = None,
) -> dict[str, Decimal]:
    """Account balances derived from the entries (debit positive), as of `on`."""
    rows = Entry.objects.filter(account__pilot=pilot)
    if on is not None:
        rows = rows.filter(transaction__effective_on__lte=on)
    if kind is not None:
        rows = rows.filter(account__kind=kind)
    if payer is not None:
        rows = rows.filter(account__payer=payer)
    totals = rows.values("account__code").annotate(cents=Sum("amount_cents"))
    return {row["account__code"]: Decimal(row["cents"]).scaleb(-2) for row in totals}


def fund_available(pilot: Pilot, payer: str, use: str, on: date | None = None) -> Decimal:
    """Cash held for this payer and use: the fund account's balance."""
    code = payer_account(Account.FUND, payer, use)
    return balances(pilot, on=on).get(code, Decimal("0.00"))


def funds_by_payer_and_use(
    pilot: Pilot, on: date | None = None, kind: str = Account.FUND
) -> dict[tuple[str, str], Decimal]:
    """Every (payer, use) balance of `fund` (or, after an exit, `reserve`) accounts,
    including zero ones the rulebook allows."""
    result: dict[tuple[str, str], Decimal] = defaultdict(lambda: Decimal("0.00"))
    for payer in pilot.rulebook.payers:
        for use in payer.allowable_uses:
            result[(payer.id, use.code)] = Decimal("0.00")
    rows = Entry.objects.filter(account__pilot=pilot, account__kind=kind)
    if on is not None:
        rows = rows.filter(transaction__effective_on__lte=on)
    for row in rows.values("account__payer", "account__use").annotate(cents=Sum("amount_cents")):
        result[(row["account__payer"], row["account__use"])] = Decimal(row["cents"]).scaleb(-2)
    return dict(result)


def is_reversed(txn: Transaction) -> bool:
    return Transaction.objects.filter(reverses=txn).exists()


def basis_posted(keys: Iterable[str]) -> set[str]:
    """Which of these basis keys are already in the ledger."""
    return set(
        Transaction.objects.filter(basis_key__in=list(keys)).values_list("basis_key", flat=True)
    )


def unbalanced_transactions(pilot: Pilot) -> list[int]:
    """Numbers of transactions whose legs do not sum to zero (should be none, ever)."""
    sums = (
        Entry.objects.filter(transaction__pilot=pilot)
        .values("transaction__number")
        .annotate(cents=Sum("amount_cents"))
        .filter(~Q(cents=0))
    )
    return sorted(row["transaction__number"] for row in sums)
