"""C15 monthly variance cycle and stop-loss: the figures, computed set-based.

**Cost** of a month is the net of the `paid:*` ledger entries effective in the month
on transactions attributable to a participant (`Transaction.participant_id`):
payments, less recoupments and reversals carrying the participant. **Utilisation** is
member-months (the `pmpm:` bases naming the month) and episodes (`episode:` bases
effective in the month), reversed bases left out.

Both are grouped by
- cohort: the participant's acuity band;
- geography: the geography of the participant's referral;
- service level: the level in force at the month's end (the last approved service
  level request decided before then; the participant's current level when none).

**The plan.** Planned cost of a group = planned cost per member-month × the group's
member-months, where the planned cost per member-month is
- for cohort and geography: the pilot-wide cost per member-month of the same month
  (so the variance shows which groups cost more or less than the average member);
- for service level: the level's PMPM rate in the rulebook (so it shows how far episode
  and other spend take a level above what its monthly rate pays).
Utilisation is planned the same way: the group's member-months × the pilot-wide
episodes per member-month. Variance % = (actual − plan) ÷ plan × 100; a cost or
episode variance whose size exceeds the rulebook's `variance.<dimension>_percent` is
flagged and opens a case review (no threshold, no flag).

**Stop-loss** (`stop_loss` in the rulebook), each hit opening a case review for the
participant:
- `episode_cost_above`: a single episode transaction of the month above X;
- `escalations_above`: more than N escalations within the `escalation_period_days`
  ending on the month's last day (the month itself when no period is set).
  Escalations are where the participants app records them: C6 progression reviews
  whose outcome is "escalated";
- `participant_cumulative_spend_above`: the participant's cost to date above Y.
"""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    CharField,
    Count,
    Expression,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from fundpilot.money.models import Account, Entry, Transaction
from fundpilot.money.monthly import (
    EPISODE,
    PMPM,
    ZERO,
    basis_q,
    in_month,
    last_day,
    money,
    month_end_instant,
    over,
    percent,
    reversed_by,
)
from fundpilot.participants.models import Participant, ProgressionReview, ServiceLevelRequest
from fundpilot.pilots.models import Pilot
from fundpilot.rules.money import CENT, quantize
from fundpilot.rules.rulebook import Rulebook

COHORT, GEOGRAPHY, SERVICE_LEVEL = "cohort", "geography", "service_level"
DIMENSIONS = (COHORT, GEOGRAPHY, SERVICE_LEVEL)
EPISODE_COST, ESCALATIONS, CUMULATIVE_SPEND = (
    "episode_cost_above",
    "escalations_above",
    "participant_cumulative_spend_above",
)
STOP_LOSS = (EPISODE_COST, ESCALATIONS, CUMULATIVE_SPEND)
NONE = "(none)"  # a participant without a band, geography or level
RATE = Decimal("0.0001")


def variance_trigger(dimension: str) -> str:
    return f"{dimension}_variance"


def _group(pilot: Pilot, month: date, dimension: str, ref: str) -> Expression:
    """The participant's group in `dimension`, for rows whose participant id is `ref`."""
    people = Participant.objects.filter(pilot=pilot, participant_id=OuterRef(ref))
    if dimension == COHORT:
        found: Expression = Subquery(people.values("acuity_band")[:1])
    elif dimension == GEOGRAPHY:
        found = Subquery(people.values("referral__geography")[:1])
    else:
        end = month_end_instant(pilot, month)
        approved = ServiceLevelRequest.objects.filter(
            participant__pilot=pilot,
            participant__participant_id=OuterRef(ref),
            status=ServiceLevelRequest.APPROVED,
            approved_at__lt=end,
        ).order_by("-approved_at", "-pk")
        found = Coalesce(
            Subquery(approved.values("level")[:1]), Subquery(people.values("service_level")[:1])
        )
    return Coalesce(found, Value(""), output_field=CharField())


