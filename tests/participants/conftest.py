"""Standing participant fixtures: the recovery-2026 pilot with its parties, one person
per role, a loaded payer eligibility register, and participants walked through the
real intake actions (C1, C2).

Times: NOW is Monday 2 March 2026, 07:00 in Oregon. A referral at NOW has its
eligibility file due Tuesday 3 March; a file at NOW has its activation due Wednesday
4 March.
"""

import hashlib
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants import models
from fundpilot.participants.actions import intake
from fundpilot.participants.models import (
    EligibilityEntry,
    ImportBatch,
    Participant,
)
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, make_person, organisation

# Riverside (the `provider` fixture) staff: username "rs-<role>".
PROVIDER_ROLES = (
    Role.ENROLLMENT_MANAGER,
    Role.ACTIVATION_APPROVER,
    Role.RECOVERY_LEAD,
    Role.FRONTLINE,
    Role.SUPERVISOR,
    Role.CLINICAL_LEAD,
    Role.QUALITY_REVIEWER,
)
# Pilot office staff: username "po-<role>" (the administrator is the `admin` fixture).
OFFICE_ROLES = (Role.COMPLIANCE, Role.FINANCE)

PAYER = "wvch"
PARTICIPANT = "P-0001"
MEMBER = "WV-0001"
# The register as the payer sends it (header per issue 3; extra columns allowed).
REGISTER_CSV = (
    "member_id,payer,coverage_start,coverage_end,status\n"
    "WV-0001,wvch,2026-01-01,2026-12-31,active\n"
    "WV-0002,wvch,2026-01-01,2026-12-31,active\n"
    "WV-0003,wvch,2026-01-01,2026-12-31,active\n"
    "WV-0009,wvch,2025-01-01,2026-12-31,terminated\n"
    "WV-0010,wvch,2025-01-01,2026-02-28,active\n"
)
BASELINE_SCORE = Decimal("62.50")  # milestone stage S2 (50–69.99)


def snapshot() -> dict[str, object]:
    """Row counts of every participant table and the audit log, and each participant's
    state: a refused action leaves this unchanged."""
    tables = [
        m
        for m in vars(models).values()
        if isinstance(m, type)
        and issubclass(m, models.models.Model)
        and m.__module__ == models.__name__
        and not m._meta.abstract
    ]
    state: dict[str, object] = {m.__name__: m.objects.count() for m in tables}
    state["AuditRecord"] = AuditRecord.objects.count()
    state["participants"] = list(
        Participant.objects.order_by("pk").values_list(
            "participant_id", "status", "activated_at", "next_review_due", "lead_id", "engaged"
        )
    )
    return state


def register_rows(csv_text: str) -> list[tuple[str, str, date, date | None, str]]:
    rows = []
    for line in csv_text.strip().splitlines()[1:]:
        member, payer, start, end, status = line.split(",")[:5]
        rows.append(
            (
                member,
                payer,
                date.fromisoformat(start),
                date.fromisoformat(end) if end else None,
                status,
            )
        )
    return rows


def load_register(
    pilot: Pilot, by: User, csv_text: str = REGISTER_CSV, *, at: datetime = NOW
) -> ImportBatch:
    """Load a payer eligibility register as a new batch.

    Through the real import action once it exists; until then the rows are created
    directly (the import action and its refusals are tested in test_imports*.py).
    """
    try:
        from fundpilot.participants.imports import import_eligibility
    except ModuleNotFoundError as missing:
        if missing.name != "fundpilot.participants.imports":
            raise
    else:
        result = import_eligibility(
            pilot=pilot,
            payer_id=PAYER,
            filename="register.csv",
            content=csv_text.encode(),
            by=by,
            at=at,
        )
        assert result.batch is not None
        return result.batch
    rows = register_rows(csv_text)
    batch = ImportBatch.objects.create(
        pilot=pilot,
        kind=ImportBatch.ELIGIBILITY,
        payer_id=PAYER,
        filename="register.csv",
        sha256=hashlib.sha256(csv_text.encode()).hexdigest(),
        rows=len(rows),
        imported_by=by,
        imported_at=at,
    )
    EligibilityEntry.objects.bulk_create(
        EligibilityEntry(
            pilot=pilot,
            batch=batch,
            payer_id=payer,
            member_id=member,
            coverage_start=start,
            coverage_end=end,
            status=status,
        )
        for member, payer, start, end, status in rows
    )
    return batch


@pytest.fixture
def payer_org(admin: User) -> Organisation:
    return organisation("wvch-health", OrgKind.PAYER, admin)


