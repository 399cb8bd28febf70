"""C16 monthly settlement file: the figures, computed from time-stamped records up to a
cut-off instant, so that a finalised month recomputed later gives the same figures.

The methodology is the rulebook's `[settlement]` section, in the version in force at the
cut-off (the first version when none was approved by then). Read from the records:

- **Locked roster** at the month's end (C2): participants whose latest activation
  decision before the month ended activated them, that no activation dispute resolved
  before then reopened, and who were not removed from the roster before then. The
  settlement's counts come from it (invariant 6); `activated` is its size.
- **Payable at the cut-off**, from the decisions and their times, never from a claim's
  status now: a sampled-tier claim from its submission; an independent-tier claim by
  its latest verification decided by the cut-off (a dispute's new verification
  supersedes the old), payable unless that verification rejected it.
- **Milestone attainment** = numerator ÷ denominator. Denominator: the (participant,
  milestone) pairs of the roster whose window closed in the month — its last day is
  `window_days` after the activation day, after risk adjustment (the most generous
  variant for the participant's acuity band and flags), for each participant-scope
  milestone with a window. Numerator: the pairs reached within the window — a claim for
  the milestone reached from the activation day to the window's last day, payable at
  the cut-off. Attempts re-earned after a relapse are not in the denominator.
- **Reassessment completion**: each milestone reached by a participant on the roster
  (payable at the cut-off) is due a reassessment `reassessment_window_days` after the
  day it was reached; of those due in the month, the completed ones have a
  reassessment of the participant, signed from the day reached to the due day, in the
  reassessment log (recorded by the cut-off, or by the instant the log is read at).
- **Payment trigger**: met when attainment ≥ `minimum_attainment_rate` and, when the
  rulebook sets one, reassessment completion ≥ `minimum_reassessment_completion_rate`
  (a month with no reassessment due meets that part). A month in which no window
  closed has no attainment to pay on: not met.
- **Unresolved methodology questions**: raised by the cut-off and not resolved by it.
- **Milestone amount**: the participant milestone claims that became payable in the
  month and are payable at the cut-off, at their amount then — the value of milestone
  payments the month supports (the board's approved amount is checked against it).
- **Adjustments**: for each earlier month finalised by the cut-off, the figures that
  changed since the previous file (its recompute at the previous file's cut-off, or its
  own stored file, against its recompute at this cut-off): each later change appears
  once, in the next file.
- **Trace**: the records behind each figure (participant ids, claim references,
  assessment and question ids), so pages link and files trace to them.

Rates are percentages to two places (half up), compared with the minimums exactly.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import CharField, Exists, F, OuterRef, Q, Value
from django.urls import reverse

from fundpilot.audit import log
from fundpilot.audit.models import AuditRecord
from fundpilot.claims.models import Claim, Dispute, Verification
from fundpilot.governance.models import MethodologyQuestion, Settlement, SettlementReview
from fundpilot.money.monthly import last_day, month_end_instant, months_between, next_month
from fundpilot.participants.models import (
    ActivationDecision,
    Assessment,
    Participant,
    RosterRemoval,
)
from fundpilot.participants.queues import NOBODY, UPCOMING_BUCKET, Clock, Source, start_of
from fundpilot.pilots import policy
from fundpilot.pilots.models import Pilot, RulebookVersion
from fundpilot.pilots.policy import SETTLEMENT_REVIEWERS
from fundpilot.rules.calendar import BusinessCalendar
from fundpilot.rules.canonical import canonical_bytes, isoformat_utc, sha256_hex
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import CENT
from fundpilot.rules.rulebook import Rulebook, Scope, Tier

# The figures an adjustment compares (dotted paths into the figures).
COMPARED = (
    "activated",
    "attainment.numerator",
    "attainment.denominator",
    "attainment.rate",
    "reassessment.due",
    "reassessment.completed",
    "reassessment.rate",
    "payment_trigger.met",
    "unresolved_questions",
    "milestone_amount",
)


def version_at(pilot: Pilot, cutoff: datetime) -> RulebookVersion:
    """The rulebook version in force at the cut-off (the first one if none was yet)."""
    versions = pilot.versions.defer("document")
    found = versions.filter(approved_at__lte=cutoff).order_by("-number").first()
    found = found or versions.order_by("number").first()
    assert found is not None
    return found


def figures_sha256(figures: dict[str, Any]) -> str:
    """SHA-256 of the figures' canonical JSON (sorted keys; no floats)."""
    return sha256_hex(canonical_bytes(figures))