def _cost_rows(pilot: Pilot, first: date | None, last: date) -> QuerySet[Entry]:
    rows = Entry.objects.filter(
        account__pilot=pilot,
        account__kind=Account.PAID,
        transaction__effective_on__lte=last,
    ).exclude(transaction__participant_id="")
    if first is not None:
        rows = rows.filter(transaction__effective_on__gte=first)
    return rows


def _bases(pilot: Pilot, month: date, kind: str) -> QuerySet[Transaction]:
    return (
        Transaction.objects.filter(pilot=pilot, kind=Transaction.PAYMENT)
        .filter(basis_q(kind), in_month(month))
        .exclude(participant_id="")
        .exclude(reversed_by(last_day(month)))
    )


def _by_group(pilot: Pilot, month: date, dimension: str) -> dict[str, dict[str, Any]]:
    last = last_day(month)
    groups: dict[str, dict[str, Any]] = {}

    def row(name: str) -> dict[str, Any]:
        return groups.setdefault(
            name or NONE, {"cost": ZERO, "member_months": 0, "episodes": 0, "participants": 0}
        )

    costs = (
        _cost_rows(pilot, month, last)
        .annotate(g=_group(pilot, month, dimension, "transaction__participant_id"))
        .values("g")
        .annotate(
            cents=Sum("amount_cents"), people=Count("transaction__participant_id", distinct=True)
        )
    )
    for r in costs:
        row(r["g"])["cost"] = money(r["cents"])
        row(r["g"])["participants"] = r["people"]
    for kind, name in ((PMPM, "member_months"), (EPISODE, "episodes")):
        counted = (
            _bases(pilot, month, kind)
            .annotate(g=_group(pilot, month, dimension, "participant_id"))
            .values("g")
            .annotate(n=Count("pk"))
        )
        for r in counted:
            row(r["g"])[name] = r["n"]
    return groups


def _rate(amount: Decimal, per: int) -> Decimal | None:
    return None if per == 0 else (amount / per).quantize(CENT)


def _plans(rb: Rulebook) -> dict[str, Decimal]:
    return {level.code: level.pmpm for level in rb.service_levels}


