"""Synthetic money for a simulated pilot, through the real actions (C12–C15).

`simulate_money(pilot=…, seed=S, since=…, until=…)` runs after the participant and
claims history of the same pilot, which it reads but never changes:

- finance commits each payer's defined contribution once, then each month receives a
  twelfth of it, spread over the payer's allowable uses (uses the rulebook's payment
  split charges get three parts, the others one);
- where the decision-rights matrix lets anyone approve spend, frontline staff ask for
  a few small supports a month (transport, flexible supports …) and now and then a
  larger item; each is approved by the first person whose decision right covers it,
  never by the requester, or left waiting in the queues when nobody's does;
- after each month ends, on the rulebook's settlement day, finance runs the month's
  payments, then its reconciliation and its variance cycle.

A step the actions refuse is reported, not retried; so is a pilot that already holds
money records or has nobody in the finance role (then nothing is simulated). Every
action gets the simulated moment as `at` (10:00 on pilot working days); the same seed
and history give the same records.
"""

import random
import time as wallclock
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fundpilot.money import ledger
from fundpilot.money.actions.contributions import commit_contribution, receive_contribution
from fundpilot.money.actions.payments import run_payments
from fundpilot.money.actions.reconciliation import reconcile_month
from fundpilot.money.actions.spending import approve_spend, request_spend
from fundpilot.money.actions.variance import run_variance_cycle
from fundpilot.money.models import SpendRequest, Transaction
from fundpilot.money.monthly import months_between, next_month
from fundpilot.participants.simulation.world import members_by_role
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import allocate, quantize
from fundpilot.rules.rulebook import DecisionAction, PaymentType, Rulebook
from fundpilot.rules.vocabulary import OrgKind, Role

Progress = Callable[[int, int], None]
# Takes one step through an action, recording a refusal instead of raising it.
Act = Callable[..., Any]


@dataclass
class Tally:
    """What a simulation pass did: its actions by name and the refusals it met."""

    months: list[str] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def act(self, name: str, action: Callable[..., Any], **kwargs: Any) -> Any:
        """One step through an action; a refusal is noted and the history goes on."""
        try:
            done = action(**kwargs)
        except Refused as exc:
            self.refused.append(f"{name}: {exc.code}: {exc.message}")
            return None
        self.actions[name] += 1
        return done


@dataclass
class MoneySimulation(Tally):
    paid: Decimal = Decimal("0.00")


def months_ended(since: date, until: date) -> list[date]:
    """Every month from `since`'s that has ended by `until`."""
    months, month = [], ledger.month_of(since)
    while next_month(month) <= until:
        months.append(month)
        month = next_month(month)
    return months


class Clock:
    def __init__(self, pilot: Pilot) -> None:
        self.calendar = pilot.calendar
        self.zone = ZoneInfo(pilot.rulebook.pilot.timezone)

    def working(self, day: date, hour: int = 10) -> datetime:
        """`hour` o'clock on `day`, or on the next working day."""
        while not self.calendar.is_business_day(day):
            day += timedelta(days=1)
        return datetime.combine(day, time(hour), tzinfo=self.zone)


def _use_weights(rb: Rulebook, payer: str) -> tuple[list[str], list[Decimal]]:
    charged = {
        share.use
        for kind in PaymentType
        for share in rb.payment_split.for_type(kind)
        if share.payer == payer
    } | {share.use for t in rb.tranches for share in t.payer_split if share.payer == payer}
    uses = [u.code for u in rb.payer(payer).allowable_uses]
    return uses, [Decimal(3 if u in charged else 1) for u in uses]


def _spend_options(rb: Rulebook) -> list[tuple[str, str]]:
    """(payer, use) pairs, other than those the payment split charges, on which somebody
    may approve spend and somebody may release the payment."""
    charged = {s.use for kind in PaymentType for s in rb.payment_split.for_type(kind)}
    options = []
    for payer in rb.payers:
        for use in payer.allowable_uses:
            may = {
                action: rb.roles_that_may(action, payer=payer.id, use=use.code, amount=None)
                for action in (DecisionAction.APPROVE_SPEND, DecisionAction.RELEASE_PAYMENT)
            }
            if use.code not in charged and all(may.values()):
                options.append((payer.id, use.code))
    return options


