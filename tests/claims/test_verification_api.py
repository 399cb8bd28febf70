"""C9 verification through the API, the pages and the CLI: the same action behind each,
refusals answered with their code and nothing written.

P-0001's M3 is submitted on Tuesday 10 March 2026 (due Tuesday 17 March); the server's
clock is Thursday 12 March unless a test travels.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from fundpilot.claims.models import Claim
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import claims_snapshot, pdf_bytes, submitted_claim, upload
from tests.claims.test_verification import M3_MET, SUBMITTED
from tests.participants.conftest import activate, admit
from tests.test_cli import run

THURSDAY = datetime(2026, 3, 12, 18, tzinfo=UTC)
URL = "/api/v1/pilots/recovery-2026/claims/P-0001/M3/1/verification"
PAGE = "/pilots/recovery-2026/claims/P-0001/M3/1/verification/"


@pytest.fixture
def m3(pathway_participant, staff) -> Claim:
    return submitted_claim(pathway_participant, "M3", staff, SUBMITTED)


@pytest.fixture
def thursday():
    with time_machine.travel(THURSDAY, tick=False):
        yield


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- API ------------------------------------------------------------------------------------


def test_the_api_verifies_a_claim(m3, verifier, thursday):
    # when the verifier posts a checklist with every requirement met
    response = signed_in(verifier).post(
        URL, {"outcome": "verified", "checklist": M3_MET}, content_type="application/json"
    )
    # then the decision is recorded and the claim is payable
    assert response.status_code == 201, response.json()
    assert response.json() == {
        "reference": "P-0001/M3/1",
        "status": "payable",
        "outcome": "verified",
        "checklist": M3_MET,
        "reason_codes": [],
        "criteria_met": [],
        "amount": "1200.00",
        "note": "",
        "organisation": "clearview-verify",
        "decided_by": "cv-verifier",
        "decided_at": "2026-03-12T18:00:00Z",
        "rulebook_version": 1,
        "due": "2026-03-17",
        "late_days": 0,
        "cure_until": None,
        "basis_key": "milestone:recovery-2026:P-0001:M3:1",
    }
    assert Claim.objects.get(pk=m3.pk).payable_amount == Decimal("1200.00")


def test_the_api_answers_a_refusal_with_its_code_and_writes_nothing(m3, verifier, thursday):
    before = claims_snapshot()
    response = signed_in(verifier).post(
        URL,
        {"outcome": "rejected", "checklist": M3_MET, "reason_codes": []},
        content_type="application/json",
    )
    assert (response.status_code, response.json()["code"], response.json()["field"]) == (
        422,
        "reason_required",
        "reason_codes",
    )
    assert claims_snapshot() == before


def test_the_api_refuses_malformed_input(m3, verifier, thursday):
    checklist = [{"kind": "care_plan", "met": "perhaps"}]
    response = signed_in(verifier).post(
        URL, {"outcome": "verified", "checklist": checklist}, content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_input")


def test_the_api_refuses_anyone_but_a_verifier(m3, staff, thursday):
    response = signed_in(staff[Role.SUPERVISOR]).post(
        URL, {"outcome": "verified", "checklist": M3_MET}, content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (403, "not_permitted")


def test_the_api_answers_404_for_an_unknown_claim(m3, verifier, thursday):
    response = signed_in(verifier).post(
        URL.replace("M3/1", "M3/9"),
        {"outcome": "verified", "checklist": M3_MET},
        content_type="application/json",
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


# --- pages ----------------------------------------------------------------------------------


def test_the_queue_page_lists_the_claim_with_its_due_date(m3, verifier, thursday):
    response = signed_in(verifier).get("/pilots/recovery-2026/verification/")
    assert response.status_code == 200
    page = response.content.decode()
    assert PAGE in page and "2026-03-17" in page


def test_the_form_shows_each_requirement_with_its_evidence(
    pathway_participant, staff, verifier, pilot, thursday
):
    # given a care plan of M3 that is the same document as P-0002's (flagged as reused)
    shared = pdf_bytes("the same care plan")
    frontline = staff[Role.FRONTLINE]
    other = activate(admit(pilot, staff, participant_id="P-0002", member_id="WV-0002"), staff)
    upload(other, "care_plan", frontline, SUBMITTED, content=shared)
    upload(pathway_participant, "care_plan", frontline, SUBMITTED, content=shared)
    submitted_claim(pathway_participant, "M3", staff, SUBMITTED)
    # when the verifier opens the form
    response = signed_in(verifier).get(PAGE)
    # then the definition, guidance, every requirement and its evidence are there
    page = response.content.decode()
    assert response.status_code == 200
    assert "A person-centred care plan is signed" in page
    assert "A plan signed only by staff does not count." in page
    assert "Verified attended primary-care appointment" in page
    assert page.count("Reused: the same document is attached to another participant") == 1
    # and each document has its download link
    assert page.count('href="/pilots/recovery-2026/evidence/') == 3


def test_a_refused_decision_re_renders_the_form_with_the_reason(m3, verifier, thursday):
    # when the verifier records "verified" with the visit not met
    before = claims_snapshot()
    response = signed_in(verifier).post(
        PAGE, {"met_0": "yes", "met_1": "no", "outcome": "verified", "note": ""}
    )
    # then the form says why and nothing is written
    assert response.status_code == 422
    assert "unmet_items" in response.content.decode()
    assert claims_snapshot() == before


def test_the_form_records_a_rejection(m3, verifier, thursday):
    response = signed_in(verifier).post(
        PAGE,
        {
            "met_0": "yes",
            "met_1": "no",
            "note_1": "booked, not attended",
            "outcome": "rejected",
            "reason_codes": ["VR-DEFINITION"],
        },
    )
    assert response.status_code == 302
    claim = Claim.objects.get(pk=m3.pk)
    decision = claim.verifications.get()
    assert (claim.status, decision.reason_codes, decision.checklist[1]) == (
        "rejected",
        ["VR-DEFINITION"],
        {"kind": "pcp_visit", "met": False, "note": "booked, not attended"},
    )
    # and the page then shows the decision instead of the form
    page = signed_in(verifier).get(PAGE).content.decode()
    assert "Decision: rejected" in page and "Record the decision" not in page


def test_the_form_is_for_verifiers_only(m3, staff, thursday):
    assert signed_in(staff[Role.FRONTLINE]).get(PAGE).status_code == 403


# --- CLI ------------------------------------------------------------------------------------


def test_the_cli_verifies_a_claim(m3, verifier, thursday):
    result = run(
        "verify", "--pilot", "recovery-2026", "--claim", "P-0001/M3/1", "--outcome", "verified",
        "--met", "care_plan", "--met", "pcp_visit", "--by", "cv-verifier", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert '"status": "payable"' in result.stdout
    assert Claim.objects.get(pk=m3.pk).status == "payable"


def test_the_cli_exits_2_on_a_refusal_and_writes_nothing(m3, verifier, thursday):
    before = claims_snapshot()
    result = run(
        "verify", "--pilot", "recovery-2026", "--claim", "P-0001/M3/1", "--outcome", "rejected",
        "--met", "care_plan", "--not-met", "pcp_visit", "--reason", "VR-NOPE",
        "--by", "cv-verifier",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "unknown_reason" in result.stderr
    assert claims_snapshot() == before
