"""C13: what is due to be paid for a pilot and month, and not yet in the ledger.

Every basis the issue names, each read with a handful of set-based queries (never a
query per participant), each excluding — in the database, by `NOT EXISTS` on the
ledger's unique basis key — what the ledger already holds:

- payable claims (participant milestones and contract tranches) that became payable
  up to the month's end, at their `payable_amount` and stored `payer_split`;
- PMPM for each participant on the locked roster (activated before the month ends,
  not removed before it starts), for each day of the month at an authorised service
  level, pro-rated by `rb.pmpm.proration`, split by `payment_split.pmpm`;
- authorised episodes (billable episode activities) that occurred in the month,
  priced by `rb.episodes`, split by `payment_split.episode`;
- approved spend requests decided up to the month's end, charged as requested;
- recoupments (claims `Recoupment`) created up to the month's end, to net against
  what the provider is paid, in the claim's payer split proportions.

Days are the pilot's (its time zone). A service level counts from the local day it was
approved until the day before the next approved level; the roster from the local day of
activation until the day before a removal. The pilot period bounds every day paid.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.db.models import CharField, Exists, F, OuterRef, Value
from django.db.models.functions import Cast, Concat

from fundpilot.claims.models import Claim, Recoupment
from fundpilot.money.models import SpendRequest, Transaction
from fundpilot.money.monthly import last_day, next_month
from fundpilot.participants.models import (
    Activity,
    Participant,
    RosterRemoval,
    ServiceLevelRequest,
)
from fundpilot.pilots.models import Organisation, Pilot
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import allocate, quantize
from fundpilot.rules.rulebook import PayerShare, PaymentType, Proration, Rulebook

MILESTONE, TRANCHE, PMPM, EPISODE, SPEND, RECOUPMENT = (
    "milestone",
    "tranche",
    "pmpm",
    "episode",
    "spend",
    "recoupment",
)
# The order bases are considered in (and held in, when funds run short).
KINDS = (MILESTONE, TRANCHE, PMPM, EPISODE, SPEND)


@dataclass(frozen=True)
class Part:
    """One payer's part of a basis, charged to one of its uses."""

    payer: str
    use: str
    amount: Decimal


@dataclass
class DueItem:
    """One basis to pay (or, kind "recoupment", to take back from the provider)."""

    basis_key: str
    kind: str
    provider: str  # the provider organisation's code
    provider_id: int
    participant_id: str
    amount: Decimal
    parts: tuple[Part, ...]
    description: str
    claim_reference: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "basis_key": self.basis_key,
            "kind": self.kind,
            "provider": self.provider,
            "participant_id": self.participant_id,
            "amount": str(self.amount),
            "parts": [
                {"payer": p.payer, "use": p.use, "amount": str(p.amount)} for p in self.parts
            ],
            "description": self.description,
            "claim_reference": self.claim_reference,
        }


@dataclass
class Due:
    month: date
    items: list[DueItem] = field(default_factory=list)
    recoupments: list[DueItem] = field(default_factory=list)
    organisations: dict[int, Organisation] = field(default_factory=dict)


# --- months -------------------------------------------------------------------------


def month_bounds(pilot: Pilot, month: date) -> tuple[datetime, datetime]:
    """The instants the pilot-local month begins and the next one begins."""
    zone = ZoneInfo(pilot.rulebook.pilot.timezone)
    following = next_month(month)
    return (
        datetime(month.year, month.month, 1, tzinfo=zone),
        datetime(following.year, following.month, 1, tzinfo=zone),
    )


def check_month(pilot: Pilot, month: date, today: date) -> None:
    """A payment month is within the pilot (from its first month) and not in the future."""
    if month.day != 1:
        raise Refused("invalid_month", f"{month} is not the first day of a month", "month")
    start = pilot.rulebook.pilot.period_start
    if month < start.replace(day=1):
        raise Refused(
            "month_before_pilot",
            f"{month:%Y-%m} is before the pilot began ({start:%Y-%m-%d})",
            "month",
        )
    if month > today.replace(day=1):
        raise Refused(
            "future_month",
            f"{month:%Y-%m} is in the future: today is {today:%Y-%m-%d} in the pilot's time zone",
            "month",
        )


# --- splits -------------------------------------------------------------------------


def split(amount: Decimal, shares: tuple[PayerShare, ...], what: str) -> tuple[Part, ...]:
    """Each payer's part of `amount` by the rulebook's shares; the parts sum exactly."""
    if not shares:
        raise Refused(
            "no_payer_split", f"the rulebook names no payer split for {what} payments", "month"
        )
    return _split(amount, shares)


@lru_cache(maxsize=4096)
def _split(amount: Decimal, shares: tuple[PayerShare, ...]) -> tuple[Part, ...]:
    # Most PMPM months and every episode of a kind share an amount: split each once.
    parts = allocate(amount, [s.share for s in shares])
    return tuple(Part(s.payer, s.use, a) for s, a in zip(shares, parts, strict=True))


def _posted(name: str) -> Exists:
    """Whether the ledger holds the basis key in the outer row's field `name`."""
    return Exists(Transaction.objects.filter(basis_key=OuterRef(name)))


