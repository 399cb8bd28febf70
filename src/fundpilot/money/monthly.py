"""What the monthly cycles (C14 reconciliation, C15 variance) share: the month's bounds
in the pilot's calendar, which ledger transactions count in a month, and the checks a
month must pass before a cycle runs on it."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q

from fundpilot.money.ledger import month_of
from fundpilot.money.models import Transaction
from fundpilot.participants.queues import start_of
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import CENT

# Basis key prefixes of the payment bases (C13), as the chart of accounts names them.
PMPM, EPISODE, MILESTONE, TRANCHE, SPEND = "pmpm", "episode", "milestone", "tranche", "spend"
BASIS_KINDS = (PMPM, EPISODE, MILESTONE, TRANCHE, SPEND)
ZERO = Decimal("0.00")


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def last_day(month: date) -> date:
    return next_month(month) - timedelta(days=1)


def months_between(first: date, last: date) -> int:
    """Calendar months from `first`'s month to `last`'s, both included."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


def month_end_instant(pilot: Pilot, month: date) -> datetime:
    """The instant the month ends in the pilot's zone (the next month's first moment)."""
    return start_of(pilot, next_month(month))


def check_month(pilot: Pilot, month: date, at: datetime) -> None:
    """A cycle runs on a month of the pilot's period that has begun."""
    today = pilot.calendar.local_date(at)
    if month > month_of(today):
        raise Refused("month_in_future", f"{month:%Y-%m} has not begun yet", "month")
    period = pilot.rulebook.pilot
    if not month_of(period.period_start) <= month <= month_of(period.period_end):
        raise Refused(
            "outside_pilot_period",
            f"{month:%Y-%m} is outside the pilot period"
            f" {period.period_start} – {period.period_end}",
            "month",
        )


def money(cents: int | None) -> Decimal:
    return Decimal(cents or 0).scaleb(-2).quantize(CENT)


def percent(actual: Decimal, plan: Decimal) -> Decimal | None:
    """(actual − plan) / plan, in percent to 2 places; None without a plan."""
    if plan == 0:
        return None
    return ((actual - plan) / plan * 100).quantize(CENT)


def over(value: Decimal | None, threshold: Decimal | None) -> bool:
    """A variance counts when its size (above or below plan) exceeds the threshold."""
    return value is not None and threshold is not None and abs(value) > threshold


def reversed_by(on: date, ref: str = "pk") -> Exists:
    """Whether the transaction at `ref` was reversed by a reversal effective on or
    before `on` (exclude it: a reversed basis no longer counts)."""
    return Exists(Transaction.objects.filter(reverses=OuterRef(ref), effective_on__lte=on))


def in_month(month: date, prefix: str = "") -> Q:
    """The payment bases that count in `month`: a PMPM basis for its member-month (the
    month its key names), every other basis by the day it took effect."""
    key = f"{prefix}basis_key"
    effective = f"{prefix}effective_on"
    pmpm = Q(**{f"{key}__startswith": f"{PMPM}:", f"{key}__endswith": f":{month:%Y-%m}"})
    other = ~Q(**{f"{key}__startswith": f"{PMPM}:"}) & Q(
        **{f"{effective}__gte": month, f"{effective}__lte": last_day(month)}
    )
    return pmpm | other


def basis_q(kind: str, prefix: str = "") -> Q:
    return Q(**{f"{prefix}basis_key__startswith": f"{kind}:"})


def owner_may(pilot: Pilot, owner: User, perm: str) -> None:
    """Work is owned only by someone who may do it."""
    if not policy.allowed(owner, perm, pilot):
        raise Refused(
            "owner_not_permitted",
            f"{owner.username} may not {perm} in {pilot.slug}, so cannot own this",
            "owner",
        )


def due_ahead(pilot: Pilot, due: date, at: datetime) -> None:
    if due < pilot.calendar.local_date(at):
        raise Refused("due_in_past", f"{due} is already past", "due")
