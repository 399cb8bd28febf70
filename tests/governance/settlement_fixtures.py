"""What the C16 settlement tests share on the six-month history: the figures computed
independently from the rows (not through `governance.settlement`), a snapshot of the
governance tables and the audit log, and later activity made through the real actions.

The independent reading uses the participant's `activated_at` and the claims' current
status and `payable_at` (not the decisions' history the code replays), which is the
state at any cut-off after the simulated months as long as the test changes nothing
before that cut-off behind the code's back.
"""

from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef

from fundpilot.claims.actions import verification
from fundpilot.claims.models import Claim
from fundpilot.participants import imports
from fundpilot.participants.actions import intake
from fundpilot.participants.models import Assessment, Participant, RosterRemoval
from fundpilot.pilots.models import Organisation, Pilot, User

REASSESSED_BY = {"riverside": "clinical", "northstar": "clinical-northstar"}


def zone(pilot: Pilot) -> ZoneInfo:
    return ZoneInfo(pilot.rulebook.pilot.timezone)


def local_start(pilot: Pilot, day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone(pilot))


def month_bounds(pilot: Pilot, month: date) -> tuple[datetime, datetime, date]:
    """First instant, instant after the end, and last day of a month, pilot-local."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return (
        local_start(pilot, month),
        local_start(pilot, following),
        following - timedelta(days=1),
    )


def roster(pilot: Pilot, month: date) -> set[str]:
    """Activated before the month ended and not removed by then."""
    _, end, _ = month_bounds(pilot, month)
    removed = RosterRemoval.objects.filter(participant=OuterRef("pk"), decided_at__lt=end)
    rows = Participant.objects.filter(pilot=pilot, activated_at__lt=end).exclude(Exists(removed))
    return set(rows.values_list("participant_id", flat=True))


def payable(pilot: Pilot, cutoff: datetime) -> Any:
    return Claim.objects.filter(
        pilot=pilot, scope="participant", status=Claim.PAYABLE, payable_at__lte=cutoff
    )


def percent(n: int, d: int) -> str | None:
    if d == 0:
        return None
    return str((Decimal(n * 100) / d).quantize(Decimal("0.01"), ROUND_HALF_UP))


def window_days(milestone: Any, p: Participant) -> int:
    """The most generous window of the milestone and the variants that apply."""
    days = [milestone.window_days]
    for v in milestone.variants:
        if v.window_days and (p.acuity_band in v.acuity_bands or set(p.flags) & set(v.flags)):
            days.append(v.window_days)
    return max(days)


def attainment(pilot: Pilot, month: date, cutoff: datetime) -> tuple[int, int]:
    _, _, last = month_bounds(pilot, month)
    on = roster(pilot, month)
    reached = denominator = 0
    for p in Participant.objects.filter(pilot=pilot, participant_id__in=on):
        start = p.activated_at.astimezone(zone(pilot)).date()
        for m in pilot.rulebook.milestones:
            if m.scope != "participant" or m.window_days is None:
                continue
            closes = start + timedelta(days=window_days(m, p))
            if not month <= closes <= last:
                continue
            denominator += 1
            reached += (
                payable(pilot, cutoff)
                .filter(participant=p, milestone=m.code)
                .filter(reached_on__gte=start, reached_on__lte=closes)
                .exists()
            )
    return reached, denominator


def reassessments_due(pilot: Pilot, month: date, cutoff: datetime) -> list[Claim]:
    """Payable milestones of roster participants whose reassessment falls due in the
    month (30 days after the day reached, the example's window)."""
    _, _, last = month_bounds(pilot, month)
    on = roster(pilot, month)
    return [
        c
        for c in payable(pilot, cutoff).select_related("participant", "provider").order_by("pk")
        if c.participant.participant_id in on and month <= c.reached_on + timedelta(30) <= last
    ]


def reassessment(pilot: Pilot, month: date, cutoff: datetime) -> tuple[int, int]:
    due = reassessments_due(pilot, month, cutoff)
    done = 0
    for c in due:
        signed = Assessment.objects.filter(
            pilot=pilot,
            participant_id=c.participant.participant_id,
            kind="reassessment",
            recorded_at__lte=cutoff,
        ).values_list("signed_at", flat=True)
        days = {s.astimezone(zone(pilot)).date() for s in signed}
        done += any(c.reached_on <= d <= c.reached_on + timedelta(30) for d in days)
    return done, len(due)


def milestone_amount(pilot: Pilot, month: date, cutoff: datetime) -> str:
    first, end, _ = month_bounds(pilot, month)
    rows = payable(pilot, cutoff).filter(payable_at__gte=first, payable_at__lt=end)
    return str(sum((c.payable_amount for c in rows), Decimal("0.00")))


def expected(pilot: Pilot, month: date, cutoff: datetime, unresolved: int) -> dict[str, Any]:
    """The compared figures, computed here from the rows."""
    n, d = attainment(pilot, month, cutoff)
    done, due = reassessment(pilot, month, cutoff)
    met = d > 0 and n * 100 >= 60 * d and (due == 0 or done * 100 >= 85 * due)
    return {
        "activated": len(roster(pilot, month)),
        "attainment.numerator": n,
        "attainment.denominator": d,
        "attainment.rate": percent(n, d),
        "reassessment.due": due,
        "reassessment.completed": done,
        "reassessment.rate": percent(done, due),
        "payment_trigger.met": met,
        "unresolved_questions": unresolved,
        "milestone_amount": milestone_amount(pilot, month, cutoff),
    }


def flat(figures: dict[str, Any]) -> dict[str, Any]:
    """The compared figures of a stored or computed file, by dotted name."""
    found = {}
    for name in (
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
    ):
        value: Any = figures
        for part in name.split("."):
            value = value[part]
        found[name] = value
    return found


# --- activity through the real actions ----------------------------------------------------


def reassess(
    pilot: Pilot, people: dict[str, User], claim: Claim, signed: date, at: datetime
) -> Assessment:
    """A reassessment of the claim's participant, signed at noon on `signed`."""
    return intake.record_assessment(
        pilot=pilot,
        participant_id=claim.participant.participant_id,
        kind="reassessment",
        tool="whodas-12",
        tool_version="2.0",
        score=Decimal("48.00"),
        signed_by="Dr. Rosa Diaz",
        signed_at=local_start(pilot, signed) + timedelta(hours=12),
        by=people[REASSESSED_BY[claim.provider.code]],
        at=at,
    )


def verify(people: dict[str, User], claim: Claim, at: datetime) -> None:
    items = verification.checklist_for(claim, claim.pilot.rulebook)
    verification.verify_claim(
        claim=claim,
        outcome="verified",
        checklist=[{"kind": i.kind, "met": True} for i in items],
        by=people["verifier"],
        at=at,
    )


def activate_newcomer(pilot: Pilot, people: dict[str, User], at: datetime) -> Participant:
    """A new referral of riverside, filed and activated at `at`."""
    imports.import_eligibility(
        pilot=pilot,
        payer_id="wvch",
        filename="late.csv",
        content=b"member_id,payer,coverage_start,coverage_end,status\n"
        b"WV-LATE,wvch,2026-01-01,,active\n",
        by=people["compliance"],
        at=at,
    )
    manager = people["enrollment"]
    referral = intake.receive_referral(
        pilot=pilot,
        reference="REF-LATE",
        participant_id="P-LATE",
        payer_id="wvch",
        member_id="WV-LATE",
        source="ED",
        provider=Organisation.objects.get(code="riverside"),
        service_category="SMI-OP",
        referred_at=at,
        by=manager,
        at=at,
    )
    baseline = intake.record_assessment(
        pilot=pilot,
        participant_id="P-LATE",
        kind="baseline",
        tool="whodas-12",
        tool_version="2.0",
        score=Decimal("62.50"),
        signed_by="Dr. Rosa Diaz",
        signed_at=at,
        by=manager,
        at=at,
    )
    intake.file_eligibility(
        referral=referral,
        assessment=baseline,
        participant_id="P-LATE",
        payer_status="active",
        baseline_score=Decimal("62.50"),
        service_category="SMI-OP",
        proposed_start=at.astimezone(zone(pilot)).date(),
        by=manager,
        at=at,
    )
    participant = Participant.objects.get(pilot=pilot, participant_id="P-LATE")
    intake.decide_activation(
        participant=participant,
        outcome="activated",
        decision_code="A1",
        review_date=at.astimezone(zone(pilot)).date(),
        control_status="passed",
        by=people["approver"],
        at=at,
    )
    return participant


def remove(pilot: Pilot, people: dict[str, User], participant_id: str, at: datetime) -> None:
    intake.remove_from_roster(
        participant=Participant.objects.get(pilot=pilot, participant_id=participant_id),
        reason_code="RM-MOVED",
        by=people["approver"],
        at=at,
    )
