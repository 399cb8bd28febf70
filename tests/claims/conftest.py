"""Standing fixtures for milestones, evidence and verification (C7–C11).

The recovery-2026 staff and register come from the participant fixtures. Added here:
an independent verification body with a verifier, a verifier who works for the
delivering provider's own group (must be refused), and P-0001 with its pathway
released — the point from which milestones are earned. The discharge-2026 pilot
(staged contract milestones) has its own pilot office staff.

Times: P-0001 is activated on Tuesday 3 March 2026 (ACTIVATED) and its pathway is
released an hour later (RELEASED).
"""

from datetime import date, timedelta

import pytest

from fundpilot.participants.actions import care
from fundpilot.participants.models import Participant
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation
from tests.participants.conftest import (  # noqa: F401 (fixtures)
    activated_participant,
    eligible_participant,
    payer_org,
    register,
    reviewed,
    staff,
)

ACTIVATED = NOW + timedelta(days=1, hours=2)
RELEASED = ACTIVATED + timedelta(hours=1)


@pytest.fixture
def verification_body(pilot: Pilot, admin: User) -> Organisation:
    body = organisation("clearview-verify", OrgKind.VERIFICATION_BODY, admin)
    actions.add_party(pilot=pilot, organisation=body, payer_id="", by=admin, at=NOW)
    return body


@pytest.fixture
def verifier(pilot: Pilot, admin: User, verification_body: Organisation) -> User:
    """An independent verifier ("cv-verifier")."""
    return make_person("cv-verifier", verification_body, admin, Role.VERIFIER, pilot)


@pytest.fixture
def pathway_participant(
    activated_participant: Participant,  # noqa: F811 (the fixture, imported above)
    staff: dict[Role, User],  # noqa: F811
) -> Participant:
    """P-0001 of riverside, activated, reviewed by compliance, pathway S2 released to the
    frontline lead at RELEASED: milestones can now be earned."""
    reviewed(activated_participant, staff, at=ACTIVATED + timedelta(minutes=30))
    care.release_pathway(
        participant=activated_participant,
        stage="S2",
        barrier_category="housing",
        lead=staff[Role.FRONTLINE],
        target_review_date=date(2026, 3, 13),
        escalation_code="ESC-CRISIS",
        by=staff[Role.RECOVERY_LEAD],
        at=RELEASED,
    )
    return Participant.objects.get(pk=activated_participant.pk)


@pytest.fixture
def contract_pilot(admin: User) -> Pilot:
    """discharge-2026: four contract milestones C1→C4 releasing tranches T1–T4."""
    return actions.create_pilot(document=example("discharge-pathway"), by=admin, at=NOW)


@pytest.fixture
def contract_staff(contract_pilot: Pilot, admin: User) -> dict[Role, User]:
    """The discharge pilot office ("dc-<role>": compliance, executive sponsor, finance)
    and an independent verifier ("dc-verifier") of another verification body."""
    office = admin.organisation
    people = {
        role: make_person(f"dc-{role.value}", office, admin, role, contract_pilot)
        for role in (Role.COMPLIANCE, Role.EXECUTIVE_SPONSOR, Role.FINANCE)
    }
    body = organisation("northgate-verify", OrgKind.VERIFICATION_BODY, admin)
    actions.add_party(pilot=contract_pilot, organisation=body, payer_id="", by=admin, at=NOW)
    people[Role.VERIFIER] = make_person("dc-verifier", body, admin, Role.VERIFIER, contract_pilot)
    people[Role.ADMINISTRATOR] = admin
    return people