def due_on(pilot: Pilot, month: date) -> date:
    """The file is due on the rulebook's day of the next month, or the next business
    day after it."""
    following = next_month(month)
    day = following.replace(day=pilot.rulebook.deadlines.settlement_day_of_month)
    return pilot.calendar.add_business_days(day, 0)


def is_overdue(settlement: Settlement | None, pilot: Pilot, month: date, today: date) -> bool:
    """Past its due day and not finalised (a breach stays visible)."""
    finalised = settlement is not None and settlement.status == Settlement.FINALISED
    return not finalised and today > due_on(pilot, month)


def latest_finalised(pilot: Pilot, on_or_before: date | None = None) -> Settlement | None:
    """The latest finalised settlement, of a month on or before `on_or_before`'s."""
    rows = Settlement.objects.filter(pilot=pilot, status=Settlement.FINALISED)
    if on_or_before is not None:
        rows = rows.filter(month__lte=on_or_before.replace(day=1))
    return rows.order_by("-month").first()


# --- reading the records as they stood ----------------------------------------------------


def _calendar(rb: Rulebook) -> BusinessCalendar:
    return BusinessCalendar(rb.pilot.holiday_calendar, rb.pilot.timezone)


def roster_at(pilot: Pilot, month: date, cutoff: datetime) -> dict[str, date]:
    """The locked roster at the month's end, from the decisions recorded by the cut-off:
    participant id → activation day (pilot-local)."""
    end = month_end_instant(pilot, month)
    calendar = _calendar(version_at(pilot, cutoff).rulebook)
    latest: dict[str, tuple[int, str, datetime]] = {}
    decisions = ActivationDecision.objects.filter(
        participant__pilot=pilot, decided_at__lt=end, decided_at__lte=cutoff
    ).order_by("decided_at", "pk")
    for pk, pid, outcome, at in decisions.values_list(
        "pk", "participant__participant_id", "outcome", "decided_at"
    ):
        latest[pid] = (pk, outcome, at)
    reopened = set(
        Dispute.objects.filter(
            pilot=pilot,
            subject_kind=Dispute.ACTIVATION,
            outcome__in=(Dispute.OVERTURNED, Dispute.VARIED),
            resolved_at__lt=end,
            resolved_at__lte=cutoff,
        ).values_list("activation_id", flat=True)
    )
    removed = set(
        RosterRemoval.objects.filter(
            participant__pilot=pilot, decided_at__lt=end, decided_at__lte=cutoff
        ).values_list("participant__participant_id", flat=True)
    )
    return {
        pid: calendar.local_date(at)
        for pid, (pk, outcome, at) in sorted(latest.items())
        if outcome == ActivationDecision.ACTIVATED and pk not in reopened and pid not in removed
    }


def audited_roster(pilot: Pilot, month: date, cutoff: datetime) -> set[str]:
    """The same roster replayed from the hash-chained audit log (activation decisions,
    removals, activation disputes reopened): what the settlement is validated against."""
    end = month_end_instant(pilot, month)
    records = AuditRecord.objects.filter(
        chain=log.pilot_chain(pilot.slug),
        at__lt=end,
        at__lte=cutoff,
        action__in=("activation.decide", "roster.remove", "dispute.resolve"),
    ).order_by("at", "seq")
    on: dict[str, bool] = {}
    for action, subject, payload in records.values_list("action", "subject", "payload"):
        if action == "activation.decide":
            on[subject.removeprefix("participant:")] = (
                payload.get("outcome") == ActivationDecision.ACTIVATED
            )
        elif action == "roster.remove":
            on[subject.removeprefix("participant:")] = False
        elif str(payload.get("new_decision", "")).startswith("activation:"):
            on[payload["new_decision"].split(":")[1]] = False
    return {pid for pid, active in on.items() if active}


