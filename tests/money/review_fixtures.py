"""Scenarios for the monthly cycles (C14 reconciliation, C15 variance and stop-loss).

Spend is posted straight to the ledger with `ledger.post` (the payment run is tested on
its own); participants are built through the real participant actions.

`pooled_books` — pooled-2026 (medicaid 1.5M, county 600k, fund 400k; period Jan–Dec):
    commitments of all three; receipts medicaid 300,000 (100k to each of its uses) and
    county 120,000 (60k outreach, 60k milestones) on 15 Jan; in February a county spend
    of 1,000.00 (outreach); in March a milestone of 400.00 for P-1 split 200/120/80, a
    medicaid spend of 5,000.00 for P-2 (care_coordination), a county spend of
    144,880.00 (outreach) and a recoupment of 40.00 of the milestone (20/12/8).

`blended_world` — blended-2026 (php; SL1 145.00, SL2 310.00; stop-loss: episode above
    5,000.00, more than 3 escalations in 90 days, cumulative above 25,000.00):
    B-0001 moderate/guilford at SL1, B-0002 high/guilford at SL2, B-0003
    moderate/forsyth at SL1, all activated 3 March 2026. B-0003 is escalated at four
    progression reviews in April.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import transaction

from fundpilot.money import ledger
from fundpilot.money.ledger import Leg, Posting
from fundpilot.money.models import Transaction
from fundpilot.participants.actions import care
from fundpilot.participants.models import Participant
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import Role
from tests.conftest import NOW, make_person
from tests.participants.care_fixtures import ACTIVATED, BLENDED_PAYER, admit_blended

D = Decimal
# Cycles run early in the following month (Denver/New York mornings).
APRIL_2 = datetime(2026, 4, 2, 16, 0, tzinfo=UTC)
MAY_4 = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
JUNE_2 = datetime(2026, 6, 2, 16, 0, tzinfo=UTC)


def post(
    pilot: Pilot,
    basis: str,
    legs: list[tuple[str, str]],
    on: date,
    *,
    kind: str = Transaction.PAYMENT,
    participant_id: str = "",
    provider: Organisation | None = None,
    reverses: Transaction | None = None,
) -> Transaction:
    """One balanced transaction, posted as an action would (inside its own atomic)."""
    with transaction.atomic():
        return ledger.post(
            pilot,
            Posting(
                kind=kind,
                basis_key=basis,
                legs=[Leg(code, D(amount), provider) for code, amount in legs],
                effective_on=on,
                participant_id=participant_id,
                provider=provider,
                reverses=reverses,
            ),
            by=None,
            at=datetime.combine(on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=18),
        )


def pay(
    pilot: Pilot,
    basis: str,
    parts: list[tuple[str, str, str]],
    on: date,
    provider: Organisation,
    participant_id: str = "",
) -> Transaction:
    """A payment basis: Dr paid:<payer>:<use> for each part / Cr payable:<provider>."""
    total = sum((D(a) for _, _, a in parts), D(0))
    legs = [(f"paid:{payer}:{use}", amount) for payer, use, amount in parts]
    legs.append((f"payable:{provider.code}", str(-total)))
    return post(pilot, basis, legs, on, participant_id=participant_id, provider=provider)


def commit_and_receive(pilot: Pilot, receipts: dict[str, dict[str, str]], on: date) -> None:
    for payer in pilot.rulebook.payers:
        post(
            pilot,
            f"commit:{pilot.slug}:{payer.id}",
            [
                (f"receivable:{payer.id}", str(payer.contribution)),
                (f"contribution:{payer.id}", str(-payer.contribution)),
            ],
            on,
            kind=Transaction.COMMITMENT,
        )
    for payer, uses in receipts.items():
        total = sum((D(a) for a in uses.values()), D(0))
        legs = [(f"fund:{payer}:{use}", amount) for use, amount in uses.items()]
        legs.append((f"receivable:{payer}", str(-total)))
        post(pilot, f"receipt:{pilot.slug}:{payer}:R1", legs, on, kind=Transaction.RECEIPT)


def pooled_books(pilot: Pilot, provider: Organisation) -> None:
    """The pooled-2026 ledger of the module doc."""
    slug = pilot.slug
    commit_and_receive(
        pilot,
        {
            "medicaid": {
                "care_coordination": "100000.00",
                "behavioral_health": "100000.00",
                "milestones": "100000.00",
            },
            "county": {"outreach": "60000.00", "milestones": "60000.00"},
        },
        date(2026, 1, 15),
    )
    pay(
        pilot, f"spend:{slug}:S-0", [("county", "outreach", "1000.00")], date(2026, 2, 10), provider
    )
    split = [("medicaid", "milestones", "200.00"), ("county", "milestones", "120.00")]
    split.append(("fund", "milestones", "80.00"))
    pay(pilot, f"milestone:{slug}:P-1/E1/1", split, date(2026, 3, 10), provider, "P-1")
    pay(
        pilot,
        f"spend:{slug}:S-1",
        [("medicaid", "care_coordination", "5000.00")],
        date(2026, 3, 12),
        provider,
        "P-2",
    )
    pay(
        pilot,
        f"spend:{slug}:S-2",
        [("county", "outreach", "144880.00")],
        date(2026, 3, 20),
        provider,
    )
    post(
        pilot,
        f"recoup:{slug}:P-1/E1/1:1",
        [
            (f"recoupment:{provider.code}", "40.00"),
            ("paid:medicaid:milestones", "-20.00"),
            ("paid:county:milestones", "-12.00"),
            ("paid:fund:milestones", "-8.00"),
        ],
        date(2026, 3, 25),
        kind=Transaction.RECOUPMENT,
        participant_id="P-1",
        provider=provider,
    )


# --- blended-2026 -----------------------------------------------------------------------

BLENDED_REGISTER = (
    "member_id,payer,coverage_start,coverage_end,status\n"
    "PHP-0001,php,2026-01-01,2026-12-31,active\n"
    "PHP-0002,php,2026-01-01,2026-12-31,active\n"
    "PHP-0003,php,2026-01-01,2026-12-31,active\n"
)
PEOPLE = {
    "B-0001": ("PHP-0001", "moderate", "guilford", "SL1"),
    "B-0002": ("PHP-0002", "high", "guilford", "SL2"),
    "B-0003": ("PHP-0003", "moderate", "forsyth", "SL1"),
}


def blended_team(pilot: Pilot, admin: User, provider: Organisation) -> dict[str, User]:
    """Riverside staff "bl-<role>", pilot office finance "bf-finance"/"bf-finance-2",
    compliance "bf-compliance", php's representative "bf-payer", an auditor."""
    from fundpilot.participants.imports import import_eligibility
    from tests.participants.conftest import PROVIDER_ROLES

    people = {
        f"bl-{role.value}": make_person(f"bl-{role.value}", provider, admin, role, pilot)
        for role in PROVIDER_ROLES
    }
    office = admin.organisation
    for name, role in (
        ("bf-finance", Role.FINANCE),
        ("bf-finance-2", Role.FINANCE),
        ("bf-compliance", Role.COMPLIANCE),
        ("bf-auditor", Role.AUDITOR),
    ):
        people[name] = make_person(name, office, admin, role, pilot)
    payer = pilot.parties.get(payer_id=BLENDED_PAYER).organisation  # blended_pilot's php
    people["bf-payer"] = make_person("bf-payer", payer, admin, Role.PAYER_REP, pilot)
    import_eligibility(
        pilot=pilot,
        payer_id=BLENDED_PAYER,
        filename="php.csv",
        content=BLENDED_REGISTER.encode(),
        by=people["bf-compliance"],
        at=NOW,
    )
    return people


