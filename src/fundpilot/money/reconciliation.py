"""C14 monthly multi-payer reconciliation: the figures, computed set-based from the
ledger and the lifecycle data.

Per payer, for one month (the pilot's calendar month):

- contribution: committed (the credit balance of `contribution:<payer>`), received (the
  receipts credited to `receivable:<payer>`), in the month and to date, and what is
  still outstanding;
- spend by allowable use: the balance of `paid:<payer>:<use>` from entries effective in
  the month and to date (recoupments and reversals net against it), and the cash still
  available in `fund:<payer>:<use>` at the month's end;
- utilisation, from the payment bases that charged the payer (`transaction.kind` =
  payment, by basis key prefix), reversed bases left out: member-months (`pmpm:` bases
  of the month — a PMPM basis counts for the member-month its key names), episodes
  (`episode:`), milestones (`milestone:`), tranches (`tranche:`) and approved spend
  (`spend:`) taking effect in the month, and the distinct participants they paid for;
  the locked roster (participants activated before the month's end and not removed by
  then) is counted pilot-wide;
- outcomes: milestones reached in the month (payable participant claims, counted for
  every payer sharing the milestone split) and contract milestones (payable tranche
  claims, for the payers of the tranche's split);
- open disputes (C11) that concern the payer: a dispute of a claim's verification or
  sample audit for the payers of that claim's split; an activation dispute for every
  payer (the roster is shared);
- the plan, and the variance from it.

**The plan.** The rulebook has no budget section, so the plan is straight-line: a
payer's contribution spent evenly over the pilot period. Plan to date = contribution ×
months elapsed (from the period's first month to this one, both included) ÷ months in
the pilot period. The actual is the payer's spend to date; variance % = (actual −
plan) ÷ plan × 100. A variance whose size, above or below plan, exceeds the rulebook's
`variance.payer_percent` opens an investigation (none when the rulebook sets no
threshold).
"""

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    Model,
    OuterRef,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from fundpilot.claims.models import Claim, Dispute
from fundpilot.money.models import Account, Entry, Transaction
from fundpilot.money.monthly import (
    BASIS_KINDS,
    ZERO,
    in_month,
    last_day,
    money,
    month_end_instant,
    months_between,
    over,
    percent,
    reversed_by,
)
from fundpilot.participants.models import Participant, RosterRemoval
from fundpilot.pilots.models import Pilot
from fundpilot.rules.money import quantize
from fundpilot.rules.rulebook import PaymentType, Rulebook

R = TypeVar("R", bound=Model)

METHOD = (
    "Plan to date = contribution × months elapsed ÷ months in the pilot period (straight"
    " line; the rulebook has no budget). Variance % = (spend to date − plan) ÷ plan."
)
# The utilisation counts, by basis kind.
COUNTS = {
    "pmpm": "member_months",
    "episode": "episodes",
    "milestone": "milestones",
    "tranche": "tranches",
    "spend": "spend_requests",
}


def roster_count(pilot: Pilot, month: date) -> int:
    """Participants on the locked activation roster at the month's end."""
    end = month_end_instant(pilot, month)
    removed = RosterRemoval.objects.filter(participant=OuterRef("pk"), decided_at__lt=end)
    rows = Participant.objects.filter(
        pilot=pilot,
        status__in=(Participant.ACTIVATED, Participant.REMOVED),
        activated_at__lt=end,
    )
    return rows.exclude(Exists(removed)).count()


def _balances(pilot: Pilot, first: date | None, last: date) -> dict[tuple[str, str, str], Decimal]:
    """(kind, payer, use) → balance of entries effective in [first, last]."""
    rows = Entry.objects.filter(account__pilot=pilot, transaction__effective_on__lte=last)
    if first is not None:
        rows = rows.filter(transaction__effective_on__gte=first)
    rows = rows.exclude(account__payer="")
    totals = rows.values("account__kind", "account__payer", "account__use").annotate(
        cents=Sum("amount_cents")
    )
    return {
        (r["account__kind"], r["account__payer"], r["account__use"]): money(r["cents"])
        for r in totals
    }