@dataclass(frozen=True)
class PayableClaim:
    """A participant milestone claim payable at the cut-off."""

    reference: str
    participant: str
    milestone: str
    reached_on: date
    amount: Decimal
    payable_since: datetime  # the start of its current payable spell


def payable_claims(pilot: Pilot, cutoff: datetime) -> list[PayableClaim]:
    """Participant milestone claims payable at the cut-off, from the submissions and
    verifications decided by then (see the module docstring)."""
    claims = Claim.objects.filter(
        pilot=pilot, scope=Scope.PARTICIPANT.value, submitted_at__lte=cutoff
    ).order_by("pk")
    decided: dict[int, list[tuple[datetime, bool, Decimal]]] = defaultdict(list)
    verifications = Verification.objects.filter(
        claim__pilot=pilot, claim__scope=Scope.PARTICIPANT.value, decided_at__lte=cutoff
    ).order_by("decided_at", "pk")
    for claim_id, outcome, amount, at in verifications.values_list(
        "claim_id", "outcome", "amount", "decided_at"
    ):
        decided[claim_id].append((at, outcome != Verification.REJECTED, amount))
    found = []
    for pk, reference, pid, milestone, tier, reached_on, submitted_at, amount in claims.values_list(
        "pk",
        "reference",
        "participant__participant_id",
        "milestone",
        "tier",
        "reached_on",
        "submitted_at",
        "amount",
    ):
        events = [(submitted_at, True, amount)] if tier == Tier.SAMPLED.value else decided[pk]
        since: datetime | None = None
        for at, payable, value in events:
            since = (since or at) if payable else None
            amount = value
        if since is not None:
            found.append(PayableClaim(reference, pid, milestone, reached_on, amount, since))
    return found


def _rate(numerator: int, denominator: int) -> str | None:
    if denominator == 0:
        return None
    return str((Decimal(numerator) * 100 / denominator).quantize(CENT, ROUND_HALF_UP))


def _at_least(numerator: int, denominator: int, minimum: Decimal) -> bool:
    """numerator ÷ denominator ≥ minimum %, exactly (no rounding)."""
    return numerator * 100 >= minimum * denominator


# --- the figures --------------------------------------------------------------------------


def _attainment(
    rb: Rulebook,
    month: date,
    roster: dict[str, date],
    people: dict[str, tuple[str, list[str]]],
    claims: list[PayableClaim],
) -> dict[str, Any]:
    reached: dict[tuple[str, str], list[PayableClaim]] = defaultdict(list)
    for c in sorted(claims, key=lambda c: (c.reached_on, c.reference)):
        reached[(c.participant, c.milestone)].append(c)
    pairs = []
    milestones = [m for m in rb.milestones if m.scope is Scope.PARTICIPANT]
    for pid, start in roster.items():
        band, flags = people[pid]
        for m in milestones:
            window = m.terms_for(acuity_band=band or None, flags=flags).window_days
            if window is None:
                continue
            closes = start + timedelta(days=window)
            if not month <= closes <= last_day(month):
                continue
            claim = next(
                (c for c in reached[(pid, m.code)] if start <= c.reached_on <= closes), None
            )
            pairs.append(
                {
                    "participant": pid,
                    "milestone": m.code,
                    "window_start": start.isoformat(),
                    "window_days": window,
                    "window_closed": closes.isoformat(),
                    "claim": claim.reference if claim else None,
                }
            )
    numerator = sum(1 for p in pairs if p["claim"])
    method = rb.settlement
    assert method is not None
    return {
        "figures": {
            "numerator": numerator,
            "denominator": len(pairs),
            "rate": _rate(numerator, len(pairs)),
            "minimum_rate": str(method.minimum_attainment_rate),
            "numerator_rule": method.numerator,
            "denominator_rule": method.denominator,
        },
        "trace": pairs,
    }