# --- the bases ----------------------------------------------------------------------


def _claims(pilot: Pilot, end: datetime, orgs: dict[int, Organisation]) -> list[DueItem]:
    rows = (
        Claim.objects.filter(
            pilot=pilot, status=Claim.PAYABLE, payable_at__lt=end, basis_key__isnull=False
        )
        .filter(~_posted("basis_key"))
        .values(
            "basis_key",
            "scope",
            "reference",
            "milestone",
            "tranche",
            "provider_id",
            "participant__participant_id",
            "payable_amount",
            "payer_split",
        )
        .order_by("payable_at", "pk")
    )
    items = []
    for r in rows:
        kind = TRANCHE if r["scope"] == "contract" else MILESTONE
        what = f"tranche {r['tranche']}" if kind == TRANCHE else f"milestone {r['milestone']}"
        items.append(
            DueItem(
                basis_key=r["basis_key"],
                kind=kind,
                provider=orgs[r["provider_id"]].code,
                provider_id=r["provider_id"],
                participant_id=r["participant__participant_id"] or "",
                amount=r["payable_amount"],
                parts=tuple(
                    Part(p["payer"], p["use"], Decimal(p["amount"])) for p in r["payer_split"]
                ),
                description=f"{what}, claim {r['reference']}",
                claim_reference=r["reference"],
            )
        )
    return items


@dataclass(frozen=True)
class _Days:
    """A participant's days at each level within the month (by level code), in order."""

    days: dict[str, int]
    last_level: str


def pmpm_amount(rb: Rulebook, spans: _Days, days_in_month: int) -> Decimal:
    """The month's PMPM for these days at these levels, by the rulebook's proration:
    daily, rate × days ÷ days in the month summed over the levels, then rounded to the
    cent once; full_month, the whole rate of the level held on the last covered day."""
    rates = {sl.code: sl.pmpm for sl in rb.service_levels}
    if rb.pmpm.proration == Proration.FULL_MONTH:
        return rates[spans.last_level]
    exact = sum(
        (Fraction(rates[level]) * days / days_in_month for level, days in spans.days.items()),
        Fraction(0),
    )
    return quantize(Decimal(exact.numerator) / Decimal(exact.denominator))


def _level_days(
    approvals: list[tuple[date, str]], first: date, last: date, levels: set[str]
) -> _Days | None:
    """Days in [first, last] at each approved level: a level holds from its approval day
    until the day before the next approval (the later of two on one day wins)."""
    days: dict[str, int] = defaultdict(int)
    last_level = ""
    for i, (since, level) in enumerate(approvals):
        until = approvals[i + 1][0] - timedelta(days=1) if i + 1 < len(approvals) else last
        lo, hi = max(since, first), min(until, last)
        if hi < lo or level not in levels:
            continue
        days[level] += (hi - lo).days + 1
        last_level = level
    return _Days(dict(days), last_level) if days else None


def _pmpm(pilot: Pilot, month: date, end: datetime, orgs: dict[int, Organisation]) -> list[DueItem]:
    rb = pilot.rulebook
    if not rb.service_levels:
        return []
    zone = ZoneInfo(rb.pilot.timezone)
    first = max(month, rb.pilot.period_start)
    last = min(last_day(month), rb.pilot.period_end)
    if last < first:
        return []
    label = f"{month:%Y-%m}"
    prefix = f"pmpm:{pilot.slug}:"
    key = Concat(Value(prefix), F("participant_id"), Value(f":{label}"), output_field=CharField())
    people = list(
        Participant.objects.filter(
            pilot=pilot,
            status__in=(Participant.ACTIVATED, Participant.REMOVED),
            activated_at__lt=end,
        )
        .annotate(key=key)
        .filter(~_posted("key"))
        .values_list("pk", "participant_id", "provider_id", "activated_at")
    )
    if not people:
        return []
    removed: dict[int, date] = {}
    for pk, at in (
        RosterRemoval.objects.filter(participant__pilot=pilot)
        .order_by("decided_at")
        .values_list("participant_id", "decided_at")
    ):
        removed.setdefault(pk, at.astimezone(zone).date())
    approvals: dict[int, list[tuple[date, str]]] = defaultdict(list)
    for pk, at, level in (
        ServiceLevelRequest.objects.filter(
            participant__pilot=pilot,
            status=ServiceLevelRequest.APPROVED,
            approved_at__lt=end,
        )
        .order_by("approved_at", "pk")
        .values_list("participant_id", "approved_at", "level")
    ):
        approvals[pk].append((at.astimezone(zone).date(), level))
    levels = {sl.code for sl in rb.service_levels}
    shares = rb.payment_split.for_type(PaymentType.PMPM)
    days_in_month = last_day(month).day
    proration = rb.pmpm.proration.value
    items = []
    amounts: dict[tuple[object, ...], Decimal] = {}  # most participants share a pattern
    for pk, participant_id, provider_id, activated_at in people:
        start = max(first, activated_at.astimezone(zone).date())
        stop = last
        if pk in removed:
            stop = min(stop, removed[pk] - timedelta(days=1))
        spans = _level_days(approvals.get(pk, []), start, stop, levels) if stop >= start else None
        if spans is None:
            continue
        pattern = (tuple(spans.days.items()), spans.last_level)
        if pattern not in amounts:
            amounts[pattern] = pmpm_amount(rb, spans, days_in_month)
        amount = amounts[pattern]
        if amount == 0:
            continue
        held = ", ".join(f"{level} {n} days" for level, n in spans.days.items())
        items.append(
            DueItem(
                basis_key=f"{prefix}{participant_id}:{label}",
                kind=PMPM,
                provider=orgs[provider_id].code,
                provider_id=provider_id,
                participant_id=participant_id,
                amount=amount,
                parts=split(amount, shares, "PMPM"),
                description=f"PMPM {label}: {held} of {days_in_month} ({proration})",
            )
        )
    return items


