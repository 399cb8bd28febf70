"""C11 through the API, the pages and the command line: P-0001's rejected M3 disputed,
escalated and overturned; refusals answer with their code and write nothing.

recovery-2026: the M3 claim is submitted on Tuesday 10 March 2026 and rejected on
Thursday 12 March; disputes are raised on Friday 13 March (due Friday 3 April).
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from fundpilot.claims.actions.verification import verify_claim
from fundpilot.claims.models import Claim, Dispute, Verification
from fundpilot.pilots import actions
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import claims_snapshot, submitted_claim
from tests.conftest import NOW, make_person
from tests.test_cli import run

API = "/api/v1/pilots/recovery-2026"
PAGES = "/pilots/recovery-2026"
SUBMITTED = datetime(2026, 3, 10, 17, tzinfo=UTC)
DECIDED = datetime(2026, 3, 12, 18, tzinfo=UTC)
RAISED = datetime(2026, 3, 13, 17, tzinfo=UTC)
M3_MET = [{"kind": "care_plan", "met": True}, {"kind": "pcp_visit", "met": True}]
RESOLUTION = {"resolution": "the visit was on file", "learning": "check the EHR export"}


def client_for(user) -> Client:
    secret = actions.issue_api_token(user=user, label="disputes", by=user, at=NOW)
    return Client(headers={"Authorization": f"Bearer {secret}"})


def post(client, url, body):
    response = client.post(url, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


@pytest.fixture
def rejection(pathway_participant, staff, verifier) -> Verification:
    claim = submitted_claim(pathway_participant, "M3", staff, SUBMITTED)
    return verify_claim(
        claim=claim,
        outcome="rejected",
        checklist=[{"kind": "care_plan", "met": True}, {"kind": "pcp_visit", "met": False}],
        reason_codes=["VR-MISSING"],
        by=verifier,
        at=DECIDED,
    )


def test_a_dispute_is_raised_escalated_and_resolved_through_the_api(rejection, staff):
    frontline, compliance = client_for(staff[Role.FRONTLINE]), client_for(staff[Role.COMPLIANCE])
    with time_machine.travel(RAISED, tick=False):
        body = {"subject_kind": "verification", "subject_id": rejection.pk, "grounds": "in the log"}
        status, raised = post(frontline, f"{API}/disputes", body)
    assert (status, raised["reference"], raised["stage"], raised["due"]) == (
        201,
        "D-0001",
        "D1",
        "2026-04-03",
    )
    assert raised["subject"] == "verification of P-0001/M3/1"
    with time_machine.travel(RAISED + timedelta(days=3), tick=False):
        status, escalated = post(
            frontline, f"{API}/disputes/D-0001/escalation", {"note": "no reply"}
        )
    assert (status, escalated["stage"]) == (200, "D2")
    with time_machine.travel(RAISED + timedelta(days=7), tick=False):
        body = {"outcome": "overturned", "verification_outcome": "verified", "checklist": M3_MET}
        status, resolved = post(compliance, f"{API}/disputes/D-0001/resolution", body | RESOLUTION)
    assert (status, resolved["status"], resolved["outcome"]) == (200, "resolved", "overturned")
    assert [s["action"] for s in resolved["steps"]] == ["raised", "escalated", "resolved"]
    assert Claim.objects.get(pk=rejection.claim_id).status == "payable"
    listed = compliance.get(f"{API}/disputes", {"status": "resolved"}).json()
    assert [d["reference"] for d in listed] == ["D-0001"]
    assert resolved["new_decision"].startswith("verification:")


def test_a_refused_resolution_answers_422_and_writes_nothing(rejection, staff):
    frontline, compliance = client_for(staff[Role.FRONTLINE]), client_for(staff[Role.COMPLIANCE])
    body = {"subject_kind": "verification", "subject_id": rejection.pk, "grounds": "in the log"}
    post(frontline, f"{API}/disputes", body)
    before = claims_snapshot()
    body = {"outcome": "overturned", "verification_outcome": "verified", "checklist": M3_MET[:1]}
    status, answer = post(compliance, f"{API}/disputes/D-0001/resolution", body | RESOLUTION)
    assert (status, answer["code"], answer["field"]) == (422, "checklist_incomplete", "checklist")
    assert claims_snapshot() == before


def test_raising_on_a_decision_that_is_not_there_is_404(rejection, staff):
    frontline = client_for(staff[Role.FRONTLINE])
    body = {"subject_kind": "verification", "subject_id": rejection.pk + 99, "grounds": "x"}
    assert post(frontline, f"{API}/disputes", body)[0] == 404
    body = {"subject_kind": "ledger", "subject_id": rejection.pk, "grounds": "x"}
    assert post(frontline, f"{API}/disputes", body)[0] == 404


def test_another_provider_may_not_raise_nor_see(rejection, staff, admin, other_provider, pilot):
    stranger = make_person("ns-supervisor", other_provider, admin, Role.SUPERVISOR, pilot)
    client = client_for(stranger)
    body = {"subject_kind": "verification", "subject_id": rejection.pk, "grounds": "x"}
    status, answer = post(client, f"{API}/disputes", body)
    assert (status, answer["code"]) == (403, "other_organisation")
    post(client_for(staff[Role.FRONTLINE]), f"{API}/disputes", body)
    assert client.get(f"{API}/disputes").json() == []


# --- pages --------------------------------------------------------------------------


def test_the_pages_raise_escalate_and_resolve(rejection, staff):
    provider, office = Client(), Client()
    provider.force_login(staff[Role.FRONTLINE])
    office.force_login(staff[Role.COMPLIANCE])
    with time_machine.travel(RAISED, tick=False):
        url = f"{PAGES}/disputes/raise/?verification={rejection.pk}"
        assert b"verification of claim P-0001/M3/1" in provider.get(url).content
        refused = provider.post(url, {"grounds": " "})
        assert refused.status_code == 422 and not Dispute.objects.exists()
        assert provider.post(url, {"grounds": "in the log"}).status_code == 302
        listing = provider.get(f"{PAGES}/disputes/")
        assert b"D-0001" in listing.content and b"2026-04-03" in listing.content
        answer = provider.post(f"{PAGES}/disputes/D-0001/escalate/", {"note": "no reply"})
        assert answer.status_code == 302
        page = office.get(f"{PAGES}/disputes/D-0001/resolve/")
        assert page.status_code == 200 and b"new-met_0" in page.content
        # overturned without a new decision's checklist: refused on the form
        form = {"outcome": "overturned", **RESOLUTION, "new-outcome": "verified"}
        refused = office.post(f"{PAGES}/disputes/D-0001/resolve/", form)
        assert refused.status_code == 422 and b"checklist_incomplete" in refused.content
        form |= {"new-met_0": "yes", "new-met_1": "yes"}
        assert office.post(f"{PAGES}/disputes/D-0001/resolve/", form).status_code == 302
        detail = provider.get(f"{PAGES}/disputes/D-0001/")
    assert b"overturned" in detail.content and b"escalated" in detail.content
    assert Claim.objects.get(pk=rejection.claim_id).status == "payable"


def test_dispute_pages_answer_404_and_403(rejection, staff, admin, other_provider, pilot):
    office = Client()
    office.force_login(staff[Role.COMPLIANCE])
    assert office.get(f"{PAGES}/disputes/D-0009/").status_code == 404
    assert office.get(f"{PAGES}/disputes/raise/").status_code == 404
    provider = Client()
    provider.force_login(staff[Role.FRONTLINE])
    assert provider.get(f"{PAGES}/disputes/raise/?verification={rejection.pk}").status_code == 200
    assert provider.get(f"{PAGES}/disputes/D-0009/resolve/").status_code == 403


# --- the command line ----------------------------------------------------------------


def test_the_command_line_raises_escalates_resolves_and_lists(rejection, staff):
    with time_machine.travel(RAISED, tick=False):
        raised = run(
            "dispute",
            "raise",
            "--pilot",
            "recovery-2026",
            "--verification-of",
            "P-0001/M3/1",
            "--grounds",
            "in the log",
            "--by",
            "rs-frontline",
            "--json",
        )
        assert raised.exit_code == 0, raised.stderr
        assert json.loads(raised.stdout)["due"] == "2026-04-03"
        again = run(
            "dispute",
            "raise",
            "--pilot",
            "recovery-2026",
            "--verification-of",
            "P-0001/M3/1",
            "--grounds",
            "again",
            "--by",
            "rs-supervisor",
        )
        assert again.exit_code == 2 and "already_disputed" in again.stderr
        up = run(
            "dispute",
            "escalate",
            "D-0001",
            "--pilot",
            "recovery-2026",
            "--note",
            "no reply",
            "--by",
            "rs-supervisor",
        )
        assert up.exit_code == 0 and "open at D2" in up.stdout
    with time_machine.travel(datetime(2026, 4, 6, 17, tzinfo=UTC), tick=False):
        listed = run("dispute", "list", "--pilot", "recovery-2026", "--open", "--by", "po-finance")
        assert "1 bd" in listed.stdout
        resolved = run(
            "dispute",
            "resolve",
            "D-0001",
            "--pilot",
            "recovery-2026",
            "--outcome",
            "overturned",
            "--resolution",
            "on file",
            "--learning",
            "check exports",
            "--verification-outcome",
            "verified",
            "--met",
            "care_plan",
            "--met",
            "pcp_visit",
            "--by",
            "po-compliance",
            "--json",
        )
    assert resolved.exit_code == 0, resolved.stderr
    document = json.loads(resolved.stdout)
    assert (document["outcome"], document["late_days"]) == ("overturned", 1)
    assert [s["action"] for s in document["steps"]] == ["raised", "escalated", "resolved"]