def _reassessment(
    pilot: Pilot,
    rb: Rulebook,
    month: date,
    roster: dict[str, date],
    claims: list[PayableClaim],
    log_as_of: datetime,
) -> dict[str, Any]:
    method = rb.settlement
    assert method is not None
    days = method.reassessment_window_days
    due = sorted(
        (c for c in claims if c.participant in roster),
        key=lambda c: (c.reached_on, c.reference),
    )
    due = [c for c in due if month <= c.reached_on + timedelta(days=days) <= last_day(month)]
    calendar = _calendar(rb)
    signed: dict[str, list[tuple[date, int]]] = defaultdict(list)
    log_rows = Assessment.objects.filter(
        pilot=pilot,
        kind=Assessment.REASSESSMENT,
        recorded_at__lte=log_as_of,
        participant_id__in={c.participant for c in due},
    ).order_by("signed_at", "pk")
    for pk, pid, at in log_rows.values_list("pk", "participant_id", "signed_at"):
        signed[pid].append((calendar.local_date(at), pk))
    items = []
    for c in due:
        by = c.reached_on + timedelta(days=days)
        found = next((pk for day, pk in signed[c.participant] if c.reached_on <= day <= by), None)
        items.append(
            {
                "participant": c.participant,
                "claim": c.reference,
                "reached_on": c.reached_on.isoformat(),
                "due": by.isoformat(),
                "assessment": found,
            }
        )
    completed = sum(1 for i in items if i["assessment"] is not None)
    minimum = method.minimum_reassessment_completion_rate
    return {
        "figures": {
            "due": len(items),
            "completed": completed,
            "rate": _rate(completed, len(items)),
            "window_days": days,
            "minimum_rate": None if minimum is None else str(minimum),
        },
        "trace": items,
    }


def _trigger(
    rb: Rulebook, attainment: dict[str, Any], reassessment: dict[str, Any]
) -> dict[str, Any]:
    method = rb.settlement
    assert method is not None
    n, d = attainment["numerator"], attainment["denominator"]
    reasons = []
    if d == 0:
        attained = False
        reasons.append("no milestone window closed this month: attainment cannot be measured")
    else:
        attained = _at_least(n, d, method.minimum_attainment_rate)
        reasons.append(
            f"attainment {attainment['rate']}% is"
            f" {'at least' if attained else 'below'} {method.minimum_attainment_rate}%"
        )
    reassessed = True
    minimum = method.minimum_reassessment_completion_rate
    if minimum is not None:
        done, due = reassessment["completed"], reassessment["due"]
        if due == 0:
            reasons.append("no reassessment was due this month")
        else:
            reassessed = _at_least(done, due, minimum)
            reasons.append(
                f"reassessment completion {reassessment['rate']}% is"
                f" {'at least' if reassessed else 'below'} {minimum}%"
            )
    return {"met": attained and reassessed, "rule": method.payment_trigger, "reasons": reasons}


def _methodology(rb: Rulebook) -> None:
    if rb.settlement is None:
        raise Refused("no_methodology", "the rulebook has no [settlement] methodology", "rulebook")


def _people(pilot: Pilot) -> dict[str, tuple[str, list[str]]]:
    rows = Participant.objects.filter(pilot=pilot).values_list(
        "participant_id", "acuity_band", "flags"
    )
    return {pid: (band, list(flags)) for pid, band, flags in rows}


@dataclass(frozen=True)
class _AtCutoff:
    """What the figures of every month at one cut-off read once: the methodology in
    force, the claims payable, the participants' acuity bands and flags."""

    version: RulebookVersion
    claims: list[PayableClaim]
    people: dict[str, tuple[str, list[str]]]