def admit(pilot: Pilot, team: dict[str, User], pid: str) -> Participant:
    """Referred, assessed, filed and activated; then its service level approved."""
    member, band, geography, level = PEOPLE[pid]
    participant = admit_blended(
        pilot,
        {
            Role.ENROLLMENT_MANAGER: team["bl-enrollment_manager"],
            Role.ACTIVATION_APPROVER: team["bl-activation_approver"],
        },
        participant_id=pid,
        member_id=member,
        acuity_band=band,
        geography=geography,
        barriers=(),
    )
    request = care.request_service_level(
        participant=Participant.objects.get(pk=participant.pk),
        level=level,
        kind="initial",
        evidence="LOCUS at intake",
        by=team["bl-frontline"],
        at=ACTIVATED + timedelta(hours=1),
    )
    care.decide_service_level(
        request=request,
        approve=True,
        rationale="Fits the assessment",
        expected_duration_days=90,
        by=team["bl-clinical_lead"],
        at=ACTIVATED + timedelta(hours=2),
    )
    return Participant.objects.get(pk=participant.pk)


def escalate(participant: Participant, team: dict[str, User], days: list[date]) -> None:
    """C6 reviews of `participant` escalated on each of `days`."""
    for day in days:
        care.review_progression(
            participant=Participant.objects.get(pk=participant.pk),
            outcome="escalated",
            review_date=day,
            escalation_status="ESC-CONTACTS",
            escalation_owner=team["bl-supervisor"],
            next_checkpoint=day + timedelta(days=7),
            by=team["bl-supervisor"],
            at=datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=18),
        )


def pmpm(pilot: Pilot, provider: Organisation, month: str, amounts: dict[str, str]) -> None:
    """PMPM bases of `month`, posted on its 28th (the key names the member-month)."""
    on = date.fromisoformat(f"{month}-28")
    for pid, amount in amounts.items():
        pay(
            pilot,
            f"pmpm:{pilot.slug}:{pid}:{month}",
            [(BLENDED_PAYER, "care_management", amount)],
            on,
            provider,
            pid,
        )


def episode(
    pilot: Pilot, provider: Organisation, key: str, pid: str, amount: str, on: date
) -> Transaction:
    return pay(
        pilot,
        f"episode:{pilot.slug}:{key}",
        [(BLENDED_PAYER, "episodes", amount)],
        on,
        provider,
        pid,
    )


def blended_world(pilot: Pilot, team: dict[str, User], provider: Organisation) -> None:
    """The three participants, April's escalations and the ledger through April:

    March: B-0002 episode 20,000.00 (key 9).
    April: PMPM 145.00 / 310.00 / 145.00; episodes B-0002 850.00 (key 1) and 5,200.00
    (key 2), B-0001 175.00 (key 3).
    """
    people = {pid: admit(pilot, team, pid) for pid in PEOPLE}
    escalate(people["B-0003"], team, [date(2026, 4, d) for d in (1, 8, 15, 22)])
    commit_and_receive(pilot, {"php": {"care_management": "300000.00"}}, date(2026, 1, 15))
    episode(pilot, provider, "9", "B-0002", "20000.00", date(2026, 3, 20))
    pmpm(pilot, provider, "2026-04", {"B-0001": "145.00", "B-0002": "310.00", "B-0003": "145.00"})
    episode(pilot, provider, "1", "B-0002", "850.00", date(2026, 4, 10))
    episode(pilot, provider, "2", "B-0002", "5200.00", date(2026, 4, 12))
    episode(pilot, provider, "3", "B-0001", "175.00", date(2026, 4, 14))
