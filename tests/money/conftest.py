"""Standing money fixtures: the pooled multi-payer pilot (pooled-2026: medicaid, county,
fund) with one person per money role, and a snapshot of every money table.

Payer representatives are "pr-<payer>" of that payer's organisation; pilot office
staff "po-<role>"; riverside staff "rs-<role>"; a second finance officer "po-finance-2"
for separation-of-duties cases.
"""

import pytest
from django.test import Client

from fundpilot.money import models
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation, row_counts

PAYERS = ("medicaid", "county", "fund")
OFFICE_ROLES = (
    Role.FINANCE,
    Role.EXECUTIVE_SPONSOR,
    Role.BOARD_CHAIR,
    Role.COMPLIANCE,
    Role.ACTIVATION_APPROVER,
)
PROVIDER_ROLES = (Role.FRONTLINE, Role.SUPERVISOR, Role.ENROLLMENT_MANAGER)


def signed_in(user: User) -> Client:
    """A test client with `user` signed in (for the pages)."""
    client = Client()
    client.force_login(user)
    return client


def money_snapshot() -> dict[str, int]:
    """Row counts of every money table and the audit log: a refusal leaves it unchanged."""
    return row_counts(models)


@pytest.fixture
def pooled(admin: User) -> Pilot:
    return actions.create_pilot(document=example("multi-payer"), by=admin, at=NOW)


@pytest.fixture
def payer_orgs(admin: User) -> dict[str, Organisation]:
    return {p: organisation(f"{p}-payer", OrgKind.PAYER, admin) for p in PAYERS}


@pytest.fixture
def money_staff(
    pooled: Pilot,
    admin: User,
    provider: Organisation,
    other_provider: Organisation,
    payer_orgs: dict[str, Organisation],
) -> dict[str, User]:
    """People by username: po-<role>, po-finance-2, rs-<role>, ns-frontline (northstar),
    pr-<payer>, ar-assurance (assurance body), auditor."""
    for org in (provider, other_provider):
        actions.add_party(pilot=pooled, organisation=org, payer_id="", by=admin, at=NOW)
    for payer, org in payer_orgs.items():
        actions.add_party(pilot=pooled, organisation=org, payer_id=payer, by=admin, at=NOW)
    office = admin.organisation
    people = {
        f"po-{role.value}": make_person(f"po-{role.value}", office, admin, role, pooled)
        for role in OFFICE_ROLES
    }
    people["po-finance-2"] = make_person("po-finance-2", office, admin, Role.FINANCE, pooled)
    people |= {
        f"rs-{role.value}": make_person(f"rs-{role.value}", provider, admin, role, pooled)
        for role in PROVIDER_ROLES
    }
    people["ns-frontline"] = make_person(
        "ns-frontline", other_provider, admin, Role.FRONTLINE, pooled
    )
    people |= {
        f"pr-{payer}": make_person(f"pr-{payer}", org, admin, Role.PAYER_REP, pooled)
        for payer, org in payer_orgs.items()
    }
    assurance = organisation("assurers", OrgKind.ASSURANCE_BODY, admin)
    actions.add_party(pilot=pooled, organisation=assurance, payer_id="", by=admin, at=NOW)
    people["ar-assurance"] = make_person(
        "ar-assurance", assurance, admin, Role.ASSURANCE_REVIEWER, pooled
    )
    people["auditor"] = make_person("auditor", office, admin, Role.AUDITOR, pooled)
    people["admin"] = admin
    return people