def _received(pilot: Pilot, first: date | None, last: date) -> dict[str, Decimal]:
    """Receipts per payer: what was credited to its receivable by receipt transactions."""
    rows = Entry.objects.filter(
        account__pilot=pilot,
        account__kind=Account.RECEIVABLE,
        transaction__kind=Transaction.RECEIPT,
        transaction__effective_on__lte=last,
    )
    if first is not None:
        rows = rows.filter(transaction__effective_on__gte=first)
    totals = rows.values("account__payer").annotate(cents=Sum("amount_cents"))
    return {r["account__payer"]: -money(r["cents"]) for r in totals}


def _basis_kind() -> Case:
    return Case(
        *(
            When(transaction__basis_key__startswith=f"{kind}:", then=Value(kind))
            for kind in BASIS_KINDS
        ),
        default=Value(""),
        output_field=CharField(),
    )


def _utilisation(pilot: Pilot, month: date) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per payer: counts of the payment bases of the month that charged it, by kind, and
    the distinct participants they paid for."""
    last = last_day(month)
    rows = (
        Entry.objects.filter(
            account__pilot=pilot,
            account__kind=Account.PAID,
            transaction__kind=Transaction.PAYMENT,
        )
        .filter(in_month(month, "transaction__"))
        .exclude(reversed_by(last, "transaction"))
    )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS.values(), 0))
    grouped = (
        rows.annotate(basis=_basis_kind())
        .values("account__payer", "basis")
        .annotate(n=Count("transaction", distinct=True))
    )
    for r in grouped:
        if r["basis"]:
            counts[r["account__payer"]][COUNTS[r["basis"]]] = r["n"]
    people = (
        rows.exclude(transaction__participant_id="")
        .values("account__payer")
        .annotate(n=Count("transaction__participant_id", distinct=True))
    )
    return counts, {r["account__payer"]: r["n"] for r in people}


def _split_payers(rb: Rulebook) -> tuple[set[str], dict[str, set[str]]]:
    """Who shares milestone payments, and who shares each tranche."""
    milestone = {s.payer for s in rb.payment_split.for_type(PaymentType.MILESTONE)}
    default = {s.payer for s in rb.payment_split.for_type(PaymentType.TRANCHE)}
    tranches = {t.code: ({s.payer for s in t.payer_split} or default) for t in rb.tranches}
    return milestone, tranches


def _outcomes(pilot: Pilot, month: date, rb: Rulebook) -> dict[str, dict[str, int]]:
    """Milestones reached (payable claims) in the month and to date, per payer."""
    milestone_payers, tranche_payers = _split_payers(rb)
    last = last_day(month)
    payable = Claim.objects.filter(pilot=pilot, status=Claim.PAYABLE, reached_on__lte=last)
    grouped = (
        payable.annotate(
            this_month=Case(
                When(reached_on__gte=month, then=Value(1)),
                default=Value(0),
            )
        )
        .values("scope", "tranche", "this_month")
        .annotate(n=Count("pk"))
    )
    result: dict[str, dict[str, int]] = defaultdict(
        lambda: {
            "milestones_reached": 0,
            "milestones_reached_to_date": 0,
            "contract_milestones_reached": 0,
            "contract_milestones_reached_to_date": 0,
        }
    )
    for r in grouped:
        contract = r["scope"] == "contract"
        payers = tranche_payers.get(r["tranche"], set()) if contract else milestone_payers
        name = "contract_milestones_reached" if contract else "milestones_reached"
        for payer in payers:
            result[payer][f"{name}_to_date"] += r["n"]
            if r["this_month"]:
                result[payer][name] += r["n"]
    return result


def open_disputes(pilot: Pilot, rb: Rulebook) -> dict[str, int]:
    """Open C11 disputes per payer they concern (see the module doc)."""
    milestone_payers, tranche_payers = _split_payers(rb)
    every = {p.id for p in rb.payers}
    grouped = (
        Dispute.objects.filter(pilot=pilot, status=Dispute.OPEN)
        .annotate(
            scope=Coalesce("verification__claim__scope", "sample_audit__item__claim__scope"),
            tranche=Coalesce("verification__claim__tranche", "sample_audit__item__claim__tranche"),
        )
        .values("subject_kind", "scope", "tranche")
        .annotate(n=Count("pk"))
    )
    result: dict[str, int] = dict.fromkeys(every, 0)
    for r in grouped:
        if r["subject_kind"] == Dispute.ACTIVATION:
            payers = every
        elif r["scope"] == "contract":
            payers = tranche_payers.get(r["tranche"], set())
        else:
            payers = milestone_payers
        for payer in payers & every:
            result[payer] += r["n"]
    return result


def plan_to_date(rb: Rulebook, contribution: Decimal, month: date) -> tuple[Decimal, int, int]:
    """The straight-line plan: contribution × months elapsed ÷ months in the period."""
    period = rb.pilot
    total = months_between(period.period_start, period.period_end)
    elapsed = min(max(months_between(period.period_start, month), 0), total)
    return quantize(contribution * elapsed / total), elapsed, total


def compute(pilot: Pilot, month: date) -> dict[str, Any]:
    """Every payer's reconciliation figures for `month` (JSON-safe: amounts as text)."""
    rb = pilot.rulebook
    last = last_day(month)
    to_date = _balances(pilot, None, last)
    in_the_month = _balances(pilot, month, last)
    received_to_date = _received(pilot, None, last)
    received_month = _received(pilot, month, last)
    counts, people = _utilisation(pilot, month)
    outcomes = _outcomes(pilot, month, rb)
    disputes = open_disputes(pilot, rb)
    threshold = rb.variance.payer_percent if rb.variance else None
    _, elapsed, total = plan_to_date(rb, ZERO, month)
    payers = []
    for payer in rb.payers:
        uses = []
        for use in payer.allowable_uses:
            key = (Account.PAID, payer.id, use.code)
            uses.append(
                {
                    "use": use.code,
                    "label": use.label,
                    "month": str(in_the_month.get(key, ZERO)),
                    "to_date": str(to_date.get(key, ZERO)),
                    "available": str(to_date.get((Account.FUND, payer.id, use.code), ZERO)),
                }
            )
        spent_month = sum((Decimal(u["month"]) for u in uses), ZERO)
        spent = sum((Decimal(u["to_date"]) for u in uses), ZERO)
        committed = -to_date.get((Account.CONTRIBUTION, payer.id, ""), ZERO)
        received = received_to_date.get(payer.id, ZERO)
        plan, _, _ = plan_to_date(rb, payer.contribution, month)
        change = percent(spent, plan)
        payers.append(
            {
                "payer": payer.id,
                "name": payer.name,
                "contribution": {
                    "agreed": str(payer.contribution),
                    "committed": str(committed),
                    "received_in_month": str(received_month.get(payer.id, ZERO)),
                    "received_to_date": str(received),
                    "outstanding": str(committed - received),
                },
                "spend": {"by_use": uses, "month": str(spent_month), "to_date": str(spent)},
                "utilisation": {
                    "participants": people.get(payer.id, 0),
                    **counts.get(payer.id, dict.fromkeys(COUNTS.values(), 0)),
                },
                "outcomes": outcomes[payer.id],
                "disputes_open": disputes.get(payer.id, 0),
                "plan": {
                    "to_date": str(plan),
                    "actual": str(spent),
                    "variance": str(spent - plan),
                    "percent": None if change is None else str(change),
                    "over_threshold": over(change, threshold),
                },
            }
        )
    return {
        "month": f"{month:%Y-%m}",
        "method": METHOD,
        "months_elapsed": elapsed,
        "months_in_period": total,
        "threshold_percent": None if threshold is None else str(threshold),
        "roster": roster_count(pilot, month),
        "payers": payers,
    }


def scoped(figures: dict[str, Any], scope: str | None) -> dict[str, Any]:
    """The figures a viewer may see: every payer's (scope None) or one payer's."""
    if scope is None:
        return figures
    return figures | {"payers": [p for p in figures["payers"] if p["payer"] == scope]}


def scoped_rows(rows: QuerySet[R], scope: str | None) -> QuerySet[R]:
    """The rows (investigations, reallocations) a viewer may see: all, or one payer's."""
    return rows if scope is None else rows.filter(payer=scope)


def over_threshold(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The payers whose variance from plan opens an investigation."""
    return [p for p in figures["payers"] if p["plan"]["over_threshold"]]