def _episodes(
    pilot: Pilot, start: datetime, end: datetime, orgs: dict[int, Organisation]
) -> list[DueItem]:
    rb = pilot.rulebook
    if not rb.episodes:
        return []
    prices = {e.code: (e.price, e.name) for e in rb.episodes}
    prefix = f"episode:{pilot.slug}:"
    key = Concat(Value(prefix), Cast("pk", CharField()), output_field=CharField())
    rows = (
        Activity.objects.filter(
            participant__pilot=pilot,
            billable=True,
            episode__in=list(prices),
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .annotate(key=key)
        .filter(~_posted("key"))
        .order_by("occurred_at", "pk")
        .values_list(
            "pk",
            "episode",
            "participant__participant_id",
            "participant__provider_id",
            "occurred_at",
        )
    )
    shares = rb.payment_split.for_type(PaymentType.EPISODE)
    zone = ZoneInfo(rb.pilot.timezone)
    items = []
    for pk, code, participant_id, provider_id, occurred_at in rows:
        price, name = prices[code]
        items.append(
            DueItem(
                basis_key=f"{prefix}{pk}",
                kind=EPISODE,
                provider=orgs[provider_id].code,
                provider_id=provider_id,
                participant_id=participant_id,
                amount=price,
                parts=split(price, shares, "episode"),
                description=f"{code} {name} on {occurred_at.astimezone(zone):%Y-%m-%d}",
            )
        )
    return items


def _spend(pilot: Pilot, end: datetime, orgs: dict[int, Organisation]) -> list[DueItem]:
    prefix = f"spend:{pilot.slug}:"
    key = Concat(Value(prefix), F("reference"), output_field=CharField())
    rows = (
        SpendRequest.objects.filter(pilot=pilot, status=SpendRequest.APPROVED, decided_at__lt=end)
        .annotate(key=key)
        .filter(~_posted("key"))
        .order_by("decided_at", "pk")
        .values_list("reference", "payer", "use", "amount", "payee_id", "participant_id", "purpose")
    )
    return [
        DueItem(
            basis_key=f"{prefix}{reference}",
            kind=SPEND,
            provider=orgs[payee_id].code,
            provider_id=payee_id,
            participant_id=participant_id,
            amount=amount,
            parts=(Part(payer, use, amount),),
            description=f"spend request {reference}: {purpose}"[:300],
        )
        for reference, payer, use, amount, payee_id, participant_id, purpose in rows
    ]


def _recoupments(pilot: Pilot, end: datetime, orgs: dict[int, Organisation]) -> list[DueItem]:
    rows = (
        Recoupment.objects.filter(pilot=pilot, created_at__lt=end)
        .filter(~_posted("basis_key"))
        .order_by("created_at", "pk")
        .values_list(
            "basis_key",
            "provider_id",
            "amount",
            "reason",
            "claim__reference",
            "claim__participant__participant_id",
            "claim__payer_split",
        )
    )
    items = []
    for key, provider_id, amount, reason, reference, participant_id, payer_split in rows:
        shares = [Decimal(p["share"]) for p in payer_split]
        parts = allocate(amount, shares) if shares else []
        items.append(
            DueItem(
                basis_key=key,
                kind=RECOUPMENT,
                provider=orgs[provider_id].code,
                provider_id=provider_id,
                participant_id=participant_id or "",
                amount=amount,
                parts=tuple(
                    Part(p["payer"], p["use"], a) for p, a in zip(payer_split, parts, strict=True)
                ),
                description=f"recoupment of claim {reference} ({reason.replace('_', ' ')})",
                claim_reference=reference,
            )
        )
    return items


def due(pilot: Pilot, month: date) -> Due:
    """Every basis due for `month` and not yet in the ledger (see the module docstring).
    The caller checks the month (`check_month`) and, to post, holds the ledger lock."""
    start, end = month_bounds(pilot, month)
    orgs = {o.pk: o for o in Organisation.objects.all()}  # a small table
    result = Due(month=month, organisations=orgs)
    result.items = [
        *_claims(pilot, end, orgs),
        *_pmpm(pilot, month, end, orgs),
        *_episodes(pilot, start, end, orgs),
        *_spend(pilot, end, orgs),
    ]
    result.recoupments = _recoupments(pilot, end, orgs)
    return result