@pytest.fixture
def staff(
    pilot: Pilot,
    admin: User,
    provider: Organisation,
    other_provider: Organisation,
    payer_org: Organisation,
) -> dict[Role, User]:
    """One person per role: riverside staff ("rs-<role>") and pilot office ("po-<role>").

    Riverside, Northstar (`other_provider`) and the payer wvch are parties of the pilot.
    Caseload capacities are left unset, so the rulebook's limits apply.
    """
    for org, payer_id in ((provider, ""), (other_provider, ""), (payer_org, PAYER)):
        actions.add_party(pilot=pilot, organisation=org, payer_id=payer_id, by=admin, at=NOW)
    office = User.objects.get(username="admin").organisation
    people = {
        role: make_person(f"rs-{role.value}", provider, admin, role, pilot)
        for role in PROVIDER_ROLES
    }
    people |= {
        role: make_person(f"po-{role.value}", office, admin, role, pilot) for role in OFFICE_ROLES
    }
    people[Role.ADMINISTRATOR] = admin
    return people


@pytest.fixture
def register(pilot: Pilot, staff: dict[Role, User]) -> ImportBatch:
    """wvch's register: WV-0001..0003 active all 2026, WV-0009 terminated, WV-0010
    lapsed on 28 February 2026."""
    return load_register(pilot, staff[Role.COMPLIANCE])


def admit(
    pilot: Pilot,
    staff: dict[Role, User],
    *,
    participant_id: str = PARTICIPANT,
    member_id: str = MEMBER,
    score: Decimal = BASELINE_SCORE,
    acuity_band: str = "moderate",
    flags: tuple[str, ...] = ("smi",),
    barriers: tuple[str, ...] = ("housing",),
    at: datetime = NOW,
) -> Participant:
    """Referral at `at`, baseline and screening an hour later, C1 file two hours later:
    an eligible participant of riverside (needs the `register` fixture's members)."""
    manager = staff[Role.ENROLLMENT_MANAGER]
    referral = intake.receive_referral(
        pilot=pilot,
        reference=f"REF-{participant_id}",
        participant_id=participant_id,
        payer_id=PAYER,
        member_id=member_id,
        source="ED",
        provider=manager.organisation,
        service_category="SMI-OP",
        referred_at=at,
        geography="marion",
        by=manager,
        at=at,
    )
    common = {"pilot": pilot, "participant_id": participant_id, "by": manager}
    baseline = intake.record_assessment(
        **common,
        kind="baseline",
        tool="whodas-12",
        tool_version="2.0",
        score=score,
        acuity_band=acuity_band,
        flags=flags,
        signed_by="Dr. Rosa Diaz",
        signed_at=at + timedelta(hours=1),
        at=at + timedelta(hours=1),
    )
    intake.record_assessment(
        **common,
        kind="screening",
        tool="locus",
        tool_version="2020",
        score=Decimal("18"),
        acuity_band=acuity_band,
        flags=flags,
        barriers=barriers,
        signed_by="Dr. Rosa Diaz",
        signed_at=at + timedelta(hours=1),
        at=at + timedelta(hours=1),
    )
    intake.file_eligibility(
        referral=referral,
        assessment=baseline,
        participant_id=participant_id,
        payer_status="active",
        baseline_score=score,
        service_category="SMI-OP",
        proposed_start=at.date() + timedelta(days=7),
        by=manager,
        at=at + timedelta(hours=2),
    )
    return Participant.objects.get(pilot=pilot, participant_id=participant_id)


def activate(
    participant: Participant, staff: dict[Role, User], *, at: datetime | None = None
) -> Participant:
    """C2 activation by riverside's activation approver (default: a day after the file)."""
    at = at or participant.referral.eligibility_file.decided_at + timedelta(days=1)
    intake.decide_activation(
        participant=participant,
        outcome="activated",
        decision_code="A1",
        review_date=participant.pilot.calendar.local_date(at),
        control_status="passed",
        by=staff[Role.ACTIVATION_APPROVER],
        at=at,
    )
    return Participant.objects.get(pk=participant.pk)


def reviewed(
    participant: Participant, staff: dict[Role, User], *, at: datetime | None = None
) -> Participant:
    """Compliance's review of the activation, which milestone planning (C4) waits for."""
    if not participant.compliance_reviews.exists():
        intake.review_compliance(
            participant=participant,
            note="register checked",
            by=staff[Role.COMPLIANCE],
            at=at or participant.activated_at + timedelta(minutes=30),
        )
    return participant


@pytest.fixture
def eligible_participant(
    pilot: Pilot, staff: dict[Role, User], register: ImportBatch
) -> Participant:
    """P-0001 (member WV-0001) of riverside: referred at NOW, filed at NOW+2h, eligible,
    baseline 62.50 on whodas-12 2.0, acuity moderate, flag smi, screening barrier housing."""
    return admit(pilot, staff)


@pytest.fixture
def activated_participant(
    eligible_participant: Participant, staff: dict[Role, User]
) -> Participant:
    """P-0001 activated at NOW+1 day+2h (Tuesday 3 March 2026); next review due 17 March."""
    return activate(eligible_participant, staff)