def _table(
    rb: Rulebook,
    dimension: str,
    groups: dict[str, dict[str, Any]],
    pilot_cpmm: Decimal | None,
    pilot_epmm: Decimal | None,
) -> list[dict[str, Any]]:
    threshold = getattr(rb.variance, f"{dimension}_percent", None) if rb.variance else None
    levels = _plans(rb)
    rows = []
    for name in sorted(groups):
        g = groups[name]
        mm = g["member_months"]
        planned_cpmm = levels.get(name) if dimension == SERVICE_LEVEL else pilot_cpmm
        plan_cost = None if planned_cpmm is None else quantize(planned_cpmm * mm)
        cost_percent = None if plan_cost is None else percent(g["cost"], plan_cost)
        plan_episodes = None if pilot_epmm is None else (pilot_epmm * mm).quantize(CENT)
        episode_percent = (
            None if plan_episodes is None else percent(Decimal(g["episodes"]), plan_episodes)
        )
        flags = [
            measure
            for measure, value in (("cost", cost_percent), ("episodes", episode_percent))
            if over(value, threshold)
        ]
        rows.append(
            {
                "group": name,
                "participants": g["participants"],
                "member_months": mm,
                "episodes": g["episodes"],
                "cost": str(g["cost"]),
                "cost_per_member_month": _text(_rate(g["cost"], mm)),
                "planned_cost_per_member_month": _text(planned_cpmm),
                "planned_cost": _text(plan_cost),
                "cost_variance_percent": _text(cost_percent),
                "planned_episodes": _text(plan_episodes),
                "episode_variance_percent": _text(episode_percent),
                "threshold_percent": _text(threshold),
                "flags": flags,
            }
        )
    return rows


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def stop_loss_hits(pilot: Pilot, month: date) -> list[dict[str, Any]]:
    """Every stop-loss trigger that fires in the month: {trigger, subject, figures}."""
    rb = pilot.rulebook
    rules = rb.stop_loss
    if rules is None:
        return []
    last = last_day(month)
    hits: list[dict[str, Any]] = []
    if rules.episode_cost_above is not None:
        limit = int(rules.episode_cost_above.scaleb(2))
        found: dict[str, list[dict[str, str]]] = {}
        episodes = _bases(pilot, month, EPISODE).filter(amount_cents__gt=limit)
        for basis, pid, cents in episodes.order_by("participant_id", "number").values_list(
            "basis_key", "participant_id", "amount_cents"
        ):
            found.setdefault(pid, []).append({"basis": basis, "amount": str(money(cents))})
        hits.extend(
            {
                "trigger": EPISODE_COST,
                "subject": pid,
                "figures": {"limit": str(rules.episode_cost_above), "episodes": items},
            }
            for pid, items in found.items()
        )
    if rules.escalations_above is not None:
        days = rules.escalation_period_days
        since = last - timedelta(days=days - 1) if days else month
        counted = (
            ProgressionReview.objects.filter(
                participant__pilot=pilot,
                outcome=ProgressionReview.ESCALATED,
                review_date__gte=since,
                review_date__lte=last,
            )
            .values("participant__participant_id")
            .annotate(n=Count("pk"))
            .filter(n__gt=rules.escalations_above)
            .order_by("participant__participant_id")
        )
        hits.extend(
            {
                "trigger": ESCALATIONS,
                "subject": r["participant__participant_id"],
                "figures": {
                    "limit": rules.escalations_above,
                    "escalations": r["n"],
                    "from": str(since),
                    "to": str(last),
                },
            }
            for r in counted
        )
    if rules.participant_cumulative_spend_above is not None:
        limit = int(rules.participant_cumulative_spend_above.scaleb(2))
        totals = (
            _cost_rows(pilot, None, last)
            .values("transaction__participant_id")
            .annotate(cents=Sum("amount_cents"))
            .filter(cents__gt=limit)
            .order_by("transaction__participant_id")
        )
        hits.extend(
            {
                "trigger": CUMULATIVE_SPEND,
                "subject": r["transaction__participant_id"],
                "figures": {
                    "limit": str(rules.participant_cumulative_spend_above),
                    "spend_to_date": str(money(r["cents"])),
                },
            }
            for r in totals
        )
    return hits


def compute(pilot: Pilot, month: date) -> dict[str, Any]:
    """The month's variance tables, flags and stop-loss hits (JSON-safe)."""
    rb = pilot.rulebook
    last = last_day(month)
    cents = _cost_rows(pilot, month, last).aggregate(c=Sum("amount_cents"))["c"]
    cost = money(cents)
    member_months = _bases(pilot, month, PMPM).count()
    episodes = _bases(pilot, month, EPISODE).count()
    cpmm = _rate(cost, member_months)
    epmm = None if member_months == 0 else (Decimal(episodes) / member_months).quantize(RATE)
    tables = {
        dimension: _table(rb, dimension, _by_group(pilot, month, dimension), cpmm, epmm)
        for dimension in DIMENSIONS
    }
    flagged = [
        {
            "trigger": variance_trigger(dimension),
            "subject": row["group"],
            "figures": {k: v for k, v in row.items() if k != "group"},
        }
        for dimension, rows in tables.items()
        for row in rows
        if row["flags"]
    ]
    return {
        "month": f"{month:%Y-%m}",
        "pilot": {
            "cost": str(cost),
            "member_months": member_months,
            "episodes": episodes,
            "cost_per_member_month": _text(cpmm),
            "episodes_per_member_month": _text(epmm),
        },
        "tables": tables,
        "flagged": flagged,
        "stop_loss": stop_loss_hits(pilot, month),
    }


def firing(figures: dict[str, Any]) -> set[tuple[str, str]]:
    """(trigger, subject) of everything that fires in a cycle's figures."""
    return {(h["trigger"], h["subject"]) for h in figures["flagged"] + figures["stop_loss"]}