def simulate_money(
    *,
    pilot: Pilot,
    seed: int,
    since: date,
    until: datetime,
    progress: Progress | None = None,
) -> MoneySimulation:
    """Contributions, spend requests, payment runs, reconciliations and variance
    cycles for each month from `since` that has ended by `until`."""
    rb = pilot.rulebook
    result = MoneySimulation()
    people = members_by_role(pilot)
    if Transaction.objects.filter(pilot=pilot, kind=Transaction.COMMITMENT).exists():
        result.refused.append(f"{pilot.slug} already holds money records: none simulated")
        return result
    if not people[Role.FINANCE]:
        result.refused.append(f"{pilot.slug} has nobody in the finance role: no money simulated")
        return result
    finance = people[Role.FINANCE][0]
    clock = Clock(pilot)
    rng = random.Random(f"{seed}:money:{pilot.slug}")  # noqa: S311 (a simulation, not security)
    began = wallclock.perf_counter()
    today = clock.calendar.local_date(until)
    start = max(since, rb.pilot.period_start)

    act = result.act

    opened = clock.working(rb.pilot.period_start, 9)
    for payer in rb.payers:
        act(
            "contribution.commit",
            commit_contribution,
            pilot=pilot,
            payer=payer.id,
            by=finance,
            at=opened,
        )
    months = months_ended(start, today)
    for done, month in enumerate(months, start=1):
        result.months.append(f"{month:%Y-%m}")
        _receipts(pilot, rb, month, finance, clock, act)
        _spending(pilot, rb, month, people, clock, rng, act, result.actions)
        settle = clock.working(next_month(month).replace(day=rb.deadlines.settlement_day_of_month))
        if settle > until:
            break
        common = {"pilot": pilot, "month": month, "by": finance}
        run = act("payment.run", run_payments, **common, at=settle)
        if run is not None:
            result.paid += run.total
        act("reconciliation", reconcile_month, **common, at=settle + timedelta(hours=1))
        act("variance.cycle", run_variance_cycle, **common, at=settle + timedelta(hours=2))
        if progress:
            progress(done, len(months))
    result.seconds = wallclock.perf_counter() - began
    return result


def _receipts(
    pilot: Pilot,
    rb: Rulebook,
    month: date,
    finance: User,
    clock: "Clock",
    act: Act,
) -> None:
    at = clock.working(month, 9)
    for payer in rb.payers:
        instalment = quantize(
            payer.contribution / months_between(rb.pilot.period_start, rb.pilot.period_end)
        )
        uses, weights = _use_weights(rb, payer.id)
        parts = dict(zip(uses, allocate(instalment, weights), strict=True))
        act(
            "contribution.receive",
            receive_contribution,
            pilot=pilot,
            payer=payer.id,
            reference=f"{month:%Y-%m}",
            allocations={u: v for u, v in parts.items() if v > 0},
            received_on=at.date(),
            by=finance,
            at=at,
        )


def _spending(
    pilot: Pilot,
    rb: Rulebook,
    month: date,
    people: dict[Role, list[User]],
    clock: "Clock",
    rng: random.Random,
    act: Act,
    counts: Counter[str],
) -> None:
    options = _spend_options(rb)
    requesters = [
        u
        for u in people[Role.FRONTLINE]
        if u.organisation is not None and u.organisation.kind == OrgKind.PROVIDER
    ]
    if not options or not requesters:
        return
    deciders = [
        u
        for role in (Role.SUPERVISOR, Role.FINANCE, Role.EXECUTIVE_SPONSOR, Role.PAYER_REP)
        for u in people[role]
    ]
    for n in range(rng.randint(2, 4)):
        payer, use = rng.choice(options)
        by = rng.choice(requesters)
        large = rng.random() < 0.2
        amount = Decimal(rng.randint(1500, 30000) if large else rng.randint(40, 480)).quantize(
            Decimal("0.01")
        )
        at = clock.working(month + timedelta(days=3 + 7 * n), 11)
        request = act(
            "spend.request",
            request_spend,
            pilot=pilot,
            payer=payer,
            use=use,
            amount=amount,
            payee=by.organisation,
            purpose="Flexible support named in the care plan",
            by=by,
            at=at,
        )
        if not isinstance(request, SpendRequest):
            continue
        decided = at + timedelta(hours=3)
        for decider in deciders:
            if decider.pk == by.pk:
                continue
            try:  # the first person whose decision right covers it approves
                approve_spend(request=request, by=decider, at=decided)
            except Refused:
                continue
            counts["spend.approve"] += 1
            break