def _at_cutoff(pilot: Pilot, cutoff: datetime) -> _AtCutoff:
    version = version_at(pilot, cutoff)
    _methodology(version.rulebook)
    return _AtCutoff(version, payable_claims(pilot, cutoff), _people(pilot))


def _month_figures(
    pilot: Pilot, month: date, cutoff: datetime, read: _AtCutoff | None = None
) -> dict[str, Any]:
    """Everything but the adjustments: the month's own figures at the cut-off."""
    read = read or _at_cutoff(pilot, cutoff)
    version, claims = read.version, read.claims
    rb = version.rulebook
    roster = roster_at(pilot, month, cutoff)
    attainment = _attainment(rb, month, roster, read.people, claims)
    reassessment = _reassessment(pilot, rb, month, roster, claims, cutoff)
    questions = list(
        MethodologyQuestion.objects.filter(pilot=pilot, raised_at__lte=cutoff)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=cutoff))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    begins, ends = start_of(pilot, month), month_end_instant(pilot, month)
    paid = sorted(
        (c for c in claims if begins <= c.payable_since < ends), key=lambda c: c.reference
    )
    return {
        "month": f"{month:%Y-%m}",
        "pilot_month": months_between(rb.pilot.period_start, month),
        "cutoff": isoformat_utc(cutoff),
        "rulebook_version": version.number,
        "activated": len(roster),
        "attainment": attainment["figures"],
        "reassessment": reassessment["figures"],
        "payment_trigger": _trigger(rb, attainment["figures"], reassessment["figures"]),
        "unresolved_questions": len(questions),
        "milestone_amount": str(sum((c.amount for c in paid), Decimal("0.00"))),
        "trace": {
            "activated": list(roster),
            "attainment": attainment["trace"],
            "reassessment": reassessment["trace"],
            "unresolved_questions": questions,
            "milestone_amount": [{"claim": c.reference, "amount": str(c.amount)} for c in paid],
        },
    }


def reassessment_in_log(
    pilot: Pilot, month: date, cutoff: datetime, now: datetime
) -> dict[str, Any]:
    """The reassessment figures of the month at the cut-off, read against the live log
    as it stands `now` (finalising checks the draft still reflects it)."""
    rb = version_at(pilot, cutoff).rulebook
    _methodology(rb)
    roster = roster_at(pilot, month, cutoff)
    found: dict[str, Any] = _reassessment(
        pilot, rb, month, roster, payable_claims(pilot, cutoff), now
    )["figures"]
    return found


def _value(figures: dict[str, Any], path: str) -> Any:
    value: Any = figures
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _difference(was: Any, now: Any) -> str | int | None:
    if isinstance(was, bool) or isinstance(now, bool) or was is None or now is None:
        return None
    if isinstance(was, int) and isinstance(now, int):
        return now - was
    return str(Decimal(now) - Decimal(was))


def differences(stored: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]]:
    """The compared figures that differ: {figure, stored, now, difference}."""
    found = []
    for path in COMPARED:
        was, is_now = _value(stored, path), _value(now, path)
        if was != is_now:
            found.append(
                {
                    "figure": path,
                    "stored": was,
                    "now": is_now,
                    "difference": _difference(was, is_now),
                }
            )
    return found


def _adjustments(
    pilot: Pilot, month: date, cutoff: datetime, read: _AtCutoff
) -> list[dict[str, Any]]:
    """Changes to earlier finalised months since the previous file: each is reported
    once, in the first file whose cut-off follows it. `stored` is the figure as last
    reported (the month's own file, or its recompute at the previous file's cut-off)."""
    earlier = list(
        Settlement.objects.filter(
            pilot=pilot, status=Settlement.FINALISED, month__lt=month, finalised_at__lte=cutoff
        ).order_by("month")
    )
    if not earlier:
        return []
    previous = earlier[-1]
    read_before = _at_cutoff(pilot, previous.cutoff)
    found = []
    for s in earlier:
        reported = (
            s.figures
            if s.pk == previous.pk
            else _month_figures(pilot, s.month, previous.cutoff, read_before)
        )
        changed = differences(reported, _month_figures(pilot, s.month, cutoff, read))
        if changed:
            found.append({"month": f"{s.month:%Y-%m}", "differences": changed})
    return found


