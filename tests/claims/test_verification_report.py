"""The monthly verification report (C9): exact figures per pilot and provider, rejection
reasons ranked, the month's sample audit with its appraisal; provider staff see their
own organisation only. Page, API, CSV and CLI.

March 2026 in recovery-2026 (Oregon business days, no holiday in March):

    riverside P-0001  M3 submitted Tue 10, verified Thu 12       2 days, on time
                      M4 submitted Tue 10, rejected Thu 19       7 days, 2 late
                         (VR-DEFINITION, VR-MISSING)
    northstar N-0001  M3 submitted Mon 16, rejected Mon 23       5 days, on time
                         (VR-DEFINITION)
                      M4 submitted Mon 16, due Mon 23, never decided: open overdue

M1 and M2 of both (sampled tier) became payable in March: the sampling universe.
"""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from fundpilot.claims import report
from fundpilot.claims.actions import sampling
from fundpilot.claims.actions.verification import verify_claim
from fundpilot.claims.models import SampleItem
from fundpilot.participants.actions import care
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import submitted_claim
from tests.claims.test_verification import M3_MET, ON_TIME, SUBMITTED
from tests.conftest import make_person
from tests.participants.conftest import activate, admit, reviewed
from tests.test_cli import run

MONDAY_16 = datetime(2026, 3, 16, 16, tzinfo=UTC)
APRIL = date(2026, 4, 15)  # the report is read once March is over
READ = datetime(2026, 4, 15, 16, tzinfo=UTC)


@pytest.fixture
def in_april():
    """Pages, API and CLI read the clock: it is 15 April 2026."""
    with time_machine.travel(READ, tick=False):
        yield


DRAWN = datetime(2026, 4, 2, 16, tzinfo=UTC)
M4_REJECTED = [{"kind": "housing_doc", "met": False, "note": "shelter bed"}]


def northstar_staff(pilot: Pilot, admin: User, other_provider: Organisation) -> dict[Role, User]:
    roles = (
        Role.ENROLLMENT_MANAGER,
        Role.ACTIVATION_APPROVER,
        Role.RECOVERY_LEAD,
        Role.FRONTLINE,
        Role.SUPERVISOR,
    )
    return {r: make_person(f"ns-{r.value}", other_provider, admin, r, pilot) for r in roles}


def northstar_participant(pilot: Pilot, staff: dict[Role, User], ns: dict[Role, User]):
    """N-0001 of northstar (member WV-0002): admitted, activated, pathway released."""
    participant = activate(admit(pilot, ns, participant_id="N-0001", member_id="WV-0002"), ns)
    reviewed(participant, staff)
    care.release_pathway(
        participant=participant,
        stage="S2",
        barrier_category="housing",
        lead=ns[Role.FRONTLINE],
        target_review_date=date(2026, 3, 13),
        escalation_code="ESC-CRISIS",
        by=ns[Role.RECOVERY_LEAD],
        at=participant.activated_at + timedelta(hours=2),
    )
    return participant


@pytest.fixture
def march(pathway_participant, staff, verifier, pilot, admin, other_provider):
    """The month in the module docstring; returns northstar's staff."""
    m3 = submitted_claim(pathway_participant, "M3", staff, SUBMITTED)
    m4 = submitted_claim(pathway_participant, "M4", staff, SUBMITTED)
    verify_claim(claim=m3, outcome="verified", checklist=M3_MET, by=verifier, at=ON_TIME)
    verify_claim(
        claim=m4,
        outcome="rejected",
        checklist=M4_REJECTED,
        reason_codes=["VR-DEFINITION", "VR-MISSING"],
        by=verifier,
        at=datetime(2026, 3, 19, 18, tzinfo=UTC),
    )
    ns = northstar_staff(pilot, admin, other_provider)
    n1 = northstar_participant(pilot, staff, ns)
    n3 = submitted_claim(n1, "M3", ns, MONDAY_16)
    submitted_claim(n1, "M4", ns, MONDAY_16)
    verify_claim(
        claim=n3,
        outcome="rejected",
        checklist=[{"kind": "care_plan", "met": False}, {"kind": "pcp_visit", "met": True}],
        reason_codes=["VR-DEFINITION"],
        by=verifier,
        at=datetime(2026, 3, 23, 18, tzinfo=UTC),
    )
    return ns


