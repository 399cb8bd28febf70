"""C10 through the API, the pages and the command line: the tranche board, a tranche
claimed and submitted, refusals that write nothing. The server takes `at` from its
clock, so each test travels to a moment (time_machine)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from fundpilot.claims.models import Claim, Evidence
from fundpilot.pilots import actions
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import claims_snapshot, pdf_bytes
from tests.claims.contract_fixtures import evidence, verify
from tests.conftest import NOW
from tests.test_cli import run

API = "/api/v1/pilots/discharge-2026"
PAGES = "/pilots/discharge-2026"
LATER = NOW + timedelta(hours=1)


def client_for(user) -> Client:
    secret = actions.issue_api_token(user=user, label="contract", by=user, at=NOW)
    return Client(headers={"Authorization": f"Bearer {secret}"})


def post(client, url, body=None):
    response = client.post(url, json.dumps(body or {}), content_type="application/json")
    return response.status_code, response.json()


@pytest.fixture
def office(contract_pilot, contract_staff):
    """The compliance officer's API client, with T1's evidence uploaded."""
    evidence(contract_pilot, "C1", contract_staff[Role.COMPLIANCE], NOW)
    return client_for(contract_staff[Role.COMPLIANCE])


def test_a_tranche_is_claimed_submitted_and_shown_released(office, contract_pilot, contract_staff):
    with time_machine.travel(LATER, tick=False):
        # when: T1 drafted and submitted through the API
        status, drafted = post(office, f"{API}/tranches/T1/claims", {"reached_on": "2026-03-02"})
        assert (status, drafted["reference"], drafted["status"]) == (201, "T1/1", "draft")
        assert drafted["amount"] == "250000.00"
        status, submitted = post(office, f"{API}/tranches/T1/submission")
        assert (status, submitted["status"]) == (200, "submitted")
        assert submitted["verification_due"] == "2026-03-16"
        assert submitted["live_use"]["real_cases"] == 0
    # and: the verifier accepts it
    verify(Claim.objects.get(reference="T1/1"), contract_staff, LATER + timedelta(hours=1))
    # then: the board shows T1 released, split 60/40, and T2 waiting on live use
    with time_machine.travel(LATER + timedelta(hours=2), tick=False):
        board = office.get(f"{API}/tranches").json()
    t1, t2 = board[0], board[1]
    assert (t1["code"], t1["status"], t1["released"]) == ("T1", "payable", "250000.00")
    assert [p["amount"] for p in t1["payer_split"]] == ["150000.00", "100000.00"]
    assert [c["reference"] for c in t1["claims"]] == ["T1/1"]
    assert (t2["status"], t2["predecessors"]) == ("not_claimed", ["T1"])
    assert t2["live_use_required"]["minimum_real_cases"] == 40
    assert t2["live_use_short"].startswith("0 real cases, 40 required")


def test_a_refusal_answers_422_with_its_code_and_writes_nothing(office):
    before = claims_snapshot()
    with time_machine.travel(LATER, tick=False):
        status, answer = post(office, f"{API}/tranches/T2/claims", {"reached_on": "2026-03-02"})
    assert (status, answer["code"], answer["field"]) == (
        422,
        "tranche_before_predecessor",
        "milestone",
    )
    assert claims_snapshot() == before


def test_measures_travel_as_decimal_strings(office):
    body = {"reached_on": "2026-03-02", "measures": {"med-rec-48h": {"value": 92.5, "volume": 10}}}
    status, answer = post(office, f"{API}/tranches/T3/claims", body)
    assert (status, answer["code"]) == (422, "invalid_input")


def test_an_unknown_tranche_is_404_and_others_are_403(office, contract_staff):
    assert post(office, f"{API}/tranches/T9/claims", {"reached_on": "2026-03-02"})[0] == 404
    finance = client_for(contract_staff[Role.FINANCE])
    assert post(finance, f"{API}/tranches/T1/claims", {"reached_on": "2026-03-02"})[0] == 403
    assert finance.get(f"{API}/tranches").status_code == 200


def test_submitting_a_tranche_without_a_draft_is_refused(office):
    status, answer = post(office, f"{API}/tranches/T1/submission")
    assert (status, answer["code"]) == (422, "no_draft")


# --- pages --------------------------------------------------------------------------


def test_the_pages_take_a_tranche_from_evidence_to_submission(contract_pilot, contract_staff):
    browser = Client()
    browser.force_login(contract_staff[Role.COMPLIANCE])
    with time_machine.travel(LATER, tick=False):
        board = browser.get(f"{PAGES}/tranches/")
        assert board.status_code == 200
        assert b"T1 Infrastructure" in board.content and b"not_claimed" in board.content
        # evidence, one upload per required kind
        for kind in ("protocol", "governance"):
            upload = SimpleUploadedFile(f"{kind}.pdf", pdf_bytes(), content_type="application/pdf")
            answer = browser.post(
                f"{PAGES}/tranches/T1/evidence/",
                {"kind": kind, "document_date": "2026-03-02", "file": upload, "note": ""},
            )
            assert answer.status_code == 302, answer.content.decode()
        assert Evidence.objects.filter(participant__isnull=True).count() == 2
        # a draft dated in the future is refused on the form, nothing written
        answer = browser.post(f"{PAGES}/tranches/T1/claim/", {"reached_on": "2026-03-03"})
        assert answer.status_code == 422 and b"reached_in_future" in answer.content
        assert not Claim.objects.exists()
        answer = browser.post(f"{PAGES}/tranches/T1/claim/", {"reached_on": "2026-03-02"})
        assert answer.status_code == 302
        page = browser.get(f"{PAGES}/tranches/T1/submit/")
        assert page.status_code == 200 and b"protocol.pdf" in page.content
        assert browser.post(f"{PAGES}/tranches/T1/submit/", {}).status_code == 302
    assert Claim.objects.get().status == "submitted"


def test_the_claim_page_shows_quality_floor_fields(live_pilot_page):
    assert b"value_med-rec-48h" in live_pilot_page.content


@pytest.fixture
def live_pilot_page(contract_pilot, contract_staff):
    browser = Client()
    browser.force_login(contract_staff[Role.COMPLIANCE])
    return browser.get(f"{PAGES}/tranches/T3/claim/")


def test_pages_refuse_those_who_may_not_claim(contract_pilot, contract_staff):
    browser = Client()
    browser.force_login(contract_staff[Role.FINANCE])
    assert browser.get(f"{PAGES}/tranches/").status_code == 200
    assert browser.get(f"{PAGES}/tranches/T1/claim/").status_code == 403
    assert b"Claim</a>" not in browser.get(f"{PAGES}/tranches/").content


# --- the command line ----------------------------------------------------------------


def test_the_command_line_claims_submits_and_lists(office, contract_staff):
    with time_machine.travel(LATER, tick=False):
        drafted = run(
            "tranche",
            "claim",
            "T1",
            "--pilot",
            "discharge-2026",
            "--reached-on",
            "2026-03-02",
            "--by",
            "dc-compliance",
            "--json",
        )
        assert drafted.exit_code == 0, drafted.stderr
        assert json.loads(drafted.stdout)["reference"] == "T1/1"
        again = run(
            "tranche",
            "claim",
            "T1",
            "--pilot",
            "discharge-2026",
            "--reached-on",
            "2026-03-02",
            "--by",
            "dc-compliance",
        )
        assert again.exit_code == 2 and "already_claimed" in again.stderr
        submitted = run(
            "tranche", "submit", "T1", "--pilot", "discharge-2026", "--by", "dc-executive_sponsor"
        )
        assert submitted.exit_code == 0, submitted.stderr
        assert "T1/1: submitted; verification due 2026-03-16" in submitted.stdout
        listed = run("tranche", "list", "--pilot", "discharge-2026", "--by", "dc-finance", "--json")
    tranches = json.loads(listed.stdout)["tranches"]
    assert [(t["code"], t["status"]) for t in tranches][:2] == [
        ("T1", "submitted"),
        ("T2", "not_claimed"),
    ]
    assert Decimal(tranches[0]["amount"]) == Decimal("250000.00")


def test_a_malformed_measure_on_the_command_line_is_refused(office):
    result = run(
        "tranche",
        "claim",
        "T3",
        "--pilot",
        "discharge-2026",
        "--reached-on",
        "2026-03-02",
        "--measure",
        "med-rec-48h=92",
        "--by",
        "dc-compliance",
    )
    assert result.exit_code == 2 and "MEASURE=PERCENT@CASES" in result.stderr
