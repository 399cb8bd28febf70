"""The C7/C8 API as machine clients use it: evidence upload (multipart), the tracker,
claims drafted, reviewed and submitted, coded refusals that write nothing, and files
served only to those who may see them.

The server takes `at` from its clock: time is frozen at AT (Tuesday 10 March 2026).
"""

import hashlib
import json
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import resolve

from fundpilot.claims.models import Claim, Evidence
from fundpilot.claims.views.tracker import ClaimReference
from fundpilot.pilots import actions
from fundpilot.pilots.models import User
from fundpilot.rules.vocabulary import Role
from tests.claims.claim_fixtures import (
    claims_snapshot,
    csv_bytes,
    evidence_for,
    media,  # noqa: F401 (fixture)
    pdf_bytes,
    png_bytes,
    submitted_claim,
)
from tests.conftest import NOW, make_person

API = "/api/v1/pilots/recovery-2026"
AT = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(AT, tick=False):
        yield


def client_for(user: User) -> Client:
    secret = actions.issue_api_token(user=user, label="claims", by=user, at=NOW)
    return Client(headers={"Authorization": f"Bearer {secret}"})


def post(client: Client, url: str, body: dict | None = None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def upload(client: Client, content: bytes, name: str = "plan.pdf", **query: str):
    params = {"participant_id": "P-0001", "kind": "crisis_plan", "document_date": "2026-03-10"}
    url = f"{API}/evidence?{urlencode(params | query)}"
    return client.post(url, {"file": SimpleUploadedFile(name, content)})


@pytest.fixture
def frontline(staff):
    return client_for(staff[Role.FRONTLINE])


@pytest.fixture
def supervisor(staff):
    return client_for(staff[Role.SUPERVISOR])


def test_evidence_is_uploaded_listed_and_downloaded(pathway_participant, frontline):
    # when
    content = pdf_bytes("api crisis plan")
    response = upload(frontline, content)
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["participant"], body["kind"], body["media_type"], body["reused"]) == (
        "P-0001",
        "crisis_plan",
        "application/pdf",
        False,
    )
    assert (body["sha256"], body["uploaded_by"], body["organisation"]) == (
        hashlib.sha256(content).hexdigest(),
        "rs-frontline",
        "riverside",
    )
    listed = frontline.get(f"{API}/evidence", {"participant_id": "P-0001"}).json()
    assert [e["id"] for e in listed] == [body["id"]]
    download = frontline.get(f"{API}/evidence/{body['id']}/file")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == content
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == 'attachment; filename="plan.pdf"'


def test_an_upload_refused_for_its_type_writes_nothing(pathway_participant, frontline):
    before = claims_snapshot()
    response = upload(frontline, png_bytes(), name="log.csv", kind="contact_log")
    assert (response.status_code, response.json()["code"]) == (422, "type_not_allowed")
    assert response.json()["field"] == "file"
    assert claims_snapshot() == before


def test_an_upload_over_the_limit_is_refused(pathway_participant, frontline, settings):
    settings.FUNDPILOT_EVIDENCE_MAX_BYTES = 64
    before = claims_snapshot()
    response = upload(frontline, pdf_bytes("x" * 100))
    assert (response.status_code, response.json()["code"]) == (422, "too_large")
    assert claims_snapshot() == before


def test_evidence_of_another_provider_is_neither_listed_nor_served(
    pathway_participant, staff, pilot, admin, other_provider
):
    # given: riverside's evidence; a northstar frontline worker
    piece = evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT)[0]
    northstar = client_for(
        make_person("ns-frontline", other_provider, admin, Role.FRONTLINE, pilot)
    )
    # then
    assert northstar.get(f"{API}/evidence").json() == []
    assert northstar.get(f"{API}/evidence/{piece.pk}/file").status_code == 404
    assert northstar.get(f"{API}/participants/P-0001/milestones").status_code == 403
    assert upload(northstar, pdf_bytes()).status_code == 403


def test_a_verifier_sees_every_providers_evidence(pathway_participant, staff, verifier):
    piece = evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT)[0]
    response = client_for(verifier).get(f"{API}/evidence/{piece.pk}/file")
    assert response.status_code == 200


def test_the_tracker_names_the_missing_evidence(pathway_participant, frontline):
    upload(frontline, csv_bytes(), name="log.csv", kind="contact_log")
    rows = frontline.get(f"{API}/participants/P-0001/milestones").json()
    assert [(r["code"], r["status"], r["is_next"]) for r in rows][:2] == [
        ("M1", "not_started", True),
        ("M2", "in_progress", False),
    ]
    assert (rows[0]["missing_text"], rows[1]["missing"]) == (
        "crisis_plan; med_rec",
        ["2 more contact_log"],
    )
    assert rows[0]["window_end"] == "2026-04-17"
    assert rows[1]["prerequisites"] == [{"code": "M1", "reached": False}]
    assert rows[1]["requirements"][0]["have"] == 1