def row(provider, submitted, verified, rejected, median, worst, late, worst_late, still_open, pid):
    return report.ProviderRow(
        pid,
        provider,
        submitted,
        verified,
        rejected,
        0,
        None if median is None else Decimal(median),
        worst,
        late,
        worst_late,
        still_open,
    )


def test_the_report_counts_each_providers_month(march, pilot, verifier, provider, other_provider):
    # given March's decisions
    # when the verifier reads March's report in April
    found = report.verification_report(pilot, month="2026-03", user=verifier, today=APRIL)
    # then every provider's figures, all providers first
    ns, rs = other_provider.pk, provider.pk
    assert found.rows == [
        row("All providers", 4, 1, 2, "5", 7, 1, 2, 1, None),
        row("Northstar", 2, 0, 1, "5", 5, 0, 0, 1, ns),
        row("Riverside", 2, 1, 1, "4.5", 7, 1, 2, 0, rs),
    ]
    assert [r.breaches for r in found.rows] == [2, 1, 1]
    # and rejection reasons ranked, most frequent first (ties by code)
    assert [(r.provider, r.rank, r.code, r.count) for r in found.reasons] == [
        ("All providers", 1, "VR-DEFINITION", 2),
        ("All providers", 2, "VR-MISSING", 1),
        ("Northstar", 1, "VR-DEFINITION", 1),
        ("Riverside", 1, "VR-DEFINITION", 1),
        ("Riverside", 2, "VR-MISSING", 1),
    ]
    assert found.reasons[0].label == "Does not meet the milestone definition"
    # and no sample was drawn for March
    assert found.sample is None


def test_provider_staff_see_their_own_organisation_only(march, pilot, staff, provider):
    # when riverside's supervisor reads the report
    found = report.verification_report(
        pilot, month="2026-03", user=staff[Role.SUPERVISOR], today=APRIL
    )
    # then only riverside's rows are there
    assert found.own_only
    assert found.rows == [
        row("Your organisation", 2, 1, 1, "4.5", 7, 1, 2, 0, None),
        row("Riverside", 2, 1, 1, "4.5", 7, 1, 2, 0, provider.pk),
    ]
    assert {r.provider for r in found.reasons} == {"Your organisation", "Riverside"}


def test_a_month_without_decisions_is_empty(pilot, verifier):
    found = report.verification_report(pilot, month="2026-02", user=verifier, today=APRIL)
    assert found.rows == [row("All providers", 0, 0, 0, None, None, 0, 0, 0, None)]
    assert (found.reasons, found.sample) == ([], None)


def test_a_malformed_month_is_refused(pilot, verifier):
    with pytest.raises(Refused) as refused:
        report.verification_report(pilot, month="2026-13", user=verifier)
    assert refused.value.code == "invalid_month"


def test_someone_without_the_report_permission_is_refused(pilot, outsider):
    with pytest.raises(NotPermitted):
        report.verification_report(pilot, month="2026-03", user=outsider)


def test_the_months_sample_audit_and_appraisal_are_reported(
    march, pilot, verifier, staff, provider, other_provider
):
    # given March's sample drawn, every item audited, riverside's first failing in full
    sample = sampling.draw_sample(pilot=pilot, period="2026-03", seed=7, by=verifier, at=DRAWN)
    items = list(SampleItem.objects.filter(sample=sample).select_related("claim__provider"))
    failing = next(i for i in items if i.claim.provider_id == provider.pk)
    for n, item in enumerate(items):
        fails = item.pk == failing.pk
        sampling.audit_sampled_claim(
            item=item,
            supported_amount=Decimal("0.00") if fails else item.claim.payable_amount,
            finding_codes=["VR-MISSING"] if fails else [],
            by=verifier,
            at=DRAWN + timedelta(hours=n + 1),
        )
    appraisal = sampling.appraise_sample(sample=sample, by=verifier, at=DRAWN + timedelta(days=1))
    # when the verifier reads March's report
    found = report.verification_report(pilot, month="2026-03", user=verifier, today=APRIL)
    # then the sample's audits are summed per provider, with the appraisal
    s = found.sample
    assert (s.period, s.seed, s.universe_size, s.universe_amount) == (
        "2026-03",
        7,
        4,
        Decimal("3000.00"),
    )
    # (every one of the four claims: each is alone in its milestone × provider stratum)
    assert [(r.provider, r.sampled, r.audited, r.failed, r.paid, r.supported) for r in s.rows] == [
        ("All providers", 4, 4, 1, Decimal("3000.00"), Decimal("2100.00")),
        ("Northstar", 2, 2, 0, Decimal("1500.00"), Decimal("1500.00")),
        ("Riverside", 2, 2, 1, Decimal("1500.00"), Decimal("600.00")),
    ]
    assert failing.claim.reference == "P-0001/M1/1"
    assert s.rows[0].overpayment == Decimal("900.00")
    assert s.appraisal.pk == appraisal.pk
    # and riverside's staff see their own audits, but not the pilot-wide appraisal
    own = report.verification_report(
        pilot, month="2026-03", user=staff[Role.SUPERVISOR], today=APRIL
    ).sample
    assert [r.provider for r in own.rows] == ["Your organisation", "Riverside"]
    assert (own.appraisal, own.appraisal_hidden) == (None, True)


