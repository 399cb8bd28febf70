"""The governance pass of the synthetic history (demo, `fundpilot simulate`), through
the real actions, after the money of the same months:

- the reassessment log: most milestones reached get a reassessment of the participant
  within the rulebook's window, some late (recorded by the provider's clinical lead with
  the participant's baseline tool);
- each ended month, on its settlement day (after that day's payment run), when the
  rulebook has a settlement methodology: finance prepares the settlement file, documents
  the reconciliation and finalises it; finance, compliance and the executive sponsor
  review it; the board chair decides — supportable when the payment trigger is met,
  provisional when it is not, restricted every third month (a restriction owned by
  compliance) — and the executive sponsor tells each payer the approved position;
- each ended month, compliance runs the equity check;
- each ended quarter, the assurance reviewer records the quarterly review with two
  findings (one owned by compliance, one by finance), and the escalation of missed
  deadlines runs on each later settlement day.
"""

import random
import time as wallclock
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fundpilot.governance.actions.assurance import (
    escalate_overdue_findings,
    record_assurance_review,
)
from fundpilot.governance.actions.board import decide, record_external_statement
from fundpilot.governance.actions.equity import run_equity_check
from fundpilot.governance.actions.settlement import (
    document_reconciliation,
    finalise_settlement,
    prepare_settlement,
    review_settlement,
)
from fundpilot.governance.models import BoardDecision, EquityCheck, Settlement
from fundpilot.governance.settlement import payable_claims
from fundpilot.money.monthly import next_month
from fundpilot.money.simulate import Clock, Tally, months_ended
from fundpilot.participants.actions.intake import record_assessment
from fundpilot.participants.models import Assessment, Referral
from fundpilot.participants.simulation.world import members_by_role
from fundpilot.pilots.models import Pilot, User
from fundpilot.rules.vocabulary import Role

Progress = Callable[[int, int], None]

RECONCILIATION = (
    "Milestone claims reported for the month were matched to the reassessment integrity"
    " log participant by participant; reassessments completed outside the window are"
    " excluded from the completion rate and listed in the file's trace."
)


class GovernanceSimulation(Tally):
    """What the governance pass did."""


def _first(people: dict[Role, list[User]], role: Role) -> User | None:
    return people[role][0] if people[role] else None


def simulate_governance(
    *, pilot: Pilot, seed: int, since: date, until: datetime, progress: Progress | None = None
) -> GovernanceSimulation:
    """Settlement, equity, board and assurance records for each month from `since` whose
    settlement day has come by `until`."""
    result = GovernanceSimulation()
    rb = pilot.rulebook
    people = members_by_role(pilot)
    cast = {
        role: _first(people, role)
        for role in (
            Role.FINANCE,
            Role.COMPLIANCE,
            Role.EXECUTIVE_SPONSOR,
            Role.BOARD_CHAIR,
            Role.ASSURANCE_REVIEWER,
        )
    }
    missing = [role.value for role, user in cast.items() if user is None]
    if missing:
        result.refused.append(f"{pilot.slug}: nobody in {', '.join(missing)}: none simulated")
        return result
    if EquityCheck.objects.filter(pilot=pilot).exists():
        result.refused.append(f"{pilot.slug} already holds governance records: none simulated")
        return result
    finance, compliance, assurance = (
        cast[Role.FINANCE],
        cast[Role.COMPLIANCE],
        cast[Role.ASSURANCE_REVIEWER],
    )
    reps = people[Role.PAYER_REP]
    began = wallclock.perf_counter()

    act = result.act

    clock = Clock(pilot)
    rng = random.Random(f"{seed}:governance:{pilot.slug}")  # noqa: S311 (a simulation)
    if rb.settlement is not None:
        _reassessments(pilot, until, clock, rng, people, act)
    months = months_ended(since, clock.calendar.local_date(until))
    for done, month in enumerate(months, start=1):
        settle_day = next_month(month).replace(day=rb.deadlines.settlement_day_of_month)
        at = clock.working(settle_day, 14)
        if at + timedelta(days=2) > until:
            break
        result.months.append(f"{month:%Y-%m}")
        result.actions["finding.escalate"] += len(escalate_overdue_findings(at=at, pilot=pilot))
        if rb.settlement is not None:  # a pilot paying on milestones settles them
            _settle(pilot, month, done, cast, reps, at, act)
        act(
            "equity.check",
            run_equity_check,
            pilot=pilot,
            month=month,
            by=compliance,
            at=at + timedelta(hours=5),
        )
        if month.month % 3 == 0:
            _assurance(pilot, month, assurance, compliance, finance, at, act)
        if progress:
            progress(done, len(months))
    result.seconds = wallclock.perf_counter() - began
    return result