def test_a_claim_is_drafted_reviewed_and_submitted(
    pathway_participant, staff, frontline, supervisor
):
    # given: M1's evidence
    evidence_for(pathway_participant, "M1", staff[Role.FRONTLINE], AT)
    # when: drafted
    response = post(
        frontline,
        f"{API}/claims",
        {"participant_id": "P-0001", "milestone": "M1", "reached_on": "2026-03-10"},
    )
    assert response.status_code == 201, response.json()
    reference = response.json()["reference"]
    assert (reference, response.json()["status"], response.json()["amount"]) == (
        "P-0001/M1/1",
        "draft",
        "900.00",
    )
    # then: submitting before the readiness review is refused
    refused = post(frontline, f"{API}/claims/{reference}/submit")
    assert (refused.status_code, refused.json()["code"]) == (422, "not_ready")
    # when: reviewed and submitted
    review = post(supervisor, f"{API}/claims/{reference}/readiness", {"note": "ok"})
    assert review.status_code == 201, review.json()
    assert (review.json()["status"], review.json()["decided_by"]) == ("ready", "rs-supervisor")
    submitted = post(frontline, f"{API}/claims/{reference}/submit")
    assert submitted.status_code == 200, submitted.json()
    # then
    detail = frontline.get(f"{API}/claims/{reference}").json()
    assert (detail["status"], detail["payable_amount"], detail["basis_key"]) == (
        "payable",
        "900.00",
        "milestone:recovery-2026:P-0001:M1:1",
    )
    assert detail["payer_split"] == [
        {"payer": "wvch", "use": "recovery_milestones", "share": "100", "amount": "900.00"}
    ]
    assert sorted(e["linked_as"] for e in detail["evidence"]) == ["crisis_plan", "med_rec"]
    assert all(len(e["sha256"]) == 64 and e["reused"] is False for e in detail["evidence"])
    assert (detail["missing_text"], detail["readiness"]["by"]) == ("", "rs-supervisor")


def test_readiness_with_missing_evidence_is_refused_naming_it(
    pathway_participant, frontline, supervisor
):
    post(
        frontline,
        f"{API}/claims",
        {"participant_id": "P-0001", "milestone": "M1", "reached_on": "2026-03-10"},
    )
    before = claims_snapshot()
    response = post(supervisor, f"{API}/claims/P-0001/M1/1/readiness")
    assert response.status_code == 422
    assert response.json() == {
        "code": "missing_evidence",
        "message": "P-0001/M1/1 still needs: crisis_plan; med_rec",
        "field": "evidence",
    }
    assert claims_snapshot() == before


def test_claims_are_listed_by_status(pathway_participant, staff, frontline):
    submitted_claim(pathway_participant, "M3", staff, AT)
    listed = frontline.get(f"{API}/claims", {"status": "submitted"}).json()
    assert [(c["reference"], c["verification_due"]) for c in listed] == [
        ("P-0001/M3/1", "2026-03-17")
    ]
    assert len(frontline.get(f"{API}/claims", {"status": "payable"}).json()) == 2
    assert frontline.get(f"{API}/claims", {"provider": "northstar"}).json() == []


def test_an_unknown_claim_is_404(pathway_participant, frontline):
    response = frontline.get(f"{API}/claims/P-0001/M9/1")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_the_claim_reference_leaves_room_for_other_operations_on_a_claim():
    # A reference never ends in a lowercase word: ".../verification" is not a claim.
    match = resolve("/api/v1/pilots/recovery-2026/claims/P-0001/M3/1-2")
    assert match.kwargs["reference"] == "P-0001/M3/1-2"
    pattern = ClaimReference.regex
    assert re.fullmatch(pattern, "T1/2")
    assert re.fullmatch(pattern, "p-7/m3/1")
    assert re.fullmatch(pattern, "P-0001/M3/1/verification") is None
    assert re.fullmatch(pattern, "T1/2/cure-review") is None


def test_a_contract_claimant_uploads_contract_evidence(contract_pilot, contract_staff):
    client = client_for(contract_staff[Role.COMPLIANCE])
    url = "/api/v1/pilots/discharge-2026/evidence?" + urlencode(
        {"kind": "protocol", "document_date": "2026-03-10"}
    )
    response = client.post(url, {"file": SimpleUploadedFile("protocol.pdf", pdf_bytes())})
    assert response.status_code == 201, response.json()
    assert response.json()["participant"] is None
    assert Evidence.objects.get().participant is None
    assert Claim.objects.count() == 0