def compute(pilot: Pilot, month: date, cutoff: datetime) -> dict[str, Any]:
    """The month's settlement figures from the records up to the cut-off (JSON-ready)."""
    month = month.replace(day=1)
    read = _at_cutoff(pilot, cutoff)
    figures = _month_figures(pilot, month, cutoff, read)
    figures["adjustments"] = _adjustments(pilot, month, cutoff, read)
    return figures


def recompute_check(settlement: Settlement) -> dict[str, Any]:
    """Recompute a stored file at its own cut-off: does it give the stored figures?"""
    again = compute(settlement.pilot, settlement.month, settlement.cutoff)
    sha = figures_sha256(again)
    changed = differences(settlement.figures, again)
    if sha != settlement.figures_sha256 and not changed:
        changed = [{"figure": "trace or adjustments", "stored": None, "now": None}]
    return {
        "month": f"{settlement.month:%Y-%m}",
        "cutoff": isoformat_utc(settlement.cutoff),
        "stored_sha256": settlement.figures_sha256,
        "recomputed_sha256": sha,
        "matches": sha == settlement.figures_sha256,
        "differences": changed,
    }


def months_to_settle(pilot: Pilot, today: date) -> Iterable[date]:
    """The pilot period's months that have ended by `today`, latest first."""
    period = pilot.rulebook.pilot
    month = min(period.period_end.replace(day=1), today.replace(day=1) - timedelta(days=1))
    month = month.replace(day=1)
    first = period.period_start.replace(day=1)
    while month >= first:
        yield month
        month = (month - timedelta(days=1)).replace(day=1)


def queue_sources(user: Any, pilot: Pilot, clock: Clock) -> Iterable[Source]:
    """C16 in the work queues: for finance, draft files to document and finalise; for
    each reviewer (finance, compliance, executive sponsor), finalised files still waiting
    for their role's review — the board cannot decide before all three."""
    found = []
    base = {"pid": Value("", output_field=CharField()), "key": F("month")}
    if policy.allowed(user, "settlement.prepare", pilot):
        found.append(
            Source(
                "C16",
                Settlement.objects.filter(pilot=pilot, status=Settlement.DRAFT).annotate(
                    **base, bucket=UPCOMING_BUCKET, who=NOBODY
                ),
                lambda r: f"Document and finalise the {r['month']:%Y-%m} settlement file",
                lambda r: month_page(pilot, r["month"]),
                dated=False,
            )
        )
    mine = [r for r in policy.roles_in(user, pilot) if r in SETTLEMENT_REVIEWERS]
    if mine:
        unreviewed = Q()
        for role in mine:
            unreviewed |= ~Exists(
                SettlementReview.objects.filter(settlement=OuterRef("pk"), role=role.value)
            )
        waiting = (
            Settlement.objects.filter(pilot=pilot, status=Settlement.FINALISED)
            .filter(unreviewed)
            .exclude(reviews__reviewed_by=user)
            .exclude(board_decision__isnull=False)
        )
        found.append(
            Source(
                "C16",
                waiting.annotate(**base, bucket=UPCOMING_BUCKET, who=NOBODY),
                lambda r: f"Review the {r['month']:%Y-%m} settlement file",
                lambda r: month_page(pilot, r["month"]),
                dated=False,
            )
        )
    return found


def month_page(pilot: Pilot, month: date) -> str:
    """The page of a month's settlement file."""
    return reverse("governance:settlement", kwargs={"pilot": pilot.slug, "month": f"{month:%Y-%m}"})