def _settle(
    pilot: Pilot,
    month: date,
    nth: int,
    cast: dict[Role, User],
    reps: list[User],
    at: datetime,
    act: Callable[..., Any],
) -> None:
    """The month's settlement file, its three reviews, the board's decision and the
    statements to payers."""
    finance, compliance = cast[Role.FINANCE], cast[Role.COMPLIANCE]
    sponsor, chair = cast[Role.EXECUTIVE_SPONSOR], cast[Role.BOARD_CHAIR]
    settlement = act(
        "settlement.prepare", prepare_settlement, pilot=pilot, month=month, by=finance, at=at
    )
    if settlement is None:
        return
    act(
        "settlement.reconciliation",
        document_reconciliation,
        settlement=settlement,
        note=RECONCILIATION,
        by=finance,
        at=at + timedelta(minutes=30),
    )
    settlement = act(
        "settlement.finalise",
        finalise_settlement,
        settlement=Settlement.objects.get(pk=settlement.pk),
        by=finance,
        at=at + timedelta(hours=1),
    )
    if settlement is None:
        return
    for n, reviewer in enumerate((finance, compliance, sponsor), start=2):
        act(
            "settlement.review",
            review_settlement,
            settlement=settlement,
            note="Figures agree with the locked roster and the reassessment log.",
            by=reviewer,
            at=at + timedelta(hours=n),
        )
    decision = _decide(pilot, settlement, nth, chair, sponsor, compliance, at, act)
    if decision is None:
        return
    for rep in reps:
        act(
            "statement.record",
            record_external_statement,
            decision=decision,
            audience=rep.organisation.name if rep.organisation else rep.username,
            position=decision.position,
            amount=decision.approved_amount,
            text=f"The board's {decision.position} position on {month:%Y-%m} milestone"
            f" payments: up to {decision.approved_amount}.",
            by=sponsor,
            at=at + timedelta(days=1, hours=2),
        )


def _reassessments(
    pilot: Pilot,
    until: datetime,
    clock: Clock,
    rng: random.Random,
    people: dict[Role, list[User]],
    act: Callable[..., Any],
) -> None:
    assert pilot.rulebook.settlement is not None
    days = pilot.rulebook.settlement.reassessment_window_days
    clinicians = {u.organisation_id: u for u in people[Role.CLINICAL_LEAD]}
    provider_of = dict(
        Referral.objects.filter(pilot=pilot).values_list("participant_id", "provider_id")
    )
    baselines = {
        a.participant_id: a
        for a in Assessment.objects.filter(pilot=pilot, kind=Assessment.BASELINE).order_by(
            "signed_at", "pk"
        )
    }
    for claim in payable_claims(pilot, until):
        baseline = baselines.get(claim.participant)
        clinician = clinicians.get(provider_of.get(claim.participant))
        if baseline is None or clinician is None:
            continue
        late = rng.random() < 0.12
        offset = rng.randint(days + 3, days + 20) if late else rng.randint(5, days - 2)
        signed = clock.working(claim.reached_on + timedelta(days=offset), 11)
        if signed + timedelta(hours=1) > until:
            continue
        act(
            "reassessment.record",
            record_assessment,
            pilot=pilot,
            participant_id=claim.participant,
            kind=Assessment.REASSESSMENT,
            tool=baseline.tool,
            tool_version=baseline.tool_version,
            score=min(baseline.score + rng.randint(0, 8), Decimal(100)),
            acuity_band=baseline.acuity_band,
            flags=baseline.flags,
            signed_by=clinician.get_full_name() or clinician.username,
            signed_at=signed,
            by=clinician,
            at=signed + timedelta(hours=1),
        )


def _decide(
    pilot: Pilot,
    settlement: Settlement,
    nth: int,
    chair: User,
    sponsor: User,
    compliance: User,
    at: datetime,
    act: Callable[..., Any],
) -> BoardDecision | None:
    figures = settlement.figures
    met = figures["payment_trigger"]["met"]
    amount = Decimal(figures["milestone_amount"])
    day = pilot.calendar.local_date(at)
    restricted = nth % 3 == 0
    position = "restricted" if restricted else ("supportable" if met else "provisional")
    questions = figures.get("unresolved_questions", 0)
    return act(
        "board.decide",
        decide,
        settlement=settlement,
        position=position,
        decision_code=f"BD-{settlement.month:%Y-%m}",
        review_date=day + timedelta(days=30),
        executive_owner=sponsor,
        residual_risk="medium" if met else "high",
        next_checkpoint=day + timedelta(days=14),
        integrity_risks="None identified in the reassessment log."
        if met
        else "Reassessment completion or attainment below the payment trigger.",
        denominator_disputes="None raised.",
        definition_issues=f"{questions} methodology question(s) open." if questions else "None.",
        approved_amount=amount if met else (amount / 2).quantize(Decimal("0.01")),
        restrictions=[
            (
                "Hold housing-step payments until the verifier re-samples the month.",
                compliance,
                day + timedelta(days=21),
            )
        ]
        if restricted
        else [],
        by=chair,
        at=at + timedelta(days=1),
    )


def _assurance(
    pilot: Pilot,
    month: date,
    assurance: User,
    compliance: User,
    finance: User,
    at: datetime,
    act: Callable[..., Any],
) -> None:
    day = pilot.calendar.local_date(at)
    act(
        "assurance.review",
        record_assurance_review,
        pilot=pilot,
        quarter=f"{month.year}-Q{(month.month - 1) // 3 + 1}",
        compliance="Activation decisions and verification met their deadlines in most cases.",
        outcomes="Attainment is tracked against the locked roster; trend stable.",
        equity="Acceptance of high-acuity referrals is close to the floor; watch closely.",
        findings=[
            {
                "area": "equity",
                "severity": "medium",
                "title": "High-acuity acceptance near the rulebook floor",
                "action_plan": "Review rejected high-acuity referrals with each provider.",
                "owner": compliance,
                "deadline": day + timedelta(days=10),
            },
            {
                "area": "compliance",
                "severity": "low",
                "title": "Late verification decisions",
                "action_plan": "Agree verification staffing with the verification body.",
                "owner": finance,
                "deadline": day + timedelta(days=60),
            },
        ],
        by=assurance,
        at=at + timedelta(days=1, hours=3),
    )