# --- page, API, CSV, CLI -----------------------------------------------------------------------


def test_the_api_answers_the_report(march, verifier):
    client = Client()
    client.force_login(verifier)
    response = client.get("/api/v1/pilots/recovery-2026/verification-report", {"month": "2026-03"})
    assert response.status_code == 200
    body = response.json()
    assert body["providers"][0] | {"median_days_to_decision": None} == {
        "provider_id": None,
        "provider": "All providers",
        "submitted": 4,
        "verified": 1,
        "rejected": 2,
        "partially_verified": 0,
        "median_days_to_decision": None,
        "worst_days_to_decision": 7,
        "late_decisions": 1,
        "worst_late_days": 2,
        "open_overdue": body["providers"][0]["open_overdue"],
        "breaches": body["providers"][0]["breaches"],
    }
    assert Decimal(body["providers"][0]["median_days_to_decision"]) == 5
    assert body["rejection_reasons"][0]["code"] == "VR-DEFINITION"
    assert body["sample"] is None


def test_the_api_refuses_a_malformed_month(verifier, pilot):
    client = Client()
    client.force_login(verifier)
    response = client.get("/api/v1/pilots/recovery-2026/verification-report", {"month": "March"})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_input")


def test_the_page_shows_the_report_and_no_sample(march, verifier, in_april):
    client = Client()
    client.force_login(verifier)
    response = client.get("/pilots/recovery-2026/verification-report/", {"month": "2026-03"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Northstar" in page and "Riverside" in page
    assert "VR-DEFINITION" in page
    assert "No sample drawn for 2026-03" in page


def test_the_csv_download_has_each_providers_row(march, verifier, in_april):
    client = Client()
    client.force_login(verifier)
    response = client.get("/pilots/recovery-2026/verification-report.csv", {"month": "2026-03"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[0][:5] == ["month", "provider", "submitted", "verified", "rejected"]
    assert [line[1] for line in lines[1:4]] == ["All providers", "Northstar", "Riverside"]
    assert lines[3][2:5] == ["2", "1", "1"]
    assert ["2026-03", "no sample drawn"] in lines


def test_the_cli_prints_the_report_as_json_csv_and_a_table(march, in_april):
    as_json = run(
        "report", "verification", "--pilot", "recovery-2026", "--month", "2026-03",
        "--format", "json", "--by", "cv-verifier",
    )  # fmt: skip
    assert as_json.exit_code == 0, as_json.stderr
    assert json.loads(as_json.stdout)["providers"][2]["provider"] == "Riverside"
    as_csv = run(
        "report", "verification", "--pilot", "recovery-2026", "--month", "2026-03",
        "--format", "csv", "--by", "rs-supervisor",
    )  # fmt: skip
    assert as_csv.exit_code == 0
    assert "Northstar" not in as_csv.stdout and "Riverside" in as_csv.stdout
    table = run(
        "report", "verification", "--pilot", "recovery-2026", "--month", "2026-03",
        "--by", "cv-verifier",
    )  # fmt: skip
    assert table.exit_code == 0
    assert "no sample drawn for 2026-03" in table.stdout


def test_the_cli_refuses_a_bad_month(pilot, verifier):
    result = run(
        "report", "verification", "--pilot", "recovery-2026", "--month", "03-2026",
        "--by", "cv-verifier",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "invalid_month" in result.stderr
